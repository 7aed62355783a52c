"""The baseline: cheapest feasible cluster per workload, one workload at a time.

This is what a per-task optimiser (SkyPilot's, for one) does: every workload takes the cheapest
cluster that fits it now, without looking at the others. Starting from the current placement,
workloads are visited from the most expensive per replica down; a workload moves only if its own
cost drops and the move budget allows it; otherwise it stays where it is. A right-sized workload
is placed with its smallest allowed count; spot pools are used by preemption-tolerant workloads
that are not critical (the simple rule that keeps a critical one's on-demand replica per region).
"""

from __future__ import annotations

from multicloud.cost.model import Assignment, ClusterData, Problem, WorkloadData, node_month, share


def greedy(problem: Problem) -> Assignment:
    clusters = {c.id: c for c in problem.clusters}
    load = {c: [0.0, 0.0, 0.0, 0.0] for c in clusters}  # cpu, memory, gpu, node-equivalents
    assignment: Assignment = {}
    for w in problem.workloads:
        assignment[w.id] = dict(w.current)
        _add(load, clusters, w, w.current, +1)
    budget = problem.max_moves

    def per_replica(w: WorkloadData) -> float:
        return max((_marginal(load, clusters[c], w) + w.egress_per_replica.get(c, 0.0)
                    for c in w.current if c in clusters), default=0.0)

    for w in sorted(problem.workloads, key=per_replica, reverse=True):
        current = assignment[w.id]
        _add(load, clusters, w, current, -1)
        before = _workload_cost(load, clusters, w, current)
        # A workload on a cluster it may not use, or that is over capacity, must move whatever it costs.
        forced = any(c not in w.allowed or not _fits(load[c], clusters[c], w, n)
                     for c, n in current.items() if c in clusters)
        forced = forced or not w.lo <= sum(current.values()) <= w.hi
        candidate = _place(load, clusters, w)
        if candidate is not None:
            moves = sum(max(0, n - w.current.get(c, 0)) for c, n in candidate.items())
            after = _workload_cost(load, clusters, w, candidate)
            if moves <= budget and (forced or after < before - 1e-9):
                assignment[w.id] = candidate
                budget -= moves
        _add(load, clusters, w, assignment[w.id], +1)
    return assignment


def complete(problem: Problem, partial: Assignment, todo: dict[str, dict[str, int]]) -> Assignment | None:
    """``partial`` (the workloads already placed) plus a greedy completion of each workload in
    ``todo`` from the replicas it already has there, on the room left (from scratch when that
    start cannot be completed); None when one fits nowhere. Rounds an LP relaxation's fractional
    workloads: their whole replicas are kept, the rest placed greedily."""
    clusters = {c.id: c for c in problem.clusters}
    load = {c: [0.0, 0.0, 0.0, 0.0] for c in clusters}
    for w in problem.workloads:
        if w.id in partial:
            _add(load, clusters, w, partial[w.id], +1)
    result = {k: dict(v) for k, v in partial.items()}
    by_id = {w.id: w for w in problem.workloads}
    for w in sorted((by_id[k] for k in todo), key=lambda w: (-w.gpu, -w.cpu * w.lo, w.id)):
        start = {c: n for c, n in todo[w.id].items() if n}
        _add(load, clusters, w, start, +1)
        placed = _place(load, clusters, w, start)
        _add(load, clusters, w, start, -1)
        if placed is not None:
            placed = {c: placed.get(c, 0) + start.get(c, 0) for c in set(placed) | set(start)}
        if placed is None or not _sound(clusters, w, placed):
            placed = _place(load, clusters, w)
        if placed is None:
            return None
        result[w.id] = placed
        _add(load, clusters, w, placed, +1)
    return result


def _sound(clusters: dict[str, ClusterData], w: WorkloadData, placed: dict[str, int]) -> bool:
    """The count, spread and spot rules ``evaluate`` checks, for one workload."""
    if not w.lo <= sum(placed.values()) <= w.hi:
        return False
    spot: dict[str, int] = {}
    on_demand: dict[str, int] = {}
    for cid, n in placed.items():
        cluster = clusters[cid]
        if cluster.spot and not w.preemptible:
            return False
        book = spot if cluster.spot else on_demand
        book[cluster.region] = book.get(cluster.region, 0) + n
    if w.critical:
        if len(set(spot) | set(on_demand)) < 2:
            return False
        if any(n > on_demand.get(r, 0) for r, n in spot.items()):
            return False
    return True


