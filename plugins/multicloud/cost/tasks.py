"""Airflow adapters behind dags/cost_rebalance.py: one function per task.

Imported inside tasks only. Each takes what the DAG's task receives from Airflow (its arguments
and the context values it names: ``params``, ``run_id``, ``ti``, dates), builds the run's
``CostSettings`` from the Params, calls ``cost.run`` / ``cost.apply``, and turns decided refusals
into failures without retries. Task ids stay in the DAG file: it passes the ones a branch follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from multicloud.cost import run
from multicloud.cost.settings import CostSettings
from multicloud.dagkit import estate_for, mapped_results


def clouds(params: Mapping[str, Any]) -> list[str]:
    """The clouds to collect costs for; a cloud the estate does not have fails at once, naming it."""
    from airflow.sdk.exceptions import AirflowFailException

    settings = CostSettings.from_params(params)
    try:
        return run.clouds_to_collect(estate_for(params), settings.clouds)
    except ValueError as exc:  # decided, no retry
        raise AirflowFailException(str(exc)) from exc


def collect(cloud: str, params: Mapping[str, Any], logical_date: datetime | None, run_after: datetime) -> dict:
    """One cloud's spend for the run's logical date, or for the day it was triggered without one."""
    return run.collect(estate_for(params), cloud, (logical_date or run_after).date())


def optimise(costs: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    settings = CostSettings.from_params(params)
    collected = mapped_results(costs)
    clouds_seen = sorted({c["cloud"] for c in collected})
    return run.plan(estate_for(params), clouds_seen, settings.max_moves, settings.time_limit_s,
                    collected=collected if settings.calibrate else None, only_served=True)


def gate(result: dict[str, Any], params: Mapping[str, Any], ti: Any, *, approve: str, apply: str) -> list[str]:
    """The branch to follow (task ids ``approve`` and ``apply`` from the DAG file); the decision's
    reason goes to XCom key ``decision`` (the approval's body and the report read it)."""
    settings = CostSettings.from_params(params)
    decision = run.gate(result, dry_run=settings.dry_run, min_savings_pct=settings.min_savings_pct,
                        approval_required=settings.approval_required)
    ti.xcom_push(key="decision", value=decision.reason)
    print(f"gate: {decision.reason}")
    if not decision.apply:
        return []
    return [approve, apply] if decision.approval else [apply]


def apply(move: dict[str, Any], params: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    from multicloud.cost.apply import apply_move

    result = apply_move(estate_for(params), move, run_id)
    for step in result["steps"]:
        print(step)
    return result


def report(result: dict[str, Any] | None, costs: Any, params: Mapping[str, Any], run_id: str, *,
           applied: Any, decision: str | None, approval: dict[str, Any] | None) -> None:
    """The run's report, summary and metrics from the plan, the ``apply`` results, the gate's
    decision and the approval (if one was asked); fails when a move was not applied."""
    from airflow.sdk.exceptions import AirflowFailException

    from multicloud.metrics import emit
    from multicloud.reports import write_summary

    if not result:
        lines = ["No plan: cost collection or optimisation failed (see their task logs)"]
        write_summary(run.DAG_ID, run_id, lines, {"error": lines[0]})
        raise AirflowFailException(lines[0])
    applied = mapped_results(applied)
    decision = run.decision_after_approval(decision or "not decided", approval, None)
    estate = estate_for(params)
    run.divergence_alerts(result)
    lines, data = run.report(estate, run_id, result, applied, mapped_results(costs), decision)
    dims = {"dag_id": run.DAG_ID}
    emit("cost.monthly_before", data["before_monthly"], unit=data["currency"], dimensions=dims, estate=estate)
    emit("cost.monthly_after", data["achieved_monthly"], unit=data["currency"], dimensions=dims, estate=estate)
    emit("cost.savings_pct", data["achieved_savings_pct"], unit="percent", dimensions=dims, estate=estate)
    emit("cost.moves_applied", sum(a["status"] == "applied" for a in applied), dimensions=dims, estate=estate)
    emit("cost.moves_rolled_back", sum(a["status"] != "applied" for a in applied), dimensions=dims, estate=estate)
    write_summary(run.DAG_ID, run_id, lines, data)
    for line in lines:
        print(line)
    failed = [a for a in applied if a["status"] != "applied"]
    if failed:
        raise AirflowFailException(f"{len(failed)} move(s) not applied (rolled back or refused): "
                                   f"{failed[0].get('error')}")
