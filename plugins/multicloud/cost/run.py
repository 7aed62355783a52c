"""The steps of a cost_rebalance run, as plain functions the DAG's tasks call. No Airflow import."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud import paths

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

DAG_ID = "cost_rebalance"
WAITING_FOR_APPROVAL = "waiting for approval"


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


def _problem(estate: Estate, clouds: list[str], max_moves: int, home: Path | None = None, *,
             factors: dict | None = None, keep: list[str] | tuple[str, ...] = ()):
    from multicloud.cost.catalog import catalog_for_estate
    from multicloud.cost.model import build_problem
    from multicloud.placement import current_placement
    from multicloud.residency.policy import ResidencyPolicy

    policy = ResidencyPolicy.from_estate(estate)
    problem = build_problem(estate, catalog_for_estate(estate), policy, current_placement(estate, home),
                            max_moves=max_moves, clouds=clouds, price_factors=factors, keep=keep)
    return problem, policy


def calibration(estate: Estate, collected: list[dict[str, Any]], home: Path | None = None):
    """(price factors, per-cloud calibration) from the collected bills against the catalog model."""
    from multicloud.cost.calibrate import calibrate
    from multicloud.cost.catalog import catalog_for_estate
    from multicloud.cost.model import build_problem
    from multicloud.placement import current_placement
    from multicloud.residency.policy import ResidencyPolicy

    # The whole estate at catalog prices and today's counts: what the bills are compared with.
    problem = build_problem(estate, catalog_for_estate(estate), ResidencyPolicy.from_estate(estate),
                            current_placement(estate, home), max_moves=0, right_size=False, spot=False)
    factors, report = calibrate(problem, collected, divergence_pct=estate.pricing.divergence_pct)
    return factors, [c.as_dict() for c in report]


def unserved(estate: Estate, home: Path | None = None) -> list[str]:
    """Workloads not yet served where the placement store says they run (a fresh start before
    the first rollout): nothing can move from there, so they are left out of the plan. A cluster
    that cannot be asked counts as not serving (fails closed)."""
    from multicloud.drivers import driver_for
    from multicloud.placement import current_placement

    served: dict[str, set[str]] = {}

    def models_on(cluster_id: str) -> set[str]:
        if cluster_id not in served:
            try:
                served[cluster_id] = set(driver_for(estate, cluster_id, home=home).served())
            except Exception:  # unreachable or unknown: not verified as serving
                served[cluster_id] = set()
        return served[cluster_id]

    placement = current_placement(estate, home)
    return sorted(w.id for w in estate.workloads
                  if any(n and w.model not in models_on(c) for c, n in placement.get(w.id, {}).items()))


def plan(estate: Estate, clouds: list[str], max_moves: int, time_limit_s: float = 10.0,
         home: Path | None = None, *, collected: list[dict[str, Any]] | None = None,
         only_served: bool = False) -> dict[str, Any]:
    """Calibrate prices from the bills, optimise count and placement, then the actions with their
    monthly saving and the residency decision of each target."""
    from multicloud.cost.calibrate import encode_factors
    from multicloud.cost.model import evaluate
    from multicloud.cost.optimiser import optimise
    from multicloud.cost.report import breakdown, move_savings, plan_moves, spot_risk

    if max_moves < 0:
        raise ValueError(f"max_moves must be >= 0; got {max_moves}")
    factors, calibrated = calibration(estate, collected, home) if collected else ({}, [])
    keep = unserved(estate, home) if only_served else []
    problem, policy = _problem(estate, clouds, max_moves, home, factors=factors, keep=keep)
    catalog_problem, _ = _problem(estate, clouds, 0, home, keep=keep)
    catalog_before = evaluate(catalog_problem, catalog_problem.current(), check_moves=False).monthly
    common = {"clouds": clouds, "currency": problem.currency, "calibration": calibrated,
              "price_factors": encode_factors(factors), "not_served": keep, "sizing": dict(problem.sizing),
              "catalog_before_monthly": round(catalog_before, 2)}
    if not problem.workloads:
        why = ("no workload is served yet" if keep else "no workload runs on the chosen clouds' clusters")
        return {**common, "status": "nothing_to_do", "reason": why, "mip_gap": None, "bound": None, "solve_s": 0.0,
                "notes": [why], "before_monthly": 0.0, "after_monthly": 0.0, "migration_cost": 0.0,
                "greedy_total": None, "objective": 0.0, "objective_current": 0.0, "savings_monthly": 0.0,
                "savings_pct": 0.0, "before": {"by_cloud": {}, "by_region": {}},
                "after": {"by_cloud": {}, "by_region": {}}, "current": {}, "proposed": {}, "moves": [],
                "spot": spot_risk(problem, {})}
    solution = optimise(problem, time_limit_s=time_limit_s)
    before = evaluate(problem, problem.current(), check_moves=False)
    moves = []
    for move in plan_moves(problem, solution.assignment):
        workload = next(w for w in problem.workloads if w.id == move["workload"])
        where = move["target"] or move["source"]
        target_region = problem.cluster(where).region
        decision = policy.decide(workload.data_class, target_region)
        moves.append({**move, "source_region": problem.cluster(move["source"]).region if move["source"] else None,
                      "target_region": target_region, "monthly_saving": move_savings(problem, move),
                      "residency": decision.as_dict()})
    after = solution.evaluation
    saving = before.monthly - after.monthly
    return {
        **common, "status": solution.status, "mip_gap": solution.mip_gap, "bound": solution.bound,
        "solve_s": round(solution.solve_s, 3), "notes": solution.notes,
        "before_monthly": round(before.monthly, 2), "after_monthly": round(after.monthly, 2),
        "migration_cost": round(after.migration_cost, 2), "greedy_total": solution.greedy_total,
        "objective": round(after.total, 2), "objective_current": round(solution.current_total, 2),
        "savings_monthly": round(saving, 2),
        "savings_pct": round(100 * saving / before.monthly, 2) if before.monthly else 0.0,
        "before": breakdown(problem, before), "after": breakdown(problem, after),
        "current": problem.current(), "proposed": solution.assignment, "moves": moves,
        "spot": spot_risk(problem, solution.assignment),
    }


@dataclass(frozen=True)
class GateDecision:
    """Whether the plan is applied, whether a human approves it first, and why."""

    apply: bool
    reason: str
    approval: bool = False


def gate(result: dict[str, Any], *, dry_run: bool, min_savings_pct: float, approval_required: bool) -> GateDecision:
    """Apply the plan or not, and why: only moves that pay, never one residency blocks."""
    moves = result["moves"]
    if result.get("status") == "nothing_to_do":
        return GateDecision(False, f"nothing to do: {result.get('reason', 'no workload to place')}")
    if not moves:
        return GateDecision(False, "no move pays for itself")
    blocked = [m for m in moves if m["residency"]["blocks"]]
    if blocked:  # the optimiser never proposes these; refuse loudly if it ever did
        raise ValueError(f"residency would block {len(blocked)} move(s): {blocked[0]['residency']['reason']}")
    if result["savings_pct"] < min_savings_pct:
        return GateDecision(False, f"savings {result['savings_pct']:.1f}% below the {min_savings_pct:g}% threshold")
    if dry_run:
        return GateDecision(False, "dry run: plan only")
    if approval_required:
        return GateDecision(True, WAITING_FOR_APPROVAL, approval=True)
    return GateDecision(True, f"savings {result['savings_pct']:.1f}% >= {min_savings_pct:g}%: applying")


MOVE_KEYS = ("workload", "source", "target", "replicas", "before")


def move_specs(result: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``apply_move`` needs of each planned move (one mapped apply per move)."""
    return [{k: m[k] for k in MOVE_KEYS if k in m} for m in result["moves"]]


