"""``make demo``: the whole story, end to end, on the embedded local estate.

sync customer data by residency -> train a model inside its jurisdiction -> roll it out where its
data class allows -> rebalance for cost -> rehearse a region failure and fail back -> governance.

Each step runs a real DAG through Airflow's own ``airflow dags test`` command (triggers inline),
once per logical date, and then prints the headline its last task wrote to
``reports/<dag_id>/latest.json``. All steps run in one child process (``python -m multicloud.demo
steps``), so Airflow is imported and set up once: its in-process execution API, whose first request
builds the routes of every API version (several seconds, the same for any DAG; ``dag.test()`` would
otherwise pay it inside the DAG's first task). The set-up is its own line; a step's time runs from
its demo data to the end of its last run. Each step's output (at the file-descriptor level, so
Airflow's log handlers and the tasks' subprocesses included) goes to its own log file, which
decides the step's verdict with the exit code; the child reports progress on a pipe.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
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
    chosen = steps or STEPS
    built = [step for step in chosen if (paths.PROJECT_ROOT / "dags" / f"{step.dag_id}.py").exists()]
    outcomes: list[tuple[str, str, float]] = [(step.dag_id, "skipped", 0.0) for step in chosen if step not in built]
    for step in chosen:
        if step not in built:
            print(f"{step.title} ({step.dag_id}): not built yet, skipped", flush=True)
    setup = _run_steps(built, now, outcomes) if built else 0.0
    if not keep_serving:
        _stop_model_servers(home)
    code = _print_summary(outcomes, setup, home, time.monotonic() - started)
    return _print_evidence(now) or code


def _run_steps(steps: list[Step], now: datetime, outcomes: list[tuple[str, str, float]]) -> float:
    """Run the steps in one child process (``python -m multicloud.demo steps``): Airflow is set up
    once for all of them, then each step's runs go to its own log file. The child reports on a
    pipe (one JSON line per event); a step the child never reports as done (a crash) has failed.
    Returns the seconds of the Airflow set-up."""
    plan = [{"dag_id": step.dag_id, "title": step.title, "conf": step.conf, "prepare": step.prepare,
             "dates": [(now - timedelta(hours=h)).isoformat() for h in step.hours_ago] if step.hours_ago else ["now"]}
            for step in steps]
    log_dir = paths.estate_home() / "demo-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M")
    read_end, write_end = os.pipe()
    command = [sys.executable, "-m", "multicloud.demo", "steps", "--events-fd", str(write_end),
               "--log-dir", str(log_dir), "--stamp", stamp, "--plan", json.dumps(plan)]
    print("Setting Airflow up (once for every step) ...", flush=True)
    setup_log = log_dir / f"airflow-setup-{stamp}.log"
    with setup_log.open("w") as handle:
        child = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, pass_fds=(write_end,),
                                 env=os.environ.copy())
    os.close(write_end)
    setup, index, current = 0.0, 0, None
    with os.fdopen(read_end) as events:
        for line in events:
            event = json.loads(line)
            if event["event"] == "setup_done":
                setup = event["seconds"]
                print(f"    done in {setup:.0f}s (imports Airflow and starts its in-process execution API)", flush=True)
            elif event["event"] == "step_started":
                index += 1
                current = event["dag_id"]
                print(f"[{index}/{len(steps)}] {event['title']} ({current}) ...", flush=True)
            elif event["event"] == "step_done":
                ok = _step_ok(current, Path(event["log"]), event["exit"], runs=event["runs"])
                outcomes.append((current, "ok" if ok else "FAILED", event["seconds"]))
                current = None
    returncode = child.wait()
    if current is not None:  # the child died inside a step
        outcomes.append((current, "FAILED", 0.0))
        print(f"    the demo's Airflow process ended (exit {returncode}) inside {current}", flush=True)
        _show_tail(log_dir / f"{current}-{stamp}.log")
    elif returncode != 0 and not any(state == "FAILED" for _, state, _ in outcomes):
        outcomes.append(("airflow set-up", "FAILED", 0.0))
        print(f"    Airflow set-up failed (exit {returncode})", flush=True)
        _show_tail(setup_log)
    return setup


def _step_ok(dag_id: str, log_file: Path, exit_code: int, runs: int) -> bool:
    """Prints the step's headline and verdict; the verdict comes from its exit code and its log."""
    failed = exit_code != 0 or _run_failed(log_file, dag_id, runs=runs)
    hidden = _failed_task_count(log_file)
    if not failed and hidden:
        print(f"    note: {hidden} task(s) ended failed inside a successful run (a leaf with "
              f"trigger_rule all_done decides the run state); see {log_file}", flush=True)
    if failed:
        print(f"    {dag_id} run failed; last lines of {log_file}:", flush=True)
        _show_tail(log_file)
        return False
    summary = reports.latest_summary(dag_id, paths.estate_home())
    for line in (summary or {}).get("headline", []):
        print(f"    {line}", flush=True)
    return True


def _show_tail(log_file: Path, lines: int = 25) -> None:
    if log_file.exists():
        for line in log_file.read_text(errors="replace").splitlines()[-lines:]:
            print(f"      {line}", flush=True)


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


