"""The placement MILP (HiGHS): replica count and placement per workload at least cost.

Pure (no Airflow). Variables and constraints:
  x[w,c] integer  replicas of w on c, only where residency allows and the GPU type fits (hard;
                  spot pools only for preemption-tolerant workloads);
  x[w,c] = keep[w,c] + new[w,c]: where replicas run now, keep <= current costs no migration and
                  new (replicas started there) does; where nothing runs, every replica is new;
  t[w]   in [min_replicas, max_replicas]: the replica count (right-sizing), sum_c x[w,c] = t[w]
                  (a constant where the count is fixed);
  p[c]   >= sum_w share[w,c] x[w,c] - committed[c]   paid node-equivalents of a committed cluster;
  critical w spans >= 2 regions:  sum_{c in r} x[w,c] <= t[w] - 1 for every region r;
  critical w keeps an on-demand replica in every region it uses, and no more spot replicas
                  than on-demand ones there:  sum_{spot c in r} x[w,c] <= sum_{on-demand c in r} x[w,c];
  capacity per cluster for cpu, memory, gpu;  sum new <= max_moves.
Objective: monthly run cost + data-gravity egress + migration (``model.evaluate`` prices the same).

How it stays fast at fleet scale (10,000 workloads x 50 clusters, ~300,000 columns): the model is
built with numpy (no per-column Python objects) and passed to HiGHS as one sparse matrix; the LP
relaxation is solved first and gives a proven lower bound; its solution is rounded (integral
workloads kept, the few fractional ones placed greedily on the room left) and, with the greedy
baseline, forms the incumbent. When the incumbent is within ``mip_rel_gap`` of the LP bound the
plan is proven optimal to that gap and the branch-and-bound is skipped; otherwise the MILP runs,
warm-started with the incumbent, for the time left. The returned plan is never worse than greedy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from multicloud.cost.greedy import complete, greedy
from multicloud.cost.model import Assignment, Evaluation, Problem, evaluate
from multicloud.cost.model import node_month as _node_month

_INF = np.inf


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
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase


@dataclass
class _Model:
    n_x: int
    wi: np.ndarray          # workload index per x column
    ci: np.ndarray          # cluster index per x column
    here: np.ndarray        # current replicas per x column
    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integral: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    matrix: _CSR
    columns: _CSR           # the same matrix by column, for column generation
    coo: tuple[np.ndarray, np.ndarray, np.ndarray]
    m_of_x: np.ndarray      # m column per x column (-1: none)
    t_of_w: np.ndarray      # t column per workload (-1: fixed count)
    p_of_c: np.ndarray      # p column per cluster (-1: not committed)
    share: np.ndarray


def optimise(problem: Problem, *, time_limit_s: float = 10.0, mip_rel_gap: float = 1e-3,
             threads: int = 2, options: dict[str, object] | None = None) -> Solution:
    """Best placement within the time limit. ``options``: extra HiGHS options (they win).

    Greedy first (a feasible incumbent), then the LP relaxation by column generation (a proven
    bound and, rounded, more incumbents), then branch and bound only when rounding did not close
    the gap; the best feasible plan found is returned with its status and gap.
    """
    import highspy

    clock = _Clock(time_limit_s)
    current = problem.current()
    current_eval = evaluate(problem, current, check_moves=False)
    clock.mark()
    base = greedy(problem)
    base_eval = evaluate(problem, base)
    clock.lap("greedy")
    model = _build(problem)
    clock.lap("build")
    search = _Search(problem, model, _highs(highspy, threads, mip_rel_gap, options), clock)
    if base_eval.feasible:
        search.candidates.append((base, base_eval))
    search.relax(_initial_columns(problem, model, [base, current] if base_eval.feasible else None))
    clock.lap("lp")
    mip_status = None
    if not search.solved(mip_rel_gap) and clock.left() > 0:
        mip_status = search.branch_and_bound()
        clock.lap("mip")
    clock.phases["cpu"] = round(time.process_time() - clock.cpu_started, 3)
    best = search.best()
    if best is None:
        search.notes.append("no feasible placement: the current placement is kept")
        return Solution(current, current_eval, "infeasible", None, None, clock.elapsed(),
                        None, current_eval.total, search.notes, clock.phases)
    chosen, chosen_eval = best
    bound = search.bound
    gap = None if bound is None or bound == _INF else _gap(chosen_eval.total, bound)
    status = _status(gap, bound, mip_rel_gap, time_limit_s, search.notes)
    if chosen is base and len(search.candidates) > 1 and mip_status is not None and status != "optimal":
        status = "greedy_fallback"
        search.notes.append("greedy beat the solver's plans; greedy kept")
    return Solution(chosen, chosen_eval, status, gap, None if bound in (None, _INF) else bound,
                    clock.elapsed(), base_eval.total if base_eval.feasible else None,
                    current_eval.total, search.notes, clock.phases)


def _status(gap: float | None, bound: float | None, mip_rel_gap: float, time_limit_s: float,
            notes: list[str]) -> str:
    if gap is not None and gap <= mip_rel_gap + 1e-9:
        return "optimal"
    if bound is None:
        notes.append(f"time limit {time_limit_s:g}s reached: no lower bound proven yet, the gap is unknown")
    else:
        notes.append(f"time limit {time_limit_s:g}s reached: best plan so far, not proven optimal")
    return "time_limit"


class _Clock:
    """Wall and CPU time since the start, the time left of the limit, and seconds per phase."""

    def __init__(self, limit_s: float) -> None:
        self.started = self.since = time.monotonic()
        self.cpu_started = time.process_time()   # this process's CPU seconds (HiGHS threads included)
        self.limit_s = limit_s
        self.phases: dict[str, float] = {}

    def mark(self) -> None:
        self.since = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.phases[name] = round(now - self.since, 3)
        self.since = now

    def left(self) -> float:
        return _left(self.started, self.limit_s)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def _highs(highspy, threads: int, mip_rel_gap: float, options: dict[str, object] | None):
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", int(threads))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    # The LP is sparse and well scaled; HiGHS's presolve costs more than it saves on it (measured
    # on the bench fleets: the LP phase takes half the time without it).
    h.setOptionValue("presolve", "off")
    for name, value in (options or {}).items():
        h.setOptionValue(name, value)
    return h


class _Search:
    """The solver's state: feasible candidates found so far, the proven bound, notes."""

    def __init__(self, problem: Problem, model: _Model, h, clock: _Clock) -> None:
        self.problem, self.model, self.h, self.clock = problem, model, h, clock
        self.candidates: list[tuple[Assignment, Evaluation]] = []
        self.bound: float | None = None
        self.notes: list[str] = []
        self.lp = _ColumnGeneration(h, model)

    def best(self) -> tuple[Assignment, Evaluation] | None:
        return min(self.candidates, key=lambda c: c[1].total) if self.candidates else None

    def _keep_if_feasible(self, assignment: Assignment) -> None:
        evaluation = evaluate(self.problem, assignment)
        if evaluation.feasible:
            self.candidates.append((assignment, evaluation))

    def relax(self, initial_columns: np.ndarray) -> None:
        """1. LP relaxation by column generation: a proven bound and, rounded, an incumbent."""
        model, h, lp = self.model, self.h, self.lp
        h.addRows(len(model.row_lower), model.row_lower, model.row_upper, 0,
                  np.zeros(len(model.row_lower), dtype=np.int32), np.array([], dtype=np.int32), np.array([]))
        lp.add(initial_columns)
        h.setOptionValue("solver", "simplex")
        lp_status = lp.solve(self.clock.left)
        self.clock.phases["lp_rounds"] = lp.rounds
        if lp_status == "Optimal":
            self.bound = lp.objective
            for rounded in _round(self.problem, model, lp.values()):
                self._keep_if_feasible(rounded)
        elif lp_status == "Infeasible" and lp.complete:
            self.bound = _INF
        else:
            self.notes.append(f"LP relaxation stopped: {lp_status}")

    def solved(self, mip_rel_gap: float) -> bool:
        if self.bound == _INF:
            return True
        best = self.best()
        return self.bound is not None and best is not None and _gap(best[1].total, self.bound) <= mip_rel_gap

    def branch_and_bound(self) -> str:
        """2. Every column in, integrality on, warm-started from the best plan; returns HiGHS's status."""
        model, h, lp = self.model, self.h, self.lp
        lp.add(np.flatnonzero(~lp.in_model))
        h.setOptionValue("solver", "choose")
        h.setOptionValue("time_limit", self.clock.left())
        order = np.asarray(lp.order, dtype=np.int64)
        h.changeColsIntegrality(len(order), np.arange(len(order), dtype=np.int32), model.integral[order])
        best = self.best()
        if best is not None:
            h.setSolution(_warm_start(self.problem, model, best[0], order))
        h.run()
        mip_status = h.modelStatusToString(h.getModelStatus())
        info = h.getInfo()
        if info.primal_solution_status == 2:  # kSolutionStatusFeasible
            self._keep_if_feasible(_extract(self.problem, model, lp.values()))
        if np.isfinite(info.mip_dual_bound):
            self.bound = max(self.bound or -_INF, float(info.mip_dual_bound))
        if mip_status == "Infeasible":
            self.bound = _INF
        return mip_status


