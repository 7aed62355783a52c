"""The fault ledger: every change a rehearsal makes is written down *before* it is made.

One JSON file per DR pair under ``{estate_home}/state/dr/ledger-<pair>.json``. An entry holds what
is needed to undo it (``undo``), so an aborted run, a crashed worker or a retried task can always
put the estate back: ``undo_all`` walks the entries newest first and calls the handler of each
kind. Handlers must be idempotent (an entry recorded as ``pending`` may or may not have been
applied). Writes are atomic and serialised with an exclusive file lock.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from multicloud import paths, statefile

log = logging.getLogger(__name__)

PENDING, APPLIED, UNDONE, KEPT, UNDO_FAILED = "pending", "applied", "undone", "kept", "undo_failed"
OPEN_STATES = (PENDING, APPLIED, UNDO_FAILED)

UndoHandler = Callable[[dict[str, Any]], None]


def dr_state_dir(home: Path | None = None) -> Path:
    return paths.state_dir(home) / "dr"


class FaultLedger:
    def __init__(self, pair_id: str, home: Path | None = None) -> None:
        self.pair_id = pair_id
        self.path = paths.home_path(home, "state", "dr", f"ledger-{paths.clean_name(pair_id, 'DR pair id')}.json",
                                    what="fault ledger")

    # ---- reading / writing ---------------------------------------------------------------
    def entries(self) -> list[dict[str, Any]]:
        return statefile.read_json(self.path, {"entries": []})["entries"]

    def open_entries(self) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e["state"] in OPEN_STATES]

    @contextmanager
    def _locked(self) -> Iterator[list[dict[str, Any]]]:
        with statefile.update_json(self.path, lambda: {"pair": self.pair_id, "entries": []}, sort_keys=False) as ledger:
            ledger["pair"] = self.pair_id
            yield ledger["entries"]

    def record(self, kind: str, target: str, undo: dict[str, Any], run_id: str = "") -> str:
        """Write a pending entry and return its id. Call *before* applying the change."""
        entry_id = uuid.uuid4().hex[:12]
        with self._locked() as entries:
            entries.append({"id": entry_id, "kind": kind, "target": target, "undo": undo, "run_id": run_id,
                            "state": PENDING, "recorded_at": time.time(), "applied_at": None})
        return entry_id

    def find_open(self, kind: str, target: str) -> dict[str, Any] | None:
        """An open entry of this kind and target: a retried task reuses it instead of stacking a second."""
        for entry in reversed(self.open_entries()):
            if entry["kind"] == kind and entry["target"] == target:
                return entry
        return None

    def mark(self, entry_id: str, state: str, **extra: Any) -> None:
        with self._locked() as entries:
            for entry in entries:
                if entry["id"] == entry_id:
                    entry["state"] = state
                    entry.update(extra)
                    if state == APPLIED:
                        entry["applied_at"] = time.time()
                    return
        raise KeyError(f"ledger {self.path}: no entry {entry_id}")

    def undo_all(self, handlers: dict[str, UndoHandler], keep_kinds: frozenset[str] = frozenset(),
                 only_kinds: frozenset[str] | None = None) -> list[dict]:
        """Undo every open entry (of ``only_kinds`` if given), newest first; ``keep_kinds`` are marked kept.

        Every entry is tried even if an earlier one fails; failures stay open (``undo_failed``)
        so the next restore retries them. Returns the entries handled, with their outcome.
        """
        outcome = []
        for entry in reversed(self.open_entries()):
            if only_kinds is not None and entry["kind"] not in only_kinds:
                continue
            if entry["kind"] in keep_kinds:
                self.mark(entry["id"], KEPT)
                outcome.append({**entry, "state": KEPT})
                continue
            handler = handlers.get(entry["kind"])
            try:
                if handler is None:
                    raise KeyError(f"no undo handler for ledger kind {entry['kind']!r}")
                handler(entry["undo"])
            except Exception as exc:
                log.exception("undo of %s %s failed", entry["kind"], entry["target"])
                self.mark(entry["id"], UNDO_FAILED, error=f"{type(exc).__name__}: {exc}")
                outcome.append({**entry, "state": UNDO_FAILED, "error": str(exc)})
                continue
            self.mark(entry["id"], UNDONE, undone_at=time.time())
            outcome.append({**entry, "state": UNDONE})
        return outcome
