"""EstateAlertNotifier: a callback renders its templated kind, message and details with the task
context and records the alert once per run where it was told to; an unknown kind fails at DAG parse."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from multicloud.alerts import read_alerts
from multicloud.notifier import EstateAlertNotifier


def _context(run_id: str = "manual__1", task_id: str = "verify") -> dict:
    ti = SimpleNamespace(dag_id="dr_rehearsal", run_id=run_id, task_id=task_id)
    return {"ti": ti, "run_id": run_id, "params": {"pair": "churn-eu"}}


def test_details_are_rendered_and_the_alert_carries_its_origin(estate_home):
    notifier = EstateAlertNotifier("rehearsal_failed", "rehearsal of {{ params.pair }} failed",
                                   {"pair": "{{ params.pair }}", "task": "{{ ti.task_id }}"})
    notifier(_context())
    (stored,) = read_alerts(estate_home)
    assert stored["message"] == "rehearsal of churn-eu failed"
    assert stored["details"] == {"pair": "churn-eu", "task": "verify"}
    assert (stored["dag_id"], stored["run_id"], stored["task_id"]) == ("dr_rehearsal", "manual__1", "verify")
    assert notifier.recorded == stored


def test_a_retried_callback_records_once_per_run(estate_home):
    for _ in range(3):
        EstateAlertNotifier("task_failed", "{{ ti.task_id }} failed")(_context())
    EstateAlertNotifier("task_failed", "{{ ti.task_id }} failed")(_context("manual__2"))
    assert [a["run_id"] for a in read_alerts(estate_home)] == ["manual__1", "manual__2"]


def test_an_explicit_home_is_where_the_alert_goes(estate_home, tmp_path):
    other = tmp_path / "other-home"
    EstateAlertNotifier("drift", "runtime differs", home=other)(_context())
    assert [a["kind"] for a in read_alerts(other)] == ["drift"]
    assert read_alerts(estate_home) == []


def test_the_async_path_records_the_same(estate_home):
    notifier = EstateAlertNotifier("failover", "failed over {{ params.pair }}")
    notifier.render_template_fields(_context())
    asyncio.run(notifier.async_notify(_context()))
    assert [a["message"] for a in read_alerts(estate_home)] == ["failed over churn-eu"]


def test_an_unknown_kind_is_refused_when_the_dag_is_parsed(estate_home):
    with pytest.raises(ValueError, match="unknown alert kind"):
        EstateAlertNotifier("task_exploded", "x")
