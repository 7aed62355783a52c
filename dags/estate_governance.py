"""estate_governance: one governance report over every cloud (daily, and on demand)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from multicloud.dagkit import default_args, params_of
from multicloud.governance.settings import GovernanceSettings

DOC = """
### Estate governance

The compliance officer's evidence and the CTO's one pane of glass:

- **at-rest residency audit**, one mapped task per region: every object under each dataset root
  (object-level datasets: the dataset's class; record-routed parquet/csv/jsonl: every row's
  country -> jurisdiction -> class, streamed), model artifacts (the model's class) and quarantine;
  each violation reported with its path. This catches copies made outside our DAGs.
- environment **drift** across clusters, **served model versions** per cluster, **cost** summary and
  trend (cost_rebalance), **last DR rehearsal** and its trend, recent **alerts**.
- one report: `reports/estate_governance/report.html` (charts) and `report.json` under the estate
  home; metrics `governance.*`; an alert `residency_violation` when anything is out of place.
- a region whose storage cannot be listed is **unverified**, never clean: red in the report and the
  Estate view with its cause, metric `governance.unverified_regions`, alert `residency_unverified`,
  and the run fails without a retry, which would re-read the same audits (unless
  `complete_when_unverified` lets it complete red); run the DAG again once the storage answers.

Also shown live in the Airflow UI: the **Estate** view (plugin `multicloud`).
"""


@dag(
    dag_id="estate_governance",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["multicloud", "governance", "residency"],
    default_args=default_args(retries=1, retry_delay_s=10),
    dagrun_timeout=timedelta(hours=2),
    doc_md=DOC,
    params=params_of(GovernanceSettings),
)
def estate_governance():
    @task
    def regions_to_audit(params=None) -> list[str]:
        from multicloud.governance import tasks

        return tasks.regions_to_audit(params)

    @task(map_index_template="{{ task.op_kwargs['region_id'] }}")
    def audit_region(region_id: str, params=None, run_id=None) -> dict:
        from multicloud.governance import tasks

        return tasks.audit_region(region_id, params, run_id)

    @task
    def collect_state(params=None) -> dict:
        from multicloud.governance import tasks

        return tasks.collect_state(params)

    @task
    def publish(audits: list[dict], collected: dict, params=None, run_id=None) -> dict:
        from multicloud.governance import tasks

        return tasks.publish(audits, collected, params, run_id)

    audits = audit_region.expand(region_id=regions_to_audit())
    publish(audits, collect_state())


estate_governance()
