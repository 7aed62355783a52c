"""dr_rehearsal: a weekly disaster-recovery game day with measured RTO/RPO and fail back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag, task

from multicloud.dagkit import default_args, params_of, schedule_start
from multicloud.dr.settings import Settings
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
    params=params_of(Settings),
)
def dr_rehearsal():
    @task
    def preflight(params=None, run_id=None) -> dict:
        from multicloud.dr import tasks

        return tasks.preflight(params, run_id)

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
    def baseline(params=None, run_id=None) -> dict:
        from multicloud.dr import tasks

        return tasks.baseline(params, run_id)

    @task
    def inject_fault(params=None, run_id=None) -> dict:
        from multicloud.dr import tasks

        return tasks.inject_fault(params, run_id)

    @task
    def fail_over(params=None, run_id=None) -> dict:
        from multicloud.dr import tasks

        return tasks.fail_over(params, run_id)

    @task(retries=0)
    def verify(params=None, run_id=None) -> dict:
        from multicloud.dr import tasks

        return tasks.verify(params, run_id)

    @task
    def fail_back(params=None, run_id=None) -> dict:
        from multicloud.dr import tasks

        return tasks.fail_back(params, run_id)

    @task(trigger_rule="all_done", retries=2)
    def restore(params=None, run_id=None) -> dict:
        from multicloud.dr import tasks

        return tasks.restore(params, run_id)

    @task(trigger_rule="all_done")
    def report(params=None, run_id=None) -> list[str]:
        from multicloud.dr import tasks

        return tasks.report(params, run_id)

    done = restore()
    checked >> standby >> baseline() >> inject_fault() >> fail_over() >> verify() >> fail_back() >> done >> report()


dr_rehearsal()
