"""Event-driven scheduling of ``dr_failover``: a ``BaseEventTrigger`` on the health-signal queue.

Airflow 3 starts a DAG from an external event through an ``AssetWatcher`` on an asset in the
DAG's schedule; the watcher's trigger must be a ``BaseEventTrigger`` (the triggerer runs it
forever, and every ``TriggerEvent`` it yields becomes an asset event whose ``extra`` is
``{"from_trigger": True, "payload": ...}``, and a DAG run).

``HealthSignalTrigger`` tails the JSON-lines queue the health checks append to
(``dr.health.signals_file``; the local gateway writes it, a cloud health-check alarm can too)
and yields one event per failover signal. Where it has read up to is kept beside the queue
(``<queue>.offset``, written atomically), so a triggerer restart neither loses a signal nor
replays old ones; on its very first start (nothing stored) it yields only signals younger than
``max_age_s``. Every ``heartbeat_s`` it writes ``<queue>.watcher`` (``dr.health.watcher_age_s``):
Airflow runs an asset's watchers only for unpaused DAGs, so a fresh heartbeat is what tells a
rehearsal of the automated path that a failover signal will start ``dr_failover``. A repeated signal is harmless anyway: ``dr_failover`` opens each incident once.
(Airflow 3.3's ``asset_state_store`` would be the natural home for the position, but reading it
from the trigger blocked the triggerer's event loop for ~40 s here, so the file it is.)
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from multicloud.dr.health import read_signals, watcher_file
from multicloud.statefile import atomic_write_text


class HealthSignalTrigger(BaseEventTrigger):
    """Fire once per failover signal appended to ``signals_file``.

    :param signals_file: the JSON-lines health-signal queue (absolute path).
    :param poll_interval: seconds between reads of the queue.
    :param kinds: signal kinds that fire (default ``["failover"]``).
    :param max_age_s: on a first start with no stored position, older signals are skipped.
    :param heartbeat_s: seconds between two heartbeats (``<queue>.watcher``).
    """

    def __init__(self, signals_file: str, poll_interval: float = 0.5, kinds: list[str] | None = None,
                 max_age_s: float = 300.0, heartbeat_s: float = 5.0) -> None:
        super().__init__()
        self.signals_file = signals_file
        self.poll_interval = poll_interval
        self.kinds = list(kinds or ["failover"])
        self.max_age_s = max_age_s
        self.heartbeat_s = heartbeat_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("multicloud.triggers.dr_health.HealthSignalTrigger",
                {"signals_file": self.signals_file, "poll_interval": self.poll_interval, "kinds": self.kinds,
                 "max_age_s": self.max_age_s, "heartbeat_s": self.heartbeat_s})

    def _beat(self) -> None:
        path = watcher_file(Path(self.signals_file))
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"at": time.time(), "pid": os.getpid()}))

    @property
    def _offset_file(self) -> Path:
        return Path(f"{self.signals_file}.offset")

    def _stored_offset(self) -> int | None:
        try:
            return int(self._offset_file.read_text())
        except (OSError, ValueError):
            return None

    def _store_offset(self, offset: int) -> None:
        atomic_write_text(self._offset_file, str(offset))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        path = Path(self.signals_file)
        offset = await asyncio.to_thread(self._stored_offset)
        first_start = offset is None
        offset = offset or 0
        self.log.info("watching %s from byte %d for %s signals", path, offset, self.kinds)
        beat_due = 0.0
        while True:
            if time.monotonic() >= beat_due:
                await asyncio.to_thread(self._beat)
                beat_due = time.monotonic() + self.heartbeat_s
            if offset and path.exists() and path.stat().st_size < offset:
                offset = 0  # the queue was truncated or replaced: start over
            signals, new_offset = await asyncio.to_thread(read_signals, path, offset)
            for signal in signals:
                if signal.get("kind") in self.kinds and not (
                        first_start and time.time() - float(signal.get("at") or 0) > self.max_age_s):
                    self.log.info("health signal %s: %s -> %s", signal.get("incident"), signal.get("from"),
                                  signal.get("to"))
                    yield TriggerEvent({k: v for k, v in signal.items() if k != "_end"})
                # Stored once the triggerer took the event (at least once: a crash in between repeats
                # the signal, which dr_failover ignores), never before it (a lost signal).
                await asyncio.to_thread(self._store_offset, signal["_end"])
            offset = new_offset
            first_start = False
            await asyncio.sleep(self.poll_interval)
