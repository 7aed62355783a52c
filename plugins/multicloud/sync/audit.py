"""The residency audit log: one JSON line per denied or would-deny (dataset, region) decision.

Lives under the estate home (``audit/residency.jsonl``). Each line is written with one
``write`` on a file opened in append mode, under an exclusive lock, so concurrent mapped
tasks never interleave lines. A decision already recorded for the same (partition, dataset,
region, class, rule, outcome) is not appended again: a retry or a reprocessing backfill of an
interval leaves the log (and the governance totals built from it) unchanged.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from multicloud import paths
from multicloud.sync.planner import Denial


def audit_file(home: Path | None = None) -> Path:
    return (home or paths.estate_home()) / "audit" / "residency.jsonl"


def _key(line: dict) -> tuple:
    return tuple(line.get(k) for k in ("partition", "dataset", "region", "class", "rule", "outcome"))


def record_denials(denials: Iterable[Denial], run_id: str, partition: str, home: Path | None = None) -> int:
    """Append one line per new denial; ``partition`` stands in for a denial that does not name its own.

    Returns the number of lines appended (decisions already in the log are skipped)."""
    entries = [
        {
            "at": datetime.now(UTC).isoformat(), "run_id": run_id, "partition": d.partition or partition,
            "dataset": d.dataset, "class": d.data_class, "region": d.region, "rule": d.rule,
            "reason": d.reason, "outcome": "denied" if d.blocks else "would-deny",
        }
        for d in denials
    ]
    if not entries:
        return 0
    path = audit_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        seen = {_key(line) for line in _parse(path.read_text())}
        fresh = []
        for entry in entries:
            if _key(entry) not in seen:
                seen.add(_key(entry))
                fresh.append(json.dumps(entry, sort_keys=True))
        if fresh:
            os.write(fd, ("\n".join(fresh) + "\n").encode())
            os.fsync(fd)
    finally:
        os.close(fd)
    return len(fresh)


def _parse(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def log_decisions(estate, plan, run_id: str, home: Path | None = None) -> int:
    """Every residency decision of the plan (allowed items and denials) as structured log entries."""
    from multicloud.metrics import logs

    entries = [{"run_id": run_id, "dataset": i.dataset, "region": i.region, "partition": i.partition,
                "decision": "quarantine" if i.kind == "quarantine" else "allow", "kind_of_move": i.kind,
                "jurisdictions": list(i.jurisdictions), "would_deny": list(i.would_deny), "engine": i.engine}
               for i in plan.items]
    entries += [{"run_id": run_id, "dataset": d.dataset, "region": d.region, "partition": d.partition,
                 "decision": "deny" if d.blocks else "would-deny", "class": d.data_class, "rule": d.rule,
                 "reason": d.reason} for d in plan.denials]
    logs.record_many("residency_decision", entries, estate=estate, home=home)
    return len(entries)


def read_audit(home: Path | None = None) -> list[dict]:
    path = audit_file(home)
    if not path.exists():
        return []
    return _parse(path.read_text())
