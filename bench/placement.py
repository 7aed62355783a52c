"""Placement benchmark: the MILP against the current placement and the greedy baseline.

Fleets are generated from include/pricing/catalog.csv: 50 clusters spread over every
(cloud, region, shape) row of the catalog (on-premises excluded), each sized to hold its share.
Workloads: 80% CPU services (1-8 vCPU, 2-32 GB), 20% GPU services (one GPU; some need a given
type, the others take any); 1-4 replicas, 30% critical (>= 2 replicas, must span two regions);
data class EU-only, UK-only, US-only or public (global); each reads one dataset of 1-50 GB
30 times a month per replica. Half of the datasets are replicated by residency_sync to every
region their class allows (read locally wherever the workload may run, no egress); the other half
live only in the AWS home region.

Current placement, described honestly: the fleet grew up on AWS, as companies start: every
workload runs on AWS in its home region (EU data in eu-west-1, UK data in eu-west-2, US and public
data in us-east-1; the second replica of a critical service in eu-central-1, us-west-2 or
eu-west-1), CPU services on m7i nodes and GPU services on g5 nodes (services needing an L4 or A10,
which AWS's g5 does not have, run on the two cheapest clusters that fit), and datasets live there too
(a workload reading an unreplicated dataset pays AWS egress for it once it leaves: data gravity).
Moves are unlimited. Savings compare recurring monthly cost (run + egress); the one-off migration
cost is part of the optimised objective and of the MILP/greedy ratio.

The levers are layered on that same fleet, each measured against today's placement:
1. placement alone: replica counts as they are, on-demand only (the fleet above, unchanged);
2. + right-sizing: each workload's observed demand, drawn from a separate seed so the fleet
   itself does not change: its current replicas run at 10-60% (uniform) of what they sustain at
   the measured p95 (40-200 ms, 4 requests at once per replica) -- fleets are over-provisioned:
   CAST AI's 2024 Kubernetes cost benchmark measured 13% average CPU utilisation -- and 10%
   breach the 250 ms SLO and are never shrunk; target utilisation 60%, critical workloads keep
   two replicas at least (production's ``cost.rightsizing``);
3. + spot: every cluster offers a spot pool of a quarter of its on-demand capacity at the
   catalog's spot price; 30% of the workloads tolerate preemption; a critical one keeps an
   on-demand replica in every region it uses (no more spot than on-demand there); expected reclaims 0.1 (aws, oci) or 0.15 (azure,
   gcp) per spot node a month, reported as the interruption risk taken.

    python bench/placement.py [--quick] [--sizes 500,2000,10000] [--time-limit 10]

Last line: the headline figures (ratio = MILP cost / greedy cost, and savings vs current).
Times are wall-clock seconds and, beside them, the solve's CPU seconds (this process, HiGHS's
threads included): on a loaded machine the wall time measures the others' load, the CPU seconds
what the solve itself needs (about its wall time on an idle machine).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from multicloud.cost.catalog import load_catalog
from multicloud.cost.greedy import greedy
from multicloud.cost.model import SPOT_SUFFIX, ClusterData, Problem, WorkloadData, evaluate
from multicloud.cost.optimiser import optimise
from multicloud.cost.rightsizing import size_replicas

N_CLUSTERS = 50
JURISDICTION = {("oci", "uk-london-1"): "UK", ("azure", "uksouth"): "UK", ("aws", "eu-west-2"): "UK"}
CLASSES = {"eu": {"EU"}, "uk": {"UK"}, "us": {"US"}, "public": {"EU", "UK", "US"}}
# AWS regions a class's services run in today: the first holds them, the second takes the other
# replica of critical services (no second AWS region in the UK: UK services are not critical).
HOME = {"eu": ["eu-west-1", "eu-central-1"], "uk": ["eu-west-2"], "us": ["us-east-1", "us-west-2"],
        "public": ["us-east-1", "eu-west-1"]}


def jurisdiction(cloud: str, region: str, geo: str) -> str:
    return JURISDICTION.get((cloud, region), "EU" if geo == "europe" else "US")


def fleet(n_workloads: int, seed: int = 7) -> Problem:  # noqa: C901, PLR0912, PLR0915  a synthetic fleet generator: one loop of knobs per entity kind
    rng = random.Random(seed)
    catalog = load_catalog()
    rows = [r for r in catalog.shapes.values() if r.cloud != "onprem"]
    specs = []
    for i in range(N_CLUSTERS):
        row = rows[i % len(rows)]
        specs.append((f"k{i:02d}-{row.cloud}-{row.region}", row))
    workloads_raw = []
    for k in range(n_workloads):
        data_class = rng.choices(list(CLASSES), weights=[35, 10, 35, 20])[0]
        gpu = rng.random() < 0.2
        replicas = rng.randint(1, 4)
        critical = replicas >= 2 and rng.random() < 0.3
        gpu_type = rng.choice([None, None, "A10G", "L4", "A10"]) if gpu else None
        cpu = rng.choice([1, 2, 4]) if gpu else rng.choice([1, 1, 2, 2, 4, 8])
        mem = cpu * rng.choice([2, 4])
        size = rng.uniform(1, 50)
        replicated = rng.random() < 0.5
        workloads_raw.append((f"w{k:05d}", data_class, gpu, gpu_type, replicas, critical, cpu, mem, size,
                              replicated))
    # Clusters first without capacity; it is set once today's placement is known (below).
    total_cpu = sum(w[4] * w[6] for w in workloads_raw)
    total_gpu = sum(w[4] for w in workloads_raw if w[2])
    clusters = [ClusterData(
        id=cid, region=f"{row.cloud}:{row.region}", cloud=row.cloud, shape=row.shape,
        node_hourly=row.on_demand_hourly, node_cpu=row.vcpu, node_memory_gb=row.memory_gb,
        node_gpu=row.accelerator_count, gpu_type=row.accelerator, cpu=0, memory_gb=0,
        gpu=1 if row.accelerator else 0,
    ) for cid, row in specs]
    by_id = {c.id: c for c in clusters}
    juris = {c.id: jurisdiction(c.cloud, c.region.split(":", 1)[1], rows[i % len(rows)].geo)
             for i, c in enumerate(clusters)}
    home_clusters: dict[tuple[str, bool], list[str]] = {}
    for c in clusters:
        if c.cloud == "aws":
            home_clusters.setdefault((c.region.split(":", 1)[1], bool(c.node_gpu)), []).append(c.id)
    workloads = []
    for raw in workloads_raw:
        wid, data_class, gpu, gpu_type, replicas, critical, cpu, mem, size, replicated = raw
        allowed = _allowed(clusters, juris, data_class, gpu, gpu_type)
        if gpu and not allowed:  # no GPU of that type where this class may run: any GPU type, else CPU
            gpu_type = None
            allowed = _allowed(clusters, juris, data_class, gpu, gpu_type)
            if not allowed:
                gpu = False
                allowed = _allowed(clusters, juris, data_class, gpu, gpu_type)
        homes = [h for h in HOME[data_class] if home_clusters.get((h, gpu))]
        if gpu_type not in (None, "A10G") or not homes:
            # A workload needing L4/A10 (or a GPU where AWS has none) cannot have grown up on AWS:
            # it runs on the two cheapest clusters that fit it.
            pools = [sorted(allowed, key=lambda c: (by_id[c].node_hourly, c))[:2]]
        else:
            pools = [home_clusters[(h, gpu)] for h in homes]
        current: dict[str, int] = {}
        for r in range(replicas):
            pool = pools[1] if critical and r == replicas - 1 and len(pools) > 1 else pools[0]
            chosen = pool[r % len(pool)]
            current[chosen] = current.get(chosen, 0) + 1
        if critical and len({by_id[c].region for c in current}) < 2:
            critical = False
        aws_region = by_id[next(iter(current))].region.split(":", 1)[1]
        if replicated:
            egress = {c.id: 0.0 for c in clusters}
        else:
            egress = {
                c.id: size * 30 * catalog.egress_per_gb("aws", aws_region, c.cloud, c.region.split(":", 1)[1])
                for c in clusters
            }
        workloads.append(WorkloadData(wid, replicas, cpu, mem, 1 if gpu else 0, gpu_type, critical, current,
                                      data_class, allowed, egress, 5.0))
    # Capacity: every cluster has room for 1/12 of the fleet's vCPU (1/6 of its GPUs on GPU shapes),
    # and at least what it runs today (the AWS home clusters hold the whole fleet now).
    load: dict[str, list[float]] = {c.id: [0.0, 0.0, 0.0] for c in clusters}
    for w in workloads:
        for cid, n in w.current.items():
            load[cid][0] += n * w.cpu
            load[cid][1] += n * w.memory_gb
            load[cid][2] += n * w.gpu
    base_cpu = max(32.0, round(total_cpu / 12))
    clusters = [replace(
        c, cpu=max(base_cpu, load[c.id][0]), memory_gb=max(base_cpu * 8, load[c.id][1]),
        gpu=max(max(4, total_gpu // 6) if c.node_gpu else 0, int(load[c.id][2])),
    ) for c in clusters]
    return Problem(tuple(clusters), tuple(workloads), max_moves=10**9)


INTERRUPTIONS = {"aws": 0.10, "oci": 0.10, "azure": 0.15, "gcp": 0.15}
SLO_P95_MS, SLO_SUCCESS, TARGET_UTILISATION, CONCURRENCY = 250.0, 0.99, 0.6, 4


def with_right_sizing(problem: Problem, seed: int = 11) -> Problem:
    """The same fleet with each workload's replica range from its observed demand."""
    rng = random.Random(seed)
    workloads = []
    for w in problem.workloads:
        breach = rng.random() < 0.10
        p95 = rng.uniform(260, 400) if breach else rng.uniform(40, 200)
        success = rng.uniform(0.995, 0.9999)
        utilisation = rng.uniform(0.1, 0.6)
        per_replica = CONCURRENCY * 1000.0 / p95
        requests_per_hour = utilisation * per_replica * w.replicas * 3600
        size = size_replicas(w.id, w.replicas, requests_per_hour, p95_ms=p95, success_rate=success,
                             concurrency=CONCURRENCY, slo_p95_ms=SLO_P95_MS, slo_success_rate=SLO_SUCCESS,
                             target_utilisation=TARGET_UTILISATION, critical=w.critical)
        workloads.append(replace(w, min_replicas=size.min_replicas, max_replicas=size.max_replicas))
    return replace(problem, workloads=tuple(workloads))


