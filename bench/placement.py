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

    python bench/placement.py [--quick] [--sizes 500,2000,10000] [--time-limit 10]

Last line: the headline figures (ratio = MILP cost / greedy cost, and savings vs current).
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
from multicloud.cost.model import ClusterData, Problem, WorkloadData, evaluate
from multicloud.cost.optimiser import optimise

N_CLUSTERS = 50
JURISDICTION = {("oci", "uk-london-1"): "UK", ("azure", "uksouth"): "UK", ("aws", "eu-west-2"): "UK"}
CLASSES = {"eu": {"EU"}, "uk": {"UK"}, "us": {"US"}, "public": {"EU", "UK", "US"}}
# AWS regions a class's services run in today: the first holds them, the second takes the other
# replica of critical services (no second AWS region in the UK: UK services are not critical).
HOME = {"eu": ["eu-west-1", "eu-central-1"], "uk": ["eu-west-2"], "us": ["us-east-1", "us-west-2"],
        "public": ["us-east-1", "eu-west-1"]}


def jurisdiction(cloud: str, region: str, geo: str) -> str:
    return JURISDICTION.get((cloud, region), "EU" if geo == "europe" else "US")


def fleet(n_workloads: int, seed: int = 7) -> Problem:
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


def _allowed(clusters, juris, data_class: str, gpu: bool, gpu_type: str | None) -> frozenset[str]:
    return frozenset(
        c.id for c in clusters if juris[c.id] in CLASSES[data_class]
        and (not gpu or (c.gpu and (gpu_type is None or c.gpu_type == gpu_type)))
    )


def run_size(n: int, time_limit: float) -> dict:
    problem = fleet(n)
    current = evaluate(problem, problem.current(), check_moves=False)
    t0 = time.monotonic()
    base = evaluate(problem, greedy(problem))
    greedy_s = time.monotonic() - t0
    solution = optimise(problem, time_limit_s=time_limit, mip_rel_gap=1e-3)
    # Compare recurring monthly cost; the one-off migration is reported apart.
    savings = 1 - solution.evaluation.monthly / current.monthly
    greedy_savings = 1 - base.monthly / current.monthly
    result = {
        "n": n, "solve_s": solution.solve_s, "greedy_s": greedy_s, "status": solution.status,
        "gap": solution.mip_gap, "current": current.monthly, "milp": solution.evaluation.monthly,
        "greedy": base.monthly, "savings": savings, "greedy_savings": greedy_savings,
        "milp_total": solution.evaluation.total, "greedy_total": base.total,
        "moves": solution.evaluation.moves, "feasible": solution.evaluation.feasible and current.feasible,
    }
    gap = "n/a" if result["gap"] is None else f"{100 * result['gap']:.3f}%"
    print(f"{n:>6} workloads x {N_CLUSTERS} clusters: MILP {result['status']} in {result['solve_s']:.1f}s "
          f"(gap {gap}); monthly cost current ${current.monthly:,.0f} -> MILP ${solution.evaluation.monthly:,.0f} "
          f"({100 * savings:.1f}% saved), greedy ${base.monthly:,.0f} ({100 * greedy_savings:.1f}% saved, "
          f"{greedy_s:.1f}s); moves {result['moves']}; objective incl. migration MILP/greedy "
          f"{result['milp_total'] / result['greedy_total']:.4f}", flush=True)
    return result


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
        f"{r['n']}x{N_CLUSTERS}: {r['solve_s']:.1f}s gap {_pct(r['gap'])} save {100 * r['savings']:.1f}% "
        f"(greedy {100 * r['greedy_savings']:.1f}%) MILP/greedy {r['milp_total'] / r['greedy_total']:.3f}"
        for r in results
    )
    print(f"placement: {head}")
    return 0 if all(r["feasible"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
