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

Hidden and bookkeeping objects (names starting with ``.`` or ``_``, like ``_manifest.json`` and
temporary uploads) are skipped. Pure apart from filesystem reads; no Airflow import.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from multicloud.estate.models import Dataset, Estate
from multicloud.residency.policy import ResidencyPolicy
from multicloud.sync.layout import QUARANTINE
from multicloud.sync.storage import Location, location_for

MODELS_PREFIX = "models"
BATCH_ROWS = 65_536
MAX_ROW_SAMPLES = 5


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
        }


LocationFor = Callable[[Any, str], Location]


def audit_estate(estate: Estate, *, regions: list[str] | None = None, strict: bool = False,
                 location: LocationFor = location_for, batch_rows: int = BATCH_ROWS) -> AuditResult:
    """Scan every (or the chosen) region's storage and report each object/row out of place."""
    policy = ResidencyPolicy.from_estate(estate)
    chosen = regions or [r.id for r in estate.regions]
    unknown = sorted(set(chosen) - {r.id for r in estate.regions})
    if unknown:
        raise ValueError(f"unknown region(s) to audit: {unknown}; the estate has {[r.id for r in estate.regions]}")
    result = AuditResult(regions=list(chosen))
    for region_id in chosen:
        _audit_region(estate, policy, region_id, result, strict, location, batch_rows)
    return result


def _audit_region(estate: Estate, policy: ResidencyPolicy, region_id: str, result: AuditResult, strict: bool,
                  location: LocationFor, batch_rows: int) -> None:
    region = estate.region(region_id)
    root = location(region.storage, region.storage.url)
    datasets = {d.path.strip("/"): d for d in estate.datasets}
    models = {m.id: m for m in estate.models}
    try:
        objects = list(_data_objects(root))
    except Exception as exc:  # a region we cannot read is reported, never silently passed
        result.errors.append(f"{region_id}: cannot list {root.url}: {type(exc).__name__}: {exc}")
        return
    for relative in objects:
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


def _check_dataset_object(estate: Estate, policy: ResidencyPolicy, region_id: str, dataset: Dataset, root: Location,
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
    for values in _column_batches(root.fs, f"{root.path.rstrip('/')}/{relative}", dataset, batch_rows):
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


def _data_objects(root: Location) -> Iterator[str]:
    """Relative paths of data objects under ``root`` (hidden and ``_``-prefixed names skipped)."""
    base = root.path.rstrip("/")
    if not root.fs.exists(base):
        return
    for path in sorted(root.fs.find(base)):
        relative = posixpath.relpath(path, base) if path.startswith("/") else path[len(base):].lstrip("/")
        parts = relative.split("/")
        if any(p.startswith(".") for p in parts) or parts[-1].startswith("_"):
            continue
        yield relative


def _column_batches(fs: Any, path: str, dataset: Dataset, batch_rows: int) -> Iterator[Any]:
    """The routing column of one object, batch by batch (never the whole file in memory)."""
    assert dataset.routing is not None
    column = dataset.routing.column
    if dataset.format == "parquet":
        import pyarrow.parquet as pq

        with fs.open(path, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            if column not in parquet.schema_arrow.names:
                raise ValueError(f"routing column {column!r} is missing (columns: {parquet.schema_arrow.names})")
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=[column]):
                yield batch.column(0)
    elif dataset.format == "csv":
        import pyarrow.csv as pacsv

        with fs.open(path, "rb") as handle:
            reader = pacsv.open_csv(handle, convert_options=pacsv.ConvertOptions(include_columns=[column]))
            for batch in reader:
                yield batch.column(0)
    elif dataset.format == "jsonl":
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
