"""residency_sync: residency-aware data sync across clouds (thin: schedule, params, wiring)."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import AssetAlias, CronDataIntervalTimetable, XComArg, dag, task

from multicloud.dagkit import default_args, params_of, schedule_start
from multicloud.operators.data_integration import OCIDataIntegrationRunTaskOperator
from multicloud.operators.source_partitions import AwaitSourcePartitionsOperator
from multicloud.sync.settings import SyncSettings

SYNC_ALIAS = "multicloud-residency-sync"
# A mapped instance's name in the UI, from its own argument: "aws-euw1 (3 items)".
_SHARD_LABEL = "{{ task.op_kwargs['shard']['region'] }} ({{ task.op_kwargs['shard']['items'] }} items)"
_ITEM_LABEL = "{{ task.op_kwargs['item']['dataset'] }} → {{ task.op_kwargs['item']['region'] }} (OCI Data Integration)"
# MULTICLOUD_RESIDENCY_SYNC_START_DATE (deployment env) moves the start and turns catchup on.
_START, _CATCHUP = schedule_start("residency_sync", datetime(2026, 1, 1, tzinfo=UTC))

DOC = """
### Residency-aware data sync

Every hourly run covers exactly its data interval's partition. For each dataset and target region
the residency policy decides; denied pairs are never copied (audit log + metric), audit-mode classes
are copied and recorded as would-deny. Record-routed datasets send each region only the rows its
jurisdiction may hold; rows with a missing or unknown jurisdiction go to the source's quarantine.
Objects are copied incrementally (size + checksum), atomically and verified; Great Expectations
validates every target. Each successful (dataset, region) publishes the Asset
`x-multicloud://<dataset>/<region>` (through the alias `multicloud-residency-sync`).

**Shape.** `plan` writes the run's plan to files under the estate's state home (one shard per
region, written atomically; XCom carries only their digests) and the run maps one `sync` task per
region: it moves every item of that region, a bounded number at once
(`MULTICLOUD_SYNC_ITEM_WORKERS`, default 8), publishes one Asset event per (dataset, region) that
landed when it succeeds, and fails (then retries) while any item failed. `publish_partial`
publishes the Assets of what did land in a region whose `sync` failed for good. Task instances
per run: one per region plus a constant, however many datasets.

**What a run covers** (no task assumes a data interval exists):

| run | interval synced |
|---|---|
| scheduled, or backfill, logical date X | [X, X+1h) |
| manual (Trigger) with logical date X | [X-1h, X) (Airflow's inferred interval for manual runs) |
| manual without logical date (the UI's default) | the last complete hour before the trigger: [floor(run_after)-1h, floor(run_after)) |
| `interval_start` set in the form | [interval_start, +1h), whatever the run's dates |

**Validation.** The form refuses at trigger time (the API creates no run): an `interval_start`
that is not an ISO datetime on the hour, a `residency_mode` outside its choices, wrong types.
Dataset and region ids depend on the estate, which the API cannot see, so they are checked by
the first task (`plan`) before anything moves: unknown names fail it at once, with the estate's
ids in the message, and no retry. An `interval_start` not at 00:00 for a named daily dataset
fails the same way. Missing source data on the embedded local estate is produced for the
interval (deterministic demo data). On a real estate a missing source partition is late data:
`await_sources` (first task) waits for all the run's missing partitions in one deferral (in the
triggerer, no worker slot held), each up to its dataset's `arrival_timeout_s` in the estate; the
partitions still missing then are not planned, every other dataset of the run still syncs, and
`summarize` fails the run naming each late dataset, source region and partition.
"""


@dag(
    dag_id="residency_sync",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=_START,
    catchup=bool(_CATCHUP),
    max_active_runs=4,
    tags=["multicloud", "residency", "data-sync"],
    default_args=default_args(retries=2, retry_delay_s=60),
    doc_md=DOC,
    params=params_of(SyncSettings),
    render_template_as_native_obj=True,
)
def residency_sync():
    @task
    def plan(arrivals: dict | None = None, params=None, run_id=None, data_interval_start=None,
             data_interval_end=None, dag_run=None, ti=None) -> list[dict]:
        """Decide every (dataset, region); audit denials; write the plan files. Returns one shard per region."""
        from multicloud.sync import tasks

        return tasks.plan_task(params, run_id, data_interval_start, data_interval_end, dag_run, ti, arrivals)

    @task
    def handoffs(reference: dict, run_id=None) -> list[dict]:
        """Operator arguments of the items whose dataset says engine: oci-data-integration."""
        from multicloud.sync import tasks

        return tasks.handoffs(reference, run_id)

    # one XCom (return_value), not one per key of the dict: the summary reads the run's files
    @task(outlets=[AssetAlias(SYNC_ALIAS)], map_index_template=_SHARD_LABEL, multiple_outputs=False)
    def sync(shard: dict, params=None, run_id=None, dag_run=None, outlet_events=None) -> dict:
        """One region's share of the plan, a bounded number of items at once; its Assets on success."""
        from multicloud.sync import tasks

        return tasks.sync_region(shard, params, run_id, dag_run, outlet_events, SYNC_ALIAS)

    @task(outlets=[AssetAlias(SYNC_ALIAS)], trigger_rule="all_done")
    def publish_partial(params=None, run_id=None, ti=None, dag_run=None, outlet_events=None) -> int:
        """The Assets of what landed in regions whose sync task failed (its other datasets still count)."""
        from multicloud.sync import tasks

        return tasks.publish_partial_regions(params, run_id, ti, dag_run, outlet_events, SYNC_ALIAS)

    # Finishing a run goes before starting another run's copies (runs end in order under load).
    @task(trigger_rule="all_done", weight_rule="absolute", priority_weight=100)
    def summarize(params=None, run_id=None, ti=None) -> list[str]:
        from multicloud.sync import tasks

        return tasks.summarize_run(params, run_id, ti)

    @task
    def handoff_items(reference: dict, run_id=None) -> list[dict]:
        """The same items as ``handoffs``, in the same order (map index i lands task run i)."""
        from multicloud.sync import tasks

        return tasks.handoff_items(reference, run_id)

    @task(outlets=[AssetAlias(SYNC_ALIAS)], map_index_template=_ITEM_LABEL, trigger_rule="all_done")
    def land(item: dict, params=None, run_id=None, ti=None, outlet_events=None) -> dict:
        """Validate a Data Integration target like the fsspec path; publish its Asset and lineage."""
        from multicloud.sync import tasks

        return tasks.land_item(item, params, run_id, ti, outlet_events, SYNC_ALIAS)

    # late source data: one deferral for all the run's missing partitions (see the operator)
    arrivals = AwaitSourcePartitionsOperator(task_id="await_sources", poll_interval=30)
    shards = plan(arrivals.output)
    reference = XComArg(shards.operator, key="plan")
    moved = sync.expand(shard=shards)
    partial = publish_partial()
    moved >> partial
    handed_off = OCIDataIntegrationRunTaskOperator.partial(
        task_id="data_integration", poll_interval=15, max_poll_interval=120, deferrable=True,
    ).expand_kwargs(handoffs(reference))
    landed = land.expand(item=handoff_items(reference))
    handed_off >> landed
    [partial, landed] >> summarize()

residency_sync()
