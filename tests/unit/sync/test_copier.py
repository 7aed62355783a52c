"""Object copy: incremental, atomic (temp then rename), verified, convergent."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from multicloud.sync import copier
from multicloud.sync.copier import ChecksumMismatch, copy_object, list_objects, read_manifest, sync_tree
from multicloud.sync.storage import location


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_full_then_incremental_then_changed(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, {"a.bin": os.urandom(5000), "sub/b.bin": os.urandom(70_000), ".hidden": b"x", "_meta": b"y"})
    stats = sync_tree(location(f"file://{src}"), location(f"file://{dst}"), chunk_size=4096)
    assert (stats.copied, stats.skipped) == (2, 0)
    assert (dst / "sub/b.bin").read_bytes() == (src / "sub/b.bin").read_bytes()
    assert not (dst / ".hidden").exists()
    assert not (dst / "_meta").exists()

    again = sync_tree(location(f"file://{src}"), location(f"file://{dst}"))
    assert (again.copied, again.skipped) == (0, 2)

    (src / "a.bin").write_bytes(b"changed")  # different size
    (src / "sub/b.bin").touch()  # same content, new mtime: hashed, not copied
    third = sync_tree(location(f"file://{src}"), location(f"file://{dst}"))
    assert (third.copied, third.skipped) == (1, 1)
    assert (dst / "a.bin").read_bytes() == b"changed"
    manifest = read_manifest(location(f"file://{dst}"))
    assert set(manifest) == {"a.bin", "sub/b.bin"}


def test_same_size_different_content_is_recopied(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, {"a.bin": b"AAAA"})
    sync_tree(location(f"file://{src}"), location(f"file://{dst}"))
    (src / "a.bin").write_bytes(b"BBBB")
    os.utime(src / "a.bin", (1, 1))
    stats = sync_tree(location(f"file://{src}"), location(f"file://{dst}"))
    assert stats.copied == 1
    assert (dst / "a.bin").read_bytes() == b"BBBB"


def test_sync_removes_extras_and_stale_temps(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, {"keep.bin": b"1"})
    _tree(dst, {"gone.bin": b"2", f".keep.bin{copier.TMP_MARK}dead": b"partial"})
    stats = sync_tree(location(f"file://{src}"), location(f"file://{dst}"))
    assert stats.deleted == 1
    assert sorted(p.name for p in dst.iterdir()) == ["_manifest.json", "keep.bin"]


def test_verification_failure_commits_nothing(tmp_path, monkeypatch):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, {"a.bin": os.urandom(1000)})
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data)[:-1]) + 1)  # a write that lied
    with pytest.raises(ChecksumMismatch, match="999 bytes on disk, 1000 read"):
        copy_object(location(f"file://{src}/a.bin"), location(f"file://{dst}/a.bin"))
    assert list(dst.iterdir()) == []


def test_a_failed_fsync_commits_nothing(tmp_path, monkeypatch):
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, {"a.bin": os.urandom(1000)})

    def eio(fd):
        raise OSError(5, "Input/output error")  # writeback failed: what a disk error looks like here

    monkeypatch.setattr(os, "fsync", eio)
    with pytest.raises(OSError, match="Input/output"):
        copy_object(location(f"file://{src}/a.bin"), location(f"file://{dst}/a.bin"))
    assert list(dst.iterdir()) == []


def test_local_copies_reuse_one_buffer_and_stay_exact(tmp_path):
    """Objects larger and smaller than the chunk, copied one after another on one thread."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    files = {"big.bin": os.urandom(10_000), "small.bin": os.urandom(100), "empty.bin": b"", "mid.bin": os.urandom(4096)}
    _tree(src, files)
    stats = sync_tree(location(f"file://{src}"), location(f"file://{dst}"), workers=1, chunk_size=4096)
    assert stats.copied == 4
    for rel, data in files.items():
        assert (dst / rel).read_bytes() == data
        assert stats.objects[rel]["sha256"] == hashlib.sha256(data).hexdigest()


def test_verification_failure_on_a_store_without_a_native_path_commits_nothing(tmp_path, monkeypatch):
    _tree(tmp_path, {"a.bin": os.urandom(1000)})
    monkeypatch.setattr(copier, "hash_object", lambda loc, chunk_size=0: "0" * 64)  # as if the store lied
    target = location("memory://verify-fail/a.bin")
    with pytest.raises(ChecksumMismatch):
        copy_object(location(f"file://{tmp_path}/a.bin"), target)
    assert not target.fs.find("/verify-fail")


def test_list_objects_of_missing_root(tmp_path):
    assert list_objects(location(f"file://{tmp_path}/nothing")) == {}


def test_memory_filesystem_target(tmp_path):
    """A non-local fsspec target goes through fs.open + fs.mv (the object-store path)."""
    src = tmp_path / "src"
    _tree(src, {"p/a.bin": os.urandom(3000)})
    target = location("memory://bucket/copy")
    stats = sync_tree(location(f"file://{src}"), target)
    assert stats.copied == 1
    assert target.fs.cat_file("/bucket/copy/p/a.bin") == (src / "p/a.bin").read_bytes()
    assert set(list_objects(target)) == {"p/a.bin"}
    assert sync_tree(location(f"file://{src}"), target).skipped == 1
