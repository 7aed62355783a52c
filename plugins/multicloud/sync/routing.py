"""Record-level routing: stream Parquet rows to the regions that may hold them, in batches.

Each row's jurisdiction comes from its routing column (a country mapped through the estate, or a
jurisdiction directly). An output receives a row only if the row's jurisdiction is in the
output's allowed set; the quarantine output receives exactly the rows whose jurisdiction is
missing, unknown, or has no data class in the dataset's routing. The quarantine lives in the
source region, so an unknown row never leaves it.

Memory is bounded by ``batch_size`` rows per output: source files are read with
``ParquetFile.iter_batches`` and every output is a ``ParquetWriter`` streaming, on object stores,
into one PUT or multipart upload under the final name that the store verifies and commits
atomically, and on filesystems to a hidden temporary object that is checksum-verified and
renamed only when complete (see copier.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from multicloud.sync.copier import (
    TMP_MARK,
    ChecksumMismatch,
    hash_object,
    list_objects,
    remove_object,
    remove_stale_temps,
)
from multicloud.sync.objectstore import store_for
from multicloud.sync.storage import Location

BATCH_ROWS = 131_072


@dataclass(frozen=True)
class Output:
    """Where one region's (or the quarantine's) rows go; ``jurisdictions`` None means quarantine."""

    location: Location
    jurisdictions: frozenset[str] | None


@dataclass(frozen=True)
class Router:
    column: str
    column_kind: str  # "country" or "jurisdiction"
    country_to_jurisdiction: Mapping[str, str]
    routable: frozenset[str]  # jurisdictions that have a data class in the dataset's routing

    @cached_property
    def _keys(self) -> tuple[str, ...]:
        """The column values we know, each mapped to a jurisdiction (index = code)."""
        if self.column_kind == "jurisdiction":
            return tuple(sorted(self.routable))
        return tuple(self.country_to_jurisdiction)

    def _jurisdiction_of_key(self, key: str) -> str:
        return key if self.column_kind == "jurisdiction" else self.country_to_jurisdiction[key]

    def codes(self, batch: pa.RecordBatch) -> pa.Array:
        """Each row's index into the known values (one string hash lookup per row), null if unknown."""
        if self.column not in batch.schema.names:
            raise ValueError(f"routing column {self.column!r} is missing; columns are {batch.schema.names}")
        return pc.index_in(batch.column(self.column), value_set=pa.array(self._keys, pa.string()))

    def _allowed_codes(self, allowed: frozenset[str] | None) -> pa.Array:
        cache = self.__dict__.setdefault("_code_cache", {})  # frozen dataclass: cache in the instance dict
        if allowed not in cache:
            cache[allowed] = self._codes_for(allowed)
        return cache[allowed]

    def _codes_for(self, allowed: frozenset[str] | None) -> pa.Array:
        if allowed is None:  # quarantine: the complement of every routable code, plus nulls
            wanted = [i for i, k in enumerate(self._keys) if self._jurisdiction_of_key(k) in self.routable]
        else:
            wanted = [i for i, k in enumerate(self._keys) if self._jurisdiction_of_key(k) in allowed]
        return pa.array(wanted, pa.int32())

    def mask(self, codes: pa.Array, allowed: frozenset[str] | None) -> pa.Array:
        selected = pc.fill_null(pc.is_in(codes, value_set=self._allowed_codes(allowed)), False)
        return pc.invert(selected) if allowed is None else selected


@dataclass
class RouteStats:
    rows_in: int = 0
    rows_out: dict[str, int] = field(default_factory=dict)  # output name -> rows
    files: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"rows_in": self.rows_in, "rows_out": dict(self.rows_out), "files": self.files}


def route_partition(source: Location, outputs: Mapping[str, Output], router: Router,
                    batch_size: int = BATCH_ROWS, fsync: bool = True) -> RouteStats:
    """Route every visible Parquet object under ``source`` to every output, same relative names.

    Objects an output had from an earlier run that the source no longer has are removed, so a
    rerun converges (it overwrites; it never duplicates).
    """
    stats = RouteStats(rows_out={name: 0 for name in outputs})
    for output in outputs.values():
        remove_stale_temps(output.location)
    relpaths = sorted(list_objects(source))
    for rel in relpaths:
        counts = route_file(source.child(rel), {n: o.location.child(rel) for n, o in outputs.items()},
                            {n: o.jurisdictions for n, o in outputs.items()}, router, batch_size, fsync)
        stats.files += 1
        stats.rows_in += counts.pop("__in__")
        for name, rows in counts.items():
            stats.rows_out[name] += rows
    for output in outputs.values():
        for rel in set(list_objects(output.location)) - set(relpaths):
            remove_object(output.location.child(rel))
    return stats


