"""dr_failover: starts by itself when a DR pair's health checks fail it over (event-driven)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Asset, AssetWatcher, dag, task

from multicloud import paths
from multicloud.dagkit import default_args, params_of
from multicloud.dr.health import signals_file
from multicloud.dr.settings import FailoverSettings
from multicloud.operators.resource_manager import ResourceManagerJobOperator
from multicloud.triggers.dr_health import HealthSignalTrigger

DOC = """
### DR failover (automated)

Nobody starts this DAG in an outage (it is created unpaused: Airflow runs the watcher only for an
unpaused DAG, and `dr_rehearsal`'s preflight checks the watcher's heartbeat): the pair's health-checked steering (Route 53 failover
records, an OCI DNS failover steering policy, the local gateway) moves traffic by itself and
writes a failover signal to the health-signal queue; an `AssetWatcher` on the asset
`dr_health_signal` (trigger `HealthSignalTrigger`, run by the triggerer) turns the signal into
an asset event and this DAG runs for it. It does what DNS cannot:

open_incident (a repeated signal stops here) -> page, promote_write_target, scale_pilot_light,
apply_standby_stack (OCI Resource Manager, when the pair names a stack) -> primary_stable
(N healthy checks of the primary and a stabilisation window, from the estate) ->
[approve_fail_back when the estate asks for an approval] -> fail_back.

A manual run with `{"pair": ...}` fails a pair's follow-up actions over by hand (incident
`manual:<run_id>`).
"""

# An "x-" scheme: Airflow normalises any other scheme through the providers' URI handlers, which
# imports the amazon provider's S3 hook (boto3) on every parse: 9 s of this file's 9.7 s under load,
# and past the 30 s dagbag_import_timeout when a task's worker parses it on a busy machine.
HEALTH_SIGNAL = Asset(
    name="dr_health_signal",
    uri="x-multicloud-dr://health-signals",
    watchers=[AssetWatcher(name="dr_health_signal_watcher",
                           trigger=HealthSignalTrigger(signals_file=str(signals_file(paths.estate_home()))))],
)


@dag(
    dag_id="dr_failover",
    schedule=[HEALTH_SIGNAL],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # Active from deployment on: Airflow runs an asset's watchers only for unpaused DAGs, and a
    # paused dr_failover would leave a real outage with traffic moved but no write target promoted.
    # It runs only on a failover signal, so being unpaused starts nothing by itself.
    is_paused_upon_creation=False,
    tags=["multicloud", "dr", "event-driven"],
    default_args=default_args(retries=2, retry_delay_s=5),
    dagrun_timeout=timedelta(hours=12),
    doc_md=DOC,
    params=params_of(FailoverSettings),
)
def dr_failover():
    @task.short_circuit
    def open_incident(params=None, run_id=None, triggering_asset_events=None) -> dict | bool:
        from multicloud.dr import tasks

        return tasks.open_incident(params, run_id, triggering_asset_events)

    @task
    def page(incident: dict, params=None) -> dict:
        from multicloud.dr import tasks

        return tasks.page(incident, params)

    @task
    def promote_write_target(incident: dict, params=None) -> dict:
        from multicloud.dr import tasks

        return tasks.promote_write_target(incident, params)

    @task
    def scale_pilot_light(incident: dict, params=None) -> dict:
        from multicloud.dr import tasks

        return tasks.scale_pilot_light(incident, params)

    standby_stack = ResourceManagerJobOperator(
        task_id="apply_standby_stack",
        stack_id="{{ ti.xcom_pull(task_ids='open_incident')['pilot_light_stack'] }}",
        operation="APPLY",
        oci_conn_id="{{ params.oci_conn_id }}",
        skip_without_stack=True,
    )

    # mode="poke": the task holds one worker slot while the primary is down. Seen under the real
    # scheduler on a loaded machine: in reschedule mode the worker's UP_FOR_RESCHEDULE report raced
    # its own heartbeat (409, "Task killed!"), each poke then counted as a failed try, and the run
    # failed with the primary healthy. A deferrable trigger on the health file is the lighter fix.
    @task.sensor(poke_interval=2, timeout=6 * 3600, mode="poke", trigger_rule="none_failed")
    def primary_stable(incident: dict, params=None) -> bool:
        from multicloud.dr import tasks

        return tasks.primary_stable(incident, params)

    @task.branch
    def approval_needed(incident: dict) -> str:
        return "approve_fail_back" if incident.get("approval") else "fail_back"

    approve = ApprovalOperator(
        task_id="approve_fail_back", subject="Fail the DR pair back to its primary?",
        body="The primary has been healthy for the estate's stabilisation window. Approve to move traffic and "
             "writes back; reject to stay on the secondary.", fail_on_reject=True)

    @task(trigger_rule="none_failed_min_one_success")
    def fail_back(incident: dict, params=None) -> dict:
        from multicloud.dr import tasks

        return tasks.fail_back_incident(incident, params)

    incident = open_incident()
    actions = [page(incident), promote_write_target(incident), scale_pilot_light(incident)]
    incident >> standby_stack
    stable = primary_stable(incident)
    [*actions, standby_stack] >> stable
    branch = approval_needed(incident)
    back = fail_back(incident)
    stable >> branch >> [approve, back]
    approve >> back


dr_failover()
