"""dr_rehearsal: a weekly disaster-recovery game day with measured RTO/RPO and fail back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from multicloud.dagkit import default_args, form, schedule_start
from multicloud.operators.resource_manager import ResourceManagerJobOperator

# MULTICLOUD_DR_REHEARSAL_START_DATE (deployment env) moves the start (a new deployment whose first
# scheduled run should wait for a date); catchup stays off: only the latest interval runs.
_START, _CATCHUP = schedule_start("dr_rehearsal", datetime(2026, 1, 1, tzinfo=UTC), catchup=False)

DOC = """
### DR rehearsal (game day)

Injects a fault at a DR pair's primary region and measures **RTO** (fault injection to the first
correct answer served from the secondary, seen by a continuous probe of the pair's global
endpoint that checks every answer against the model card's smoke cases, with one client retry).
On the `automated` path (default) the rehearsal only observes: the health-checked steering fails
over by itself and the event-driven `dr_failover` DAG promotes the write target, scales the
pilot light and later fails back; on the `orchestrated` path (today's, the peer) `fail_over`
switches traffic itself. It also measures **RPO** (newest data at the primary at fault time minus
newest data replicated to the secondary), availability seen by the retrying client and the
downtime against the pair's monthly error budget, repairs the primary, sees traffic return once
the primary stays healthy, and confirms the estate is exactly as before.

preflight -> provision_standby (OCI Resource Manager, when the pair names a pilot-light stack)
-> baseline -> inject_fault -> fail_over (automated: observe) -> verify -> fail_back -> restore (all_done)
-> report (all_done)

Every change goes to a fault ledger first; `restore` undoes whatever is still open, whatever
happened. Stop conditions (`max_errors` failed probes after failover, `max_duration_s`) abort the
rehearsal and restore the primary at once. Report: `reports/dr_rehearsal/latest.json|.html`,
history `reports/dr_rehearsal/history.jsonl` under the estate home.

**Manual runs** (with or without a logical date) rehearse now: a rehearsal is point in time and
reads no data interval. A `pair` the estate does not know fails the first task, with the known
pairs in the message, and publishes nothing (it never becomes "the last rehearsal"). On an estate
where the primary serves no model yet (a fresh `make airflow` before the first rollout) preflight
ends **skipped** ("not ready to rehearse"), and so does every later step; nothing is published.
"""


def _settings():
    from multicloud.dr.rehearsal import Settings

    return Settings.from_params(dict(get_current_context()["params"]))


def _step(name: str) -> dict:
    """Run one rehearsal step; expected refusals fail the task without retries.

    A preflight that finds nothing to rehearse yet (the primary serves no model, as on a fresh
    estate before the first rollout) skips the run instead: every later step is skipped and
    nothing is published as "the last rehearsal"."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from multicloud import paths
    from multicloud.dagkit import estate_for
    from multicloud.dr import rehearsal
    from multicloud.dr.preflight import PreflightFailed

    context = get_current_context()
    if name != "preflight" and _rehearsal_state().get("outcome") == "not_ready":
        raise AirflowSkipException("not ready to rehearse (see preflight): nothing to do")
    try:
        settings = _settings()
        return getattr(rehearsal, name)(estate_for(context["params"]), settings, context["run_id"],
                                        paths.estate_home())
    except PreflightFailed as exc:
        if exc.not_ready:
            raise AirflowSkipException(f"not ready to rehearse: {exc}") from exc
        raise AirflowFailException(str(exc)) from exc
    except (rehearsal.StopConditionTripped, ValueError, KeyError) as exc:
        raise AirflowFailException(str(exc)) from exc


def _rehearsal_state() -> dict:
    """This run's rehearsal state. A pair the estate does not know (a typo in the trigger form)
    fails here, before anything is published: such a run never becomes "the last rehearsal"."""
    from airflow.sdk.exceptions import AirflowFailException

    from multicloud import paths
    from multicloud.dagkit import estate_for
    from multicloud.dr import rehearsal

    context = get_current_context()
    settings = _settings()
    known = [p.id for p in estate_for(context["params"]).dr_pairs]
    if settings.pair not in known:
        raise AirflowFailException(f"unknown DR pair {settings.pair!r}; the estate has {known}. Nothing published.")
    return rehearsal.load_run(settings.pair, context["run_id"], paths.estate_home())


@dag(
    dag_id="dr_rehearsal",
    schedule="0 6 * * 3",
    start_date=_START,
    catchup=bool(_CATCHUP),
    max_active_runs=1,
    tags=["multicloud", "dr", "game-day"],
    default_args=default_args(retries=1, retry_delay_s=10),
    dagrun_timeout=timedelta(hours=1),
    doc_md=DOC,
    params=form({
        "pair": Param("eu-churn", type="string", pattern=r"^[a-z0-9][a-z0-9-]*$",
                      description="DR pair id from the estate (an unknown id fails preflight, publishes nothing)"),
        "scenario": Param("region_outage", enum=["region_outage", "cluster_loss", "storage_loss"],
                          description="what fails at the primary"),
        "dry_run": Param(False, type="boolean", description="preflight and baseline only; inject nothing"),
        "max_errors": Param(50, type="integer", minimum=0, maximum=100000,
                            description="stop: failed probes after failover"),
        "max_duration_s": Param(300, type="number", exclusiveMinimum=0, maximum=3600,
                                description="stop: seconds since the fault"),
        "stabilisation_checks": Param(3, type="integer", minimum=1, maximum=100,
                                      description="healthy checks of the primary before traffic returns"),
        "fail_back": Param(True, type="boolean", description="return to the primary (false: stay on the secondary)"),
        "hold_s": Param(2, type="number", minimum=0, maximum=600, description="seconds to watch the secondary after RTO"),
        "path": Param("automated", enum=["automated", "orchestrated"],
                      description="automated: inject and only observe (health-checked steering and dr_failover "
                                  "recover); orchestrated: this DAG switches traffic (today's path, the peer)"),
        "dr_failover_wait_s": Param(120, type="number", minimum=0, maximum=3600,
                                    description="automated: seconds to wait for dr_failover's actions (0: none)"),
        "oci_conn_id": Param("oci_default", type="string", description="OCI connection (FastConnect, stacks)"),
        "estate_file": Param("", type=["null", "string"], description="estate YAML (default: Variable/env/local)"),
    }),
)
def dr_rehearsal():
    @task
    def preflight() -> dict:
        return _step("preflight")

    checked = preflight()
    standby = ResourceManagerJobOperator(
        task_id="provision_standby",
        stack_id="{{ ti.xcom_pull(task_ids='preflight')['pilot_light_stack'] or '' }}",
        operation="APPLY",
        oci_conn_id="{{ params.oci_conn_id }}",
        skip_without_stack=True,
        deferrable=True,
    )

    @task(trigger_rule="none_failed")
    def baseline() -> dict:
        return _step("baseline")

    @task
    def inject_fault() -> dict:
        return _step("inject")

    @task
    def fail_over() -> dict:
        return _step("failover")

    @task(retries=0)
    def verify() -> dict:
        return _step("verify")

    @task
    def fail_back() -> dict:
        return _step("fail_back")

    @task(trigger_rule="all_done", retries=2)
    def restore() -> dict:
        return _step("restore")

    @task(trigger_rule="all_done")
    def report() -> list[str]:
        import logging
        from pathlib import Path

        from airflow.sdk.exceptions import AirflowFailException

        from multicloud import paths
        from multicloud.dagkit import estate_for
        from multicloud.dr.probe import read_samples
        from multicloud.dr.report import publish

        context = get_current_context()
        home = paths.estate_home()
        state = _rehearsal_state()
        if state.get("outcome") == "not_ready":
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException("not ready to rehearse (see preflight); nothing published")
        samples = read_samples(Path(state["probe_file"])) if state.get("probe_file") else []
        result = publish(estate_for(context["params"]), state, samples, home)
        for line in result["headline"]:
            logging.getLogger("airflow.task").info("%s", line)
        if result["outcome"] not in ("passed", "dry_run"):
            raise AirflowFailException(f"rehearsal {result['outcome']}: " + " | ".join(result["headline"][:3]))
        return result["headline"]

    done = restore()
    checked >> standby >> baseline() >> inject_fault() >> fail_over() >> verify() >> fail_back() >> done >> report()


dr_rehearsal()
