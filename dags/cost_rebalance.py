"""cost_rebalance: place workloads where they cost least, never breaking residency or availability."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param, dag, task

from multicloud.dagkit import default_args, form, schedule_start

# MULTICLOUD_COST_REBALANCE_START_DATE (deployment env) moves the start (a new deployment whose first
# scheduled run should wait for a date); catchup stays off: only the latest interval runs.
_START, _CATCHUP = schedule_start("cost_rebalance", datetime(2026, 1, 1, tzinfo=UTC), catchup=False)

DOC = """
### Cost rebalance

Daily. **collect** actual spend per cloud (mapped): AWS Cost Explorer, the OCI Usage API, a
shipped bill file, or current placement x the price catalog (`include/pricing/`) where no source
is configured (`pricing.cost_sources` in the estate) -> **optimise**: the bills calibrate the
catalog (effective unit price per cloud/shape, model error per cloud; a divergence above
`pricing.divergence_pct` alerts), workloads with measured demand are right-sized, spot pools
offered to preemption-tolerant workloads, workloads not served yet left out; a HiGHS MILP places every workload's
replicas (hard residency of its model's data class, capacity per resource, GPU type, critical
workloads in two regions, at most `max_moves` moves), warm-started by and never worse than the
greedy cheapest-feasible baseline -> **gate**: apply only when the savings reach
`min_savings_pct`, not in `dry_run`, after a human approval when `approval_required` ->
**apply** each move make-before-break through the cluster drivers (deploy at the target, health
gate, shift, remove at the source; a failed move rolls back; node pools grow before and shrink
after through the OKE / EKS APIs, or the autoscaler is waited for) -> **report**: before/after by
cloud and region (PNG + JSON under the estate home), calibration and model error, interruption
risk, savings achieved from released nodes, every move with its residency decision.

