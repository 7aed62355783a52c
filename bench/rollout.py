"""Benchmark: progressive rollout to N clusters in waves (canary, 2, 4, the rest), the DAG's code path.

Runs the functions the model_rollout DAG's tasks call, in the DAG's order: ``build_plan`` (task
plan), per stage every lane's ``deploy_lane`` in parallel (the mapped ``deploy_<stage>`` tasks),
then ``gate_stage`` (``gate_<stage>``), then ``promote``. What it leaves out is Airflow's own
scheduling (task start-up, XCom), one-off imports and each Airflow connection's first lookup in the
process (a warm-up precedes the timing; every driver is still built by the measured code).
On the Kubernetes estate the emulated API servers run in a child process (their controller loops
would otherwise compete with the measured code for this interpreter), still on the same 2 cores.

Measured: the whole rollout's wall time against its ideal, the sum over waves of the wave's
slowest cluster readiness (what a perfect orchestrator that adds nothing to the servers' own
start-up would take). Goal: <= 1.2x. On two estates in the same run:

- ``local``: every cluster runs model servers as local processes (the embedded estate);
- ``kubernetes``: every cluster is a Kubernetes API server (the emulator from tests/, one per
  cluster) whose pods run the model-server image's entrypoint as processes, Ready once their
  readiness probe answers; gates go through each API server's service proxy.

    python bench/rollout.py [--clusters 20] [--rounds 3] [--quick] [--estates local,kubernetes]

Real parts: scikit-learn trains the model, every replica is a real model-server process on
loopback, gates send real smoke inferences. Last line: the ratio (the worse of the two estates).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

import numpy as np
import pandas as pd

from multicloud.drivers import driver_for
from multicloud.drivers.local import stop_all_servers
from multicloud.estate import parse_estate
from multicloud.rollout import planner
from multicloud.rollout.run import build_plan, deploy_lane, gate_stage, promote
from multicloud.rollout.settings import RolloutSettings
from multicloud.sync.layout import CUSTOMER_EVENT_FEATURES
from multicloud.training.artifacts import write_model
from multicloud.training.train import train_logistic

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "multicloud/model-server:1.4.0"


def estate_yaml(clusters: int, kubernetes: bool) -> str:
    def cluster(i: int) -> str:
        if kubernetes:
            return (f"{{id: c{i:02d}, kind: oke, driver: kubernetes, connection_id: k8s_c{i:02d}, shape: local, "
                    f"capacity: {{cpu: 4, memory_gb: 8}}}}")
        return f"{{id: c{i:02d}, kind: local, shape: local, capacity: {{cpu: 4, memory_gb: 8}}}}"

    regions = "\n".join(
        f"""  - id: eu-r{i:02d}
    cloud: oci
    region: eu-frankfurt-1
    jurisdiction: EU
    storage: {{url: "file://{{estate_home}}/storage/eu-r{i:02d}"}}
    cluster: {cluster(i)}"""
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
runtime: {{image: "{IMAGE}", env: {{OMP_NUM_THREADS: "1"}}, limits: {{cpu: 1, memory_gb: 1}}}}
"""


def synthetic_frame(rows: int = 800) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({f: rng.normal(size=rows) for f in CUSTOMER_EVENT_FEATURES})
    logit = frame.to_numpy() @ np.array([-1.5, -0.5, 1.2, -0.8])
    frame["churned"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def rollout_like_the_dag(estate, params: dict, run_id: str, home: Path) -> dict:
    """plan -> (deploy lanes in parallel -> gate) per stage -> promote, with the DAG's task functions."""
    started = time.monotonic()
    settings = RolloutSettings.from_params(params)
    plan = build_plan(estate, settings, [], home=home)
    plan_s = time.monotonic() - started
    stages = []
    for name, lanes in zip(planner.STAGES, plan["stages"], strict=True):
        if not lanes:
            continue
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(lanes)) as pool:  # the mapped deploy tasks
            done = [r for rs in pool.map(lambda lane: deploy_lane(estate, lane, params["strategy"], run_id,
                                                                  60.0, home), lanes) for r in rs]
        deployed_s = time.monotonic() - started
        gate_stage(estate, name, lanes, settings, run_id, home)
        stages.append({"stage": name, "clusters": len(done), "wall_s": deployed_s,
                       "gate_s": time.monotonic() - started - deployed_s,
                       "slowest_ready_s": max(r["ready_s"] for r in done)})
    started = time.monotonic()
    promote(estate, plan, run_id, home)
    return {"stages": stages, "plan_s": plan_s, "promote_s": time.monotonic() - started}


