"""The demo runner's failure detection, on log lines in the exact form Airflow 3.3 writes them.

The lines were captured from `airflow dags test` runs of a throw-away DAG (a failing run exits 1
and logs `DagRun Finished: ... state=failed`; a run whose all_done leaf succeeds is `success`
even though a task failed; an unknown DAG never logs `DagRun Finished`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from multicloud.demo import _failed_task_count, _print_summary, _run_failed

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"

FINISHED = ("2026-11-29T13:46:18.695993Z [info     ] DagRun Finished: dag_id={dag_id}, logical_date=2026-11-29 "
            "13:45:46.192446+00:00, run_id=manual__2026-11-29T13:45:48.294096+00:00, run_duration=32.5, "
            "state={state}, run_type=manual, data_interval_start=2026-11-29 13:45:46+00:00, "
            "[airflow.models.dagrun.DagRun] loc=dagrun.py:1315")
TI_FAILED = ("2026-11-29T13:44:29.832195Z [info     ] Task instance state updated    "
             "[airflow.api_fastapi.execution_api.routes.task_instances] loc=task_instances.py:485 "
             "new_state=failed rows_affected=1 ti_id=01a2278c")
NOT_FOUND = "airflow.sdk.exceptions.AirflowException: Dag 'x' could not be found; either it does not exist or it failed to parse."


@pytest.mark.parametrize(
    ("lines", "dag_id", "failed", "failed_tasks"),
    [
        ([FINISHED.format(dag_id="demo", state="success")], "demo", False, 0),
        ([TI_FAILED, FINISHED.format(dag_id="demo", state="failed"), "DagRun failed"], "demo", True, 1),
        ([TI_FAILED, FINISHED.format(dag_id="demo", state="success")], "demo", False, 1),  # all_done leaf
        ([NOT_FOUND], "demo", True, 0),  # never finished
        (["print('Dag run state=failed')", FINISHED.format(dag_id="demo", state="success")], "demo", False, 0),
        ([FINISHED.format(dag_id="other", state="success")], "demo", True, 0),
    ],
)
def test_run_state_comes_from_the_dagrun_finished_line(tmp_path, lines, dag_id, failed, failed_tasks):
    log = tmp_path / "run.log"
    log.write_text("\n".join(lines) + "\n")
    assert _run_failed(log, dag_id) is failed
    assert _failed_task_count(log) == failed_tasks


def test_a_step_of_several_dates_needs_every_run_to_succeed(tmp_path):
    """One process runs a step's dates in order: each run logs its own DagRun Finished line."""
    log = tmp_path / "runs.log"
    ok, bad = FINISHED.format(dag_id="demo", state="success"), FINISHED.format(dag_id="demo", state="failed")
    log.write_text("\n".join([ok, ok, ok]) + "\n")
    assert _run_failed(log, "demo", runs=3) is False
    log.write_text("\n".join([ok, bad, ok]) + "\n")  # a failed run in the middle is a failure
    assert _run_failed(log, "demo", runs=3) is True
    log.write_text("\n".join([ok, ok]) + "\n")  # a run that never finished (crash) is a failure
    assert _run_failed(log, "demo", runs=3) is True


CHILD = """
import logging, subprocess, sys
from pathlib import Path
from multicloud.demo import _output_to
handler = logging.StreamHandler(sys.stderr)  # as Airflow's: holds the stream object it started with
logging.getLogger("demo").addHandler(handler)
with _output_to(Path(sys.argv[1])):
    print("from python")
    logging.getLogger("demo").warning("from a log handler")
    subprocess.run([sys.executable, "-c", "print('from a subprocess')"], check=True)
print("after the step")
"""


def test_a_step_s_output_goes_to_its_log_file_log_handlers_and_subprocesses_included(tmp_path):
    """The demo's one Airflow process sends each step's output, at the file-descriptor level, to the
    step's log: Airflow's log handlers keep the original stream objects, so swapping sys.stdout
    would not reach them, and neither would it reach a subprocess a task starts."""
    log = tmp_path / "step.log"
    done = subprocess.run([sys.executable, "-c", CHILD, str(log)], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(PLUGINS)})
    assert log.read_text().splitlines() == ["from python", "from a log handler", "from a subprocess"]
    assert done.stdout == "after the step\n"


def test_the_summary_shows_the_set_up_once_and_each_step_and_fails_on_a_failed_step(tmp_path, capsys):
    steps = [("residency_sync", "ok", 23.4), ("model_training", "FAILED", 9.0)]
    assert _print_summary(steps[:1], 9.2, tmp_path, 40.0) == 0
    assert _print_summary(steps, 9.2, tmp_path, 60.0) == 1
    assert _print_summary([], 9.2, tmp_path, 10.0) == 1  # nothing ran: not a success
    shown = capsys.readouterr().out
    assert "Airflow set-up       once          9s" in shown
    assert "residency_sync       ok           23s" in shown
