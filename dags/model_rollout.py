"""model_rollout: progressive, residency-checked rollout of a model version across clusters."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Asset, AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from multicloud.assets import model_asset_uri
from multicloud.dagkit import default_args, params_of, parse_time_schedule, schedule_start
from multicloud.rollout.settings import STAGES, RolloutSettings

# The models whose new versions start a rollout (a local file; see parse_time_schedule).
_ESTATE = parse_time_schedule()
_MODEL_ASSETS = [Asset(model_asset_uri(model)) for model in _ESTATE.models]
_NIGHTLY = CronTriggerTimetable("0 2 * * *", timezone="UTC")
# MULTICLOUD_MODEL_ROLLOUT_START_DATE (deployment env) moves the start (a new deployment whose first
# nightly convergence should wait for a date) and turns catchup on.
_START, _CATCHUP = schedule_start("model_rollout", datetime(2026, 1, 1, tzinfo=UTC))

DOC = """
### Progressive model rollout

Starts when model_training publishes a version (`x-multicloud://model/<model>`), every night at
02:00 UTC (converges every cluster to each model's latest version), or by hand.

1. **plan**: candidates are `clusters` or every estate cluster; the residency engine checks each
   against the model's data class; denied clusters are reported with rule and reason and never
   deployed to. Targets: allowed clusters hosting the model's workloads (replicas from the
   placement store); clusters named explicitly get 1 replica. Clusters already serving the
   version are left alone (a rerun changes nothing).
2. **canary** (one cluster, in the training region when possible) → health gate → optional human
   approval → **wave_1** (2 clusters) → gate → **wave_2** (4) → gate → **wave_3** (the rest) →
   gate. Clusters of a wave deploy in parallel (mapped tasks, at most `max_parallel` lanes).
3. Gates, with Flagger's semantics: `gate_checks` checks every `gate_interval_s`; smoke
   inferences from the model card must answer correctly, success rate ≥ threshold, p95 ≤ the
   model's SLO; `gate_max_failed_checks` failed checks fail the gate.
4. **promote** all traffic to the new version, or **rollback** every cluster the run touched
   (any failure, or a rejected approval).

Strategies: `canary` (10% of a cluster's traffic to the new version during its gates),
`blue_green` (0% until promotion), `rolling` (100% at once; the old version kept until promotion).

**Manual runs** (with or without a logical date) roll out now: a rollout reads no data interval.
Without `model` they converge every model to its latest version. The form refuses bad values
at trigger time (bounds on every number, `gate_success_rate` in (0, 1], `gate_p95_ms` > 0, a
`version` with `/` or `..`); `model` and `clusters` depend on the estate, which the API cannot
see, so `plan` checks them first and fails at once, naming the unknown ids.
"""


@dag(
    dag_id="model_rollout",
    schedule=AssetOrTimeSchedule(timetable=_NIGHTLY, assets=AssetAny(*_MODEL_ASSETS)) if _MODEL_ASSETS else _NIGHTLY,
    start_date=_START,
    catchup=bool(_CATCHUP),
    max_active_runs=1,
    tags=["multicloud", "models", "rollout"],
    # Deploys, promotion and rollback are idempotent and retried; gates are not (below).
    default_args=default_args(retries=1),
    doc_md=DOC + _ESTATE.warning,
    params=params_of(RolloutSettings),
)
def model_rollout():
    @task
    def plan(params=None, triggering_asset_events=None) -> dict:
        from multicloud.rollout import tasks

        return tasks.plan(params, triggering_asset_events)

    @task
    def lanes_of(built: dict, index: int) -> list:
        from multicloud.rollout import tasks

        return tasks.lanes(built, index)

    @task(trigger_rule="none_failed")
    def deploy(lane: list[dict], params=None, run_id=None) -> list[dict]:
        from multicloud.rollout import tasks

        return tasks.deploy(lane, params, run_id)

    # A failed gate must roll back, never be retried until it happens to pass.
    @task(trigger_rule="none_failed", retries=0)
    def gate(stage: str, lanes: list, params=None, run_id=None) -> list[dict]:
        from multicloud.rollout import tasks

        return tasks.gate(stage, lanes, params, run_id)

    @task.branch
    def approval_needed(params=None) -> str:
        from multicloud.rollout import tasks

        return "approve_canary" if tasks.approval_required(params) else "no_approval_needed"

    @task(trigger_rule="none_failed")
    def promote(built: dict, params=None, run_id=None) -> list[str]:
        from multicloud.rollout import tasks

        return tasks.promote(built, params, run_id)

    @task(trigger_rule="all_done")
    def rollback(params=None, run_id=None) -> list[dict]:
        from multicloud.rollout import tasks

        return tasks.rollback(params, run_id)

    @task(trigger_rule="all_done")
    def summary(params=None, run_id=None, ti=None) -> None:
        from multicloud.rollout import tasks

        # pulled here, not passed as an argument: when plan failed there is no XCom, and the
        # summary must say so instead of failing on XComNotFound
        tasks.summary(ti.xcom_pull(task_ids="plan"), params, run_id)

    planned = plan()
    steps: list = [planned]
    watched = []
    for index, stage in enumerate(STAGES):
        lanes = lanes_of.override(task_id=f"lanes_{stage}")(planned, index)
        deployed = deploy.override(task_id=f"deploy_{stage}").expand(lane=lanes)
        gated = gate.override(task_id=f"gate_{stage}")(stage, lanes)
        steps[-1] >> lanes >> deployed >> gated
        watched += [deployed, gated]
        steps.append(gated)
        if stage == "canary":
            branch = approval_needed()
            approve = ApprovalOperator(
                task_id="approve_canary", subject="Promote the canary to the remaining clusters?",
                body="The canary passed its health gate. Approve to continue the rollout; reject to roll back.",
                fail_on_reject=True)
            skip = EmptyOperator(task_id="no_approval_needed")
            gated >> branch >> [approve, skip]
            joined = EmptyOperator(task_id="canary_approved", trigger_rule="none_failed_min_one_success")
            [approve, skip] >> joined
            watched += [branch, approve, joined]
            steps.append(joined)
    promoted = promote(planned)
    steps[-1] >> promoted
    undone = rollback()
    [*watched, promoted] >> undone
    undone >> summary()


model_rollout()