def released_nodes(estate: Estate, applied: list[dict[str, Any]], factors: dict | None = None) -> dict[str, Any]:
    """Node-pool changes the moves made: first size seen -> last size, per pool, priced per month."""
    from multicloud.cost.catalog import HOURS_PER_MONTH
    from multicloud.cost.pools import node_hourly

    pools: dict[str, dict[str, Any]] = {}
    for result in applied:
        for change in result.get("nodes") or []:
            if change.get("before") is None or change.get("after") is None:
                continue
            key = f"{change['cluster']}/{change['pool']}"
            entry = pools.setdefault(key, {"cluster": change["cluster"], "pool": change["pool"],
                                           "before": change["before"]})
            entry["after"] = change["after"]
    monthly = 0.0
    for entry in pools.values():
        entry["released"] = entry["before"] - entry["after"]
        entry["monthly"] = round(entry["released"] * node_hourly(estate, entry["cluster"], factors) * HOURS_PER_MONTH, 2)
        monthly += entry["monthly"]
    return {"pools": sorted(pools.values(), key=lambda e: (e["cluster"], e["pool"])),
            "released": sum(e["released"] for e in pools.values()), "monthly": round(monthly, 2)}


def report(estate: Estate, run_id: str, result: dict[str, Any], applied: list[dict[str, Any]],
           costs: list[dict[str, Any]], decision: str, home: Path | None = None) -> tuple[list[str], dict[str, Any]]:
    """Achieved before/after, calibration, levers and risk; chart + JSON, headline lines.

    Where the moved workloads' clusters have node pools, the achieved saving is what the released
    (minus grown) nodes cost a month: a moved replica whose node keeps running saves nothing.
    Elsewhere it is the placement model's (the placement store after the moves).
    """
    import json

    from multicloud.cost.calibrate import decode_factors
    from multicloud.cost.model import evaluate
    from multicloud.cost.report import breakdown, render_chart
    from multicloud.paths import safe_run_id
    from multicloud.statefile import atomic_write_text

    factors = decode_factors(result.get("price_factors"))
    problem, _policy = _problem(estate, result["clouds"], max_moves=0, home=home, factors=factors,
                                keep=result.get("not_served") or [])
    achieved = evaluate(problem, problem.current(), check_moves=False)
    before = result["before_monthly"]
    ok = [a for a in applied if a.get("status") == "applied"]
    failed = [a for a in applied if a.get("status") != "applied"]
    nodes = released_nodes(estate, ok, factors)
    pooled = bool(nodes["pools"])
    saved = nodes["monthly"] if pooled else before - achieved.monthly
    pct = 100 * saved / before if before else 0.0
    currency = result["currency"]
    folder = paths.home_path(home, "reports", DAG_ID, safe_run_id(run_id), what="cost report")
    chart = None
    if result.get("status") != "nothing_to_do":
        chart = str(render_chart(result["before"], breakdown(problem, achieved) if ok else result["after"],
                                 folder / "cost.png", currency, "after (achieved)" if ok else "after (planned)"))
    diverging = [c for c in result.get("calibration") or [] if c.get("diverges")]
    data = {**result, "decision": decision, "applied": applied, "collected": costs,
            "achieved_monthly": round(before - saved, 2), "achieved_savings_monthly": round(saved, 2),
            "achieved_savings_pct": round(pct, 2), "achieved_basis": "released nodes" if pooled else
            "placement model (no node pools in the estate for these clusters)", "released_nodes": nodes,
            "achieved": breakdown(problem, achieved), "chart": chart, "diverging_clouds": [c["cloud"] for c in diverging]}
    atomic_write_text(folder / "report.json", json.dumps(data, indent=2, sort_keys=True, default=str))
    if result.get("status") == "nothing_to_do":
        lines = [f"Nothing to do: {result.get('reason')}", f"Decision: {decision}"]
        return lines, data
    gap = "n/a" if result["mip_gap"] is None else f"{100 * result['mip_gap']:.2f}%"
    bound = "n/a" if result.get("bound") is None else f"{result['bound']:,.2f}"
    lines = [
        f"Plan: monthly cost {before:,.2f} -> {result['after_monthly']:,.2f} {currency} "
        f"(saves {result['savings_monthly']:,.2f}/month, {result['savings_pct']:.1f}%)",
        f"Optimiser: {result['status']}, gap {gap} (bound {bound}), {result['solve_s']:.2f}s; "
        f"{len(result['moves'])} action(s) planned",
    ]
    calibrated = [c for c in result.get("calibration") or [] if c.get("error_pct") is not None]
    if calibrated:
        lines.append("Calibration: " + "; ".join(
            f"{c['cloud']} billed {c['billed']:,.2f} vs modelled {c['modelled']:,.2f} (model error "
            f"{c['error_pct']:+.1f}%{', DIVERGES' if c['diverges'] else ''})" for c in calibrated))
    spot = result.get("spot") or {}
    if spot.get("spot_replicas"):
        lines.append(f"Spot: {spot['spot_replicas']} replica(s) on spot pools, ~{spot['reclaims_per_month']:.2f} "
                     "reclaims/month expected; critical workloads keep on-demand replicas in every region")
    if result.get("not_served"):
        lines.append(f"Not served yet (left out): {', '.join(result['not_served'])}")
    if ok:
        basis = (f"{nodes['released']} node(s) released" if pooled else "placement model")
        lines.append(f"Achieved: saves {saved:,.2f} {currency}/month ({pct:.1f}%), {basis}")
    for move in result["moves"][:max(0, 7 - len(lines))]:   # at most 8 lines, the decision last
        outcome = next((a["status"] for a in applied if a.get("workload") == move["workload"]
                        and a.get("source") == move["source"] and a.get("target") == move["target"]), "not applied")
        where = (f"{move['source']} -> {move['target']}" if move["source"] and move["target"]
                 else f"{move['target']} +" if move["target"] else f"{move['source']} -")
        lines.append(f"{move['workload']}: {where} x{move['replicas']} (saves {move['monthly_saving']:,.2f}/month, "
                     f"residency {move['residency']['rule']}): {outcome}")
    lines = lines[:7]
    lines.append(f"Decision: {decision}; applied {len(ok)}, rolled back {len(failed)}")
    return lines, data


