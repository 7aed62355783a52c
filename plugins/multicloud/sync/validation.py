"""Validation at the target: Great Expectations suites, checked batch by batch on streamed data.

A dataset's suite (``include/expectations/<file>.json``, GX's own suite JSON: ``name`` and a list
of ``{"type", "kwargs"}`` expectations) is extended per run with what only the run knows:

- row count equal to what routing or copying sent to this region;
- not-null keys (the dataset's ``key_columns``);
- residency: every row's country/jurisdiction is one this region may hold, and never null.

The target is read as a stream of record batches (Parquet row groups, CSV and JSON-lines
blocks), never as one table, so memory is bounded by the batch size whatever the partition's
size. Each GX expectation is evaluated with GX's semantics, batch by batch, with pyarrow
kernels, and its counts are combined over the batches: column-map expectations (not null, in
set, between, regex, with ``mostly``) sum their unexpected counts; table expectations check the
schema of every batch and the total row count; uniqueness keeps one 64-bit hash per value (8
bytes a row) and is decided over the whole partition. An expectation type this module does not
implement fails the validation (fail closed) with a message naming it.
``tests/unit/sync/test_validation.py`` checks that outcomes equal Great Expectations' own on
whole tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from multicloud import paths
from multicloud.sync.copier import list_objects
from multicloud.sync.storage import Location

BATCH_ROWS = 65_536  # rows per streamed batch: what bounds memory (with 8 bytes a row per uniqueness check)
BLOCK_BYTES = 16 << 20  # CSV / JSON-lines read block
SHOWN_UNEXPECTED = 20

EXPECTATIONS_DIR = paths.INCLUDE_DIR / "expectations"


@dataclass
class ValidationOutcome:
    success: bool
    evaluated: int
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"success": self.success, "evaluated": self.evaluated, "failures": self.failures}


class ValidationFailed(RuntimeError):
    """Great Expectations rejected what landed at the target."""


def load_suite(name: str | None) -> list[dict[str, Any]]:
    if not name:
        return []
    path = Path(name) if Path(name).is_absolute() else EXPECTATIONS_DIR / name
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"expectation suite {name!r} not found at {path}") from None
    except ValueError as exc:
        raise ValueError(f"expectation suite {path} is not valid JSON: {exc}") from None
    expectations = body.get("expectations")
    if not isinstance(expectations, list) or not all("type" in e for e in expectations):
        raise ValueError(f"expectation suite {path}: 'expectations' must be a list of {{type, kwargs}}")
    return expectations


def run_expectations(
    data: pa.Table | Iterable[pa.RecordBatch],
    suite: Iterable[dict[str, Any]],
    *,
    expected_rows: int | None,
    key_columns: Iterable[str] = (),
    residency_column: str | None = None,
    residency_values: Iterable[str] | None = None,
    name: str = "target",
) -> ValidationOutcome:
    """Evaluate the suite (plus the run's expectations) over a table or a stream of record batches."""
    configs = [dict(e) for e in suite]
    if expected_rows is not None:
        configs.append({"type": "expect_table_row_count_to_equal", "kwargs": {"value": int(expected_rows)}})
    for key in key_columns:
        configs.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": key}})
    if residency_column is not None:
        allowed = sorted(set(residency_values or ()))
        configs.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": residency_column},
                        "meta": {"residency": True}})
        configs.append({"type": "expect_column_values_to_be_in_set",
                        "kwargs": {"column": residency_column, "value_set": allowed},
                        "meta": {"residency": True}})
    checks = [_check_for(c) for c in configs]
    batches = data.to_batches(max_chunksize=BATCH_ROWS) if isinstance(data, pa.Table) else data
    seen_schema = False
    for batch in batches:
        seen_schema = True
        for check in checks:
            check.add(batch)
    if not seen_schema:  # nothing landed: an empty table still has to meet the table expectations
        empty = data.schema if isinstance(data, pa.Table) else pa.schema([])
        for check in checks:
            check.add(pa.RecordBatch.from_pylist([], schema=empty))
    failures = [f"{c.type}({_kwargs(c.kwargs)}): {detail}" for c in checks if (detail := c.failure()) is not None]
    return ValidationOutcome(not failures, len(checks), failures)