def _left(started: float, limit: float) -> float:
    return max(0.0, float(limit) - (time.monotonic() - started))


def _gap(total: float, bound: float) -> float:
    if total <= 0:
        return 0.0 if bound >= total - 1e-9 else 1.0
    return max(0.0, (total - bound) / abs(total))


# ---- model building (vectorised) ------------------------------------------------------------------
class _CSR:
    """Rows of (column, value) in compressed form, as HiGHS's ``addRows`` takes them."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_rows: int) -> None:
        order = np.argsort(rows, kind="stable")
        self.indices, self.data = cols[order], vals[order]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))])
        self.nnz = len(self.data)


def _build(problem: Problem) -> _Model:  # noqa: PLR0915  one vectorised pass over the LP's rows in order; pieces would trade a dozen arrays
    clusters = problem.clusters
    cidx = {c.id: i for i, c in enumerate(clusters)}
    n_c, n_w = len(clusters), len(problem.workloads)
    node_cpu = np.array([c.node_cpu for c in clusters], dtype=float)
    node_mem = np.array([c.node_memory_gb for c in clusters], dtype=float)
    node_gpu = np.array([c.node_gpu for c in clusters], dtype=float)
    month = np.array([_node_month(c) for c in clusters], dtype=float)
    committed_nodes = np.array([c.committed_nodes for c in clusters], dtype=float)
    committed = committed_nodes > 0
    spot = np.array([c.spot for c in clusters], dtype=bool)
    region_names = sorted({c.region for c in clusters})
    region_of = np.array([region_names.index(c.region) for c in clusters], dtype=np.int64)

    ws = problem.workloads
    cpu = np.array([w.cpu for w in ws], dtype=float)
    mem = np.array([w.memory_gb for w in ws], dtype=float)
    gpu = np.array([w.gpu for w in ws], dtype=float)
    lo = np.array([w.lo for w in ws], dtype=float)
    hi = np.array([w.hi for w in ws], dtype=float)
    mig = np.array([w.migration_cost for w in ws], dtype=float)
    critical = np.array([w.critical for w in ws], dtype=bool)

    wi_list: list[int] = []
    ci_list: list[int] = []
    eg_list: list[float] = []
    here_list: list[int] = []
    for k, w in enumerate(ws):
        ids = sorted(c for c in w.allowed if c in cidx)
        egress, now = w.egress_per_replica, w.current
        wi_list.extend([k] * len(ids))
        ci_list.extend([cidx[c] for c in ids])
        eg_list.extend([egress.get(c, 0.0) for c in ids])
        here_list.extend([now.get(c, 0) for c in ids])
    wi = np.array(wi_list, dtype=np.int64)
    ci = np.array(ci_list, dtype=np.int64)
    eg = np.array(eg_list, dtype=float)
    here = np.array(here_list, dtype=float)
    n_x = len(wi)

    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.maximum(cpu[wi] / node_cpu[ci], mem[wi] / node_mem[ci])
        gpu_share = np.where(gpu[wi] > 0, np.where(node_gpu[ci] > 0, gpu[wi] / np.where(node_gpu[ci] > 0, node_gpu[ci], 1), np.inf), 0.0)
    share = np.maximum(share, gpu_share)
    run = np.where(committed[ci], 0.0, share * month[ci])
    x_cost = run + eg + np.where(here > 0, 0.0, mig[wi])

    # Columns: x (one per allowed pair; where replicas run now, the part up to today's count,
    # which starts nothing), then k (the part above today's count there: a move), t (the count
    # of critical workloads whose count varies), p (paid nodes of committed clusters).
    moved = np.flatnonzero(here > 0)
    n_m = len(moved)
    m_of_x = np.full(n_x, -1, dtype=np.int64)
    m_of_x[moved] = n_x + np.arange(n_m)
    needs_t = critical & (lo < hi)
    t_w = np.flatnonzero(needs_t)
    t_of_w = np.full(n_w, -1, dtype=np.int64)
    t_of_w[t_w] = n_x + n_m + np.arange(len(t_w))
    p_c = np.flatnonzero(committed)
    p_of_c = np.full(n_c, -1, dtype=np.int64)
    p_of_c[p_c] = n_x + n_m + len(t_w) + np.arange(len(p_c))
    n = n_x + n_m + len(t_w) + len(p_c)
    cost = np.concatenate([x_cost, x_cost[moved] + mig[wi[moved]], np.zeros(len(t_w)), month[p_c]])
    lower = np.concatenate([np.zeros(n_x + n_m), lo[t_w], np.zeros(len(p_c))])
    upper = np.concatenate([np.where(here > 0, np.minimum(here, hi[wi]), hi[wi]), hi[wi[moved]], hi[t_w],
                            np.full(len(p_c), _INF)])
    integral = np.concatenate([np.ones(n_x + n_m, dtype=np.uint8), np.ones(len(t_w), dtype=np.uint8),
                               np.zeros(len(p_c), dtype=np.uint8)])
    # Every x-like column: (its pair's x column, workload, cluster) -- the pair's replicas are the sum.
    pair = np.concatenate([np.arange(n_x), moved])
    pw, pc = wi[pair], ci[pair]
    n_pairs = len(pair)

    rows, cols, vals, rlo, rhi = [], [], [], [], []
    n_rows = 0

    def block(r, c, v, lo_, hi_, count):
        nonlocal n_rows
        rows.append(np.asarray(r, dtype=np.int64) + n_rows)
        cols.append(np.asarray(c, dtype=np.int64))
        vals.append(np.asarray(v, dtype=float))
        rlo.append(np.broadcast_to(np.asarray(lo_, dtype=float), (count,)))
        rhi.append(np.broadcast_to(np.asarray(hi_, dtype=float), (count,)))
        n_rows += count

    # Replica count per workload: lo <= sum x <= hi, or sum x - t = 0.
    fixed_lo = np.where(needs_t, 0.0, lo)
    fixed_hi = np.where(needs_t, 0.0, hi)
    block(np.concatenate([pw, t_w]), np.concatenate([np.arange(n_pairs), t_of_w[t_w]]),
          np.concatenate([np.ones(n_pairs), -np.ones(len(t_w))]), fixed_lo, fixed_hi, n_w)
    # Capacity per cluster: cpu, memory, gpu.
    caps = ((cpu, [c.cpu for c in clusters]), (mem, [c.memory_gb for c in clusters]),
            (gpu, [float(c.gpu) for c in clusters]))
    for demand, cap in caps:
        used = demand[pw] > 0
        block(pc[used], np.flatnonzero(used), demand[pw][used], -_INF, np.array(cap, dtype=float), n_c)
    # Committed clusters: p - sum share x >= -committed.
    if len(p_c):
        row_of_c = np.full(n_c, -1, dtype=np.int64)
        row_of_c[p_c] = np.arange(len(p_c))
        on = committed[pc]
        pair_share = share[pair]
        block(np.concatenate([np.arange(len(p_c)), row_of_c[pc[on]]]),
              np.concatenate([p_of_c[p_c], np.flatnonzero(on)]),
              np.concatenate([np.ones(len(p_c)), -pair_share[on]]), -committed_nodes[p_c], _INF, len(p_c))
    # Critical workloads: no region holds every replica; in every region, no more spot replicas
    # than on-demand ones (so an on-demand replica wherever it runs, and an LP relaxation
    # without big-M coefficients).
    crit_cols = np.flatnonzero(critical[pw])
    if len(crit_cols):
        key = pw[crit_cols] * len(region_names) + region_of[pc[crit_cols]]
        groups, group_of = np.unique(key, return_inverse=True)
        g_w = groups // len(region_names)
        has_t = t_of_w[g_w] >= 0
        g_t = np.flatnonzero(has_t)
        is_spot = spot[pc[crit_cols]]
        # With spot replicas, the on-demand ones must span two regions (each region used keeps
        # one): on-demand in r + every spot replica <= count - 1. It implies the plain spread and
        # is much tighter in the LP. Each spot column joins its workload's other regions' rows.
        first_group = np.searchsorted(g_w, np.arange(n_w), side="left")
        n_groups = np.bincount(g_w, minlength=n_w)
        sc = crit_cols[is_spot]
        reps = n_groups[pw[sc]]
        extra_group = np.repeat(first_group[pw[sc]] - np.cumsum(reps) + reps, reps) + np.arange(int(reps.sum()))
        extra_col = np.repeat(sc, reps)
        keep = extra_group != np.repeat(group_of[is_spot], reps)
        extra_group, extra_col = extra_group[keep], extra_col[keep]
        block(np.concatenate([group_of, g_t, extra_group]),
              np.concatenate([crit_cols, t_of_w[g_w[g_t]], extra_col]),
              np.concatenate([np.ones(len(crit_cols)), -np.ones(len(g_t)), np.ones(len(extra_col))]), -_INF,
              np.where(has_t, -1.0, hi[g_w] - 1.0), len(groups))
        spot_groups = np.unique(group_of[is_spot])
        if len(spot_groups):
            row_of_g = np.full(len(groups), -1, dtype=np.int64)
            row_of_g[spot_groups] = np.arange(len(spot_groups))
            member = row_of_g[group_of] >= 0
            coef = np.where(is_spot, 1.0, -1.0)
            block(row_of_g[group_of[member]], crit_cols[member], coef[member], -_INF, 0.0, len(spot_groups))
            # Valid for every integer plan (two regions, each with an on-demand replica) and it cuts
            # off the LP's half-spot, half-on-demand replicas: at least two on-demand replicas.
            with_spot = np.unique(pw[crit_cols[is_spot]])
            row_of_w = np.full(n_w, -1, dtype=np.int64)
            row_of_w[with_spot] = np.arange(len(with_spot))
            od = crit_cols[~is_spot & (row_of_w[pw[crit_cols]] >= 0)]
            block(row_of_w[pw[od]], od, np.ones(len(od)), 2.0, _INF, len(with_spot))
    # Move budget: every replica started where it did not run.
    starting = np.concatenate([np.flatnonzero(here == 0), n_x + np.arange(n_m)])
    if problem.max_moves < hi.sum():
        block(np.zeros(len(starting), dtype=np.int64), starting, np.ones(len(starting)), -_INF,
              float(problem.max_moves), 1)
    rows_a, cols_a, vals_a = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    matrix = _CSR(rows_a, cols_a, vals_a, n_rows)
    by_column = _CSR(cols_a, rows_a, vals_a, n)
    return _Model(n_x, wi, ci, here, cost, lower, upper, integral, np.concatenate(rlo), np.concatenate(rhi),
                  matrix, by_column, (rows_a, cols_a, vals_a), m_of_x, t_of_w, p_of_c, share)


# ---- column generation ---------------------------------------------------------------------------
_INITIAL_PER_WORKLOAD = 3


def _initial_columns(problem: Problem, model: _Model, plans: list[Assignment] | None) -> np.ndarray:
    """Every column but the x ones, plus each workload's cheapest x columns and those of ``plans``
    (greedy and current: the restricted LP is then feasible). None: every column."""
    n = len(model.cost)
    if plans is None:
        return np.arange(n)
    chosen = np.zeros(n, dtype=bool)
    chosen[model.n_x:] = True
    order = np.lexsort((model.cost[:model.n_x], model.wi))
    first = np.searchsorted(model.wi[order], model.wi[order], side="left")
    rank = np.arange(model.n_x) - first
    chosen[order[rank < _INITIAL_PER_WORKLOAD]] = True
    cols = _columns_of(problem, model, [(w, c) for plan in plans for w, row in plan.items()
                                        for c, v in row.items() if v])
    chosen[cols[cols >= 0]] = True
    return np.flatnonzero(chosen)


def _columns_of(problem: Problem, model: _Model, pairs: list[tuple[str, str]]) -> np.ndarray:
    """The x column of each (workload id, cluster id) pair; -1 where the pair has none."""
    n_c = len(problem.clusters)
    widx = {w.id: k for k, w in enumerate(problem.workloads)}
    cidx = {c.id: k for k, c in enumerate(problem.clusters)}
    wanted = np.asarray([widx.get(w, -1) * n_c + cidx.get(c, -n_c) for w, c in pairs], dtype=np.int64)
    out = np.full(len(wanted), -1, dtype=np.int64)
    if not model.n_x or not len(wanted):
        return out
    keys = model.wi * n_c + model.ci     # workloads in order; clusters by id, not by index: sort
    order = np.argsort(keys, kind="stable")
    at = np.clip(np.searchsorted(keys[order], wanted), 0, model.n_x - 1)
    hit = (keys[order][at] == wanted) & (wanted >= 0)
    out[hit] = order[at[hit]]
    return out


class _ColumnGeneration:
    """The LP relaxation over a growing set of columns. Converged (no column of negative reduced
    cost is left out) its optimum is the full LP's: a valid lower bound for the MILP."""

    def __init__(self, highs, model: _Model) -> None:
        self.h, self.model = highs, model
        self.in_model = np.zeros(len(model.cost), dtype=bool)
        self.order: list[int] = []
        self.rounds = 0
        self.objective = float("nan")
        self.complete = False

    def add(self, cols: np.ndarray) -> None:
        cols = np.asarray(cols, dtype=np.int64)
        cols = cols[~self.in_model[cols]]
        if not len(cols):
            return
        m = self.model
        starts = m.columns.indptr[cols]
        lengths = m.columns.indptr[cols + 1] - starts
        total = int(lengths.sum())
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        new_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
        self.h.addCols(len(cols), m.cost[cols], m.lower[cols], m.upper[cols], total, new_starts,
                       m.columns.indices[offsets].astype(np.int32), m.columns.data[offsets].astype(float))
        self.in_model[cols] = True
        self.order.extend(cols.tolist())
        self.complete = bool(self.in_model.all())

    def solve(self, time_left) -> str:
        rows, cols, vals = self.model.coo
        n = len(self.model.cost)
        while True:
            left = time_left()
            if left <= 0:
                return "Time limit reached"
            self.h.setOptionValue("time_limit", left)
            self.h.run()
            self.rounds += 1
            status = self.h.modelStatusToString(self.h.getModelStatus())
            if status != "Optimal":
                if status == "Infeasible" and not self.complete:
                    self.add(np.flatnonzero(~self.in_model))
                    continue
                return status
            self.objective = float(self.h.getInfo().objective_function_value)
            y = np.asarray(self.h.getSolution().row_dual)
            reduced = self.model.cost - np.bincount(cols, weights=vals * y[rows], minlength=n)
            entering = np.flatnonzero(~self.in_model & (reduced < -1e-7 * np.maximum(1.0, np.abs(self.model.cost))))
            if not len(entering):
                return "Optimal"
            self.add(entering)

    def values(self) -> np.ndarray:
        full = np.zeros(len(self.model.cost))
        full[np.asarray(self.order, dtype=np.int64)] = np.asarray(self.h.getSolution().col_value)
        return full


