"""At-rest residency audit: what is actually stored in each region, checked against the policy.

This catches copies made outside our DAGs. Per region, every object under the storage root is
classified by where it lives:

- ``{dataset.path}/...`` of an object-level dataset: the dataset's class;
- ``{dataset.path}/...`` of a record-routed dataset (parquet, csv, jsonl): every row's routing
  column -> jurisdiction -> class, streamed in batches (memory bounded by one batch); the
  dataset's source region holds the system of record and is not row-checked;
- ``models/<model>/...``: the model's class (the class of its training data);
- ``_quarantine/...``: allowed only in the source region of its dataset;
- anything else: *unclassified* (reported apart; ``strict`` turns each into a violation, since an
  unknown class is denied).

It fails closed and sees everything:

- every object is examined, hidden and ``_``-prefixed names and folders included. Only two kinds
  of object are exempt: the copier's own in-flight temporaries (``.<name>.mcsync-tmp-<32 hex>``,
  and only while younger than ``temp_max_age_s``; older ones are classified like any object and
  listed as stale) and its manifests (``_manifest.json`` that really are a copier manifest);
- a region whose storage cannot be listed completely (missing root or bucket, permission
  denied anywhere below it, an unreachable endpoint) is *unverified*, never clean;
- object paths and dataset paths are normalised before they are classified.

Pure apart from storage reads; no Airflow import.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from fsspec.implementations.local import LocalFileSystem

from multicloud import paths
from multicloud.estate.models import Dataset, Estate
from multicloud.residency.policy import ResidencyPolicy
from multicloud.sync.copier import MANIFEST, TMP_MARK
from multicloud.sync.layout import QUARANTINE
from multicloud.sync.storage import Location, location_for

MODELS_PREFIX = "models"
BATCH_ROWS = 65_536
MAX_ROW_SAMPLES = 5
TEMP_MAX_AGE_S = 6 * 3600  # an in-flight copy older than this is a stale temporary, not in flight
MAX_MANIFEST_BYTES = 64 << 20
_TEMP_RE = re.compile(rf"^\.(?P<final>.+){re.escape(TMP_MARK)}[0-9a-f]{{32}}$")


@dataclass(frozen=True)
class Finding:
    """One object (or the offending rows of one object) that may not live where it is."""

    region: str
    path: str
    kind: str  # "object", "rows", "unclassified", "unreadable"
    data_class: str | None
    rule: str
    reason: str
    mode: str = "enforce"
    dataset: str | None = None
    rows: int | None = None
    row_samples: tuple[int, ...] = ()
    classes: dict[str, int] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.mode == "enforce"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "row_samples": list(self.row_samples), "blocking": self.blocking}


@dataclass
class AuditResult:
    regions: list[str] = field(default_factory=list)
    objects_scanned: int = 0
    rows_scanned: int = 0
    findings: list[Finding] = field(default_factory=list)
    unclassified: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unverified: list[dict[str, str]] = field(default_factory=list)  # {region, url, cause}
    stale_temporaries: list[dict[str, Any]] = field(default_factory=list)
    exempt: int = 0

    @property
    def status(self) -> str:
        """``unverified`` beats ``violations`` beats ``clean``: what could not be read is never clean."""
        return "unverified" if self.unverified else ("violations" if self.violations else "clean")

    def region_status(self) -> dict[str, str]:
        unverified = {u["region"] for u in self.unverified}
        by_region = self.by_region()
        return {r: "unverified" if r in unverified else ("violations" if by_region[r] else "clean")
                for r in self.regions}

    @property
    def violations(self) -> list[Finding]:
        """Enforced denials: the objects and rows that must not be where they are."""
        return [f for f in self.findings if f.blocking]

    @property
    def would_deny(self) -> list[Finding]:
        """Denials of classes in audit mode: recorded, not (yet) enforced."""
        return [f for f in self.findings if not f.blocking]

    def by_region(self) -> dict[str, int]:
        counts = Counter(f.region for f in self.violations)
        return {r: counts.get(r, 0) for r in self.regions}

    def as_dict(self) -> dict[str, Any]:
        return {
            "regions": self.regions, "objects_scanned": self.objects_scanned, "rows_scanned": self.rows_scanned,
            "violations": [f.as_dict() for f in self.violations],
            "would_deny": [f.as_dict() for f in self.would_deny],
            "unclassified": [f.as_dict() for f in self.unclassified],
            "violations_by_region": self.by_region(), "errors": self.errors,
            "unverified": self.unverified, "region_status": self.region_status(), "status": self.status,
            "stale_temporaries": self.stale_temporaries, "exempt": self.exempt,
        }


LocationFor = Callable[[Any, str], Location]


def audit_estate(estate: Estate, *, regions: list[str] | None = None, strict: bool = False,
                 location: LocationFor = location_for, batch_rows: int = BATCH_ROWS,
                 temp_max_age_s: float = TEMP_MAX_AGE_S, now: float | None = None) -> AuditResult:
    """Scan every (or the chosen) region's storage and report each object/row out of place;
    a region that cannot be listed completely is reported unverified."""
    policy = ResidencyPolicy.from_estate(estate)
    chosen = regions or [r.id for r in estate.regions]
    unknown = sorted(set(chosen) - {r.id for r in estate.regions})
    if unknown:
        raise ValueError(f"unknown region(s) to audit: {unknown}; the estate has {[r.id for r in estate.regions]}")
    result = AuditResult(regions=list(chosen))
    scan = _Scan(strict, location, batch_rows, temp_max_age_s, time.time() if now is None else now)
    for region_id in chosen:
        _audit_region(estate, policy, region_id, result, scan)
    return result


@dataclass(frozen=True)
class _Scan:
    strict: bool
    location: LocationFor
    batch_rows: int
    temp_max_age_s: float
    now: float


def _unverified(result: AuditResult, region_id: str, url: str, cause: str) -> None:
    result.unverified.append({"region": region_id, "url": url, "cause": cause})
    result.errors.append(f"{region_id}: UNVERIFIED: {cause}")


def _audit_region(estate: Estate, policy: ResidencyPolicy, region_id: str, result: AuditResult, scan: _Scan) -> None:
    region = estate.region(region_id)
    strict, batch_rows = scan.strict, scan.batch_rows
    try:
        root = scan.location(region.storage, region.storage.url)
        listing = _list_everything(root)
    except Exception as exc:  # a region we cannot read is unverified, never clean
        _unverified(result, region_id, region.storage.url, f"cannot list its storage: {type(exc).__name__}: {exc}")
        return
    datasets = {_normalised(d.path): d for d in estate.datasets}
    models = {m.id: m for m in estate.models}
    for relative, info in listing:
        if _exempt(root, relative, info, region_id, result, scan):
            result.exempt += 1
            continue
        result.objects_scanned += 1
        url = f"{root.url.rstrip('/')}/{relative}"
        head, _, rest = relative.partition("/")
        dataset = _dataset_under(datasets, relative)
        try:
            if dataset is not None:
                finding = _check_dataset_object(estate, policy, region_id, dataset, root, relative, url,
                                                result, batch_rows)
            elif head == MODELS_PREFIX and rest.split("/", 1)[0] in models:
                model = models[rest.split("/", 1)[0]]
                finding = _object_finding(policy, region_id, model.data_class, url, dataset=None)
            elif head == QUARANTINE:
                finding = _check_quarantine(region_id, _dataset_under(datasets, rest), url)
            else:
                finding = Finding(region_id, url, "unclassified", None, "default-deny:unknown-class",
                                  "object is under no dataset, model or quarantine prefix of the estate")
                (result.findings if strict else result.unclassified).append(finding)
                finding = None
        except Exception as exc:
            finding = Finding(region_id, url, "unreadable", None, "default-deny:unreadable",
                              f"cannot read the object to classify its rows: {type(exc).__name__}: {exc}")
        if finding is not None:
            result.findings.append(finding)


def _check_dataset_object(estate: Estate, policy: ResidencyPolicy, region_id: str, dataset: Dataset, root: Location,  # noqa: PLR0913  the audit walk's per-object context
                          relative: str, url: str, result: AuditResult, batch_rows: int) -> Finding | None:
    if dataset.data_class is not None:
        return _object_finding(policy, region_id, dataset.data_class, url, dataset=dataset.id)
    if region_id == dataset.source:
        return None  # the system of record: every row of the dataset originates here
    assert dataset.routing is not None
    import pyarrow as pa
    import pyarrow.compute as pc

    counts: Counter[str] = Counter()
    decisions: dict[Any, Any] = {}
    denied_rows, offset = 0, 0
    samples: list[int] = []
    path = f"{root.path.rstrip('/')}/{relative}"
    for values in _column_batches(root.fs, path, dataset, batch_rows, _format_of(relative, dataset)):
        denied_here = []
        # Decide once per distinct value of the batch, then count rows with arrow kernels.
        for entry in pc.value_counts(values).to_pylist():
            value, rows = entry["values"], entry["counts"]
            if value not in decisions:
                jurisdiction = value
                if value is not None and dataset.routing.column_kind == "country":
                    jurisdiction = estate.jurisdiction_of_country(str(value))
                data_class = policy.class_for_jurisdiction(dataset.routing.class_by_jurisdiction, jurisdiction)
                decisions[value] = policy.decide(data_class, region_id)
            if not decisions[value].allowed:
                denied_rows += rows
                counts[decisions[value].data_class] += rows
                denied_here.append(value)
        if denied_here and len(samples) < MAX_ROW_SAMPLES:
            known = [v for v in denied_here if v is not None]
            mask = pc.is_in(values, value_set=pa.array(known, type=values.type)) if known else None
            if None in denied_here:
                nulls = pc.is_null(values)
                mask = nulls if mask is None else pc.or_(mask, nulls)
            hits = pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()
            samples += [offset + i for i in hits[: MAX_ROW_SAMPLES - len(samples)]]
        offset += len(values)
    result.rows_scanned += offset
    if not denied_rows:
        return None
    denied = [d for d in decisions.values() if not d.allowed]
    worst = next((d for d in denied if d.blocks), denied[0])
    return Finding(region_id, url, "rows", worst.data_class, worst.rule,
                   f"{denied_rows} row(s) whose class may not live in {region_id}: {worst.reason}", worst.mode,
                   dataset.id, denied_rows, tuple(samples), dict(counts))


def _object_finding(policy: ResidencyPolicy, region_id: str, data_class: str, url: str,
                    dataset: str | None) -> Finding | None:
    decision = policy.decide(data_class, region_id)
    if decision.allowed:
        return None
    return Finding(region_id, url, "object", data_class, decision.rule, decision.reason, decision.mode, dataset)


def _normalised(path: str) -> str:
    try:
        return paths.clean_relative(path, "dataset path")
    except paths.UnsafePath:
        return path  # an escaping path owns nothing; its objects are unclassified (and strict denies them)


def _dataset_under(datasets: dict[str, Dataset], relative: str) -> Dataset | None:
    """The dataset whose path (one or more segments) holds ``relative``; the longest path wins."""
    owners = [p for p in datasets if relative == p or relative.startswith(f"{p}/")]
    return datasets[max(owners, key=len)] if owners else None


def _check_quarantine(region_id: str, owner: Dataset | None, url: str) -> Finding | None:
    if owner is not None and owner.source == region_id:
        return None
    where = f"dataset {owner.id!r} has its source in {owner.source}" if owner else "no dataset owns it"
    return Finding(region_id, url, "object", None, "quarantine-outside-source",
                   f"quarantined rows (unknown class) may stay only in their source region; {where}",
                   dataset=owner.id if owner else None)


def _list_everything(root: Location) -> list[tuple[str, dict[str, Any]]]:
    """(relative path, info) of EVERY object under ``root``: hidden names included; any listing
    error raises (the caller marks the region unverified), a missing root or bucket included."""
    base = root.path.rstrip("/") or "/"
    if isinstance(root.fs, LocalFileSystem):
        if not os.path.isdir(base):
            raise FileNotFoundError(f"storage root {base} does not exist or is not a folder")

        def fail(exc: OSError) -> None:
            raise exc

        found: list[tuple[str, dict[str, Any]]] = []
        for folder, dirs, files in os.walk(base, onerror=fail):
            links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
            for name in [*files, *links]:  # a symlinked folder is one object: it is not followed
                full = os.path.join(folder, name)
                stat = os.lstat(full)
                found.append((posixpath.relpath(full, base), {"size": stat.st_size, "mtime": stat.st_mtime}))
        return sorted(found)
    bucket = base.split("/", 1)[0]
    if not root.fs.exists(bucket):
        raise FileNotFoundError(f"bucket {bucket!r} does not exist or cannot be read")
    listing = root.fs.find(base, detail=True, on_error="raise")
    strip = root.fs._strip_protocol(base).rstrip("/")
    found = []
    for path, info in listing.items():
        if info.get("type") == "directory":
            continue
        found.append((root.fs._strip_protocol(path)[len(strip):].lstrip("/"), info))
    return sorted(found)


def _exempt(root: Location, relative: str, info: dict[str, Any], region_id: str, result: AuditResult,
            scan: _Scan) -> bool:
    """Only the copier's in-flight temporaries (young) and its manifests are not classified."""
    name = posixpath.basename(relative)
    match = _TEMP_RE.match(name)
    if match:
        age = scan.now - _epoch(info)
        if age <= scan.temp_max_age_s:
            return True
        result.stale_temporaries.append({"region": region_id, "path": f"{root.url.rstrip('/')}/{relative}",
                                         "age_s": round(age, 1)})
        return False
    return name == MANIFEST and _is_manifest(root, relative, info)


