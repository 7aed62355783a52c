"""The residency audit log: one JSON line per denied or would-deny (dataset, region) decision.

Lives under the estate home (``audit/residency.jsonl``). Each line is written with one
``write`` on a file opened in append mode, under an exclusive lock, so concurrent mapped
tasks never interleave lines. A decision already recorded for the same (partition, dataset,
region, class, rule, outcome) is not appended again: a retry or a reprocessing backfill of an
interval leaves the log (and the governance totals built from it) unchanged.

Finding what is already recorded does not re-read the whole log (it grows every hour): a derived
index beside it (``audit/residency.index/``) keeps the recorded keys per partition, one small file
each, and the log's size it covers. Each write reads only the log's bytes past that size (lines
appended by a writer that stopped before updating the index, or before the index existed) and the
index files of its own partitions. The log stays the record: delete the index and the next write
rebuilds it from the log.
"""

from __future__ import annotations

import fcntl
import hashlib
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
        index = _KeyIndex(path)
        index.catch_up(fd)
        seen = index.keys({entry["partition"] for entry in entries})
        fresh = []
        for entry in entries:
            if _key(entry) not in seen:
                seen.add(_key(entry))
                fresh.append(entry)
        if fresh:
            os.write(fd, ("\n".join(json.dumps(e, sort_keys=True) for e in fresh) + "\n").encode())
            os.fsync(fd)
            index.add(fresh, os.fstat(fd).st_size, os.fstat(fd).st_ino)
    finally:
        os.close(fd)
    return len(fresh)


class _KeyIndex:
    """The keys already in the audit log, one file per partition, and the log size they cover.

    Only used under the log's exclusive lock. Derived data: the log is the record, so a missing,
    stale or unreadable index is rebuilt from the log, never trusted over it."""

    def __init__(self, log_path: Path) -> None:
        self.folder = log_path.with_suffix(".index")
        self.covered_file = self.folder / "covered"

    def _partition_file(self, partition: str) -> Path:
        return self.folder / f"{hashlib.sha256(partition.encode()).hexdigest()[:32]}.jsonl"

    def _covered(self, fd: int) -> int:
        """The log size the index covers; -1 when unknown or recorded for another file (inode)."""
        try:
            size, inode = (int(v) for v in self.covered_file.read_text().split())
        except (OSError, ValueError):
            return -1
        return size if inode == os.fstat(fd).st_ino else -1

    def catch_up(self, fd: int) -> None:
        """Index the log's lines past the covered size (every line when the index is missing or
        does not match the log: a log shorter than what the index covers was replaced)."""
        size, covered = os.fstat(fd).st_size, self._covered(fd)
        if 0 <= covered == size:
            return
        if covered < 0 or covered > size:
            if self.folder.exists():
                for stale in self.folder.glob("*.jsonl"):
                    stale.unlink()
            covered = 0
        tail = os.pread(fd, size - covered, covered)
        complete = tail[:tail.rfind(b"\n") + 1]  # a torn last line is read again next time
        self.add(_parse(complete.decode()), covered + len(complete), os.fstat(fd).st_ino)

    def keys(self, partitions: set[str]) -> set[tuple]:
        found: set[tuple] = set()
        for partition in partitions:
            file = self._partition_file(partition)
            if file.exists():
                found.update(tuple(k) for k in _parse(file.read_text()))
        return found

    def add(self, lines: list[dict], covered: int, inode: int) -> None:
        """Record the keys of ``lines`` (appended to the log, file ``inode``, up to byte ``covered``)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        by_partition: dict[str, list[tuple]] = {}
        for line in lines:
            by_partition.setdefault(str(line.get("partition")), []).append(_key(line))
        for partition, keys in by_partition.items():
            with self._partition_file(partition).open("a") as out:
                out.write("".join(json.dumps(k) + "\n" for k in keys))
        scratch = self.covered_file.with_suffix(".tmp")
        scratch.write_text(f"{covered} {inode}")
        os.replace(scratch, self.covered_file)


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