# ---- solutions <-> columns ------------------------------------------------------------------------
def _pairs(model: _Model, values: np.ndarray) -> np.ndarray:
    """Replicas per allowed (workload, cluster) pair: its x column plus its move column."""
    x = values[:model.n_x].copy()
    has_m = model.m_of_x >= 0
    x[has_m] += values[model.m_of_x[has_m]]
    return x


def _extract(problem: Problem, model: _Model, values: np.ndarray) -> Assignment:
    x = np.rint(_pairs(model, values)).astype(np.int64)
    assignment: Assignment = {w.id: {} for w in problem.workloads}
    for k in np.flatnonzero(x > 0):
        assignment[problem.workloads[model.wi[k]].id][problem.clusters[model.ci[k]].id] = int(x[k])
    return assignment


def _round(problem: Problem, model: _Model, values: np.ndarray) -> list[Assignment]:
    """Keep the LP's integral workloads; place the fractional ones greedily, once from their whole
    replicas and once from scratch (each wins on some fleets)."""
    x = _pairs(model, values)
    off = np.abs(x - np.rint(x)) > 1e-6
    fractional = np.zeros(len(problem.workloads), dtype=bool)
    fractional[model.wi[off]] = True
    partial = _extract(problem, model, values)
    whole = np.floor(x + 1e-6).astype(np.int64)
    todo: dict[str, dict[str, int]] = {}
    for k in np.flatnonzero(fractional[model.wi]):
        row = todo.setdefault(problem.workloads[model.wi[k]].id, {})
        if whole[k] > 0:
            row[problem.clusters[model.ci[k]].id] = int(whole[k])
    for wid in list(todo):
        partial.pop(wid, None)
    for k in np.flatnonzero(fractional):
        todo.setdefault(problem.workloads[k].id, {})
    if not todo:
        return [partial]
    plans = [complete(problem, partial, todo), complete(problem, partial, {k: {} for k in todo})]
    return [p for p in plans if p is not None]


