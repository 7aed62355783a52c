"""Alerts: the notifier records to the estate's JSON-lines file, once per run, and counts a metric."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from multicloud import metrics
from multicloud.alerts import alert, alerts_file, read_alerts
from multicloud.notifier import EstateAlertNotifier


def _context(run_id: str = "manual__1") -> dict:
    ti = SimpleNamespace(dag_id="dr_rehearsal", run_id=run_id, task_id="verify")
    return {"ti": ti, "run_id": run_id}


def test_alert_records_origin_and_counts(estate_home):
    record = alert("rehearsal_failed", "RTO 45s over target 30s", {"pair": "eu-churn"}, context=_context())
    [stored] = read_alerts()
    assert stored == record
    assert (stored["kind"], stored["dag_id"], stored["run_id"], stored["task_id"]) == (
        "rehearsal_failed", "dr_rehearsal", "manual__1", "verify")
    assert stored["details"] == {"pair": "eu-churn"}
    assert [p.dimensions for p in metrics.read_points(name="alerts.raised")] == [{"kind": "rehearsal_failed"}]


def test_retried_task_records_the_alert_once(estate_home):
    for _ in range(3):
        alert("rollback", "churn-eu rolled back on oke-fra", context=_context())
    alert("rollback", "churn-eu rolled back on oke-fra", context=_context("manual__2"))
    assert [a["run_id"] for a in read_alerts(kind="rollback")] == ["manual__1", "manual__2"]


def test_notifier_as_callback_renders_templates(estate_home):
    notifier = EstateAlertNotifier("task_failed", "{{ ti.task_id }} failed in {{ run_id }}")
    notifier(_context("scheduled__2026"))
    [stored] = read_alerts()
    assert stored["message"] == "verify failed in scheduled__2026"
    assert json.loads(alerts_file().read_text().splitlines()[0])["kind"] == "task_failed"


def test_unknown_kind_is_refused(estate_home):
    with pytest.raises(ValueError, match="unknown alert kind 'oops'"):
        EstateAlertNotifier("oops", "x")
    with pytest.raises(ValueError, match="unknown alert kind 'oops'"):
        alert("oops", "x")
    assert read_alerts() == []


def test_alert_outside_a_task_has_no_origin(estate_home):
    record = alert("drift", "runtime differs on aks-weu")
    assert record["dag_id"] is None
    assert record["kind"] == "drift"


def test_an_alert_that_cannot_be_recorded_is_never_silently_lost(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(NotADirectoryError):
        alert("rollback", "x", context=_context(), home=blocker)
    with pytest.raises(NotADirectoryError):  # BaseNotifier logs the error and re-raises it
        EstateAlertNotifier("rollback", "x", home=blocker)(_context())
