"""Benchmark: automated failover on the local estate against today's orchestrated path, and a soak.

Everything is real on loopback: churn-eu model servers (local cluster driver), the health-checked
gateway, a probe process that checks every answer against the model card's smoke cases with one
client retry, faults that stop the primary's servers and move its storage aside.

1. MTTR, same fault (region_outage), same run: the ``dr_rehearsal`` DAG (``dag.test``) once on
   the ``automated`` path (it only injects and observes: the gateway's health checks fail over
   by themselves) and once on the ``orchestrated`` path (today's: the DAG's ``fail_over`` task
   switches traffic). Goal: automated RTO <= 10 s; the ratio automated/orchestrated (seed: 0.5).
2. Soak (``--minutes``, default 20): a region fault every ``--fault-every`` seconds (default 300)
   lasting ``--outage`` seconds; ``dr_failover``'s step functions run in-process, driven by its
   own ``HealthSignalTrigger`` (no scheduler here: the scheduler path is the integration test),
   promote the write target, scale the pilot light and fail back after the estate's healthy
   checks and stabilisation window. A writer appends one record every 0.2 s to the pair's write
   target (one retry); every acknowledged record must still exist at the end (zero lost writes).
   Goal: availability seen by the retrying client >= 99.9%.

Prints per-phase lines and, as its LAST line, the MTTR ratio automated/orchestrated.

    python bench/dr_rehearsal.py [--minutes 20] [--fault-every 300] [--outage 60]
    python bench/dr_rehearsal.py --quick     # smoke: one MTTR round, a 12 s soak with one 4 s fault
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT))

PAIR_SETTINGS = """    endpoint: churn-eu.global
    health_check: {interval_s: 0.25, timeout_s: 0.5, unhealthy_threshold: 2, healthy_threshold: 2}
    fail_back: {healthy_checks: 4, stabilisation_s: 5}
