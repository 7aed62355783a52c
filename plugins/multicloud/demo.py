"""``make demo``: the whole story, end to end, on the embedded local estate.

sync customer data by residency -> train a model inside its jurisdiction -> roll it out where its
data class allows -> rebalance for cost -> rehearse a region failure and fail back -> governance.

Each step runs a real DAG with ``airflow dags test`` (one process, triggers inline) and then
prints the headline its last task wrote to ``reports/<dag_id>/latest.json``. A step with several
logical dates runs them one after the other in one process (``python -m multicloud.demo dags-test``:
Airflow's own ``dags test`` command, called once per date), so Airflow starts and parses once per
step instead of once per date.

Each step's process first sets Airflow up: it imports Airflow and starts Airflow's in-process
execution API, whose first request builds the routes of every API version (several seconds, the
same for any DAG; ``dag.test()`` would otherwise pay it inside the DAG's first task). The demo
prints that set-up as its own figure beside each step's time: the step's time is what the DAG's
runs took (its demo data, looking up its DAG file, every run, Airflow's re-sync of the DAG folder
that each ``dags test`` does), from the end of the set-up to the end of the last run.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from multicloud import paths, reports


@dataclass(frozen=True)
class Step:
    title: str
    dag_id: str
    conf: dict = field(default_factory=dict)
    # Logical dates to run, as offsets in hours before the current hour (None: one run, now).
    hours_ago: tuple[int, ...] | None = None
    # "module:function" called with (estate_home: Path) before the DAG runs (demo data etc.).
    prepare: str | None = None


def _hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


STEPS: list[Step] = [
    # residency_sync
    Step("Sync customer data by residency", "residency_sync", hours_ago=(3, 2, 1),
         prepare="multicloud.sync.demo_data:prepare_demo"),
    # model_training + model_rollout
    Step("Train the churn models inside their jurisdictions", "model_training"),
    Step("Roll the models out where their data may be served", "model_rollout"),
    # cost_rebalance
    Step("Rebalance workloads for cost", "cost_rebalance"),
    # dr_rehearsal
    # `dags test` runs no triggerer, so dr_failover's AssetWatcher cannot start it: the demo's
    # rehearsal observes the health-checked steering alone (`make airflow` runs the whole path).
    Step("Rehearse a region outage, fail over and fail back", "dr_rehearsal", conf={"dr_failover_wait_s": 0}),
    # estate_governance
    Step("One governance report over the estate", "estate_governance"),
]


def run(steps: list[Step] | None = None, keep_serving: bool = False) -> int:
    home = paths.estate_home()
    started = time.monotonic()
    now = _hour_floor(datetime.now(UTC))
    print(f"Estate: {paths.estate_file()}  home: {home}", flush=True)
    outcomes: list[tuple[str, str, float, float]] = []
    chosen = steps or STEPS
    for index, step in enumerate(chosen, 1):
        label = f"[{index}/{len(chosen)}] {step.title} ({step.dag_id})"
        if not (paths.PROJECT_ROOT / "dags" / f"{step.dag_id}.py").exists():
            print(f"{label}: not built yet, skipped", flush=True)
            outcomes.append((step.dag_id, "skipped", 0.0, 0.0))
            continue
        print(f"{label} ...", flush=True)
        t0 = time.monotonic()
        if step.prepare:
            _load(step.prepare)(home)
        dates = [now - timedelta(hours=h) for h in step.hours_ago] if step.hours_ago else [None]
        ok, setup = _dags_test(step.dag_id, dates, step.conf)
        elapsed = time.monotonic() - t0 - setup
        outcomes.append((step.dag_id, "ok" if ok else "FAILED", elapsed, setup))
        summary = reports.latest_summary(step.dag_id, home)
        for line in (summary or {}).get("headline", []):
            print(f"    {line}", flush=True)
        print(f"    {'done' if ok else 'FAILED'} in {elapsed:.0f}s (+{setup:.0f}s Airflow set-up)", flush=True)
        if not ok:
            break
    if not keep_serving:
        _stop_model_servers(home)
    code = _print_summary(outcomes, home, time.monotonic() - started)
    return _print_evidence(now) or code


def _print_evidence(now: datetime) -> int:
    """The compliance evidence of the demo's day, its path as the demo's last line."""
    from multicloud.estate import load_estate
    from multicloud.governance.evidence import export_evidence

    try:
        doc = export_evidence(load_estate(), now - timedelta(days=1), now + timedelta(hours=1))
    except Exception as exc:
        print(f"  evidence export FAILED: {type(exc).__name__}: {exc}")
        return 1
    s = doc["summary"]
    print(f"  evidence: {s['allowed']} allowed, {s['denied']} denied, {s['would_deny']} would-deny; "
          f"at rest {s['at_rest_status']}")
    print(f"Evidence: {doc['html_path']}")
    return 0


def _stop_model_servers(home: Path) -> None:
    """The demo's clusters are local processes: stop them so nothing outlives `make demo`."""
    from multicloud.drivers.local import stop_all_servers

    stopped = stop_all_servers(home)
    if stopped:
        print(f"Stopped {stopped} local model-server process(es) (make demo DEMO_ARGS=--keep-serving keeps them)")


