"""The Airflow side of alerts: a ``BaseNotifier`` for callbacks.

``multicloud.alerts`` records and reads alerts without Airflow; this adapter renders a callback's
templated ``kind``/``message``/``details`` with the task context and hands them to the recorder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow.sdk import BaseNotifier

from multicloud.alerts import check_kind, origin_of, record_alert


class EstateAlertNotifier(BaseNotifier):
    """Record an alert for the estate; ``kind``, ``message`` and ``details`` are Jinja-templated."""

    template_fields = ("kind", "message", "details")

    def __init__(self, kind: str, message: str, details: Mapping[str, Any] | None = None,
                 home: str | Path | None = None) -> None:
        super().__init__()
        self.kind = check_kind(kind)
        self.message = message
        self.details = dict(details or {})
        self.home = Path(home) if home else None
        self.recorded: dict[str, Any] | None = None

    def notify(self, context: Mapping[str, Any]) -> None:
        self.recorded = record_alert(self.kind, self.message, self.details, origin_of(context), self.home)

    async def async_notify(self, context: Mapping[str, Any]) -> None:
        self.notify(context)