def _place(load, clusters: dict[str, ClusterData], w: WorkloadData,
           start: dict[str, int] | None = None) -> dict[str, int] | None:
    """Replica by replica on the cheapest cluster with room; a critical workload's last replica
    goes to another region when all the others share one.

    A cluster without committed capacity costs the same for every replica (its share of a node,
    plus egress, plus migration where the replica did not run), so candidates are ranked once
    and scanned in price order; committed clusters and the current clusters, whose price depends
    on what is already placed, are priced per replica.
    """
    placed: dict[str, int] = {}
    trial = _Overlay(load)
    count = min(w.hi, max(w.lo, 2 if w.critical else 1))
    have = dict(start or {})   # already placed (in ``load``): counts towards count and spread
    count -= sum(have.values())
    ranked: list[tuple[float, str]] = []
    special: list[str] = []
    for cid in w.allowed:
        cluster = clusters.get(cid)
        if cluster is None or (cluster.spot and (w.critical or not w.preemptible)):
            continue
        if cluster.committed_nodes > 0 or w.current.get(cid, 0):
            special.append(cid)
        else:
            ranked.append((_share(w, cluster) * node_month(cluster) + w.egress_per_replica.get(cid, 0.0)
                           + w.migration_cost, cid))
    ranked.sort()
    special.sort()
    for index in range(max(0, count)):
        regions = {clusters[c].region for c in placed} | {clusters[c].region for c in have}
        must_spread = w.critical and index == count - 1 and len(regions) < 2
        best, best_cost = None, float("inf")
        for cost, cid in ranked:
            cluster = clusters[cid]
            if (must_spread and cluster.region in regions) or not _fits(trial[cid], cluster, w):
                continue
            best, best_cost = cid, cost
            break
        for cid in special:
            cluster = clusters[cid]
            if (must_spread and cluster.region in regions) or not _fits(trial[cid], cluster, w):
                continue
            cost = _marginal(trial, cluster, w) + w.egress_per_replica.get(cid, 0.0)
            cost += w.migration_cost if placed.get(cid, 0) + have.get(cid, 0) >= w.current.get(cid, 0) else 0.0
            if cost < best_cost - 1e-12 or (abs(cost - best_cost) <= 1e-12 and best is not None and cid < best):
                best, best_cost = cid, cost
        if best is None:
            return None
        placed[best] = placed.get(best, 0) + 1
        _add(trial, clusters, w, {best: 1}, +1)
    return placed


class _Overlay(dict):
    """A copy-on-read view of the load: only the clusters a trial touches are copied."""

    def __init__(self, base: dict[str, list[float]]) -> None:
        super().__init__()
        self.base = base

    def __missing__(self, key: str) -> list[float]:
        row = list(self.base[key])
        self[key] = row
        return row

    def __contains__(self, key: object) -> bool:
        return key in self.base


_SHARES: dict[tuple, float] = {}


def _share(w: WorkloadData, cluster: ClusterData) -> float:
    """``model.share`` memoised by resource profile: a fleet has few distinct (cpu, memory, gpu)."""
    key = (w.cpu, w.memory_gb, w.gpu, cluster.node_cpu, cluster.node_memory_gb, cluster.node_gpu)
    value = _SHARES.get(key)
    if value is None:
        if len(_SHARES) > 100_000:
            _SHARES.clear()
        value = _SHARES[key] = share(w, cluster)
    return value


def _fits(row: list[float], cluster: ClusterData, w: WorkloadData, n: int = 1) -> bool:
    eps = 1e-9
    return (row[0] + n * w.cpu <= cluster.cpu + eps and row[1] + n * w.memory_gb <= cluster.memory_gb + eps
            and row[2] + n * w.gpu <= cluster.gpu)


def _marginal(load, cluster: ClusterData, w: WorkloadData) -> float:
    nodes = load[cluster.id][3]
    extra = _share(w, cluster)
    paid_before = max(0.0, nodes - cluster.committed_nodes)
    paid_after = max(0.0, nodes + extra - cluster.committed_nodes)
    return (paid_after - paid_before) * node_month(cluster)


def _workload_cost(load, clusters, w: WorkloadData, placement: dict[str, int]) -> float:
    """What ``placement`` adds on top of ``load`` (which must not contain ``w``)."""
    trial = _Overlay(load)
    total = 0.0
    for cid, n in placement.items():
        for _ in range(n):
            total += _marginal(trial, clusters[cid], w) + w.egress_per_replica.get(cid, 0.0)
            _add(trial, clusters, w, {cid: 1}, +1)
        total += max(0, n - w.current.get(cid, 0)) * w.migration_cost
    return total


def _add(load, clusters, w: WorkloadData, placement, sign: int) -> None:
    for cid, n in placement.items():
        if cid not in load:
            continue
        row = load[cid]
        row[0] += sign * n * w.cpu
        row[1] += sign * n * w.memory_gb
        row[2] += sign * n * w.gpu
        row[3] += sign * n * _share(w, clusters[cid])