def _warm_start(problem: Problem, model: _Model, assignment: Assignment, order: np.ndarray):
    import highspy

    values = np.zeros(len(model.cost))
    pairs = [(wid, cid) for wid, row in assignment.items() for cid, n in row.items() if n]
    counts = np.asarray([assignment[w][c] for w, c in pairs], dtype=float)
    cols = _columns_of(problem, model, pairs)
    values[cols[cols >= 0]] = counts[cols >= 0]
    has_m = model.m_of_x >= 0
    total = values[:model.n_x].copy()
    values[:model.n_x] = np.where(has_m, np.minimum(total, model.here), total)
    values[model.m_of_x[has_m]] = np.maximum(0.0, total[has_m] - model.here[has_m])
    x = total
    totals = np.bincount(model.wi, weights=x, minlength=len(problem.workloads))
    has_t = model.t_of_w >= 0
    values[model.t_of_w[has_t]] = totals[has_t]
    nodes = np.bincount(model.ci, weights=model.share * x, minlength=len(problem.clusters))
    committed = np.array([c.committed_nodes for c in problem.clusters])
    has_p = model.p_of_c >= 0
    values[model.p_of_c[has_p]] = np.maximum(0.0, nodes[has_p] - committed[has_p])
    solution = highspy.HighsSolution()
    solution.col_value = list(values[order])
    solution.value_valid = True
    return solution
