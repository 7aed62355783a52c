"""model_rollout: progressive, residency-checked rollout of a model version across clusters."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Asset, AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from multicloud.assets import model_asset_uri
from multicloud.dagkit import default_args, form, parse_time_estate, schedule_start
from multicloud.rollout.planner import STAGES, STRATEGIES

# No '/' and no '..': a version is a folder name under the model store (as model_training's).
VERSION_PATTERN = r"^$|^(?!.*[.][.])[A-Za-z0-9][A-Za-z0-9._-]*$"

# The models whose new versions start a rollout (a local file; see parse_time_estate).
_ESTATE, _ESTATE_WARNING = parse_time_estate()
_MODEL_ASSETS = [Asset(model_asset_uri(m.id)) for m in _ESTATE.models] if _ESTATE else []
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
    doc_md=DOC + _ESTATE_WARNING,
    params=form({
        "model": Param("", type=["null", "string"], pattern=r"^$|^[a-z0-9][a-z0-9-]*$",
                       description="Model id from the estate; empty: from the triggering asset, else every model"),
        "version": Param("", type=["null", "string"], pattern=VERSION_PATTERN, maxLength=64,
                         description="Version (no '/' or '..'); empty: from the asset event, else the latest"),
        "clusters": Param([], type=["null", "array"], items={"type": "string"},
                          description="Candidate clusters; empty: every cluster of the estate"),
        "strategy": Param("canary", enum=list(STRATEGIES),
                          description="canary (10% during gates), blue_green (0% until promotion), rolling (100%)"),
        "max_parallel": Param(4, type="integer", minimum=1, maximum=64, description="Clusters deployed at once"),
        "gate_checks": Param(2, type="integer", minimum=1, maximum=100, description="Checks per gate (Flagger iterations)"),
        "gate_interval_s": Param(0.5, type="number", minimum=0, maximum=3600, description="Seconds between checks"),
        "gate_max_failed_checks": Param(1, type="integer", minimum=1, maximum=100,
                                        description="Failed checks before rollback"),
        "gate_success_rate": Param(None, type=["null", "number"], exclusiveMinimum=0, maximum=1,
                                   description="Least success rate in (0, 1]; empty: the model's SLO"),
        "gate_p95_ms": Param(None, type=["null", "number"], exclusiveMinimum=0,
                             description="Highest p95 latency in ms (> 0); empty: the model's SLO p95"),
        "ready_timeout_s": Param(60, type="integer", minimum=1, maximum=3600,
                                 description="Seconds a deploy may take to become ready"),
        "dry_run": Param(False, type="boolean", description="Plan and report only"),
        "approval_required": Param(False, type="boolean", description="A human approves after the canary"),
        "estate_file": Param("", type=["null", "string"], description="Estate file; empty: the configured estate"),
    }),
)
def model_rollout():
    @task
    def plan(**context) -> dict:
        from multicloud.dagkit import estate_for, refuse_unknown
        from multicloud.rollout.run import build_plan

        params = context["params"]
        estate = estate_for(params)
        refuse_unknown("model", [params["model"]] if params["model"] else [], [m.id for m in estate.models])
        refuse_unknown("cluster", params["clusters"], [c.id for _, c in estate.clusters()])
        events = context.get("triggering_asset_events") or {}
        triggered = [(event.asset.uri, dict(event.extra or {})) for key in events for event in events[key]]
        return build_plan(estate, params, triggered)

    @task
    def lanes_of(built: dict, index: int) -> list:
        """One stage's lanes (mapped tasks can only expand a task's plain return value)."""
        return built["stages"][index]

    @task(trigger_rule="none_failed")
    def deploy(lane: list[dict], **context) -> list[dict]:
        from airflow.sdk.exceptions import AirflowFailException

        from multicloud.dagkit import estate_for
        from multicloud.rollout.engine import RolloutFailed
        from multicloud.rollout.run import deploy_lane

        params = context["params"]
        try:
            return deploy_lane(estate_for(params), lane, params["strategy"], context["run_id"],
                               float(params["ready_timeout_s"]))
        except RolloutFailed as exc:
            # The cluster answered: its pods did not become ready (progress deadline exceeded, or
            # not within ready_timeout_s). A retry would re-apply the same spec and wait again
            # before the rollback; retries are for errors reaching the cluster.
            raise AirflowFailException(str(exc)) from exc

    # A failed gate must roll back, never be retried until it happens to pass.
    @task(trigger_rule="none_failed", retries=0)
    def gate(stage: str, lanes: list, **context) -> list[dict]:
        from multicloud.dagkit import estate_for
        from multicloud.rollout.run import gate_stage

        return gate_stage(estate_for(context["params"]), stage, lanes, context["params"], context["run_id"])

    @task.branch
    def approval_needed(**context) -> str:
        return "approve_canary" if context["params"]["approval_required"] else "no_approval_needed"

    @task(trigger_rule="none_failed")
    def promote(built: dict, **context) -> list[str]:
        from multicloud.dagkit import estate_for
        from multicloud.rollout.run import promote

        return promote(estate_for(context["params"]), built, context["run_id"])

    @task(trigger_rule="all_done")
    def rollback(**context) -> list[dict]:
        from multicloud.dagkit import estate_for
        from multicloud.rollout.run import rollback_if_needed

        return rollback_if_needed(estate_for(context["params"]), context["run_id"])

    @task(trigger_rule="all_done")
    def summary(**context) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        from multicloud.dagkit import estate_for
        from multicloud.metrics import emit
        from multicloud.reports import write_summary
        from multicloud.rollout.run import summarize

        estate = estate_for(context["params"])
        built = context["ti"].xcom_pull(task_ids="plan")
        lines, data, ok = summarize(estate, built, context["run_id"])
        write_summary("model_rollout", context["run_id"], lines, data)
        for line in lines:
            print(line)
        for model_plan in (built or {}).get("plans", []):
            dims = {"model": model_plan["model"], "version": model_plan["version"]}
            emit("rollout.clusters_targeted", len(model_plan["targets"]), dimensions=dims, estate=estate)
            emit("rollout.clusters_excluded", len(model_plan["excluded"]), dimensions=dims, estate=estate)
        emit("rollout.succeeded", int(ok), dimensions={"run_id": context["run_id"]}, estate=estate)
        if not ok:
            raise AirflowFailException("rollout failed and was rolled back: " + (lines[0] if lines else ""))

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
