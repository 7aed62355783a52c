"""The placement MILP (HiGHS): replicas per workload per cluster at least cost.

Pure (no Airflow). Variables and constraints:
  x[w,c] integer  replicas of w on c, only where residency allows and the GPU type fits (hard);
  m[w,c] >= x[w,c] - current[w,c]   replicas started on c (moves; one-off migration cost;
                  where current is 0, m is x itself);
  p[c]   >= sum_w share[w,c] x[w,c] - committed[c]   paid node-equivalents of a committed cluster;
  critical w spans >= 2 regions:  sum_{c in r} x[w,c] <= replicas[w] - 1 for every region r;
  sum_c x[w,c] = replicas[w];  capacity per cluster for cpu, memory, gpu;  sum m <= max_moves.
Objective: monthly run cost + data-gravity egress + migration (``model.evaluate`` prices the same).

The greedy baseline warm-starts the solver and is the fallback: the returned plan is never worse
than greedy. With a time limit the best plan so far is returned, marked ``time_limit``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from multicloud.cost.greedy import greedy
from multicloud.cost.model import Assignment, Evaluation, Problem, evaluate, node_month, share

_PRESOLVE_OFF_ABOVE_COLUMNS = 20_000


@dataclass(frozen=True)
class Solution:
    assignment: Assignment
    evaluation: Evaluation
    status: str                 # optimal | time_limit | greedy_fallback | infeasible
    mip_gap: float | None       # relative gap of the returned plan to the proven bound
    bound: float | None         # best proven lower bound on the objective
    solve_s: float
    greedy_total: float | None
    current_total: float
    notes: list[str] = field(default_factory=list)


def optimise(problem: Problem, *, time_limit_s: float = 10.0, mip_rel_gap: float = 1e-3,
             threads: int = 2, options: dict[str, object] | None = None) -> Solution:
    """Best placement within the time limit. ``options``: extra HiGHS options (they win)."""
    import highspy

    started = time.monotonic()
    current = problem.current()
    current_eval = evaluate(problem, current, check_moves=False)
    base = greedy(problem)
    base_eval = evaluate(problem, base)

    columns = _Columns()
    costs: list[float] = []
    upper: list[float] = []
    integral: list[int] = []
    rows: list[tuple[dict[int, float], float, float]] = []
    clusters = {c.id: c for c in problem.clusters}
    committed = {c.id for c in problem.clusters if c.committed_nodes > 0}
    paid_terms: dict[str, dict[int, float]] = {c: {} for c in committed}
    cluster_terms: dict[str, list[dict[int, float]]] = {c.id: [{}, {}, {}] for c in problem.clusters}
    move_terms: dict[int, float] = {}

    def add(name: tuple, cost: float, hi: float, integer: bool) -> int:
        index = columns.add(name)
        costs.append(cost)
        upper.append(hi)
        integral.append(1 if integer else 0)
        return index

    for w in problem.workloads:
        assign: dict[int, float] = {}
        by_region: dict[str, dict[int, float]] = {}
        for cid in sorted(w.allowed):
            cluster = clusters.get(cid)
            if cluster is None:
                continue
            s = share(w, cluster)
            run = 0.0 if cid in committed else s * node_month(cluster)
            here = w.current.get(cid, 0)
            # Where nothing runs now every replica is a move: m = x, so x carries the migration
            # cost itself and no m column or row is needed (half the model at fleet scale).
            cost = run + w.egress_per_replica.get(cid, 0.0) + (0.0 if here else w.migration_cost)
            x = add(("x", w.id, cid), cost, w.replicas, True)
            assign[x] = 1.0
            by_region.setdefault(cluster.region, {})[x] = 1.0
            if cid in committed:
                paid_terms[cid][x] = s
            terms = cluster_terms[cid]
            terms[0][x] = w.cpu
            terms[1][x] = w.memory_gb
            if w.gpu:
                terms[2][x] = w.gpu
            if here:
                m = add(("m", w.id, cid), w.migration_cost, w.replicas, False)
                rows.append(({m: 1.0, x: -1.0}, -float(here), np.inf))
                move_terms[m] = 1.0
            else:
                move_terms[x] = 1.0
        rows.append((assign, float(w.replicas), float(w.replicas)))
        if w.critical:
            # Spanning two regions == no region holds every replica: no binaries needed.
            for xs in by_region.values():
                if len(xs) == 1:
                    upper[next(iter(xs))] = w.replicas - 1.0
                else:
                    rows.append((xs, -np.inf, w.replicas - 1.0))
    for cid in committed:
        cluster = clusters[cid]
        p = add(("p", cid), node_month(cluster), np.inf, False)
        rows.append(({p: 1.0, **{x: -s for x, s in paid_terms[cid].items()}}, -cluster.committed_nodes, np.inf))
    for cid, (cpu, mem, gpu) in cluster_terms.items():
        cluster = clusters[cid]
        for terms, cap in ((cpu, cluster.cpu), (mem, cluster.memory_gb), (gpu, float(cluster.gpu))):
            if terms:
                rows.append((terms, -np.inf, cap))
    total_replicas = sum(w.replicas for w in problem.workloads)
    if move_terms and problem.max_moves < total_replicas:
        rows.append((move_terms, -np.inf, float(problem.max_moves)))

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    # The limit bounds the whole call: greedy and model building spend part of it.
    h.setOptionValue("time_limit", max(0.0, float(time_limit_s) - (time.monotonic() - started)))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("threads", int(threads))
    n = len(costs)
    if n > _PRESOLVE_OFF_ABOVE_COLUMNS:
        # Measured on fleet-sized models (2,000 x 50): presolve removes ~1% of the model and takes
        # half the time; the greedy warm start plus the root LP close the gap without it.
        h.setOptionValue("presolve", "off")
    for name, value in (options or {}).items():
        h.setOptionValue(name, value)
    h.addCols(n, np.array(costs), np.zeros(n), np.array(upper), 0, np.array([], dtype=np.int32),
              np.array([], dtype=np.int32), np.array([]))
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.array(integral, dtype=np.uint8))
    lower = np.array([r[1] for r in rows], dtype=float)
    upper_rows = np.array([r[2] for r in rows], dtype=float)
    starts, indices, values = [], [], []
    for terms, _lo, _hi in rows:
        starts.append(len(indices))
        indices.extend(terms.keys())
        values.extend(terms.values())
    h.addRows(len(rows), lower, upper_rows, len(indices), np.array(starts, dtype=np.int32),
              np.array(indices, dtype=np.int32), np.array(values, dtype=float))
    if base_eval.feasible:
        h.setSolution(_warm_start(problem, columns, base, n))
    h.run()

    model_status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    notes: list[str] = []
    assignment: Assignment | None = None
    if has_solution:
        x_values = h.getSolution().col_value
        assignment = {w.id: {} for w in problem.workloads}
        for (kind, *key), index in columns.index.items():
            if kind == "x":
                replicas = round(x_values[index])
                if replicas:
                    assignment[key[0]][key[1]] = replicas
    bound = info.mip_dual_bound if has_solution and np.isfinite(info.mip_dual_bound) else None
    if has_solution and bound is None:
        notes.append("no lower bound proven yet: the gap is unknown")
    if model_status == "Optimal":
        status = "optimal"
    elif model_status == "Time limit reached" and has_solution:
        status = "time_limit"
        notes.append(f"time limit {time_limit_s:g}s reached: best plan so far, not proven optimal")
    elif model_status == "Infeasible":
        status = "infeasible"
    else:
        status = "time_limit" if has_solution else "infeasible"
        notes.append(f"solver stopped: {model_status}")

    chosen, chosen_eval = assignment, evaluate(problem, assignment) if assignment else None
    if chosen_eval is None or not chosen_eval.feasible or (
            base_eval.feasible and base_eval.total < chosen_eval.total - 1e-6):
        if base_eval.feasible:
            if chosen_eval is not None and chosen_eval.feasible:
                notes.append("greedy beat the solver's plan; greedy kept")
            chosen, chosen_eval, status = base, base_eval, "greedy_fallback"
        elif chosen_eval is None or not chosen_eval.feasible:
            notes.append("no feasible placement: the current placement is kept")
            chosen, chosen_eval, status = current, current_eval, "infeasible"
    gap = None
    if bound is not None and chosen_eval.feasible and chosen_eval.total > 0:
        gap = max(0.0, (chosen_eval.total - bound) / abs(chosen_eval.total))
    elif bound is not None and chosen_eval.feasible:
        gap = 0.0
    return Solution(chosen, chosen_eval, status, gap, bound, time.monotonic() - started,
                    base_eval.total if base_eval.feasible else None, current_eval.total, notes)


class _Columns:
    def __init__(self) -> None:
        self.index: dict[tuple, int] = {}

    def add(self, name: tuple) -> int:
        self.index[name] = len(self.index)
        return self.index[name]


def _warm_start(problem: Problem, columns: _Columns, assignment: Assignment, n: int):
    import highspy

    values = np.zeros(n)
    clusters = {c.id: c for c in problem.clusters}
    paid: dict[str, float] = {}
    for w in problem.workloads:
        for cid, replicas in assignment.get(w.id, {}).items():
            values[columns.index[("x", w.id, cid)]] = replicas
            paid[cid] = paid.get(cid, 0.0) + replicas * share(w, clusters[cid])
        for cid in w.allowed:
            key = ("m", w.id, cid)
            if key in columns.index:
                values[columns.index[key]] = max(0, assignment[w.id].get(cid, 0) - w.current.get(cid, 0))
    for (kind, *key), index in columns.index.items():
        if kind == "p":
            cluster = clusters[key[0]]
            values[index] = max(0.0, paid.get(cluster.id, 0.0) - cluster.committed_nodes)
    solution = highspy.HighsSolution()
    solution.col_value = list(values)
    solution.value_valid = True
    return solution
