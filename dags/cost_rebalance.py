"""cost_rebalance: place workloads where they cost least, never breaking residency or availability."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import dag, task

from multicloud.cost.settings import CostSettings
from multicloud.dagkit import default_args, params_of, schedule_start

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
    params=params_of(CostSettings),
)
def cost_rebalance():
    @task
    def clouds(params=None) -> list[str]:
        from multicloud.cost import tasks

        return tasks.clouds(params)

    @task(max_active_tis_per_dagrun=4)
    def collect(cloud: str, params=None, logical_date=None, dag_run=None) -> dict:
        from multicloud.cost import tasks

        return tasks.collect(cloud, params, logical_date, dag_run.run_after)

    @task(trigger_rule="none_failed")
    def optimise(costs: list[dict], params=None) -> dict:
        from multicloud.cost import tasks

        return tasks.optimise(costs, params)

    @task.branch
    def gate(result: dict, params=None, ti=None) -> list[str]:
        from multicloud.cost import tasks

        return tasks.gate(result, params, ti, approve="approve", apply="moves")

    approve = ApprovalOperator(
        task_id="approve",
        subject="Apply the cost rebalance plan?",
        body="{{ ti.xcom_pull(task_ids='gate', key='decision') }}: "
             "{{ ti.xcom_pull(task_ids='optimise')['moves'] | length }} move(s), saving "
             "{{ ti.xcom_pull(task_ids='optimise')['savings_pct'] }}% of monthly cost.",
    )

    @task(trigger_rule="none_failed_min_one_success")
    def moves(result: dict) -> list[dict]:
        from multicloud.cost.run import move_specs

        return move_specs(result)

    # One move at a time: make-before-break needs room at the target, and each move reads the
    # placement the previous one wrote.
    @task(max_active_tis_per_dagrun=1, retries=2)
    def apply(move: dict, params=None, run_id=None) -> dict:
        from multicloud.cost import tasks

        return tasks.apply(move, params, run_id)

    @task(trigger_rule="all_done", retries=0)
    def report(result: dict, costs: list[dict], params=None, run_id=None, ti=None) -> None:
        from multicloud.cost import tasks

        tasks.report(result, costs, params, run_id, applied=ti.xcom_pull(task_ids="apply", default=[]),
                     decision=ti.xcom_pull(task_ids="gate", key="decision"),
                     approval=ti.xcom_pull(task_ids="approve", default=None))

    costs = collect.expand(cloud=clouds())
    result = optimise(costs)
    branch = gate(result)
    chosen = moves(result)
    branch >> [approve, chosen]
    approve >> chosen
    applied = apply.expand(move=chosen)
    applied >> report(result, costs)


cost_rebalance()
