"""The residency audit log: one JSON line per denied or would-deny (dataset, region) decision.

Lives under the estate home (``audit/residency.jsonl``). Each line is written with one
``write`` on a file opened in append mode, under an exclusive lock, so concurrent mapped
tasks never interleave lines. A decision already recorded for the same (partition, dataset,
region, class, rule, outcome) is not appended again: a retry or a reprocessing backfill of an
interval leaves the log (and the governance totals built from it) unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from multicloud import paths
from multicloud.statefile import append_json_lines, parse_json_lines
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
    return append_json_lines(audit_file(home), entries, key=_key)


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
    return parse_json_lines(path.read_text())