def with_spot(problem: Problem, seed: int = 13) -> Problem:
    """The same fleet with a spot pool on every cluster and 30% of workloads tolerating preemption."""
    rng = random.Random(seed)
    catalog = load_catalog()
    pools = []
    for c in problem.clusters:
        row = catalog.shape(c.cloud, c.region.split(":", 1)[1], c.shape)
        if not row.spot_hourly:
            continue
        pools.append(replace(c, id=f"{c.id}{SPOT_SUFFIX}", node_hourly=row.spot_hourly, cpu=c.cpu / 4,
                             memory_gb=c.memory_gb / 4, gpu=c.gpu // 4, spot=True, base=c.id,
                             interruptions_per_month=INTERRUPTIONS[c.cloud]))
    by_base = {p.base: p.id for p in pools}
    workloads = []
    for w in problem.workloads:
        tolerant = rng.random() < 0.30
        if tolerant:
            extra = {by_base[c] for c in w.allowed if c in by_base}
            egress = {**w.egress_per_replica, **{by_base[c]: v for c, v in w.egress_per_replica.items() if c in by_base}}
            workloads.append(replace(w, preemptible=True, allowed=w.allowed | extra, egress_per_replica=egress))
        else:
            workloads.append(w)
    return replace(problem, clusters=problem.clusters + tuple(pools), workloads=tuple(workloads))


