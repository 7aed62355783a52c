"""residency_sync: residency-aware data sync across clouds (thin: schedule, params, wiring)."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import AssetAlias, CronDataIntervalTimetable, Param, XComArg, dag, task

from multicloud.dagkit import default_args
from multicloud.operators.data_integration import OCIDataIntegrationRunTaskOperator

SYNC_ALIAS = "multicloud-residency-sync"

DOC = """
### Residency-aware data sync

Every hourly run covers exactly its data interval's partition. For each dataset and target region
the residency policy decides; denied pairs are never copied (audit log + metric), audit-mode classes
are copied and recorded as would-deny. Record-routed datasets send each region only the rows its
jurisdiction may hold; rows with a missing or unknown jurisdiction go to the source's quarantine.
Objects are copied incrementally (size + checksum), atomically and verified; Great Expectations
validates every target. Each successful (dataset, region) publishes the Asset
`multicloud://<dataset>/<region>` (through the alias `multicloud-residency-sync`).
Datasets with `engine: oci-data-integration` run their published OCI Data Integration task instead.
"""


@dag(
    dag_id="residency_sync",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=4,
    tags=["multicloud", "residency", "data-sync"],
    default_args=default_args(retries=2, retry_delay_s=60),
    doc_md=DOC,
    params={
        "datasets": Param([], type="array", items={"type": "string"},
                          description="Dataset ids to sync (empty: every dataset of the estate)"),
        "regions": Param([], type="array", items={"type": "string"},
                         description="Target regions to consider (empty: every target)"),
        "dry_run": Param(False, type="boolean", description="Plan, audit nothing, copy nothing"),
        "residency_mode": Param("estate", enum=["estate", "enforce"],
                                description="'enforce' tightens audit-mode classes; never looser than the estate"),
        "estate_file": Param("", type="string", description="Estate YAML (empty: Variable/env/default)"),
    },
    render_template_as_native_obj=True,
)
def residency_sync():
    @task
    def plan(params=None, run_id=None, data_interval_start=None, data_interval_end=None, ti=None) -> list[dict]:
        """Decide every (dataset, region); audit denials. Returns the items to move (the map)."""
        from multicloud.sync.tasks import plan_run

        planned = plan_run(params, run_id, data_interval_start, data_interval_end)
        ti.xcom_push(key="plan", value=planned)
        return planned["items"]

    @task
    def handoffs(planned: dict) -> list[dict]:
        """Items of datasets whose estate entry says engine: oci-data-integration."""
        return planned["data_integration"]

    @task(outlets=[AssetAlias(SYNC_ALIAS)], map_index_template="{{ sync_label }}")
    def sync(item: dict, params=None, run_id=None, outlet_events=None) -> dict:
        from multicloud.sync.tasks import sync_one

        return sync_one(item, params, run_id, outlet_events, SYNC_ALIAS)

    @task(trigger_rule="all_done")
    def summarize(planned: dict, params=None, run_id=None) -> list[str]:
        from multicloud.sync.tasks import summarize_run

        return summarize_run(planned, params, run_id)

    items = plan()
    planned = XComArg(items.operator, key="plan")
    moved = sync.expand(item=items)
    handed_off = OCIDataIntegrationRunTaskOperator.partial(
        task_id="data_integration", poll_interval=15, max_poll_interval=120,
    ).expand_kwargs(handoffs(planned))
    [moved, handed_off] >> summarize(planned)


residency_sync()