# ---- GX expectations evaluated batch by batch ----------------------------------------------------
class _Check:
    """One expectation: ``add`` each batch, then ``failure()`` is None (met) or the reason (not met)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.type = config["type"]
        self.kwargs = dict(config.get("kwargs") or {})
        self.problem: str | None = None

    def add(self, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def failure(self) -> str | None:
        return self.problem


class _Unsupported(_Check):
    def add(self, batch: pa.RecordBatch) -> None:
        self.problem = "this expectation type cannot be checked on streamed batches (validation fails closed)"


class _ColumnsOrdered(_Check):
    def add(self, batch: pa.RecordBatch) -> None:
        if self.problem is None and list(batch.schema.names) != list(self.kwargs["column_list"]):
            self.problem = f"observed {list(batch.schema.names)!r}"


class _ColumnsSet(_Check):
    def add(self, batch: pa.RecordBatch) -> None:
        observed, wanted = set(batch.schema.names), set(self.kwargs["column_set"])
        exact = self.kwargs.get("exact_match", True)
        if self.problem is None and (observed != wanted if exact else not wanted <= observed):
            self.problem = f"observed {sorted(observed)!r}"


class _RowCount(_Check):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows

    def failure(self) -> str | None:
        if self.type == "expect_table_row_count_to_equal":
            ok = self.rows == int(self.kwargs["value"])
        else:
            low, high = self.kwargs.get("min_value"), self.kwargs.get("max_value")
            ok = (low is None or self.rows >= low) and (high is None or self.rows <= high)
        return None if ok else f"observed {self.rows!r}"


class _ColumnMap(_Check):
    """A per-row condition; nulls are not evaluated (GX: they are neither expected nor unexpected),
    except for not-null itself. ``mostly``: the share of evaluated rows that must pass."""

    def __init__(self, config: dict[str, Any], unexpected: Callable[[pa.Array, dict[str, Any]], pa.Array],
                 counts_nulls: bool = False) -> None:
        super().__init__(config)
        self.unexpected_mask = unexpected
        self.counts_nulls = counts_nulls
        self.evaluated = self.unexpected = 0
        self.examples: list[Any] = []

    def add(self, batch: pa.RecordBatch) -> None:
        column = self.kwargs["column"]
        if column not in batch.schema.names:
            self.problem = f"column {column!r} is missing (columns: {batch.schema.names})"
            return
        values = batch.column(column)
        if self.counts_nulls:
            self.evaluated += len(values)
            bad = values.is_null()
        else:
            values = values.drop_null()
            self.evaluated += len(values)
            bad = pc.fill_null(self.unexpected_mask(values, self.kwargs), True)
        count = int(pc.sum(bad).as_py() or 0)
        if count:
            self.unexpected += count
            if len(self.examples) < SHOWN_UNEXPECTED:
                shown = values.filter(bad).slice(0, SHOWN_UNEXPECTED - len(self.examples)).to_pylist()
                self.examples += shown

    def failure(self) -> str | None:
        if self.problem is not None:
            return self.problem
        mostly = float(self.kwargs.get("mostly", 1.0))
        if self.unexpected == 0 or (self.evaluated and 1 - self.unexpected / self.evaluated >= mostly):
            return None
        return f"unexpected {self.examples!r} ({self.unexpected:,} of {self.evaluated:,} rows)"


def _in_set(values: pa.Array, kwargs: dict[str, Any]) -> pa.Array:
    value_set = pa.array(list(kwargs["value_set"]))
    if value_set.type != values.type:  # e.g. [0, 1] against an int8 column
        try:
            value_set = value_set.cast(values.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = values.cast(pa.string())
            value_set = value_set.cast(pa.string())
    return pc.invert(pc.is_in(values, value_set=value_set))


def _not_in_set(values: pa.Array, kwargs: dict[str, Any]) -> pa.Array:
    return pc.invert(_in_set(values, kwargs))


def _between(values: pa.Array, kwargs: dict[str, Any]) -> pa.Array:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    bad = pa.array([False] * len(values))
    if low is not None:
        bad = pc.or_(bad, pc.less_equal(values, low) if kwargs.get("strict_min") else pc.less(values, low))
    if high is not None:
        bad = pc.or_(bad, pc.greater_equal(values, high) if kwargs.get("strict_max") else pc.greater(values, high))
    return bad


def _regex(values: pa.Array, kwargs: dict[str, Any]) -> pa.Array:
    return pc.invert(pc.match_substring_regex(values.cast(pa.string()), kwargs["regex"]))


class _Unique(_Check):
    """Every value occurs once (nulls ignored), over the whole partition: one 64-bit hash per value is
    kept (8 bytes a row; see ``value_hashes``). Two distinct values sharing a hash (odds about
    n²/2⁶⁵ for strings; none for integers and timestamps, whose hash is a bijection) would be
    reported as a duplicate: a false failure, never a false pass."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.hashes: list[np.ndarray] = []

    def add(self, batch: pa.RecordBatch) -> None:
        column = self.kwargs["column"]
        if column not in batch.schema.names:
            self.problem = f"column {column!r} is missing (columns: {batch.schema.names})"
            return
        values = batch.column(column).drop_null()
        if len(values):
            self.hashes.append(value_hashes(values))

    def failure(self) -> str | None:
        if self.problem is not None or not self.hashes:
            return self.problem
        hashes = _drain_into_one(self.hashes)  # 8 bytes a row once, not twice (no concatenate of a copy)
        hashes.sort()
        duplicated = int(np.count_nonzero(hashes[1:] == hashes[:-1]))
        return None if duplicated == 0 else f"{duplicated:,} duplicate value(s) of {len(hashes):,}"