**Manual runs** (with or without a logical date) plan from the current placement; costs are
collected for the run's logical date, or for the day it was triggered when it has none. The form
refuses numbers out of bounds and cloud names outside oci/aws/azure/gcp/onprem at trigger time; a
cloud with no region in the estate fails the first task (`clouds`), naming it.
"""


@dag(
    dag_id="cost_rebalance",
    schedule="@daily",
    start_date=_START,
    catchup=bool(_CATCHUP),
    max_active_runs=1,
    tags=["multicloud", "cost", "placement"],
    default_args=default_args(retries=1),
    doc_md=DOC,
    params=form({
        "dry_run": Param(False, type="boolean", description="Plan and report only; change nothing"),
        "min_savings_pct": Param(5.0, type="number", minimum=0, maximum=100,
                                 description="Apply only when the plan saves at least this % of monthly cost"),
        "max_moves": Param(5, type="integer", minimum=0, maximum=100, description="Most replica moves in one run"),
        "clouds": Param([], type=["null", "array"], items={"type": "string", "enum": ["oci", "aws", "azure", "gcp", "onprem"]},
                        uniqueItems=True, description="Clouds to include (oci, aws, azure, gcp, onprem); empty: all"),
        "approval_required": Param(False, type="boolean", description="Wait for a human approval before applying"),
        "time_limit_s": Param(10.0, type="number", minimum=0.1, maximum=600, description="Optimiser time limit (s)"),
        "estate_file": Param("", type=["null", "string"], description="Estate file; empty: the configured estate"),
        "calibrate": Param(True, type="boolean", description="Use the collected bills to calibrate prices"),
    }),
)
def cost_rebalance():
    @task
    def clouds(**context) -> list[str]:
        from airflow.sdk.exceptions import AirflowFailException

        from multicloud.cost.run import clouds_to_collect
        from multicloud.dagkit import estate_for

        try:
            return clouds_to_collect(estate_for(context["params"]), context["params"]["clouds"])
        except ValueError as exc:  # a cloud the estate does not have: decided, no retry
            raise AirflowFailException(str(exc)) from exc

    @task(max_active_tis_per_dagrun=4)
    def collect(cloud: str, **context) -> dict:
        from multicloud.cost.run import collect
        from multicloud.dagkit import estate_for

        moment = context.get("logical_date") or context["dag_run"].run_after
        return collect(estate_for(context["params"]), cloud, moment.date())

    @task(trigger_rule="none_failed")
    def optimise(costs: list[dict], **context) -> dict:
        from multicloud.cost.run import plan
        from multicloud.dagkit import estate_for

        params = context["params"]
        collected = [costs[i] for i in range(len(costs or []))]
        clouds_seen = sorted({c["cloud"] for c in collected})
        return plan(estate_for(params), clouds_seen, int(params["max_moves"]), float(params["time_limit_s"]),
                    collected=collected if params.get("calibrate", True) else None, only_served=True)

    @task.branch
    def gate(result: dict, **context) -> list[str]:
        from multicloud.cost.run import gate

        params = context["params"]
        follow, reason = gate(result, dry_run=bool(params["dry_run"]), min_savings_pct=float(params["min_savings_pct"]),
                              approval_required=bool(params["approval_required"]))
        context["ti"].xcom_push(key="decision", value=reason)
        print(f"gate: {reason}")
        return follow

    approve = ApprovalOperator(
        task_id="approve",
        subject="Apply the cost rebalance plan?",
        body="{{ ti.xcom_pull(task_ids='gate', key='decision') }}: "
             "{{ ti.xcom_pull(task_ids='optimise')['moves'] | length }} move(s), saving "
             "{{ ti.xcom_pull(task_ids='optimise')['savings_pct'] }}% of monthly cost.",
    )

    @task(trigger_rule="none_failed_min_one_success")
    def moves(result: dict) -> list[dict]:
        keys = ("workload", "source", "target", "replicas", "before")
        return [{k: m[k] for k in keys if k in m} for m in result["moves"]]

    # One move at a time: make-before-break needs room at the target, and each move reads the
    # placement the previous one wrote.
    @task(max_active_tis_per_dagrun=1, retries=2)
    def apply(move: dict, **context) -> dict:
        from multicloud.cost.apply import apply_move
        from multicloud.dagkit import estate_for

        result = apply_move(estate_for(context["params"]), move, context["run_id"])
        for step in result["steps"]:
            print(step)
        return result

    @task(trigger_rule="all_done", retries=0)
    def report(result: dict, costs: list[dict], **context) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        from multicloud.cost.run import DAG_ID, decision_after_approval, divergence_alerts, report
        from multicloud.dagkit import estate_for
        from multicloud.metrics import emit
        from multicloud.reports import write_summary

        ti = context["ti"]
        if not result:
            lines = ["No plan: cost collection or optimisation failed (see their task logs)"]
            write_summary(DAG_ID, context["run_id"], lines, {"error": lines[0]})
            raise AirflowFailException(lines[0])
        applied = ti.xcom_pull(task_ids="apply", default=[]) or []
        applied = [applied] if isinstance(applied, dict) else [a for a in applied if a]
        decision = ti.xcom_pull(task_ids="gate", key="decision") or "not decided"
        decision = decision_after_approval(decision, ti.xcom_pull(task_ids="approve", default=None), None)
        estate = estate_for(context["params"])
        collected = [costs[i] for i in range(len(costs or []))]
        divergence_alerts(result)
        lines, data = report(estate, context["run_id"], result, applied, collected, decision)
        dims = {"dag_id": DAG_ID}
        emit("cost.monthly_before", data["before_monthly"], unit=data["currency"], dimensions=dims, estate=estate)
        emit("cost.monthly_after", data["achieved_monthly"], unit=data["currency"], dimensions=dims, estate=estate)
        emit("cost.savings_pct", data["achieved_savings_pct"], unit="percent", dimensions=dims, estate=estate)
        emit("cost.moves_applied", sum(a["status"] == "applied" for a in applied), dimensions=dims, estate=estate)
        emit("cost.moves_rolled_back", sum(a["status"] != "applied" for a in applied), dimensions=dims, estate=estate)
        write_summary(DAG_ID, context["run_id"], lines, data)
        for line in lines:
            print(line)
        failed = [a for a in applied if a["status"] != "applied"]
        if failed:
            raise AirflowFailException(f"{len(failed)} move(s) not applied (rolled back or refused): "
                                       f"{failed[0].get('error')}")

    costs = collect.expand(cloud=clouds())
    result = optimise(costs)
    branch = gate(result)
    chosen = moves(result)
    branch >> [approve, chosen]
    approve >> chosen
    applied = apply.expand(move=chosen)
    applied >> report(result, costs)


cost_rebalance()