def start_kubernetes(clusters: int, log_dir: Path) -> subprocess.Popen:
    """N emulated API servers in a child process (their controllers must not share our interpreter)."""
    images = {IMAGE: {"python": sys.executable, "env": {"PYTHONPATH": str(ROOT / "plugins"),
                                                        "PATH": os.environ.get("PATH", "")}}}
    process = subprocess.Popen([sys.executable, "-m", "tests.emulators.kubernetes", "--clusters", str(clusters),
                                "--images", json.dumps(images), "--log-dir", str(log_dir)], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"the Kubernetes emulators did not start (exit {process.wait()})")
    for i, kubeconfig in enumerate(json.loads(line)["kubeconfigs"]):
        os.environ[f"AIRFLOW_CONN_K8S_C{i:02d}"] = json.dumps(
            {"conn_type": "kubernetes", "extra": {"kube_config": json.dumps(kubeconfig)}})
    return process


def stop_kubernetes(process: subprocess.Popen | None) -> None:
    if process is not None:
        process.stdin.close()  # the child stops every API server and pod, then exits
        process.wait(timeout=60)


def bench_estate(kind: str, clusters: int, rounds: int, home: Path) -> float:
    kubernetes = kind == "kubernetes"
    estate = parse_estate(estate_yaml(clusters, kubernetes), home=str(home))
    trained = train_logistic(synthetic_frame(), model_id="churn", version="v1", data_class="eu-personal",
                             trained_in="eu-r00", dataset="events", features=CUSTOMER_EVENT_FEATURES,
                             label="churned")
    write_model(estate, trained)
    params = {"model": "churn", "version": "v1", "strategy": "canary", "max_parallel": clusters,
              "gate_checks": 1, "gate_interval_s": 0.0}
    ratios = []
    for round_no in range(rounds):
        emulators = start_kubernetes(clusters, home / f"pods-{round_no}") if kubernetes else None
        try:
            # Warm-up, not timed: one-off imports (the client, the provider), and every cluster's
            # Airflow connection looked up once (Airflow registers its secrets with the log masker on
            # the first lookup in a process, a cost of Airflow's task start-up, like the imports).
            driver_for(estate, "c00", home).served()
            for _region, cluster in estate.clusters():
                driver_for(estate, cluster.id, home)
            started = time.monotonic()
            result = rollout_like_the_dag(estate, params, f"bench-{kind}-{round_no}", home)
            wall = time.monotonic() - started
        finally:
            stop_kubernetes(emulators)  # the next round starts from empty clusters again
            stop_all_servers(home=home)
        ideal = sum(stage["slowest_ready_s"] for stage in result["stages"])
        print(f"{kind} round {round_no + 1}: plan {result['plan_s']:.3f}s")
        for stage in result["stages"]:
            print(f"  {stage['stage']:>7}: {stage['clusters']:2d} clusters, slowest readiness "
                  f"{stage['slowest_ready_s']:.3f}s, wave deploy wall {stage['wall_s']:.3f}s, gate {stage['gate_s']:.3f}s")
        print(f"  promotion {result['promote_s']:.3f}s; clusters={clusters} total wall {wall:.3f}s, "
              f"sum of slowest readiness per wave {ideal:.3f}s, ratio {wall / ideal:.2f}x")
        ratios.append(wall / ideal)
    median = statistics.median(ratios)
    print(f"{kind}: ratio total_wall/sum_slowest_readiness = {median:.2f}x (median of {len(ratios)} round(s))")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--estates", default="local,kubernetes")
    parser.add_argument("--quick", action="store_true", help="6 clusters, one round (the smoke test)")
    parser.add_argument("--home", help="estate home to use (default: a new temporary directory)")
    args = parser.parse_args()
    clusters, rounds = (6, 1) if args.quick else (args.clusters, args.rounds)
    results = {}
    for kind in args.estates.split(","):
        with tempfile.TemporaryDirectory(prefix=f"bench-rollout-{kind}-") as scratch:  # no estate left behind
            home = Path(args.home) / kind if args.home else Path(scratch)
            home.mkdir(parents=True, exist_ok=True)
            os.environ["MULTICLOUD_ESTATE_HOME"] = str(home)
            results[kind] = bench_estate(kind, clusters, rounds, home)
    worst = max(results, key=results.get)
    print(f"ratio total_wall/sum_slowest_readiness = {results[worst]:.2f}x (worst estate: {worst}; "
          + ", ".join(f"{k} {v:.2f}x" for k, v in results.items()) + "; goal <= 1.2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
