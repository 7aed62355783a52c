"""Alerts: a residency violation, a failed rehearsal or a rollback calls a notifier.

``EstateAlertNotifier`` is an Airflow ``BaseNotifier``: use it as a callback
(``on_failure_callback=EstateAlertNotifier("task_failed", "{{ ti.task_id }} failed")``) or call
``alert(kind, message, details)`` from inside any task. The local estate records each alert as one
JSON line in ``{estate_home}/alerts/alerts.jsonl`` (read by the governance report and the Estate
view) and counts it as the metric ``alerts.raised``. A retried task raising the same alert for
the same run is recorded once (the alert id hashes kind, dag, run, task and message).

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

from airflow.sdk import BaseNotifier

from multicloud import paths

KINDS = ("residency_violation", "residency_unverified", "rehearsal_failed", "rollback", "task_failed", "drift",
         "cost_divergence", "failover", "fail_back")
log = logging.getLogger(__name__)
_lock = threading.Lock()


def alerts_file(home: Path | None = None) -> Path:
    return (home or paths.estate_home()) / "alerts" / "alerts.jsonl"


class EstateAlertNotifier(BaseNotifier):
    """Record an alert for the estate; ``kind`` and ``message`` are Jinja-templated."""

    template_fields = ("kind", "message", "details")

    def __init__(self, kind: str, message: str, details: Mapping[str, Any] | None = None,
                 home: str | Path | None = None) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown alert kind {kind!r}; expected one of {KINDS}")
        self.kind = kind
        self.message = message
        self.details = dict(details or {})
        self.home = Path(home) if home else None
        self.recorded: dict[str, Any] | None = None

    def notify(self, context: Mapping[str, Any]) -> None:
        self.recorded = record_alert(self.kind, self.message, self.details, _origin(context), self.home)

    async def async_notify(self, context: Mapping[str, Any]) -> None:
        self.notify(context)


def alert(kind: str, message: str, details: Mapping[str, Any] | None = None, *,
          context: Mapping[str, Any] | None = None, home: Path | None = None) -> dict[str, Any]:
    """Raise an alert from inside a task (the current task's context is found automatically)."""
    if context is None:
        try:
            from airflow.sdk import get_current_context

            context = get_current_context()
        except Exception:  # outside a running task (CLI, tests): no origin to record
            context = {}
    notifier = EstateAlertNotifier(kind, message, details, home)
    notifier(dict(context))
    assert notifier.recorded is not None
    return notifier.recorded


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
    path = alerts_file(home)
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return [a for a in found if kind is None or a.get("kind") == kind]


def _origin(context: Mapping[str, Any]) -> dict[str, str | None]:
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None),
        "run_id": getattr(ti, "run_id", None) or context.get("run_id"),
        "task_id": getattr(ti, "task_id", None),
    }