def _drain_into_one(chunks: list[np.ndarray]) -> np.ndarray:
    """One array of every chunk, freeing each chunk as it is copied (peak: the total plus one chunk)."""
    out = np.empty(sum(len(c) for c in chunks), np.uint64)
    end = len(out)
    while chunks:
        chunk = chunks.pop()
        out[end - len(chunk):end] = chunk
        end -= len(chunk)
    return out


_M1, _M2, _GOLDEN = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer, vectorised (a bijection of uint64; numpy wraps on overflow)."""
    x = x ^ (x >> np.uint64(30))
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    return x ^ (x >> np.uint64(31))


def value_hashes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash per (non-null) value, computed on Arrow's buffers without Python objects.

    Integers and booleans: their 64-bit value mixed by a bijection (equal hash iff equal value).
    Timestamps, dates, times, durations: the same, in one unit. Floats: an integral float as that
    integer, else its bits (-0.0 is integral, so it equals 0.0; every NaN is one NaN, as pandas
    compares them). Strings and binaries: each byte mixed with its position, summed per value, then
    mixed with the length. Anything else: pandas' ``hash_array`` on the values.
    """
    if isinstance(values, pa.ChunkedArray):
        parts = [value_hashes(chunk) for chunk in values.chunks if len(chunk)]
        return np.concatenate(parts) if parts else np.empty(0, np.uint64)
    kind = values.type
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return _mix(values.cast(pa.int64()).to_numpy().view(np.uint64))
    if (common := _common_temporal(kind)) is not None:  # one unit for all objects: equal instants hash equal
        same_unit = pc.cast(values, common, safe=False)
        width = pa.int32() if pa.types.is_date32(common) else pa.int64()
        return _mix(same_unit.view(width).to_numpy().astype(np.int64).view(np.uint64))
    if pa.types.is_floating(kind):  # integral floats hash like the integer (1.0 in one object, 1 in another)
        floats = values.cast(pa.float64()).to_numpy()
        integral = np.isfinite(floats) & (np.abs(floats) < 2.0 ** 63)
        as_int = np.where(integral, floats, 0).astype(np.int64)
        integral &= as_int == floats
        floats = np.where(np.isnan(floats), np.nan, floats)  # one NaN
        return np.where(integral, _mix(as_int.view(np.uint64)), _mix(floats.view(np.uint64)))
    if pa.types.is_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_string(kind) \
            or pa.types.is_large_binary(kind):
        return _bytes_hashes(values)
    import pandas as pd

    return pd.util.hash_array(values.to_numpy(zero_copy_only=False))


def _common_temporal(kind: pa.DataType) -> pa.DataType | None:
    """The unit every object's values of this kind are compared in (finer units truncate: a possible
    false duplicate, never a missed one)."""
    if pa.types.is_timestamp(kind):
        return pa.timestamp("us", kind.tz)
    if pa.types.is_date(kind):
        return pa.date32()
    if pa.types.is_time(kind):
        return pa.time64("us")
    if pa.types.is_duration(kind):
        return pa.duration("us")
    return None


