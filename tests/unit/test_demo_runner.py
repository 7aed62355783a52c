"""The demo runner's failure detection, on log lines in the exact form Airflow 3.3 writes them.

The lines were captured from `airflow dags test` runs of a throw-away DAG (a failing run exits 1
and logs `DagRun Finished: ... state=failed`; a run whose all_done leaf succeeds is `success`
even though a task failed; an unknown DAG never logs `DagRun Finished`).
"""

from __future__ import annotations

import pytest

from multicloud.demo import _SETUP_DONE, _failed_task_count, _print_summary, _run_failed, _setup_seconds

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


def test_the_airflow_set_up_is_timed_from_the_process_start_to_its_log_line(tmp_path):
    """The step's process logs when its Airflow set-up ended; a process that never got there
    (a crash while importing) shows no set-up, so the step's own time counts all of it."""
    log = tmp_path / "step.log"
    log.write_text(f"warning: graphviz\n{_SETUP_DONE}1000012.250\n{FINISHED.format(dag_id='demo', state='success')}\n")
    assert _setup_seconds(log, started=1000000.0) == 12.25
    log.write_text("Traceback (most recent call last):\n")
    assert _setup_seconds(log, started=1000000.0) == 0.0


def test_the_summary_shows_each_step_and_its_set_up_and_fails_on_a_failed_step(tmp_path, capsys):
    steps = [("residency_sync", "ok", 23.4, 11.2), ("model_training", "FAILED", 9.0, 10.8)]
    assert _print_summary(steps[:1], tmp_path, 40.0) == 0
    assert _print_summary(steps, tmp_path, 60.0) == 1
    shown = capsys.readouterr().out
    assert "residency_sync       ok           23s   + 11s Airflow set-up" in shown
    assert "Airflow set-up: each step's process imports Airflow" in shown