def start_execution_api() -> None:
    """Airflow's in-process execution API (the one ``dag.test()`` runs its tasks against), started
    and asked once: its first request builds the routes of every API version, several seconds that
    every process pays once, whatever the DAG."""
    import httpx
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    client = httpx.Client(transport=in_process_api_server().transport, base_url="http://in-process.invalid./")
    response = client.get("/health")
    response.raise_for_status()


def run_steps_in_process(plan: list[dict], events_fd: int, log_dir: Path, stamp: str) -> int:
    """The demo's child: sets Airflow up once, then runs each step of ``plan`` (see ``_run_steps``)
    with this process's stdout and stderr sent to the step's own log file, reporting every event
    as a JSON line on ``events_fd``. Stops after the first failed step (exit 1)."""
    from airflow.configuration import write_default_airflow_configuration_if_needed

    started = time.monotonic()
    with os.fdopen(events_fd, "w", buffering=1) as events:
        write_default_airflow_configuration_if_needed()  # as the airflow CLI's main does
        from airflow.cli import cli_parser

        parser = cli_parser.get_parser()
        start_execution_api()
        _report(events, event="setup_done", seconds=round(time.monotonic() - started, 3))
        for step in plan:
            log_file = log_dir / f"{step['dag_id']}-{stamp}.log"
            _report(events, event="step_started", dag_id=step["dag_id"], title=step["title"])
            step_started = time.monotonic()
            with _output_to(log_file):
                code = _run_step(parser, step)
            _report(events, event="step_done", exit=code, log=str(log_file), runs=len(step["dates"]),
                    seconds=round(time.monotonic() - step_started, 3))
            if code != 0:
                return code
    return 0


def _report(events, **event: object) -> None:
    events.write(json.dumps(event) + "\n")


@contextlib.contextmanager
def _output_to(log_file: Path) -> Iterator[None]:
    """This process's file descriptors 1 and 2 go to ``log_file`` (so do Airflow's log handlers,
    which hold the original stream objects, and any subprocess a task starts)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_file.open("w") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _run_step(parser, step: dict) -> int:
    """``airflow dags test DAG_ID DATE [-c CONF]`` for each of the step's dates, through Airflow's
    own CLI command (the same parser, the same ``dag_test``); the DAG is looked up once. Stops at
    the first failed run (exit 1)."""
    try:
        _run_dates(parser, step)
    except SystemExit as exc:
        print(f"airflow dags test {step['dag_id']}: {exc}", flush=True)
        return 1
    except Exception:  # a crash of one step is that step's failure, logged in the step's log
        traceback.print_exc()
        return 1
    return 0


def _run_dates(parser, step: dict) -> None:
    from airflow.cli.commands import dag_command

    if step["prepare"]:
        _load(step["prepare"])(paths.estate_home())
    dag_id, conf = step["dag_id"], json.dumps(step["conf"]) if step["conf"] else None
    dag = None
    for logical_date in step["dates"]:
        argv = ["dags", "test", dag_id, *([] if logical_date == "now" else [logical_date]),
                *(["-c", conf] if conf else [])]
        args = parser.parse_args(argv)
        if dag is None:
            dag = _dag_from_its_file(dag_id) or dag_command.get_bagged_dag(
                bundle_names=args.bundle_name, dag_id=dag_id, dagfile_path=args.dagfile_path)
        dag_command.dag_test(args, dag=dag)


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


def _print_summary(outcomes: list[tuple[str, str, float]], setup: float, home: Path, elapsed: float) -> int:
    print("\n=== Demo summary " + "=" * 50)
    print(f"  {'Airflow set-up':<20} {'once':<8} {setup:6.0f}s   (imports Airflow, starts its in-process execution API)")
    for dag_id, state, seconds in outcomes:
        print(f"  {dag_id:<20} {state:<8} {seconds:6.0f}s")
    print(f"  reports: {paths.reports_dir(home)}")
    governance = paths.reports_dir(home) / "estate_governance" / "report.html"
    if governance.exists():
        print(f"  governance report: {governance}")
    print(f"  total: {elapsed:.0f}s")
    return 0 if outcomes and all(state != "FAILED" for _, state, _ in outcomes) else 1


def main(argv: list[str] | None = None) -> int:
    import argparse

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["steps"]:  # the demo's child process (see _run_steps)
        child = argparse.ArgumentParser(prog="python -m multicloud.demo steps")
        child.add_argument("--events-fd", type=int, required=True)
        child.add_argument("--log-dir", type=Path, required=True)
        child.add_argument("--stamp", required=True)
        child.add_argument("--plan", type=json.loads, required=True)
        sub = child.parse_args(argv[1:])
        return run_steps_in_process(sub.plan, sub.events_fd, sub.log_dir, sub.stamp)
    parser = argparse.ArgumentParser(prog="python -m multicloud.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--keep-serving", action="store_true", help="leave the local model servers running")
    args = parser.parse_args(argv)
    return run(keep_serving=args.keep_serving)


if __name__ == "__main__":
    sys.exit(main())