def _allowed(clusters, juris, data_class: str, gpu: bool, gpu_type: str | None) -> frozenset[str]:
    return frozenset(
        c.id for c in clusters if juris[c.id] in CLASSES[data_class]
        and (not gpu or (c.gpu and (gpu_type is None or c.gpu_type == gpu_type)))
    )


def solve(problem: Problem, time_limit: float) -> dict:
    current = evaluate(problem, problem.current(), check_moves=False)
    t0 = time.monotonic()
    base = evaluate(problem, greedy(problem))
    greedy_s = time.monotonic() - t0
    solution = optimise(problem, time_limit_s=time_limit, mip_rel_gap=1e-3)
    return {
        "solve_s": solution.solve_s, "cpu_s": solution.phases.get("cpu"), "greedy_s": greedy_s, "status": solution.status, "gap": solution.mip_gap,
        "bound": solution.bound, "current": current.monthly, "milp": solution.evaluation.monthly,
        "greedy": base.monthly, "savings": 1 - solution.evaluation.monthly / current.monthly,
        "greedy_savings": 1 - base.monthly / current.monthly, "milp_total": solution.evaluation.total,
        "greedy_total": base.total, "moves": solution.evaluation.moves,
        "spot_replicas": solution.evaluation.spot_replicas,
        "interruptions": solution.evaluation.interruptions_per_month,
        "replicas": sum(sum(r.values()) for r in solution.assignment.values()),
        "feasible": solution.evaluation.feasible and base.feasible, "phases": solution.phases,
    }


