"""State files shared by processes: one way to lock, read, update, write and append them.

Every store of the estate's local state (the local cluster driver, the DR fault ledger and
incidents, the gateway's routes, the cost and rollout journals, the residency audit, the health
signal queue) goes through here:

- ``atomic_write_text``/``write_json``: a temp file in the same folder, then ``os.replace``; a
  reader sees the old file or the new one, never half of one.
- ``locked``: an exclusive ``flock`` on a lock file beside the state (``.{name}.lock`` unless the
  store names its own), held for a read-modify-write across processes.
- ``update_json``: ``locked`` + read (or a default) + yield + write.
- ``read_json_lines``: a JSON-lines log read, a torn last line skipped.
- ``append_json_lines``: JSON lines appended under a lock on the file itself and fsynced,
  optionally skipping entries whose key is already in the file.

Advisory locks hold only between processes that take them: every writer of a store uses these.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Hashable, Iterable, Iterator
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, data: Any, *, sort_keys: bool = True) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=sort_keys))


def read_json(path: Path, default: Any = None) -> Any:
    """The file's JSON, or ``default`` when there is no file yet."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


def lock_file(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def locked(path: Path, lock: Path | None = None) -> Iterator[None]:
    """Hold the exclusive lock of the state at ``path`` (the lock file ``lock``, else ``.{name}.lock``)."""
    lock = lock or lock_file(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def update_json(path: Path, default: Callable[[], Any], *, lock: Path | None = None, sort_keys: bool = True,
                write_on_error: bool = False) -> Iterator[Any]:
    """Read-modify-write the JSON at ``path`` under its lock; the body changes the yielded value in place.

    Written when the body returns; with ``write_on_error`` also when it raises (what the body
    recorded happened anyway, e.g. processes it started), and then only if the value changed.
    """
    with locked(path, lock):
        data = read_json(path)
        data = default() if data is None else data
        if not write_on_error:
            yield data
            write_json(path, data, sort_keys=sort_keys)
            return
        before = json.dumps(data, sort_keys=True)
        try:
            yield data
        finally:
            if json.dumps(data, sort_keys=True) != before:
                write_json(path, data, sort_keys=sort_keys)


def parse_json_lines(text: str) -> list[Any]:
    """Every line's JSON; a line that does not parse raises (a log that must be whole)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_json_lines(path: Path) -> list[Any]:
    """Every line's JSON, skipping one that does not parse (the torn last line of a crashed writer)."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def append_json_lines(path: Path, entries: Iterable[dict[str, Any]],
                      key: Callable[[dict[str, Any]], Hashable] | None = None) -> int:
    """Append each entry as one JSON line in one write, under a lock on the file, then fsync.

    With ``key``, an entry whose key is already in the file (or earlier in ``entries``) is
    skipped. Returns how many lines were appended.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        seen = {key(line) for line in parse_json_lines(path.read_text(encoding="utf-8"))} if key else set()
        fresh = []
        for entry in entries:
            if key is not None:
                if key(entry) in seen:
                    continue
                seen.add(key(entry))
            fresh.append(json.dumps(entry, sort_keys=True))
        if fresh:
            os.write(fd, ("\n".join(fresh) + "\n").encode())
            os.fsync(fd)
    finally:
        os.close(fd)
    return len(fresh)
