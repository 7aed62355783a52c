"""Benchmark: progressive rollout to N local clusters in waves (canary, 2, 4, the rest).

Measures the whole rollout's wall time (plan, parallel deploys, health gates, promotion) against
its ideal: the sum over waves of the wave's slowest cluster readiness (what a perfect
orchestrator that adds nothing to the servers' own start-up would take). Goal: <= 1.2x.

    python bench/rollout.py [--clusters 20] [--max-parallel 20] [--quick]

Real parts: scikit-learn trains the model, every replica is a real model-server process on
loopback, gates send real smoke inferences. Last line: the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

import numpy as np
import pandas as pd

from multicloud.drivers.local import stop_all_servers
from multicloud.estate import parse_estate
from multicloud.rollout.run import build_plan, run_waves
from multicloud.sync.layout import CUSTOMER_EVENT_FEATURES
from multicloud.training.artifacts import write_model
from multicloud.training.train import train_logistic


def estate_yaml(clusters: int) -> str:
    regions = "\n".join(
        f"""  - id: eu-r{i:02d}
    cloud: oci
    region: eu-frankfurt-1
    jurisdiction: EU
    storage: {{url: "file://{{estate_home}}/storage/eu-r{i:02d}"}}
    cluster: {{id: c{i:02d}, kind: local, shape: local, capacity: {{cpu: 4, memory_gb: 8}}}}"""
        for i in range(clusters))
    placement = ", ".join(f"c{i:02d}: 1" for i in range(clusters))
    return f"""
name: bench
jurisdictions: [{{id: EU, name: EU, countries: [DE]}}]
regions:
{regions}
data_classes: [{{id: eu-personal, allow: {{jurisdictions: [EU]}}}}]
datasets:
  - {{id: events, source: eu-r00, path: events, data_class: eu-personal}}
models:
  - {{id: churn, trained_on: events, train_in: eu-r00, data_class: eu-personal, slo: {{p95_ms: 500}}}}
workloads:
  - {{id: churn-serving, model: churn, replicas: {clusters}, resources: {{cpu: 1, memory_gb: 1}},
     placement: {{{placement}}}}}
runtime: {{image: "multicloud/model-server:1.4.0", env: {{OMP_NUM_THREADS: "1"}}, limits: {{cpu: 1, memory_gb: 1}}}}
"""


def synthetic_frame(rows: int = 800) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({f: rng.normal(size=rows) for f in CUSTOMER_EVENT_FEATURES})
    logit = frame.to_numpy() @ np.array([-1.5, -0.5, 1.2, -0.8])
    frame["churned"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--max-parallel", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="6 clusters (the smoke test)")
    parser.add_argument("--home", help="estate home to use (default: a new temporary directory)")
    args = parser.parse_args()
    clusters = 6 if args.quick else args.clusters
    if args.home:
        return run(args, clusters, Path(args.home))
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as home:  # no estate left behind
        return run(args, clusters, Path(home))


def run(args: argparse.Namespace, clusters: int, home: Path) -> int:
    estate = parse_estate(estate_yaml(clusters), home=str(home))
    trained = train_logistic(synthetic_frame(), model_id="churn", version="v1", data_class="eu-personal",
                             trained_in="eu-r00", dataset="events", features=CUSTOMER_EVENT_FEATURES,
                             label="churned")
    write_model(estate, trained)
    params = {"model": "churn", "version": "v1", "strategy": "canary", "max_parallel": args.max_parallel,
              "gate_checks": 1, "gate_interval_s": 0.0}
    ratios = []
    for round_no in range(1 if args.quick else args.rounds):
        try:
            started = time.monotonic()
            plan = build_plan(estate, params, [], home=home)
            result = run_waves(estate, plan, f"bench-{round_no}", params, home=home)
            wall = time.monotonic() - started
        finally:
            stop_all_servers(home=home)  # the next round starts from empty clusters again
        ideal = sum(stage["slowest_ready_s"] for stage in result["stages"])
        print(f"round {round_no + 1}:")
        for stage in result["stages"]:
            print(f"  {stage['stage']:>7}: {stage['clusters']:2d} clusters, slowest readiness "
                  f"{stage['slowest_ready_s']:.3f}s, wave deploy wall {stage['wall_s']:.3f}s, gate {stage['gate_s']:.3f}s")
        deploys = sum(stage["wall_s"] for stage in result["stages"])
        print(f"  promotion {result['promote_s']:.3f}s; waves' deploy walls alone / ideal = {deploys / ideal:.2f}x")
        print(f"  clusters={clusters} total wall {wall:.3f}s, sum of slowest readiness per wave {ideal:.3f}s, "
              f"ratio {wall / ideal:.2f}x")
        ratios.append(wall / ideal)
    print(f"ratio total_wall/sum_slowest_readiness = {statistics.median(ratios):.2f}x "
          f"(median of {len(ratios)} round(s); goal <= 1.2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
