"""The steps of a cost_rebalance run, as plain functions the DAG's tasks call. No Airflow import."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud import paths

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

DAG_ID = "cost_rebalance"


def clouds_to_collect(estate: Estate, wanted: list[str] | None) -> list[str]:
    have = sorted({r.cloud.value for r, _ in estate.clusters()})
    if not wanted:
        return have
    unknown = sorted(set(wanted) - {r.cloud.value for r in estate.regions})
    if unknown:
        raise ValueError(f"clouds {unknown} are not in the estate (it has {have})")
    return [c for c in have if c in wanted]


def collect(estate: Estate, cloud: str, end: date, days: int = 30) -> dict[str, Any]:
    from multicloud.cost.collect import collect_cloud, period

    start, end = period(end, days)
    return collect_cloud(estate, cloud, start=start, end=end).as_dict()


def _problem(estate: Estate, clouds: list[str], max_moves: int, home: Path | None = None):
    from multicloud.cost.catalog import catalog_for_estate
    from multicloud.cost.model import build_problem
    from multicloud.placement import current_placement
    from multicloud.residency.policy import ResidencyPolicy

    policy = ResidencyPolicy.from_estate(estate)
    problem = build_problem(estate, catalog_for_estate(estate), policy, current_placement(estate, home),
                            max_moves=max_moves, clouds=clouds)
    return problem, policy


def plan(estate: Estate, clouds: list[str], max_moves: int, time_limit_s: float = 10.0,
         home: Path | None = None) -> dict[str, Any]:
    """Optimise, then the moves with their monthly saving and the residency decision of each target."""
    from multicloud.cost.optimiser import optimise
    from multicloud.cost.report import breakdown, move_savings, plan_moves

    if max_moves < 0:
        raise ValueError(f"max_moves must be >= 0; got {max_moves}")
    problem, policy = _problem(estate, clouds, max_moves, home)
    solution = optimise(problem, time_limit_s=time_limit_s)
    current = solution.current_total
    from multicloud.cost.model import evaluate

    before = evaluate(problem, problem.current(), check_moves=False)
    moves = []
    for move in plan_moves(problem, solution.assignment):
        workload = next(w for w in problem.workloads if w.id == move["workload"])
        target_region = problem.cluster(move["target"]).region
        decision = policy.decide(workload.data_class, target_region)
        moves.append({**move, "source_region": problem.cluster(move["source"]).region,
                      "target_region": target_region, "monthly_saving": move_savings(problem, move),
                      "residency": decision.as_dict()})
    after = solution.evaluation
    saving = before.monthly - after.monthly
    return {
        "clouds": clouds, "currency": problem.currency, "status": solution.status, "mip_gap": solution.mip_gap,
        "solve_s": round(solution.solve_s, 3), "notes": solution.notes,
        "before_monthly": round(before.monthly, 2), "after_monthly": round(after.monthly, 2),
        "migration_cost": round(after.migration_cost, 2), "greedy_total": solution.greedy_total,
        "objective": round(after.total, 2), "objective_current": round(current, 2),
        "savings_monthly": round(saving, 2),
        "savings_pct": round(100 * saving / before.monthly, 2) if before.monthly else 0.0,
        "before": breakdown(problem, before), "after": breakdown(problem, after),
        "current": problem.current(), "proposed": solution.assignment, "moves": moves,
    }


def gate(result: dict[str, Any], *, dry_run: bool, min_savings_pct: float, approval_required: bool
         ) -> tuple[list[str], str]:
    """Which branch to follow (task ids) and why."""
    moves = result["moves"]
    if not moves:
        return [], "no move pays for itself"
    blocked = [m for m in moves if m["residency"]["blocks"]]
    if blocked:  # the optimiser never proposes these; refuse loudly if it ever did
        raise ValueError(f"residency would block {len(blocked)} move(s): {blocked[0]['residency']['reason']}")
    if result["savings_pct"] < min_savings_pct:
        return [], f"savings {result['savings_pct']:.1f}% below the {min_savings_pct:g}% threshold"
    if dry_run:
        return [], "dry run: plan only"
    if approval_required:
        return ["approve", "moves"], "waiting for approval"
    return ["moves"], f"savings {result['savings_pct']:.1f}% >= {min_savings_pct:g}%: applying"


def report(estate: Estate, run_id: str, result: dict[str, Any], applied: list[dict[str, Any]],
           costs: list[dict[str, Any]], decision: str, home: Path | None = None) -> tuple[list[str], dict[str, Any]]:
    """Achieved before/after (placement store after the moves), chart + JSON, headline lines."""
    import json

    from multicloud.cost.model import evaluate
    from multicloud.cost.report import breakdown, render_chart
    from multicloud.reports import atomic_write_text, safe_run_id

    # Built from the placement store as it is now, so its current placement is what the moves achieved.
    problem, _policy = _problem(estate, result["clouds"], max_moves=0, home=home)
    achieved = evaluate(problem, problem.current(), check_moves=False)
    before = result["before_monthly"]
    ok = [a for a in applied if a.get("status") == "applied"]
    failed = [a for a in applied if a.get("status") != "applied"]
    saved = before - achieved.monthly
    pct = 100 * saved / before if before else 0.0
    currency = result["currency"]
    folder = paths.home_path(home, "reports", DAG_ID, safe_run_id(run_id), what="cost report")
    chart = render_chart(result["before"], breakdown(problem, achieved) if ok else result["after"],
                         folder / "cost.png", currency, "after (achieved)" if ok else "after (planned)")
    data = {**result, "decision": decision, "applied": applied, "collected": costs,
            "achieved_monthly": round(achieved.monthly, 2), "achieved_savings_monthly": round(saved, 2),
            "achieved_savings_pct": round(pct, 2), "achieved": breakdown(problem, achieved),
            "chart": str(chart)}
    atomic_write_text(folder / "report.json", json.dumps(data, indent=2, sort_keys=True, default=str))
    gap = "n/a" if result["mip_gap"] is None else f"{100 * result['mip_gap']:.2f}%"
    lines = [
        f"Plan: monthly cost {before:,.2f} -> {result['after_monthly']:,.2f} {currency} "
        f"(saves {result['savings_monthly']:,.2f}/month, {result['savings_pct']:.1f}%)",
        f"Optimiser: {result['status']}, gap {gap}, {result['solve_s']:.2f}s; {len(result['moves'])} move(s) planned",
    ]
    if ok:
        lines.append(f"Achieved: {achieved.monthly:,.2f} {currency}/month now "
                     f"(saves {saved:,.2f}/month, {pct:.1f}%)")
    for move in result["moves"][:4]:
        outcome = next((a["status"] for a in applied if a.get("workload") == move["workload"]
                        and a.get("target") == move["target"]), "not applied")
        lines.append(f"{move['workload']}: {move['source']} -> {move['target']} x{move['replicas']} "
                     f"(saves {move['monthly_saving']:,.2f}/month, residency {move['residency']['rule']}): {outcome}")
    lines.append(f"Decision: {decision}; applied {len(ok)}, rolled back {len(failed)}")
    return lines[:8], data
