"""The audit log's key index: a write reads its own partitions' keys, not the whole log, and the
log stays the record (lines the index missed, a deleted index, a replaced log)."""

from __future__ import annotations

import json

from multicloud.sync import audit
from multicloud.sync.audit import audit_file, read_audit, record_denials
from multicloud.sync.planner import Denial


def _denial(partition: str, region: str = "oci-ash") -> Denial:
    return Denial("eu-claims", region, "eu-personal", "allow", "not in EU", True, partition)


def _old_writer_line(partition: str, region: str = "oci-ash") -> str:
    """A line as the log holds it, appended by a writer that never touched the index."""
    return json.dumps({"at": "2026-03-01T00:00:00+00:00", "run_id": "old", "partition": partition,
                       "dataset": "eu-claims", "class": "eu-personal", "region": region, "rule": "allow",
                       "reason": "not in EU", "outcome": "denied"}, sort_keys=True) + "\n"


def test_a_write_parses_only_its_partitions_once_the_log_is_indexed(estate_home, monkeypatch):
    log = audit_file(estate_home)
    log.parent.mkdir(parents=True)
    log.write_text("".join(_old_writer_line(f"dt=2026-01-{d:02d}/hr={h:02d}", f"r{r}")
                           for d in range(1, 11) for h in range(24) for r in range(20)))  # 4,800 lines
    parsed: list[int] = []
    real_parse = audit._parse
    monkeypatch.setattr(audit, "_parse", lambda text: parsed.append(len(text)) or real_parse(text))

    # the first write indexes the lines it has not seen, and finds them: nothing appended
    assert record_denials([_denial("dt=2026-01-05/hr=07", "r3")], "rerun", "x") == 0
    assert sum(parsed) >= log.stat().st_size - 1
    parsed.clear()
    # later writes read their own partition's keys only (a few hundred bytes), whatever the log's size
    assert record_denials([_denial("dt=2026-01-05/hr=07", "r3"), _denial("dt=2026-02-01/hr=00")], "run-2", "x") == 1
    assert record_denials([_denial("dt=2026-02-01/hr=00")], "run-3", "x") == 0
    assert sum(parsed) < 3000, parsed
    assert len(read_audit(estate_home)) == 4801


def test_lines_the_index_missed_are_still_deduplicated(estate_home):
    assert record_denials([_denial("dt=2026-03-01/hr=14")], "run-1", "x") == 1
    with audit_file(estate_home).open("a") as out:  # a writer that stopped before updating the index
        out.write(_old_writer_line("dt=2026-03-01/hr=15"))
    assert record_denials([_denial("dt=2026-03-01/hr=15"), _denial("dt=2026-03-01/hr=14")], "run-2", "x") == 0
    assert len(read_audit(estate_home)) == 2


def test_a_deleted_index_is_rebuilt_from_the_log(estate_home):
    assert record_denials([_denial("dt=2026-03-01/hr=14")], "run-1", "x") == 1
    index = audit_file(estate_home).with_suffix(".index")
    for file in index.iterdir():
        file.unlink()
    index.rmdir()
    assert record_denials([_denial("dt=2026-03-01/hr=14")], "run-2", "x") == 0
    assert len(read_audit(estate_home)) == 1


def test_a_replaced_log_is_never_trusted_to_the_old_index(estate_home):
    assert record_denials([_denial("dt=2026-03-01/hr=14"), _denial("dt=2026-03-01/hr=15")], "run-1", "x") == 2
    log = audit_file(estate_home)
    replacement = log.with_name("replacement.jsonl")
    replacement.write_text(_old_writer_line("dt=2026-03-01/hr=15") + _old_writer_line("dt=2026-03-01/hr=16"))
    replacement.replace(log)  # same partitions, another file: hr=14 is no longer recorded
    assert record_denials([_denial("dt=2026-03-01/hr=14"), _denial("dt=2026-03-01/hr=16")], "run-2", "x") == 1
    assert sorted(x["partition"] for x in read_audit(estate_home)) == [
        "dt=2026-03-01/hr=14", "dt=2026-03-01/hr=15", "dt=2026-03-01/hr=16"]