def _bytes_hashes(values: pa.Array) -> np.ndarray:
    wide = pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int64 if wide else np.int32)[values.offset:values.offset + len(values) + 1]
    offsets = offsets.astype(np.int64)
    first, last = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buffer, np.uint8)[first:last] if data_buffer is not None else np.empty(0, np.uint8)
    lengths = np.diff(offsets)
    starts = offsets[:-1] - first
    position = np.arange(last - first, dtype=np.int64) - np.repeat(starts, lengths)
    per_byte = _mix((position.astype(np.uint64) << np.uint64(8)) | data.astype(np.uint64))
    del position
    running = np.zeros(len(per_byte) + 1, np.uint64)
    np.cumsum(per_byte, out=running[1:])
    sums = running[starts + lengths] - running[starts]  # wraps modulo 2**64, empty values sum to 0
    return _mix(sums ^ _mix(lengths.astype(np.uint64) + _GOLDEN))


_MAPS: dict[str, tuple[Callable[[pa.Array, dict[str, Any]], pa.Array] | None, bool]] = {
    "expect_column_values_to_not_be_null": (None, True),
    "expect_column_values_to_be_in_set": (_in_set, False),
    "expect_column_values_to_not_be_in_set": (_not_in_set, False),
    "expect_column_values_to_be_between": (_between, False),
    "expect_column_values_to_match_regex": (_regex, False),
}
_TABLE: dict[str, type[_Check]] = {
    "expect_table_columns_to_match_ordered_list": _ColumnsOrdered,
    "expect_table_columns_to_match_set": _ColumnsSet,
    "expect_table_row_count_to_equal": _RowCount,
    "expect_table_row_count_to_be_between": _RowCount,
    "expect_column_values_to_be_unique": _Unique,
}


def _check_for(config: dict[str, Any]) -> _Check:
    kind = config["type"]
    if kind in _MAPS:
        unexpected, counts_nulls = _MAPS[kind]
        return _ColumnMap(config, unexpected or (lambda v, k: v.is_null()), counts_nulls)
    return _TABLE.get(kind, _Unsupported)(config)


# ---- reading the target as a stream ------------------------------------------------------------
def iter_batches(loc: Location, fmt: str = "parquet", batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """Every visible object under ``loc`` as record batches, one object at a time (bounded memory)."""
    for rel in sorted(list_objects(loc)):
        with loc.fs.open(loc.child(rel).path, "rb") as handle:
            yield from _batches_of(handle, fmt, batch_rows)


def _batches_of(handle: Any, fmt: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        yield from pq.ParquetFile(handle).iter_batches(batch_size=batch_rows)
    elif fmt == "csv":
        from pyarrow import csv

        yield from csv.open_csv(handle, read_options=csv.ReadOptions(block_size=BLOCK_BYTES))
    elif fmt == "jsonl":
        from pyarrow import json as pajson

        yield from pajson.open_json(handle, read_options=pajson.ReadOptions(block_size=BLOCK_BYTES))
    else:
        raise ValueError(f"no record reader for format {fmt!r}: validation reads parquet, csv and jsonl")


def count_rows(loc: Location, fmt: str = "parquet") -> int:
    """Rows under ``loc``: Parquet footers only; CSV and JSON-lines by a streamed read."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        total = 0
        for rel in list_objects(loc):
            obj = loc.child(rel)
            with obj.fs.open(obj.path, "rb") as handle:
                try:
                    total += pq.ParquetFile(handle).metadata.num_rows
                except pa.ArrowInvalid as exc:
                    raise ValueError(f"{obj.url}: not a readable parquet object: {exc}") from exc
        return total
    return sum(batch.num_rows for batch in iter_batches(loc, fmt))


def read_location(loc: Location, fmt: str = "parquet") -> pa.Table:
    """Every visible object under ``loc`` as one table (small partitions and tests only)."""
    tables = [pa.Table.from_batches([batch]) for batch in iter_batches(loc, fmt)]
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="default")


def _kwargs(kwargs: dict[str, Any]) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("batch_id",)}
    text = ", ".join(f"{k}={v!r}" for k, v in shown.items())
    return text if len(text) < 160 else text[:157] + "..."