def run_size(n: int, time_limit: float) -> dict:
    placement_only = fleet(n)
    right_sized = with_right_sizing(placement_only)
    levers = {"placement": placement_only, "+right-sizing": right_sized, "+spot": with_spot(right_sized)}
    results = {name: solve(problem, time_limit) for name, problem in levers.items()}
    replicas_now = sum(w.replicas for w in placement_only.workloads)
    previous = 0.0
    for name, r in results.items():
        gap = "n/a" if r["gap"] is None else f"{100 * r['gap']:.3f}%"
        bound = "n/a" if r["bound"] is None else f"${r['bound']:,.0f}"
        print(f"{n:>6} workloads x {N_CLUSTERS} clusters, {name:<14}: MILP {r['status']} in {r['solve_s']:.1f}s "
              f"({r['cpu_s']:.1f} CPU-s) "
              f"(gap {gap}, bound {bound}; {r['phases']}); monthly ${r['current']:,.0f} -> ${r['milp']:,.0f} "
              f"({100 * r['savings']:.1f}% saved, lever share {100 * (r['savings'] - previous):.1f} points), "
              f"greedy ${r['greedy']:,.0f} ({100 * r['greedy_savings']:.1f}%, {r['greedy_s']:.1f}s); "
              f"replicas {replicas_now} -> {r['replicas']}, {r['spot_replicas']} on spot "
              f"(~{r['interruptions']:.0f} reclaims/month); moves {r['moves']}; "
              f"MILP/greedy {r['milp_total'] / r['greedy_total']:.4f}", flush=True)
        previous = r["savings"]
    total = results["+spot"]
    return {"n": n, **total, "levers": {k: v["savings"] for k, v in results.items()},
            "worst_ratio": max(r["milp_total"] / r["greedy_total"] for r in results.values()),
            "feasible": all(r["feasible"] for r in results.values())}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small fleet (200 workloads)")
    parser.add_argument("--sizes", default="500,2000,10000")
    parser.add_argument("--time-limit", type=float, default=10.0)
    args = parser.parse_args(argv)
    sizes = [200] if args.quick else [int(s) for s in args.sizes.split(",")]
    results = [run_size(n, args.time_limit) for n in sizes]
    head = "; ".join(
        f"{r['n']}x{N_CLUSTERS}: {r['solve_s']:.1f}s ({r['cpu_s']:.1f} CPU-s) gap {_pct(r['gap'])} "
        f"save {100 * r['savings']:.1f}% "
        f"(placement {100 * r['levers']['placement']:.1f}%, +right-sizing "
        f"{100 * (r['levers']['+right-sizing'] - r['levers']['placement']):.1f}, +spot "
        f"{100 * (r['levers']['+spot'] - r['levers']['+right-sizing']):.1f}; greedy {100 * r['greedy_savings']:.1f}%) "
        f"MILP/greedy {r['worst_ratio']:.3f}"
        for r in results
    )
    print(f"placement: {head}")
    return 0 if all(r["feasible"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
