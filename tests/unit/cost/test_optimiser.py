"""The MILP against brute force on small generated instances, and against the greedy baseline."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multicloud.cost.greedy import greedy
from multicloud.cost.model import ClusterData, Problem, WorkloadData, evaluate
from multicloud.cost.optimiser import optimise


@st.composite
def problems(draw, levers: bool = False) -> Problem:
    """Small instances; with ``levers`` also right-sizing ranges and spot pools."""
    n_clusters = draw(st.integers(2, 3 if levers else 4))
    clusters = []
    for i in range(n_clusters):
        gpu = draw(st.sampled_from([0, 0, 2]))
        clusters.append(ClusterData(
            id=f"c{i}", region=f"r{draw(st.integers(0, 2))}", cloud=draw(st.sampled_from(["oci", "aws", "gcp"])),
            shape="s", node_hourly=draw(st.floats(0.05, 2.0)), node_cpu=8, node_memory_gb=32,
            node_gpu=1 if gpu else 0, gpu_type="A10G" if gpu else None,
            cpu=draw(st.sampled_from([4, 8, 16])), memory_gb=draw(st.sampled_from([16, 32, 64])), gpu=gpu,
            committed_nodes=draw(st.sampled_from([0.0, 0.0, 0.25, 0.5])),
        ))
    if levers:
        for base in draw(st.sets(st.sampled_from(clusters), max_size=2)):
            clusters.append(ClusterData(
                id=f"{base.id}.spot", region=base.region, cloud=base.cloud, shape="s",
                node_hourly=base.node_hourly * draw(st.floats(0.2, 0.7)), node_cpu=8, node_memory_gb=32,
                node_gpu=base.node_gpu, gpu_type=base.gpu_type, cpu=draw(st.sampled_from([4, 8])),
                memory_gb=32, gpu=base.gpu, spot=True, base=base.id, interruptions_per_month=0.1))
    ids = [c.id for c in clusters]
    workloads = []
    for k in range(draw(st.integers(1, 3 if not levers else 2))):
        replicas = draw(st.integers(1, 3))
        needs_gpu = draw(st.booleans()) and any(c.gpu for c in clusters)
        preemptible = levers and draw(st.booleans())
        allowed = draw(st.sets(st.sampled_from(ids), min_size=1))
        if not preemptible:
            allowed = {c for c in allowed if not c.endswith(".spot")} or {ids[0]}
        if needs_gpu:
            allowed = {c for c in allowed if next(x for x in clusters if x.id == c).gpu}
        current_cluster = draw(st.sampled_from([c for c in ids if not c.endswith(".spot")]))
        low = draw(st.integers(1, replicas)) if levers else None
        high = draw(st.integers(replicas, replicas + 1)) if levers else None
        workloads.append(WorkloadData(
            id=f"w{k}", replicas=replicas, cpu=draw(st.sampled_from([1, 2, 4])),
            memory_gb=draw(st.sampled_from([2, 4, 8])), gpu=1 if needs_gpu else 0,
            gpu_type="A10G" if needs_gpu else None, critical=replicas >= 2 and draw(st.booleans()),
            current={current_cluster: replicas}, data_class="x", allowed=frozenset(allowed),
            egress_per_replica={c: draw(st.floats(0, 20)) for c in ids},
            migration_cost=draw(st.sampled_from([0.0, 5.0, 50.0])),
            min_replicas=low, max_replicas=high, preemptible=preemptible,
        ))
    return Problem(tuple(clusters), tuple(workloads), max_moves=draw(st.integers(0, 6)))


def _compositions(low: int, high: int, bins: list[str]):
    for cut in itertools.product(range(high + 1), repeat=len(bins)):
        if low <= sum(cut) <= high:
            yield {b: n for b, n in zip(bins, cut, strict=True) if n}


def brute_force(problem: Problem) -> float | None:
    ids = [c.id for c in problem.clusters]
    options = [list(_compositions(w.lo, w.hi, ids)) for w in problem.workloads]
    best = None
    for combo in itertools.product(*options):
        result = evaluate(problem, {w.id: p for w, p in zip(problem.workloads, combo, strict=True)})
        if result.feasible and (best is None or result.total < best):
            best = result.total
    return best


def _solve_exactly(problem):
    """The MILP's solution, the brute-force optimum and the greedy baseline's evaluation; None when
    no placement is feasible (then greedy must fail and the MILP must say infeasible)."""
    optimum = brute_force(problem)
    solution = optimise(problem, time_limit_s=5, mip_rel_gap=0.0)
    base = evaluate(problem, greedy(problem))
    if optimum is None:
        assert not base.feasible
        assert solution.status == "infeasible"
        return None
    assert solution.evaluation.feasible, solution.evaluation.violations
    return solution, optimum, base


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_milp_matches_brute_force_and_never_loses_to_greedy(problem):
    solved = _solve_exactly(problem)
    if solved is None:
        return
    solution, optimum, base = solved
    # Residency (allowed set) and capacity are part of feasibility; check them explicitly too.
    for w in problem.workloads:
        assert set(solution.assignment[w.id]) <= w.allowed
    assert abs(solution.evaluation.total - optimum) <= 1e-6 * max(1.0, optimum)
    if base.feasible:
        assert solution.evaluation.total <= base.total + 1e-6


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(levers=True))
def test_count_placement_and_spot_chosen_together_match_brute_force(problem):
    """Right-sizing (a replica range) and spot pools (preemption-tolerant workloads only; a
    critical workload never has more spot than on-demand replicas in a region) in the same MILP."""
    solved = _solve_exactly(problem)
    if solved is None:
        return
    solution, optimum, base = solved
    assert abs(solution.evaluation.total - optimum) <= 1e-6 * max(1.0, optimum)
    for w in problem.workloads:
        placed = solution.assignment[w.id]
        assert w.lo <= sum(placed.values()) <= w.hi
        if not w.preemptible:
            assert not any(c.endswith(".spot") for c in placed)
    if base.feasible:
        assert solution.evaluation.total <= base.total + 1e-6
    assert solution.mip_gap is not None
    assert solution.bound is not None
    assert solution.bound <= solution.evaluation.total + 1e-6


def _cluster(cid: str, region: str, hourly: float, **kw) -> ClusterData:
    spec = {"cpu": 16, "memory_gb": 64, "gpu": 0, "committed_nodes": 0.0, **kw}
    return ClusterData(cid, region, "aws", "s", hourly, 8, 32, 0, None, **spec)


def test_critical_workload_spans_two_regions_even_when_one_is_cheaper():
    clusters = (_cluster("cheap", "r1", 0.1), _cluster("cheap2", "r1", 0.1), _cluster("dear", "r2", 1.0))
    w = WorkloadData("w", 2, 2, 4, 0, None, True, {"dear": 2}, "x", frozenset({"cheap", "cheap2", "dear"}))
    solution = optimise(Problem(clusters, (w,), max_moves=5))
    assert solution.status == "optimal"
    assert solution.assignment["w"] == {"cheap": 1, "dear": 1} or solution.assignment["w"] == {"cheap2": 1, "dear": 1}


def test_max_moves_zero_keeps_current_placement():
    clusters = (_cluster("cheap", "r1", 0.1), _cluster("dear", "r2", 1.0))
    w = WorkloadData("w", 1, 2, 4, 0, None, False, {"dear": 1}, "x", frozenset({"cheap", "dear"}))
    assert optimise(Problem(clusters, (w,), max_moves=0)).assignment == {"w": {"dear": 1}}
    assert optimise(Problem(clusters, (w,), max_moves=1)).assignment == {"w": {"cheap": 1}}


def test_committed_capacity_is_free_at_the_margin():
    clusters = (_cluster("committed", "r1", 1.0, committed_nodes=0.5), _cluster("cheap", "r1", 0.1))
    w = WorkloadData("w", 2, 2, 8, 0, None, False, {"cheap": 2}, "x", frozenset({"committed", "cheap"}),
                     migration_cost=0.0)
    # Two replicas of 8 GB = 0.5 node-equivalents: exactly the committed capacity.
    assert optimise(Problem(clusters, (w,), max_moves=2)).assignment == {"w": {"committed": 2}}


def test_time_limit_returns_best_so_far_marked():
    clusters = tuple(_cluster(f"c{i}", f"r{i % 3}", 0.1 + i / 100) for i in range(12))
    ws = tuple(WorkloadData(f"w{k}", 3, 1 + k % 3, 2, 0, None, False, {f"c{11 - k}": 3}, "x",
                            frozenset(c.id for c in clusters)) for k in range(6))
    problem = Problem(clusters, ws, max_moves=100)
    base = evaluate(problem, greedy(problem))
    assert base.feasible
    solution = optimise(problem, time_limit_s=0.0)
    assert solution.status in {"time_limit", "greedy_fallback"}
    assert solution.notes
    assert solution.evaluation.feasible
    assert solution.evaluation.total <= base.total + 1e-6


def test_greedy_moves_a_workload_off_a_forbidden_cluster():
    clusters = (_cluster("forbidden", "r1", 0.1), _cluster("allowed", "r2", 1.0))
    w = WorkloadData("w", 1, 2, 4, 0, None, False, {"forbidden": 1}, "x", frozenset({"allowed"}))
    problem = Problem(clusters, (w,), max_moves=1)
    assert greedy(problem) == {"w": {"allowed": 1}}
    assert optimise(problem).assignment == {"w": {"allowed": 1}}


def test_a_workload_allowed_nowhere_is_infeasible_not_a_crash():
    clusters = (_cluster("a", "r1", 0.1),)
    w = WorkloadData("w", 1, 2, 4, 0, None, False, {"a": 1}, "x", frozenset(), max_replicas=1, min_replicas=1)
    solution = optimise(Problem(clusters, (w,), max_moves=0))
    assert solution.status == "infeasible"
    assert solution.assignment == {"w": {"a": 1}}   # the current placement is kept
