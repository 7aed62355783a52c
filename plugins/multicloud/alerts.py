"""Alerts: a residency violation, a failed rehearsal or a rollback is recorded for people.

This module is the recorder, without Airflow: call ``alert(kind, message, details)`` from inside
any task (the origin, the running task, comes from ``dagkit.running_task_context``: the one way
to the context). ``multicloud.notifier.EstateAlertNotifier`` is the Airflow ``BaseNotifier``
adapter for callbacks (``on_failure_callback=EstateAlertNotifier("task_failed", "{{ ti.task_id }}
failed")``). The local estate records each alert as one JSON line in
``{estate_home}/alerts/alerts.jsonl`` (read by the governance report and the Estate view) and
counts it as the metric ``alerts.raised``. A retried task raising the same alert for the same
run is recorded once (the alert id hashes kind, dag, run, task and message).

Kinds: ``residency_violation``, ``rehearsal_failed``, ``rollback``, ``task_failed``, ``drift``,
``cost_divergence`` (the cost model disagrees with the bill), ``failover`` (a DR pair failed over by
itself: page people), ``fail_back``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multicloud import paths
from multicloud.statefile import read_json_lines

KINDS = ("residency_violation", "residency_unverified", "rehearsal_failed", "rollback", "task_failed", "drift",
         "cost_divergence", "failover", "fail_back")
log = logging.getLogger(__name__)
_lock = threading.Lock()


def alerts_file(home: Path | None = None) -> Path:
    return (home or paths.estate_home()) / "alerts" / "alerts.jsonl"


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}; expected one of {KINDS}")
    return kind


def alert(kind: str, message: str, details: Mapping[str, Any] | None = None, *,
          context: Mapping[str, Any] | None = None, run_id: str | None = None,
          home: Path | None = None) -> dict[str, Any]:
    """Record an alert from inside a task: its origin is ``context``'s, else the running task's (if
    any); ``run_id`` names the run where the context has none (a step called outside a task)."""
    check_kind(kind)
    if context is None:
        from multicloud.dagkit import running_task_context

        context = running_task_context()
    origin = origin_of(context)
    origin["run_id"] = origin["run_id"] or run_id
    return record_alert(kind, message, dict(details or {}), origin, home)


def record_alert(kind: str, message: str, details: Mapping[str, Any], origin: Mapping[str, str | None],
                 home: Path | None = None) -> dict[str, Any]:
    identity = json.dumps([kind, origin.get("dag_id"), origin.get("run_id"), origin.get("task_id"), message])
    alert_id = hashlib.sha256(identity.encode()).hexdigest()[:16]
    record = {"id": alert_id, "kind": kind, "message": message, "details": dict(details),
              "raised_at": datetime.now(UTC).isoformat(), **origin}
    path = alerts_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        if any(a["id"] == alert_id for a in read_alerts(home)):
            return record
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True, default=str) + "\n")
    log.warning("ALERT %s: %s", kind, message)
    from multicloud.metrics import emit

    emit("alerts.raised", 1, dimensions={"kind": kind}, home=home)
    return record


def read_alerts(home: Path | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    return [a for a in read_json_lines(alerts_file(home)) if kind is None or a.get("kind") == kind]


def origin_of(context: Mapping[str, Any]) -> dict[str, str | None]:
    """Which DAG, run and task raised the alert (read from a task context; None where it has none)."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None),
        "run_id": getattr(ti, "run_id", None) or context.get("run_id"),
        "task_id": getattr(ti, "task_id", None),
    }
