"""Object copy between two storage locations: incremental, atomic, verified, parallel, bounded.

- Incremental: a ``_manifest.json`` at the target records, per object, the source size and
  modification time seen at the last copy and the SHA-256 of what was committed. An object
  whose source size and mtime match is skipped without reading it; one whose mtime changed but
  whose size did not is hashed and skipped when the checksum still matches.
- Atomic: each object is streamed to a hidden temporary name beside its final name
  (``.name.mcsync-tmp-<id>``), checked, then renamed. Readers never see a partial object:
  pyarrow datasets (and our readers) ignore names starting with ``.`` or ``_``. Temporary
  objects a killed run left behind are removed by the next run.
- Verified: the temporary object is read back and its SHA-256 and size must equal the
  source's before the commit; a mismatch raises and nothing is committed.
- Bounded memory: objects stream in ``chunk_size`` pieces; at most ``workers`` in flight.
- Sync semantics: objects at the target that the source no longer has are removed (like
  ``rclone sync``), so a rerun converges to the source and never duplicates.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from multicloud.sync.storage import Location

MANIFEST = "_manifest.json"
TMP_MARK = ".mcsync-tmp-"
CHUNK_SIZE = 8 << 20


class ChecksumMismatch(IOError):
    """What landed at the target is not what was read from the source; nothing was committed."""


@dataclass
class CopyStats:
    copied: int = 0
    skipped: int = 0
    deleted: int = 0
    bytes_copied: int = 0
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # relpath -> manifest entry

    def as_dict(self) -> dict[str, Any]:
        return {"copied": self.copied, "skipped": self.skipped, "deleted": self.deleted,
                "bytes_copied": self.bytes_copied, "objects": len(self.objects)}


def is_hidden(relpath: str) -> bool:
    return any(part.startswith((".", "_")) for part in relpath.split("/"))


def list_objects(loc: Location) -> dict[str, dict[str, Any]]:
    """relpath -> info (size, mtime) of every visible object under ``loc`` (none if it is missing)."""
    return _walk(loc)[0]


def _walk(loc: Location) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """(visible objects, temporary objects) under ``loc``, in one listing."""
    objects: dict[str, dict[str, Any]] = {}
    temps: list[str] = []
    if isinstance(loc.fs, LocalFileSystem):
        root = loc.path.rstrip("/")
        stack = [("", root)]
        while stack:
            prefix, folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                rel = f"{prefix}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append((f"{rel}/", entry.path))
                elif TMP_MARK in entry.name:
                    temps.append(entry.path)
                elif not is_hidden(rel):
                    info = entry.stat()
                    objects[rel] = {"size": info.st_size, "mtime": info.st_mtime}
        return objects, temps
    if not loc.fs.exists(loc.path):
        return objects, temps
    root = loc.path.rstrip("/")
    for path, info in loc.fs.find(root, detail=True).items():
        if info.get("type") == "directory":
            continue
        rel = posixpath.relpath(_strip_protocol(loc.fs, path), _strip_protocol(loc.fs, root))
        if TMP_MARK in posixpath.basename(rel):
            temps.append(path)
        elif not is_hidden(rel):
            objects[rel] = {"size": int(info.get("size") or 0), "mtime": _mtime(info)}
    return objects, temps


def sync_tree(src: Location, dst: Location, *, workers: int = 8, chunk_size: int = CHUNK_SIZE,
              fsync: bool = True) -> CopyStats:
    """Make ``dst`` hold exactly ``src``'s visible objects; return what was done."""
    sources = list_objects(src)
    manifest = read_manifest(dst)
    existing, temps = _walk(dst)
    for path in temps:  # left by a killed run: never visible, now removed
        _quiet_rm(dst.fs, path)
    stats = CopyStats()

    def unchanged(rel: str) -> bool:
        entry, here = manifest.get(rel), existing.get(rel)
        return bool(entry and here and here["size"] == sources[rel]["size"] == entry["size"]
                    and entry.get("mtime") == sources[rel]["mtime"])

    def one(rel: str) -> tuple[str, dict[str, Any], bool, int]:
        info = sources[rel]
        entry = manifest.get(rel)
        here = existing.get(rel)
        if entry and here and here["size"] == info["size"] == entry["size"]:
            digest = hash_object(src.child(rel), chunk_size)
            if digest == entry["sha256"]:
                return rel, {**entry, "mtime": info["mtime"]}, False, 0
        digest, size = copy_object(src.child(rel), dst.child(rel), chunk_size=chunk_size, fsync=fsync)
        return rel, {"size": size, "mtime": info["mtime"], "sha256": digest}, True, size

    todo = []
    for rel in sorted(sources):
        if unchanged(rel):
            stats.objects[rel] = manifest[rel]
            stats.skipped += 1
        else:
            todo.append(rel)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for rel, entry, copied, size in pool.map(one, todo):
            stats.objects[rel] = entry
            if copied:
                stats.copied += 1
                stats.bytes_copied += size
            else:
                stats.skipped += 1
    for rel in sorted(set(existing) - set(sources)):
        dst.fs.rm_file(dst.child(rel).path)
        stats.deleted += 1
    if stats.copied or stats.deleted or stats.objects != manifest:
        _write_manifest(dst, stats.objects)
    return stats