def route_file(source: Location, targets: Mapping[str, Location], allowed: Mapping[str, frozenset[str] | None],
               router: Router, batch_size: int = BATCH_ROWS, fsync: bool = True) -> dict[str, int]:
    counts = dict.fromkeys(targets, 0)
    counts["__in__"] = 0
    with source.fs.open(source.path, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        schema = parquet.schema_arrow
        sinks: dict[str, _AtomicParquet] = {}
        try:
            for name, loc in targets.items():  # inside the try: a failed open aborts the sinks already open
                sinks[name] = _AtomicParquet(loc, schema, batch_size, fsync)
            for batch in parquet.iter_batches(batch_size=batch_size):
                counts["__in__"] += batch.num_rows
                codes = router.codes(batch)
                for name, sink in sinks.items():
                    selected = batch.filter(router.mask(codes, allowed[name]))
                    if selected.num_rows:
                        sink.write(selected)
                        counts[name] += selected.num_rows
            for sink in sinks.values():
                sink.commit()
        finally:
            for sink in sinks.values():
                sink.abort()
    return counts


class _HashingWriter:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self.size += view.nbytes
        return self.raw.write(view)

    def flush(self) -> None:
        self.raw.flush()

    def tell(self) -> int:
        return self.size

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


class _AtomicParquet:
    """A ParquetWriter onto one store-verified upload, or a hidden temporary object verified and renamed."""

    def __init__(self, target: Location, schema: pa.Schema, row_group_rows: int = BATCH_ROWS,
                 fsync: bool = True) -> None:
        self.fsync = fsync
        self.target = target
        self.store_writer = store.writer(target.path) if (store := store_for(target)) is not None else None
        parent, name = posixpath.split(target.path)
        self.tmp = f"{parent}/.{name}{TMP_MARK}{uuid.uuid4().hex}"
        self.local = isinstance(target.fs, LocalFileSystem)
        if self.store_writer is not None:
            self.raw = self.store_writer
        elif self.local:
            os.makedirs(parent, exist_ok=True)
            self.raw = open(self.tmp, "wb")  # noqa: SIM115 - closed in commit/abort
        else:
            self.raw = target.fs.open(self.tmp, "wb")
        self.hashing = _HashingWriter(self.raw)
        self.writer = pq.ParquetWriter(self.hashing, schema, compression="zstd")
        self.row_group_rows = row_group_rows
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.done = False

    def write(self, batch: pa.RecordBatch) -> None:
        # Buffer up to one row group: each output gets a fraction of every source batch, and writing
        # those fractions as tiny row groups costs time and compression. Memory stays bounded.
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        if self.pending_rows >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.writer.write_table(pa.Table.from_batches(self.pending), row_group_size=max(self.pending_rows, 1))
            self.pending, self.pending_rows = [], 0

    def commit(self) -> None:
        self._flush()
        self.writer.close()
        if self.store_writer is not None:  # the store verifies every part and commits atomically
            self.store_writer.commit()
            self.done = True
            return
        if self.local and self.fsync:  # durability across power loss; atomicity needs only the rename
            self.raw.flush()
            os.fsync(self.raw.fileno())
        self.raw.close()
        written = hash_object(Location(self.target.fs, self.tmp, self.tmp))
        if written != self.hashing.digest.hexdigest():
            raise ChecksumMismatch(f"{self.target.url}: routed object does not read back as written")
        if self.local:
            os.replace(self.tmp, self.target.path)
        else:
            self.target.fs.mv(self.tmp, self.target.path)
        self.done = True

    def abort(self) -> None:
        if self.done:
            return
        if self.store_writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
            self.store_writer.abort()
            self.done = True
            return
        try:
            with contextlib.suppress(Exception):  # only to release the writer; the object is discarded
                self.writer.close()
            self.raw.close()
        finally:
            with contextlib.suppress(FileNotFoundError, OSError):
                self.target.fs.rm_file(self.tmp)
        self.done = True


def router_for(estate: Any, dataset_id: str) -> Router:
    dataset = estate.dataset(dataset_id)
    if dataset.routing is None:
        raise ValueError(f"dataset {dataset_id!r} is object-level (data_class {dataset.data_class!r}), not routed")
    routing = dataset.routing
    return Router(
        column=routing.column, column_kind=routing.column_kind,
        country_to_jurisdiction={c: j.id for j in estate.jurisdictions for c in j.countries},
        routable=frozenset(routing.class_by_jurisdiction),
    )
