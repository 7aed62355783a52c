"""dr_failover: starts by itself when a DR pair's health checks fail it over (event-driven)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Asset, AssetWatcher, Param, dag, get_current_context, task

from multicloud import paths
from multicloud.dagkit import default_args, form
from multicloud.dr.health import signals_file
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


def _estate():
    from multicloud.dagkit import estate_for

    return estate_for(get_current_context()["params"])


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
    params=form({
        "pair": Param(None, type=["null", "string"],
                      description="manual runs: the DR pair id (event runs: from the signal)"),
        "oci_conn_id": Param("oci_default", type="string", description="OCI connection (standby stack)"),
        "estate_file": Param(None, type=["null", "string"], description="estate YAML (default: Variable/env/local)"),
    }),
)
def dr_failover():
    @task.short_circuit
    def open_incident() -> dict | bool:
        from multicloud.dr import failover

        context = get_current_context()
        signals = [event.extra.get("payload") or {} for events in (context.get("triggering_asset_events") or {}).values()
                   for event in events]
        if not signals and context["params"].get("pair"):
            signals = [{"pair": context["params"]["pair"], "incident": f"manual:{context['run_id']}"}]
        if not signals:
            raise ValueError("dr_failover needs a health signal (asset event) or params.pair")
        estate = _estate()
        for signal in signals:
            incident = failover.open_incident(estate, signal, paths.estate_home(), context["run_id"])
            if incident:
                pair = estate.dr_pair(incident["pair"])
                return {**incident, "pilot_light_stack": pair.pilot_light_stack or "",
                        "approval": pair.fail_back.approval}
        return False  # every signal is a repeat: nothing to do

    @task
    def page(incident: dict) -> dict:
        from multicloud.dr import failover

        return failover.page(_estate(), incident, paths.estate_home())

    @task
    def promote_write_target(incident: dict) -> dict:
        from multicloud.dr import failover

        return failover.promote_write_target(_estate(), incident, paths.estate_home())

    @task
    def scale_pilot_light(incident: dict) -> dict:
        from multicloud.dr import failover

        return failover.scale_pilot_light(_estate(), incident, paths.estate_home())

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
    def primary_stable(incident: dict) -> bool:
        from multicloud.dr import failover

        return failover.primary_stable(_estate(), incident, paths.estate_home())

    @task.branch
    def approval_needed(incident: dict) -> str:
        return "approve_fail_back" if incident.get("approval") else "fail_back"

    approve = ApprovalOperator(
        task_id="approve_fail_back", subject="Fail the DR pair back to its primary?",
        body="The primary has been healthy for the estate's stabilisation window. Approve to move traffic and "
             "writes back; reject to stay on the secondary.", fail_on_reject=True)

    @task(trigger_rule="none_failed_min_one_success")
    def fail_back(incident: dict) -> dict:
        from multicloud.dr import failover

        return failover.fail_back(_estate(), incident, paths.estate_home())

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