def _is_manifest(root: Location, relative: str, info: dict[str, Any]) -> bool:
    if int(info.get("size") or 0) > MAX_MANIFEST_BYTES:
        return False
    try:
        with root.fs.open(f"{root.path.rstrip('/')}/{relative}", "rb") as handle:
            body = json.loads(handle.read())
    except (OSError, ValueError):
        return False
    return (isinstance(body, dict) and set(body) == {"objects"} and isinstance(body["objects"], dict)
            and all(isinstance(e, dict) and "sha256" in e for e in body["objects"].values()))


def _epoch(info: dict[str, Any]) -> float:
    for key in ("mtime", "LastModified", "last_modified", "time_modified", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
        if value is not None and hasattr(value, "timestamp"):
            return value.timestamp()
    return 0.0  # no age known: never young, so never exempt


_FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}


def _format_of(relative: str, dataset: Dataset) -> str:
    """The object's own format when its name says so (a CSV dropped among Parquet files is still
    read row by row), the dataset's format otherwise."""
    return _FORMATS.get(posixpath.splitext(relative)[1].lower(), dataset.format)


def _column_batches(fs: Any, path: str, dataset: Dataset, batch_rows: int, fmt: str) -> Iterator[Any]:
    """The routing column of one object, batch by batch (never the whole file in memory)."""
    assert dataset.routing is not None
    column = dataset.routing.column
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with fs.open(path, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            if column not in parquet.schema_arrow.names:
                raise ValueError(f"routing column {column!r} is missing (columns: {parquet.schema_arrow.names})")
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=[column]):
                yield batch.column(0)
    elif fmt == "csv":
        import pyarrow.csv as pacsv

        with fs.open(path, "rb") as handle:
            reader = pacsv.open_csv(handle, convert_options=pacsv.ConvertOptions(include_columns=[column]))
            for batch in reader:
                yield batch.column(0)
    elif fmt == "jsonl":
        import pyarrow.json as pajson

        with fs.open(path, "rb") as handle:
            table = pajson.read_json(handle)
        if column not in table.column_names:
            raise ValueError(f"routing column {column!r} is missing")
        for batch in table.select([column]).to_batches(max_chunksize=batch_rows):
            yield batch.column(0)
    else:
        raise ValueError(f"record-routed dataset {dataset.id!r} has format {dataset.format!r}: no rows to read")


def log_findings(estate: Estate, result: AuditResult, run_id: str = "") -> int:
    """Every finding (violations and would-deny) as an ``audit_finding`` structured log entry."""
    from multicloud.metrics import logs

    entries = [{"run_id": run_id, **f.as_dict()} for f in result.findings]
    logs.record_many("audit_finding", entries, estate=estate)
    return len(entries)