def copy_object(src: Location, dst: Location, *, chunk_size: int = CHUNK_SIZE, fsync: bool = True) -> tuple[str, int]:
    """Stream one object to a temporary name, verify it, commit it. Returns (sha256, size)."""
    parent, name = posixpath.split(dst.path)
    tmp = f"{parent}/.{name}{TMP_MARK}{uuid.uuid4().hex}"
    local = isinstance(dst.fs, LocalFileSystem)
    if local:
        os.makedirs(parent, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    try:
        with src.fs.open(src.path, "rb", block_size=chunk_size) as reader, _open_write(dst.fs, tmp, local) as writer:
            while block := reader.read(chunk_size):
                digest.update(block)
                writer.write(block)
                size += len(block)
            if local and fsync:
                writer.flush()
                os.fsync(writer.fileno())
        written = hash_object(Location(dst.fs, tmp, tmp), chunk_size)
        if written != digest.hexdigest():
            raise ChecksumMismatch(f"{dst.url}: wrote sha256 {written}, read {digest.hexdigest()} from {src.url}")
        if local:
            os.replace(tmp, dst.path)
        else:
            dst.fs.mv(tmp, dst.path)
    except BaseException:
        _quiet_rm(dst.fs, tmp)
        raise
    return digest.hexdigest(), size


def hash_object(loc: Location, chunk_size: int = CHUNK_SIZE) -> str:
    digest = hashlib.sha256()
    if isinstance(loc.fs, LocalFileSystem):
        with open(loc.path, "rb") as handle:
            while block := handle.read(chunk_size):
                digest.update(block)
        return digest.hexdigest()
    with loc.fs.open(loc.path, "rb", block_size=chunk_size) as handle:
        while block := handle.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


# ---- helpers -----------------------------------------------------------------------------------
def _open_write(fs: Any, path: str, local: bool):
    return open(path, "wb") if local else fs.open(path, "wb")


def read_manifest(loc: Location) -> dict[str, dict[str, Any]]:
    path = loc.child(MANIFEST).path
    try:
        with loc.fs.open(path, "rb") as handle:
            return json.loads(handle.read()).get("objects", {})
    except FileNotFoundError:
        return {}
    except ValueError:  # a corrupt manifest only costs a re-hash, never a wrong skip
        return {}


def _write_manifest(loc: Location, objects: dict[str, dict[str, Any]]) -> None:
    body = json.dumps({"objects": objects}, sort_keys=True).encode()
    final = loc.child(MANIFEST)
    if isinstance(loc.fs, LocalFileSystem):
        tmp = loc.child(f".{MANIFEST}{TMP_MARK}{uuid.uuid4().hex}")
        os.makedirs(loc.path, exist_ok=True)
        with open(tmp.path, "wb") as handle:
            handle.write(body)
        os.replace(tmp.path, final.path)
    else:
        with loc.fs.open(final.path, "wb") as handle:  # a single PUT: atomic on object stores
            handle.write(body)


def remove_stale_temps(loc: Location) -> None:
    for path in _walk(loc)[1]:
        _quiet_rm(loc.fs, path)


def _quiet_rm(fs: Any, path: str) -> None:
    with contextlib.suppress(FileNotFoundError, OSError):
        fs.rm_file(path)


def _strip_protocol(fs: Any, path: str) -> str:
    return fs._strip_protocol(path).rstrip("/")


def _mtime(info: dict[str, Any]) -> str | float | None:
    for key in ("mtime", "LastModified", "last_modified", "time_modified", "created"):
        value = info.get(key)
        if value is not None:
            return value if isinstance(value, int | float) else str(value)
    return None
