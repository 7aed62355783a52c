"""Benchmark: RTO of a DR rehearsal on the local estate, warm standby vs pilot light.

Runs whole rehearsals (region_outage on the eu-churn pair: real model servers, real gateway,
real probe, real faults) through the same step functions the DAG runs, in a throwaway estate home:
- warm standby: the secondary already serves the model (traffic switch only);
- pilot light (the peer, measured in the same run): the secondary runs nothing, failover deploys it.
Prints each rehearsal's RTO/RPO and, as its LAST line, the ratio of the mean RTOs.

    python bench/dr_rehearsal.py [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))


def _setup(home: Path, warm: bool):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from multicloud.drivers import ModelDeployment
    from multicloud.drivers.local import LocalClusterDriver
    from multicloud.estate import load_estate
    from multicloud.serving.model import LogisticModel
    from multicloud.sync.layout import CUSTOMER_EVENT_FEATURES, partition_url

    estate = load_estate(home=home)
    model = LogisticModel(model="churn-eu", version="v1", data_class="eu-personal", features=CUSTOMER_EVENT_FEATURES,
                          mean=(12.0, 80.0, 1.2, 36.0), scale=(3.5, 55.0, 1.1, 20.0), coef=(-0.8, -0.4, 0.9, -0.6),
                          intercept=-0.5)
    artifact = home / "storage" / "oci-fra" / "models" / "churn-eu" / "v1"
    artifact.mkdir(parents=True, exist_ok=True)
    (artifact / "model.json").write_text(model.to_json())
    newest = datetime.now(UTC).replace(microsecond=0)
    for region, lag in (("oci-fra", 0), ("gcp-euw4", 300)):
        at = newest - timedelta(seconds=lag)
        folder = Path(partition_url(estate, region, "customer-events", at.replace(minute=0, second=0))
                      .removeprefix("file://"))
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"event_id": ["a"], "event_time": [at]}), folder / "part-00000.parquet")
    for cluster in ("oke-fra", "gke-euw4") if warm else ("oke-fra",):
        driver = LocalClusterDriver(cluster, home)
        driver.deploy(ModelDeployment("churn-eu", "v1", 1, f"file://{artifact}",
                                      runtime=estate.runtime.model_dump(mode="json")))
        driver.wait_ready("churn-eu", "v1", 30)
    return estate


def rehearse(warm: bool) -> dict:
    home = Path(tempfile.mkdtemp(prefix="dr-bench-"))
    os.environ["MULTICLOUD_ESTATE_HOME"] = str(home)
    from multicloud.dr import rehearsal
    from multicloud.dr.probe import read_samples
    from multicloud.dr.report import build_report
    from multicloud.drivers.local import stop_all_servers

    estate = _setup(home, warm)
    # The bench measures RTO; stop conditions have their own tests. A wide error budget keeps a slow
    # failover on a loaded machine from aborting the measurement itself.
    settings = rehearsal.Settings(pair="eu-churn", hold_s=1, stabilisation_checks=2, max_errors=1000)
    run_id = f"bench-{'warm' if warm else 'pilot'}-{time.time_ns()}"
    try:
        for step in ("preflight", "baseline", "inject", "failover", "verify", "fail_back"):
            getattr(rehearsal, step)(estate, settings, run_id, home)
        rehearsal.restore(estate, settings, run_id, home)
        state = rehearsal.load_run("eu-churn", run_id, home)
        return build_report(state, read_samples(Path(state["probe_file"])))
    finally:
        rehearsal.restore(estate, settings, run_id, home)  # a no-op unless a step failed
        stop_all_servers(home=home)
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one rehearsal of each kind")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    results: dict[str, list[float]] = {"warm": [], "pilot": []}
    for index in range(rounds):
        for kind in ("warm", "pilot"):
            report = rehearse(warm=kind == "warm")
            score = report["score"]
            print(f"round {index + 1} {kind:5s}: outcome {report['outcome']}, RTO {score['rto_s']}s, "
                  f"RPO {score['rpo_s']}s, estate as before {report['as_before']}, "
                  f"availability {report['probe']['availability']}")
            results[kind].append(score["rto_s"])
    warm, pilot = statistics.mean(results["warm"]), statistics.mean(results["pilot"])
    print(f"RTO warm standby mean {warm:.3f}s (max {max(results['warm']):.3f}s) vs pilot light mean {pilot:.3f}s "
          f"(max {max(results['pilot']):.3f}s) over {rounds} round(s)")
    print(f"ratio warm/pilot-light RTO: {warm / pilot:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