"""


def _home() -> tuple[Path, Path]:
    home = Path(tempfile.mkdtemp(prefix="dr-bench-"))
    estate_file = home / "estate.yaml"
    from multicloud.paths import DEFAULT_ESTATE_FILE

    estate_file.write_text(DEFAULT_ESTATE_FILE.read_text().replace("    endpoint: churn-eu.global\n", PAIR_SETTINGS, 1))
    os.environ.update({"MULTICLOUD_ESTATE_HOME": str(home), "MULTICLOUD_ESTATE": str(estate_file)})
    return home, estate_file


def _serve(estate, home: Path) -> None:
    from multicloud.drivers import ModelDeployment
    from multicloud.drivers.local import LocalClusterDriver
    from tests.dags.dr_fixtures import NEWEST_EVENT, REPLICA_LAG, write_events, write_model

    uri = write_model(estate)
    staged = home / "storage" / "gcp-euw4" / "models" / "churn-eu" / "v1"  # the standby's own copy
    shutil.copytree(uri.removeprefix("file://"), staged)
    newest = datetime.now(UTC).replace(microsecond=0)
    write_events(estate, "oci-fra", max(newest, NEWEST_EVENT))
    write_events(estate, "gcp-euw4", max(newest, NEWEST_EVENT) - REPLICA_LAG)
    for cluster, source in (("oke-fra", uri), ("gke-euw4", f"file://{staged}")):
        driver = LocalClusterDriver(cluster, home)
        driver.deploy(ModelDeployment("churn-eu", "v1", 1, source, runtime=estate.runtime.model_dump(mode="json")))
        driver.wait_ready("churn-eu", "v1", 30)


def _teardown(home: Path) -> None:
    from tests.dags.dr_fixtures import teardown

    teardown(home)
    shutil.rmtree(home, ignore_errors=True)


def _airflow_db() -> None:
    """dag.test needs a migrated metadata DB: use $AIRFLOW_HOME's (make db), else migrate a throwaway one."""
    import subprocess

    home = Path(os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="dr-bench-airflow-")))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
    if not (home / "airflow.db").exists() and "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in os.environ:
        print(f"migrating a metadata DB in {home} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


# ---- 1. MTTR: automated vs orchestrated, same fault, same run -------------------------------------
def mttr(rounds: int) -> dict[str, list[float]]:
    _airflow_db()
    from airflow.dag_processing.dagbag import DagBag

    from multicloud.estate import load_estate
    from multicloud.reports import latest_summary

    results: dict[str, list[float]] = {"automated": [], "orchestrated": []}
    home, estate_file = _home()
    try:
        estate = load_estate(estate_file, home=home)
        _serve(estate, home)
        dag = DagBag(dag_folder=str(ROOT / "dags" / "dr_rehearsal.py")).get_dag("dr_rehearsal")
        for index in range(rounds):
            for path in ("automated", "orchestrated"):
                conf = {"path": path, "dr_failover_wait_s": 0, "hold_s": 1, "stabilisation_checks": 2,
                        "max_errors": 1000, "estate_file": str(estate_file)}
                dag.test(run_conf=conf)
                report = latest_summary("dr_rehearsal", home)["data"]
                rto = report["score"]["rto_s"]
                print(f"round {index + 1} {path:12s}: outcome {report['outcome']}, RTO {rto}s, "
                      f"availability {report['probe']['availability']} (first try "
                      f"{report['probe']['availability_first_try']}), estate as before {report['as_before']}",
                      flush=True)
                if report["outcome"] != "passed" or rto is None:
                    raise SystemExit(f"{path} rehearsal did not pass: {report['outcome']}")
                results[path].append(rto)
    finally:
        _teardown(home)
    return results


# ---- 2. soak ----------------------------------------------------------------------------------------
class DrFailoverLoop:
    """dr_failover's step functions, driven by its HealthSignalTrigger, in a thread (no scheduler)."""

    def __init__(self, estate, home: Path) -> None:
        from multicloud.dr.health import signals_file
        from multicloud.triggers.dr_health import HealthSignalTrigger

        self.estate, self.home = estate, home
        self.trigger = HealthSignalTrigger(str(signals_file(home)), poll_interval=0.2)
        self.stop = threading.Event()
        self.handled: list[dict] = []
        self.errors: list[str] = []

    def run(self) -> None:
        asyncio.run(self._consume())

    async def _consume(self) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def pump() -> None:  # the trigger runs on, as in the triggerer; events queue up
            async for event in self.trigger.run():
                await queue.put(event.payload)

        pumping = asyncio.create_task(pump())
        try:
            while not self.stop.is_set():
                try:
                    signal = await asyncio.wait_for(queue.get(), 0.5)
                except TimeoutError:
                    continue
                await asyncio.to_thread(self._handle, signal)
        finally:
            pumping.cancel()

    def _handle(self, signal: dict) -> None:
        from multicloud.dr import failover

        try:
            incident = failover.open_incident(self.estate, signal, self.home, "bench")
            if incident is None:
                return
            failover.page(self.estate, incident, self.home)
            failover.promote_write_target(self.estate, incident, self.home)
            failover.scale_pilot_light(self.estate, incident, self.home)
            while not failover.primary_stable(self.estate, incident, self.home):
                if self.stop.wait(0.5):
                    return
            failover.fail_back(self.estate, incident, self.home)
            self.handled.append(failover.incidents(self.home)[incident["id"]])
        except Exception as exc:  # reported, never hidden
            self.errors.append(f"{type(exc).__name__}: {exc}")


class Writer:
    """Appends a record every 0.2 s to the pair's write target (one retry); remembers what was acknowledged."""

    def __init__(self, pair, home: Path) -> None:
        self.pair, self.home = pair, home
        self.acked: list[str] = []
        self.failed = 0
        self.stop = threading.Event()

    def _write(self, seq: int) -> bool:
        from multicloud.dr.write_targets import write_target

        region_root = self.home / "storage" / write_target(self.pair, "customer-events", self.home)
        if not region_root.is_dir():  # the region's storage is down: never create it behind its back
            return False
        folder = region_root / "dr-soak"
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{seq}.tmp"
        tmp.write_text(json.dumps({"seq": seq, "at": time.time()}))
        os.replace(tmp, folder / f"{seq}.json")
        return True

    def run(self) -> None:
        seq = 0
        while not self.stop.wait(0.2):
            seq += 1
            try:
                ok = self._write(seq)
            except OSError:
                ok = False
            if not ok:
                time.sleep(0.2)
                try:
                    ok = self._write(seq)
                except OSError:
                    ok = False
            if ok:
                self.acked.append(f"{seq}.json")
            else:
                self.failed += 1

    def lost(self) -> list[str]:
        present = {p.name for p in (self.home / "storage").glob("*/dr-soak/*.json")}
        present |= {p.name for p in (self.home / "storage").glob("*.written-during-outage-*/dr-soak/*.json")}
        return [name for name in self.acked if name not in present]


def soak(minutes: float, fault_every_s: float, outage_s: float, first_fault_s: float | None = None) -> dict:  # noqa: PLR0915  the soak is one script: set up, loop faults, tear down
    from multicloud.dr import failover, faults
    from multicloud.dr.ledger import FaultLedger
    from multicloud.dr.probe import read_samples, start_probe, stop_probe
    from multicloud.dr.scoring import availability, downtime_s, error_budget_s, first_try_availability
    from multicloud.estate import load_estate

    first_fault_s = min(10.0, fault_every_s / 3) if first_fault_s is None else first_fault_s
    home, estate_file = _home()
    estate = load_estate(estate_file, home=home)
    pair = estate.dr_pair("eu-churn")
    probe_file = home / "soak-probe.jsonl"
    probe_pid = None
    loop, writer = DrFailoverLoop(estate, home), Writer(pair, home)
    threads = [threading.Thread(target=loop.run, daemon=True), threading.Thread(target=writer.run, daemon=True)]
    try:
        _serve(estate, home)
        armed = failover.arm(estate, pair, home)
        card = json.loads((home / "storage/oci-fra/models/churn-eu/v1/card.json").read_text())
        probe_pid = start_probe(armed["root"], probe_file, {}, 0.1, {"oke-fra": "oci-fra", "gke-euw4": "gcp-euw4"},
                                smoke_cases=card["smoke_cases"])
        for thread in threads:
            thread.start()
        ledger = FaultLedger(pair.id, home)
        started = time.monotonic()
        end = started + minutes * 60
        fault_no = 0
        while time.monotonic() < end:
            next_fault = started + fault_no * fault_every_s + first_fault_s
            if time.monotonic() < next_fault:
                time.sleep(min(0.5, max(0.0, next_fault - time.monotonic())))
                continue
            if next_fault + outage_s > end:
                break
            fault_no += 1
            faults.stop_servers(estate, ledger, "oke-fra", ["churn-eu"], run_id=f"soak-{fault_no}")
            faults.take_storage_offline(estate, ledger, pair.primary, run_id=f"soak-{fault_no}")
            print(f"{time.monotonic() - started:7.1f}s fault {fault_no}: region outage at {pair.primary}", flush=True)
            time.sleep(outage_s)
            faults.undo_storage_offline(ledger.find_open("storage_offline", pair.primary)["undo"])
            faults.undo_servers_stopped(estate, ledger.find_open("servers_stopped", "oke-fra")["undo"])
            for kind in ("storage_offline", "servers_stopped"):
                entry = ledger.find_open(kind, pair.primary if kind == "storage_offline" else "oke-fra")
                ledger.mark(entry["id"], "undone")
            print(f"{time.monotonic() - started:7.1f}s fault {fault_no}: primary repaired", flush=True)
        deadline = time.monotonic() + 60
        while len(loop.handled) < fault_no and time.monotonic() < deadline and not loop.errors:
            time.sleep(0.5)  # the last fail back
        time.sleep(1.0)
    finally:
        loop.stop.set()
        writer.stop.set()
        for thread in threads:
            thread.join(10)
        if probe_pid:
            stop_probe(probe_pid, probe_file)
    samples = read_samples(probe_file)
    result = {
        "minutes": minutes, "faults": fault_no, "failovers_handled": len(loop.handled), "errors": loop.errors,
        "requests": len(samples), "availability": availability(samples),
        "availability_first_try": first_try_availability(samples), "downtime_s": downtime_s(samples),
        "monthly_budget_s": error_budget_s(pair.slo_availability), "writes": len(writer.acked),
        "writes_failed": writer.failed, "lost_writes": len(writer.lost()),
    }
    _teardown(home)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="MTTR rounds (each: automated + orchestrated)")
    parser.add_argument("--minutes", type=float, default=20.0, help="soak length (0: no soak)")
    parser.add_argument("--fault-every", type=float, default=300.0, help="seconds between region faults")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds each region fault lasts")
    parser.add_argument("--first-fault", type=float, default=None,
                        help="seconds before the first fault (default: a third of --fault-every, at most 10)")
    parser.add_argument("--quick", action="store_true",
                        help="one MTTR round and a 12-second soak with one 4-second region fault (the smoke test)")
    args = parser.parse_args()
    if args.quick:  # the same checks on a shorter clock: one fault, failed over and back, no write lost
        args.rounds, args.minutes, args.fault_every, args.outage, args.first_fault = 1, 0.2, 60.0, 4.0, 2.0
    results = mttr(args.rounds)
    if args.minutes > 0:
        result = soak(args.minutes, args.fault_every, args.outage, args.first_fault)
        print(f"soak {result['minutes']:g} min, {result['faults']} region faults, {result['failovers_handled']} "
              f"failed over and back by dr_failover's steps: {result['requests']} requests, availability "
              f"{result['availability']:.4%} with one retry (first try {result['availability_first_try']:.4%}, goal "
              f">= 99.9%), downtime {result['downtime_s']:.1f}s of a {result['monthly_budget_s'] / 60:.1f}-minute "
              f"monthly budget; {result['writes']} writes acknowledged, {result['writes_failed']} failed after a "
              f"retry, {result['lost_writes']} lost (goal 0); errors {result['errors'] or 'none'}")
        if result["failovers_handled"] != result["faults"] or result["errors"] or result["lost_writes"]:
            print(f"soak FAILED: {result}", flush=True)
            return 1
    auto, orch = (sum(v) / len(v) for v in (results["automated"], results["orchestrated"]))
    print(f"RTO automated mean {auto:.3f}s (max {max(results['automated']):.3f}s, goal <= 10 s) vs orchestrated "
          f"mean {orch:.3f}s over {args.rounds} round(s)")
    print(f"MTTR ratio automated/orchestrated: {auto / orch:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
