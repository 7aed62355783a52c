"""The residency audit log: one JSON line per denied or would-deny (dataset, region) decision.

Lives under the estate home (``audit/residency.jsonl``). Each line is written with one
``write`` on a file opened in append mode, under an exclusive lock, so concurrent mapped
tasks never interleave lines.
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


def record_denials(denials: Iterable[Denial], run_id: str, partition: str, home: Path | None = None) -> int:
    """Append one line per denial; ``partition`` stands in for a denial that does not name its own."""
    lines = [
        json.dumps({
            "at": datetime.now(UTC).isoformat(), "run_id": run_id, "partition": d.partition or partition,
            "dataset": d.dataset, "class": d.data_class, "region": d.region, "rule": d.rule,
            "reason": d.reason, "outcome": "denied" if d.blocks else "would-deny",
        }, sort_keys=True)
        for d in denials
    ]
    if not lines:
        return 0
    path = audit_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = ("\n".join(lines) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(lines)


def read_audit(home: Path | None = None) -> list[dict]:
    path = audit_file(home)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