def _dags_test(dag_id: str, logical_dates: list[datetime | None], conf: dict) -> tuple[bool, float]:
    """Run the DAG once per logical date, in order, in one ``airflow dags test`` process; stops at a
    failed run. Every run's state is checked in the log (see ``_run_failed``). Returns (ok, seconds
    of the process's Airflow set-up: see ``_setup_seconds``)."""
    command = [sys.executable, "-m", "multicloud.demo", "dags-test", dag_id]
    for logical_date in logical_dates:
        command += ["--date", logical_date.isoformat() if logical_date else "now"]
    if conf:
        command += ["--conf", json.dumps(conf)]
    log_dir = paths.estate_home() / "demo-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = (logical_dates[0] or datetime.now(UTC)).strftime("%Y%m%dT%H%M")
    log_file = log_dir / f"{dag_id}-{stamp}.log"
    started = time.time()
    with log_file.open("w") as handle:
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=os.environ.copy(), check=False)
    setup = _setup_seconds(log_file, started)
    failed = result.returncode != 0 or _run_failed(log_file, dag_id, runs=len(logical_dates))
    hidden = _failed_task_count(log_file)
    if not failed and hidden:
        print(f"    note: {hidden} task(s) ended failed inside a successful run (a leaf with "
              f"trigger_rule all_done decides the run state); see {log_file}", flush=True)
    if failed:
        print(f"    {dag_id} run failed; last lines of {log_file}:", flush=True)
        for line in log_file.read_text(errors="replace").splitlines()[-25:]:
            print(f"      {line}", flush=True)
    return not failed, setup


_SETUP_DONE = "multicloud-demo: Airflow set-up done at "
_SETUP_RE = re.compile(re.escape(_SETUP_DONE) + r"(?P<at>\d+(?:\.\d+)?)")


def _setup_seconds(log_file: Path, started: float) -> float:
    """Seconds from the step's process start to the end of its Airflow set-up (the line
    ``dags_test_in_process`` logs); 0 when it never got there (the step then counts it all)."""
    found = _SETUP_RE.search(log_file.read_text(errors="replace"))
    return max(0.0, float(found["at"]) - started) if found else 0.0


def start_execution_api() -> None:
    """Airflow's in-process execution API (the one ``dag.test()`` runs its tasks against), started
    and asked once: its first request builds the routes of every API version, several seconds that
    every process pays once, whatever the DAG."""
    import httpx
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    client = httpx.Client(transport=in_process_api_server().transport, base_url="http://in-process.invalid./")
    response = client.get("/health")
    response.raise_for_status()


