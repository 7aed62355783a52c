"""The placement problem as plain data, and the one function that prices and checks a placement.

Pure (no Airflow). The optimiser, the greedy baseline, the brute-force test oracle and the report
all price placements with ``evaluate`` so they can never disagree about what a plan costs.

Cost model (monthly, in the catalog's currency):
- run cost: a replica occupies the dominant share of one node of the cluster's shape
  (max of cpu, memory, gpu fractions) and pays that share of the node's hourly price; a cluster's
  committed capacity (already paid) covers the first node-equivalents at no marginal cost;
- data gravity: each replica reads each dataset it uses ``reads_per_month`` times from the
  cheapest region holding a copy (source, or a replica target its residency allows);
- migration: a one-off cost for each replica started on a cluster where it did not run.

Two more levers than placement:
- right-sizing: a workload's replica count may lie anywhere in [``min_replicas``, ``max_replicas``]
  (from observed demand, see ``multicloud.cost.rightsizing``); the optimiser chooses count and
  placement together;
- spot: a cluster's spot node pool is one more ``ClusterData`` (``spot=True``, ``base`` the
  cluster it belongs to, id ``<cluster>.spot``) priced at the catalog's spot price; only
  preemption-tolerant workloads may use it, and a critical workload keeps at least one on-demand
  replica in every region it runs in (no more spot than on-demand replicas in any region).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from multicloud.cost.catalog import HOURS_PER_MONTH, PriceCatalog

if TYPE_CHECKING:
    from multicloud.estate.models import Estate
    from multicloud.residency.policy import ResidencyPolicy

Assignment = dict[str, dict[str, int]]  # workload -> cluster -> replicas
DEFAULT_READS_PER_MONTH = 30.0          # each replica refreshes its features once a day
DEFAULT_MIGRATION_COST = 5.0            # per replica started elsewhere: artifact copy, warm-up, risk


@dataclass(frozen=True)
class ClusterData:
    id: str
    region: str
    cloud: str
    shape: str
    node_hourly: float
    node_cpu: float
    node_memory_gb: float
    node_gpu: int
    gpu_type: str | None
    cpu: float
    memory_gb: float
    gpu: int
    committed_nodes: float = 0.0
    spot: bool = False
    base: str | None = None              # a spot pool: the cluster it belongs to
    interruptions_per_month: float = 0.0  # expected reclaims of one spot node per month

    @property
    def physical(self) -> str:
        """The cluster whose driver and node pools serve this (pool of a) cluster."""
        return self.base or self.id


SPOT_SUFFIX = ".spot"


@dataclass(frozen=True)
class WorkloadData:
    id: str
    replicas: int
    cpu: float
    memory_gb: float
    gpu: int
    gpu_type: str | None
    critical: bool
    current: Mapping[str, int]
    data_class: str | None
    # Clusters the workload may run on (residency allows it and the GPU type fits).
    allowed: frozenset[str]
    egress_per_replica: Mapping[str, float] = field(default_factory=dict)
    migration_cost: float = DEFAULT_MIGRATION_COST
    min_replicas: int | None = None   # right-sizing range; None: exactly ``replicas``
    max_replicas: int | None = None
    preemptible: bool = False         # tolerates spot capacity

    @property
    def lo(self) -> int:
        return self.replicas if self.min_replicas is None else self.min_replicas

    @property
    def hi(self) -> int:
        return self.replicas if self.max_replicas is None else max(self.max_replicas, self.lo)


@dataclass(frozen=True)
class Problem:
    clusters: tuple[ClusterData, ...]
    workloads: tuple[WorkloadData, ...]
    max_moves: int
    currency: str = "USD"
    sizing: Mapping[str, dict] = field(default_factory=dict)     # right-sizing per workload
    price_factors: Mapping[str, float] = field(default_factory=dict)  # calibration per cluster

    def cluster(self, cluster_id: str) -> ClusterData:
        return self._clusters[cluster_id]

    @property
    def _clusters(self) -> dict[str, ClusterData]:
        return {c.id: c for c in self.clusters}

    def current(self) -> Assignment:
        return {w.id: {c: n for c, n in w.current.items() if n} for w in self.workloads}


@dataclass(frozen=True)
class Evaluation:
    feasible: bool
    violations: tuple[str, ...]
    run_cost: float
    egress_cost: float
    migration_cost: float
    moves: int
    run_by_cluster: dict[str, float]
    spot_replicas: int = 0
    interruptions_per_month: float = 0.0   # expected spot replica reclaims per month

    @property
    def total(self) -> float:
        return self.run_cost + self.egress_cost + self.migration_cost

    @property
    def monthly(self) -> float:
        """Recurring monthly cost (run + data gravity), without the one-off migration."""
        return self.run_cost + self.egress_cost


def share(workload: WorkloadData, cluster: ClusterData) -> float:
    """Node-equivalents one replica occupies: its dominant resource fraction of one node."""
    fractions = [workload.cpu / cluster.node_cpu, workload.memory_gb / cluster.node_memory_gb]
    if workload.gpu:
        fractions.append(workload.gpu / cluster.node_gpu if cluster.node_gpu else float("inf"))
    return max(fractions)


def node_month(cluster: ClusterData) -> float:
    return cluster.node_hourly * HOURS_PER_MONTH


def gpu_fits(workload: WorkloadData, cluster: ClusterData) -> bool:
    if not workload.gpu:
        return True
    return cluster.gpu >= workload.gpu and (workload.gpu_type is None or workload.gpu_type == cluster.gpu_type)


def moves_of(problem: Problem, assignment: Assignment) -> int:
    """Replicas started on a cluster where they did not run (each is one move)."""
    total = 0
    for w in problem.workloads:
        target = assignment.get(w.id, {})
        total += sum(max(0, n - w.current.get(c, 0)) for c, n in target.items())
    return total


def evaluate(problem: Problem, assignment: Assignment, *, check_moves: bool = True) -> Evaluation:  # noqa: C901  one pass over the plan, one branch per constraint it checks
    clusters = problem._clusters
    violations: list[str] = []
    load: dict[str, list[float]] = {c: [0.0, 0.0, 0.0, 0.0] for c in clusters}  # cpu, mem, gpu, nodes
    egress = migration = interruptions = 0.0
    spot_replicas = 0
    for w in problem.workloads:
        target = {c: n for c, n in assignment.get(w.id, {}).items() if n}
        placed = sum(target.values())
        if not w.lo <= placed <= w.hi:
            wanted = str(w.lo) if w.lo == w.hi else f"{w.lo}-{w.hi}"
            violations.append(f"{w.id}: places {placed} of {wanted} replicas")
        regions = set()
        spot_by_region: dict[str, int] = {}
        od_by_region: dict[str, int] = {}
        for cid, n in target.items():
            if n < 0 or cid not in clusters:
                violations.append(f"{w.id}: bad placement {cid}={n}")
                continue
            if cid not in w.allowed:
                violations.append(f"{w.id}: {cid} not allowed (residency or GPU type)")
            cluster = clusters[cid]
            regions.add(cluster.region)
            book = spot_by_region if cluster.spot else od_by_region
            book[cluster.region] = book.get(cluster.region, 0) + n
            if cluster.spot:
                spot_replicas += n
                interruptions += n * cluster.interruptions_per_month
                if not w.preemptible:
                    violations.append(f"{w.id}: on spot pool {cid} but does not tolerate preemption")
            row = load[cid]
            row[0] += n * w.cpu
            row[1] += n * w.memory_gb
            row[2] += n * w.gpu
            row[3] += n * share(w, cluster)
            egress += n * w.egress_per_replica.get(cid, 0.0)
            migration += max(0, n - w.current.get(cid, 0)) * w.migration_cost
        if w.critical and len(regions) < 2:
            violations.append(f"{w.id}: critical but runs in {len(regions)} region(s)")
        if w.critical and any(n > od_by_region.get(r, 0) for r, n in spot_by_region.items()):
            violations.append(f"{w.id}: critical with more spot than on-demand replicas in a region "
                              f"(spot {spot_by_region}, on-demand {od_by_region})")
    run_by_cluster: dict[str, float] = {}
    for cid, (cpu, mem, gpu, nodes) in load.items():
        cluster = clusters[cid]
        eps = 1e-9
        if cpu > cluster.cpu + eps or mem > cluster.memory_gb + eps or gpu > cluster.gpu:
            violations.append(f"{cid}: over capacity (cpu {cpu}/{cluster.cpu}, mem {mem}/{cluster.memory_gb}, "
                              f"gpu {gpu}/{cluster.gpu})")
        run_by_cluster[cid] = max(0.0, nodes - cluster.committed_nodes) * node_month(cluster)
    moves = moves_of(problem, assignment)
    if check_moves and moves > problem.max_moves:
        violations.append(f"{moves} moves exceed the maximum of {problem.max_moves}")
    return Evaluation(not violations, tuple(violations), sum(run_by_cluster.values()), egress, migration,
                      moves, run_by_cluster, spot_replicas, interruptions)


# ---- building the problem from an estate ---------------------------------------------------------
def build_problem(estate: Estate, catalog: PriceCatalog, policy: ResidencyPolicy,  # noqa: C901, PLR0912, PLR0913, PLR0915  the estate -> Problem translation; its keyword knobs are the cost DAG's Params
                  placement: Mapping[str, Mapping[str, int]], *, max_moves: int,
                  clouds: Iterable[str] | None = None,
                  reads_per_month: float = DEFAULT_READS_PER_MONTH,
                  migration_cost: float = DEFAULT_MIGRATION_COST,
                  price_factors: Mapping[tuple[str, str], float] | None = None,
                  keep: Iterable[str] = (), right_size: bool = True, spot: bool = True) -> Problem:
    """The problem for ``estate``: clusters of the chosen clouds, every workload placed on them.

    A workload running on a cluster outside ``clouds``, or named in ``keep`` (not served yet), is
    left out (this run cannot move it); what it uses on the chosen clusters is taken off their
    capacity. ``price_factors`` (cloud, shape) -> billed/catalog scale the catalog's node prices
    (calibration from bills). Clusters with a spot pool get a ``<cluster>.spot`` pool priced at
    the catalog's spot price; workloads with measured demand are right-sized.
    """
    from multicloud.cost.rightsizing import size_replicas

    wanted = set(clouds) if clouds is not None else None
    factors = dict(price_factors or {})
    kept = set(keep)
    cluster_data: list[ClusterData] = []
    applied: dict[str, float] = {}
    for region, spec in estate.clusters():
        if wanted is not None and region.cloud.value not in wanted:
            continue
        price = catalog.shape(region.cloud.value, region.region, spec.shape)
        factor = factors.get((region.cloud.value, spec.shape), factors.get((region.cloud.value, "*"), 1.0))
        applied[spec.id] = factor
        committed_nodes = 0.0
        if spec.committed is not None:
            fractions = [spec.committed.cpu / price.vcpu, spec.committed.memory_gb / price.memory_gb]
            if spec.committed.gpu and price.accelerator_count:
                fractions.append(spec.committed.gpu / price.accelerator_count)
            committed_nodes = min(fractions)
        cluster_data.append(ClusterData(
            id=spec.id, region=region.id, cloud=region.cloud.value, shape=spec.shape,
            node_hourly=price.on_demand_hourly * factor, node_cpu=price.vcpu, node_memory_gb=price.memory_gb,
            node_gpu=price.accelerator_count, gpu_type=spec.capacity.gpu_type,
            cpu=spec.capacity.cpu, memory_gb=spec.capacity.memory_gb, gpu=spec.capacity.gpu,
            committed_nodes=committed_nodes,
        ))
        if spot and spec.spot is not None and price.spot_hourly:
            pool = spec.spot
            cluster_data.append(ClusterData(
                id=f"{spec.id}{SPOT_SUFFIX}", region=region.id, cloud=region.cloud.value, shape=spec.shape,
                node_hourly=price.spot_hourly * factor, node_cpu=price.vcpu, node_memory_gb=price.memory_gb,
                node_gpu=price.accelerator_count, gpu_type=pool.capacity.gpu_type or spec.capacity.gpu_type,
                cpu=pool.capacity.cpu, memory_gb=pool.capacity.memory_gb, gpu=pool.capacity.gpu,
                spot=True, base=spec.id, interruptions_per_month=pool.interruptions_per_month,
            ))
            applied[f"{spec.id}{SPOT_SUFFIX}"] = factor
    known = {c.id for c in cluster_data}
    holders = {d.id: _holder_regions(estate, policy, d) for d in estate.datasets}
    region_cloud = {r.id: (r.cloud.value, r.region) for r in estate.regions}

    workloads: list[WorkloadData] = []
    reserved: dict[str, list[float]] = {}
    sizing: dict[str, dict] = {}
    for w in estate.workloads:
        current = {c: n for c, n in placement.get(w.id, w.placement).items() if n}
        if not set(current) <= known or w.id in kept:
            # Partly on a cloud outside this run: left where it is, its resources stay taken.
            for cid, n in current.items():
                if cid in known:
                    row = reserved.setdefault(cid, [0.0, 0.0, 0.0])
                    row[0] += n * w.resources.cpu
                    row[1] += n * w.resources.memory_gb
                    row[2] += n * w.resources.gpu
            continue
        data_class = estate.model(w.model).data_class
        res = w.resources
        probe = WorkloadData(w.id, w.replicas, res.cpu, res.memory_gb, res.gpu, res.gpu_type, w.critical,
                             current, data_class, frozenset())
        allowed = frozenset(
            c.id for c in cluster_data
            if policy.decide(data_class, c.region).allowed and gpu_fits(probe, c) and (w.preemptible or not c.spot)
        )
        count = sum(current.values())
        lo = hi = count
        if right_size:
            slo = estate.model(w.model).slo
            demand = w.demand
            size = size_replicas(
                w.id, count, w.requests_per_hour, p95_ms=demand.p95_ms if demand else None,
                success_rate=demand.success_rate if demand else None,
                concurrency=demand.concurrency if demand else 1, slo_p95_ms=slo.p95_ms,
                slo_success_rate=slo.success_rate, target_utilisation=estate.pricing.target_utilisation,
                critical=w.critical)
            lo, hi = size.min_replicas, size.max_replicas
            sizing[w.id] = size.as_dict()
        egress: dict[str, float] = {}
        for c in cluster_data:
            to_cloud, to_region = region_cloud[c.region]
            total = 0.0
            for dataset_id in w.reads:
                size = estate.dataset(dataset_id).size_gb
                rates = [catalog.egress_per_gb(*region_cloud[h], to_cloud, to_region) for h in holders[dataset_id]]
                total += size * reads_per_month * min(rates, default=0.0)
            egress[c.id] = total
        workloads.append(WorkloadData(
            w.id, count, res.cpu, res.memory_gb, res.gpu, res.gpu_type, w.critical, current, data_class,
            allowed, egress, migration_cost, min_replicas=lo, max_replicas=hi, preemptible=w.preemptible,
        ))
    if reserved:
        cluster_data = [
            replace(c, cpu=c.cpu - reserved[c.id][0], memory_gb=c.memory_gb - reserved[c.id][1],
                    gpu=c.gpu - int(reserved[c.id][2])) if c.id in reserved else c
            for c in cluster_data
        ]
    return Problem(tuple(cluster_data), tuple(workloads), max_moves, catalog.currency, sizing, applied)


def _holder_regions(estate: Estate, policy: ResidencyPolicy, dataset) -> list[str]:
    """Regions holding a (possibly partial) copy: the source and each target its residency allows."""
    classes = [dataset.data_class] if dataset.data_class else list(dataset.routing.class_by_jurisdiction.values())
    held = [dataset.source]
    for region in estate.targets_of(dataset):
        if any(policy.decide(c, region).allowed for c in classes):
            held.append(region)
    return held
