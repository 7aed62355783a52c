"""The rebalance report: before/after cost by cloud and region (JSON + PNG), savings, moves.

Pure apart from matplotlib (Agg backend, imported inside ``render_chart``).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from multicloud.cost.model import Assignment, Evaluation, Problem, evaluate


def breakdown(problem: Problem, evaluation: Evaluation) -> dict[str, dict[str, float]]:
    """Monthly run cost by cloud and by region (egress is attributed to the reading cluster)."""
    by_cloud: dict[str, float] = defaultdict(float)
    by_region: dict[str, float] = defaultdict(float)
    for cluster in problem.clusters:
        amount = evaluation.run_by_cluster.get(cluster.id, 0.0)
        by_cloud[cluster.cloud] += amount
        by_region[cluster.region] += amount
    return {"by_cloud": {k: round(v, 2) for k, v in sorted(by_cloud.items())},
            "by_region": {k: round(v, 2) for k, v in sorted(by_region.items())}}


def plan_moves(problem: Problem, target: Assignment) -> list[dict[str, Any]]:
    """Pair replicas leaving a cluster with replicas arriving elsewhere, per workload. What is
    left over is right-sizing: replicas removed (``target`` None) or added (``source`` None)."""
    moves: list[dict[str, Any]] = []
    for w in problem.workloads:
        after = target.get(w.id, {})
        # Spot last in, first out: a critical workload's on-demand replicas arrive before and leave
        # after its spot ones (each move is checked again when applied: ``apply.on_demand_floor``).
        spot = {c.id for c in problem.clusters if c.spot}
        leaving = [[c, n - after.get(c, 0)] for c, n in sorted(w.current.items(), key=lambda i: (i[0] not in spot, i[0]))
                   if n > after.get(c, 0)]
        arriving = [[c, n - w.current.get(c, 0)] for c, n in sorted(after.items(), key=lambda i: (i[0] in spot, i[0]))
                    if n > w.current.get(c, 0)]
        for dest in arriving:
            while dest[1] > 0 and leaving:
                src = leaving[0]
                count = min(src[1], dest[1])
                moves.append({"workload": w.id, "source": src[0], "target": dest[0], "replicas": count})
                src[1] -= count
                dest[1] -= count
                if src[1] == 0:
                    leaving.pop(0)
            if dest[1] > 0:
                moves.append({"workload": w.id, "source": None, "target": dest[0], "replicas": dest[1],
                              "before": w.current.get(dest[0], 0)})
        for src in leaving:
            if src[1] > 0:
                moves.append({"workload": w.id, "source": src[0], "target": None, "replicas": src[1],
                              "before": w.current.get(src[0], 0)})
    return moves


def move_savings(problem: Problem, move: dict[str, Any]) -> float:
    """Monthly saving of this move alone (current placement, only this move applied; migration excluded)."""
    current = problem.current()
    changed = {k: dict(v) for k, v in current.items()}
    row = changed[move["workload"]]
    if move["source"]:
        row[move["source"]] = row.get(move["source"], 0) - move["replicas"]
    if move["target"]:
        row[move["target"]] = row.get(move["target"], 0) + move["replicas"]
    before = evaluate(problem, current, check_moves=False).monthly
    after = evaluate(problem, changed, check_moves=False).monthly
    return round(before - after, 2)


def spot_risk(problem: Problem, assignment: Assignment) -> dict[str, Any]:
    """The interruption risk a plan takes: replicas on spot pools and their expected reclaims."""
    spot = {c.id: c for c in problem.clusters if c.spot}
    workloads = {}
    total = reclaims = 0.0
    for w in problem.workloads:
        on_spot = {c: n for c, n in assignment.get(w.id, {}).items() if c in spot and n}
        if on_spot:
            replicas = sum(on_spot.values())
            expected = sum(n * spot[c].interruptions_per_month for c, n in on_spot.items())
            workloads[w.id] = {"spot_replicas": replicas, "replicas": sum(assignment[w.id].values()),
                               "reclaims_per_month": round(expected, 3), "critical": w.critical}
            total += replicas
            reclaims += expected
    return {"spot_replicas": int(total), "reclaims_per_month": round(reclaims, 3), "workloads": workloads,
            "pools": sorted(spot)}


def render_chart(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], path: Path,
                 currency: str = "USD", after_label: str = "after") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, title in ((axes[0], "by_cloud", "by cloud"), (axes[1], "by_region", "by region")):
        labels = sorted(set(before[key]) | set(after[key]))
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], [before[key].get(k, 0) for k in labels], width=0.4, label="before")
        ax.bar([x + 0.2 for x in xs], [after[key].get(k, 0) for k in labels], width=0.4, label=after_label)
        ax.set_xticks(list(xs), labels, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(f"{currency} / month")
        ax.set_title(f"Run cost {title}")
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