def dags_test_in_process(dag_id: str, logical_dates: list[str], conf: str | None) -> int:
    """``airflow dags test DAG_ID DATE [-c CONF]`` for each date, in this process, through Airflow's
    own CLI command (the same parser, the same ``dag_test``); the DAG is looked up once. Stops at
    the first failed run (exit 1)."""
    from airflow.cli import cli_parser
    from airflow.cli.commands import dag_command
    from airflow.configuration import write_default_airflow_configuration_if_needed

    write_default_airflow_configuration_if_needed()  # as the airflow CLI's main does
    parser = cli_parser.get_parser()
    start_execution_api()
    print(f"{_SETUP_DONE}{time.time():.3f} (process CPU {time.process_time():.1f}s)", flush=True)
    dag = None
    for logical_date in logical_dates:
        argv = ["dags", "test", dag_id, *([] if logical_date == "now" else [logical_date]),
                *(["-c", conf] if conf else [])]
        args = parser.parse_args(argv)
        if dag is None:
            dag = _dag_from_its_file(dag_id) or dag_command.get_bagged_dag(
                bundle_names=args.bundle_name, dag_id=dag_id, dagfile_path=args.dagfile_path)
        try:
            dag_command.dag_test(args, dag=dag)
        except SystemExit as exc:
            print(f"airflow dags test {dag_id} {logical_date}: {exc}", flush=True)
            return 1
    return 0


def _dag_from_its_file(dag_id: str):
    """The DAG parsed from ``dags/<dag_id>.py`` alone, as its bundle would (None: not there).

    ``get_bagged_dag`` parses every DAG file and writes every DAG to the metadata DB; ``dag.test()``
    does both again on every call (so that sibling DAGs are current), so the first pass only
    repeated the work."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        dag_file = Path(bundle.path) / f"{dag_id}.py"
        if dag_file.is_file():
            bag = BundleDagBag(dag_folder=dag_file, bundle_path=bundle.path, bundle_name=bundle.name)
            if dag_id in bag.dags:
                return bag.dags[dag_id]
    return None


_RUN_FINISHED_RE = re.compile(r"DagRun Finished: dag_id=(?P<dag_id>[^,\s]+),.*?\bstate=(?P<state>\w+)")


def _run_failed(log_file: Path, dag_id: str, runs: int = 1) -> bool:
    """The runs' final states from the log: anything but ``runs`` successes (a missing final line
    included) is a failure.

    Checked against Airflow 3.3 with a throw-away DAG: `airflow dags test` exits 1 and prints
    "DagRun failed" when the run fails, and logs "DagRun Finished: dag_id=..., state=..." for
    every finished run; a crash or an unparseable DAG leaves no such line. Belt and braces with
    the exit code, so a future CLI that exits 0 on a failed run is still caught.
    """
    states = [m["state"] for m in _RUN_FINISHED_RE.finditer(log_file.read_text(errors="replace"))
              if m["dag_id"] == dag_id]
    return len(states) < runs or any(state != "success" for state in states)


def _failed_task_count(log_file: Path) -> int:
    """Task instances that ended failed (the run may still succeed when its leaf is all_done)."""
    text = log_file.read_text(errors="replace")
    return sum(1 for line in text.splitlines() if "Task instance state updated" in line and "new_state=failed" in line)


def _load(target: str) -> Callable[[Path], object]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _print_summary(outcomes: list[tuple[str, str, float, float]], home: Path, elapsed: float) -> int:
    print("\n=== Demo summary " + "=" * 50)
    for dag_id, state, seconds, setup in outcomes:
        print(f"  {dag_id:<20} {state:<8} {seconds:6.0f}s   +{setup:3.0f}s Airflow set-up")
    print("  (Airflow set-up: each step's process imports Airflow and starts its in-process execution API)")
    print(f"  reports: {paths.reports_dir(home)}")
    governance = paths.reports_dir(home) / "estate_governance" / "report.html"
    if governance.exists():
        print(f"  governance report: {governance}")
    print(f"  total: {elapsed:.0f}s")
    return 0 if all(state != "FAILED" for _, state, *_ in outcomes) else 1


def main(argv: list[str] | None = None) -> int:
    import argparse

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dags-test"]:  # the demo's child process for one step (see _dags_test)
        child = argparse.ArgumentParser(prog="python -m multicloud.demo dags-test")
        child.add_argument("dag_id")
        child.add_argument("--date", action="append", default=[], help="ISO logical date, or 'now'")
        child.add_argument("--conf", default=None)
        sub = child.parse_args(argv[1:])
        return dags_test_in_process(sub.dag_id, sub.date or ["now"], sub.conf)
    parser = argparse.ArgumentParser(prog="python -m multicloud.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--keep-serving", action="store_true", help="leave the local model servers running")
    args = parser.parse_args(argv)
    return run(keep_serving=args.keep_serving)


if __name__ == "__main__":
    sys.exit(main())
