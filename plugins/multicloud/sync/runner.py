"""Carry out one planned item (route, copy or quarantine), validate it, and record the outcome.

No Airflow import: the DAG's tasks call these functions; tests call them directly. Outcomes are
written as JSON under ``state/residency_sync/<run>/`` so the run's summary sees failed items too
(a failed mapped task has no XCom).
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud import metrics, paths
from multicloud.assets import dataset_asset_uri
from multicloud.paths import safe_run_id
from multicloud.statefile import atomic_write_text
from multicloud.sync import layout
from multicloud.sync.copier import sync_tree
from multicloud.sync.planner import SyncItem, countries_of
from multicloud.sync.routing import Output, route_partition, router_for
from multicloud.sync.storage import Location, location_for

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

DAG_ID = "residency_sync"


class RegionUnavailable(OSError):
    """The target region's storage cannot be written (an outage); the task fails and retries."""


@dataclass(frozen=True)
class Endpoints:
    source: Location
    target: Location


def asset_uri(dataset: str, region: str) -> str:
    """The Asset a successful (dataset, region) publishes; downstream DAGs schedule on it."""
    return dataset_asset_uri(dataset, region)


def endpoint_urls(estate: Estate, item: SyncItem) -> tuple[str, str]:
    """(source URL, target URL) of an item; no filesystem is built (no credentials, no I/O)."""
    dataset = estate.dataset(item.dataset)
    source_url = f"{layout.dataset_url(estate, dataset.source, dataset.id)}/{item.partition}"
    if item.kind == "quarantine":
        return source_url, f"{layout.quarantine_url(estate, dataset.id)}/{item.partition}"
    return source_url, f"{layout.dataset_url(estate, item.region, dataset.id)}/{item.partition}"


def endpoints(estate: Estate, item: SyncItem) -> Endpoints:
    source_url, target_url = endpoint_urls(estate, item)
    source_storage = estate.region(estate.dataset(item.dataset).source).storage
    target_storage = source_storage if item.kind == "quarantine" else estate.region(item.region).storage
    return Endpoints(location_for(source_storage, source_url), location_for(target_storage, target_url))


TABULAR = ("parquet", "csv", "jsonl")


def source_rows(loc: Location, fmt: str = "parquet") -> int:
    """Rows of a source partition: Parquet footers; CSV and JSON-lines by a streamed read."""
    from multicloud.sync.validation import count_rows

    return count_rows(loc, fmt)


def execute_item(estate: Estate, item: SyncItem, *, validate: bool = True, workers: int = 4) -> dict[str, Any]:
    """Move one item and validate it at the target. Raises on any failure; nothing half-visible."""
    dataset = estate.dataset(item.dataset)
    ends = endpoints(estate, item)
    if not ends.source.fs.exists(ends.source.path):
        raise FileNotFoundError(f"{item.dataset}: source partition {item.partition} in {dataset.source} "
                                f"({ends.source.url}) does not exist (late or missing source data)")
    result: dict[str, Any] = {"target_url": ends.target.url, "source_url": ends.source.url}
    try:
        if item.kind == "copy":
            stats = sync_tree(ends.source, ends.target, workers=workers)
            result |= {"copy": stats.as_dict(), "bytes": stats.bytes_copied}
            # rows are read only to validate against them: an unvalidated copy moves bytes, never parses them
            expected = source_rows(ends.source, dataset.format) if validate and dataset.format in TABULAR else None
        else:
            allowed = None if item.kind == "quarantine" else frozenset(item.jurisdictions)
            stats = route_partition(ends.source, {item.region: Output(ends.target, allowed)},
                                    router_for(estate, item.dataset))
            expected = stats.rows_out[item.region]
            result |= {"route": stats.as_dict()}
    except (NotADirectoryError, FileExistsError, PermissionError, ConnectionError) as exc:
        raise RegionUnavailable(f"{item.region}: storage {ends.target.url} is unavailable: {exc}") from exc
    result["rows"] = expected
    if validate and item.kind != "quarantine":
        if dataset.format in TABULAR:
            result["validation"] = validate_item(estate, item, ends.target, expected)
        else:  # opaque objects: byte-verified by checksums, but no records to check
            result["validation"] = {"success": None, "reason": f"format {dataset.format!r} has no records"}
    return result


def validate_item(estate: Estate, item: SyncItem, target: Location, expected_rows: int | None) -> dict[str, Any]:
    from multicloud.sync.validation import ValidationFailed, iter_batches, load_suite, run_expectations

    dataset = estate.dataset(item.dataset)
    residency_column = residency_values = None
    if item.kind == "route" and dataset.routing is not None:
        residency_column = dataset.routing.column
        residency_values = (countries_of(estate, item.jurisdictions) if dataset.routing.column_kind == "country"
                            else item.jurisdictions)
    outcome = run_expectations(  # streamed: memory bounded by the batch size, whatever the partition's size
        iter_batches(target, dataset.format), load_suite(dataset.expectation_suite), expected_rows=expected_rows,
        key_columns=dataset.key_columns, residency_column=residency_column, residency_values=residency_values,
        name=f"{item.dataset}-{item.region}",
    )
    if not outcome.success:
        raise ValidationFailed(f"{item.dataset} at {item.region}: {len(outcome.failures)} expectation(s) failed: "
                               + "; ".join(outcome.failures))
    return outcome.as_dict()


# ---- run state: one JSON per item, read by the summary --------------------------------------------
def state_dir(run_id: str, home: Path | None = None) -> Path:
    return paths.home_path(home, "state", DAG_ID, safe_run_id(run_id), what="sync run state")


def item_name(item: SyncItem) -> str:
    return f"{item.dataset}__{item.region}__{item.kind}"


def record_outcome(run_id: str, item: SyncItem, status: str, detail: dict[str, Any],
                   home: Path | None = None) -> None:
    body = {"item": item.as_dict(), "status": status, **detail}
    path = paths.join_within(str(state_dir(run_id, home)), paths.clean_name(f"{item_name(item)}.json", "sync item"))
    atomic_write_text(Path(path), json.dumps(body, sort_keys=True,
                                                                                      default=str))


def read_outcomes(run_id: str, home: Path | None = None) -> dict[str, dict[str, Any]]:
    folder = state_dir(run_id, home)
    if not folder.exists():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def run_item(estate: Estate, item: SyncItem, run_id: str, *, dry_run: bool = False) -> dict[str, Any]:
    """execute_item with outcome recording and metrics; re-raises failures after recording them."""
    dims = {"dataset": item.dataset, "region": item.region, "kind": item.kind}
    if dry_run:
        detail = {"dry_run": True, "target_url": endpoint_urls(estate, item)[1]}
        record_outcome(run_id, item, "dry-run", detail)
        return detail
    try:
        detail = execute_item(estate, item)
    except Exception as exc:
        record_outcome(run_id, item, "failed", {"error": f"{type(exc).__name__}: {exc}",
                                                "trace": traceback.format_exc(limit=3)})
        metrics.emit("sync.item_failed", 1, dimensions=dims, estate=estate)
        raise
    record_outcome(run_id, item, "ok", detail)
    metric = "sync.rows_quarantined" if item.kind == "quarantine" else "sync.rows_landed"
    points = [metrics.MetricPoint(metric, float(detail.get("rows") or 0), "count", dims)]
    if "bytes" in detail:
        points.append(metrics.MetricPoint("sync.bytes_copied", float(detail["bytes"]), "bytes", dims))
    metrics.emit_points(points, estate=estate)  # one append for the item's points
    return detail
