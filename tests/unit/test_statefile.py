"""statefile: the one way the estate's state files are locked, updated and appended."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from multicloud import statefile


def test_update_json_writes_what_the_body_changed(tmp_path):
    path = tmp_path / "state" / "store.json"
    with statefile.update_json(path, dict) as data:
        data["a"] = 1
    with statefile.update_json(path, dict) as data:
        data["b"] = 2
    assert json.loads(path.read_text()) == {"a": 1, "b": 2}
    assert statefile.lock_file(path).exists()


def test_a_failing_body_writes_nothing_unless_asked(tmp_path):
    path = tmp_path / "store.json"
    def fail(data: dict, **options) -> None:
        with statefile.update_json(path, dict, **options) as state:
            state.update(data)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail({"half": True})
    assert not path.exists()
    with pytest.raises(RuntimeError):
        fail({"started": [1234]}, write_on_error=True)  # e.g. a process started before the failure
    assert json.loads(path.read_text()) == {"started": [1234]}


def _add_many(path: str, n: int) -> None:
    for _ in range(n):
        with statefile.update_json(Path(path), lambda: {"count": 0}) as data:
            data["count"] += 1


def test_concurrent_processes_never_lose_an_update(tmp_path):
    path = tmp_path / "counter.json"
    workers = [multiprocessing.get_context("fork").Process(target=_add_many, args=(str(path), 50)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert json.loads(path.read_text()) == {"count": 150}


def test_append_json_lines_skips_keys_already_in_the_file(tmp_path):
    path = tmp_path / "audit.jsonl"
    key = lambda entry: entry["id"]  # noqa: E731
    assert statefile.append_json_lines(path, [{"id": 1}, {"id": 2}, {"id": 1}], key=key) == 2
    assert statefile.append_json_lines(path, [{"id": 2}, {"id": 3}], key=key) == 1
    assert [e["id"] for e in statefile.parse_json_lines(path.read_text())] == [1, 2, 3]


def test_a_torn_last_line_is_skipped_by_readers_and_refused_by_the_strict_parse(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"a": 1}\n\n{"b": 2}\n{"c": ')
    assert statefile.read_json_lines(path) == [{"a": 1}, {"b": 2}]
    assert statefile.read_json_lines(tmp_path / "missing.jsonl") == []
    with pytest.raises(ValueError):
        statefile.parse_json_lines(path.read_text())


def test_atomic_write_leaves_no_temp_file(tmp_path):
    path = statefile.write_json(tmp_path / "x" / "doc.json", {"b": 1, "a": 2})
    assert path.read_text() == '{\n  "a": 2,\n  "b": 1\n}'
    assert sorted(p.name for p in path.parent.iterdir()) == ["doc.json"]