def decision_after_approval(gate_reason: str, approval: dict[str, Any] | None, approve_state: str | None) -> str:
    """The run's decision once the approval step is known: rejected is reported as rejected."""
    if gate_reason != WAITING_FOR_APPROVAL:
        return gate_reason
    chosen = (approval or {}).get("chosen_options") or []
    who = (approval or {}).get("responded_by_user") or {}
    by = f" by {who.get('name') or who.get('id')}" if isinstance(who, dict) and who else ""
    if "Reject" in chosen:
        return f"rejected{by}: nothing applied"
    if "Approve" in chosen:
        return f"approved{by}: applying"
    if approve_state in ("failed", "upstream_failed"):
        return "approval failed or timed out: nothing applied"
    return f"approval not given (approve task {approve_state or 'did not run'}): nothing applied"


def divergence_alerts(result: dict[str, Any], home: Path | None = None) -> list[str]:
    """Raise a ``cost_divergence`` alert per cloud whose bill and model disagree beyond the threshold."""
    from multicloud.alerts import alert

    raised = []
    for c in result.get("calibration") or []:
        if c.get("diverges"):
            message = (f"{c['cloud']}: cost model {c['modelled']:,.2f} vs bill {c['billed']:,.2f} "
                       f"({c['error_pct']:+.1f}%, basis {c['basis']}); prices recalibrated")
            alert("cost_divergence", message, {"calibration": c}, home=home)
            raised.append(message)
    return raised
