"""The OCI Data Integration path of residency_sync, with the guarantees of the fsspec path.

A dataset with ``engine: oci-data-integration`` is moved by its published OCI task; this module
makes that path keep every promise the in-process path keeps:

- **Quarantined rows never leave the source.** The plan's quarantine item of such a dataset stays
  on the fsspec path (``split_items``): the router writes those rows to the source's own
  quarantine. The Data Integration task only ever gets route/copy items, and a record-routed item
  carries the ``JURISDICTIONS`` filter the task must apply.
- **The filter is verified, not trusted.** After the task run succeeds, ``land`` validates the
  target exactly as the fsspec path does (``runner.validate_item``): the row count the router
  would have written, the key columns, the suite, and the residency expectation (every row's
  country/jurisdiction is one the region may hold). A task that ignored the filter fails here.
- **An Asset event per (dataset, region)** and **lineage** (source -> target) on success, so
  model_training starts as it does for the fsspec path.

The Airflow task body that lands a hand-off (its Asset event, its lineage) is ``sync.tasks.land_item``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from multicloud import metrics
from multicloud.sync import runner
from multicloud.sync.planner import SyncItem

if TYPE_CHECKING:
    from multicloud.estate.models import Estate
    from multicloud.sync.storage import Location

log = logging.getLogger(__name__)
ENGINE = "oci-data-integration"


def split_items(items: Iterable[SyncItem]) -> tuple[list[SyncItem], list[SyncItem]]:
    """(items for the fsspec map, items for OCI Data Integration).

    Quarantine items always go to the fsspec map, whatever the dataset's engine: they write to the
    source region's own quarantine, so those rows never leave the source.
    """
    fsspec, handed = [], []
    for item in items:
        (handed if item.engine == ENGINE and item.kind != "quarantine" else fsspec).append(item)
    return fsspec, handed


def operator_kwargs(estate: Estate, item: SyncItem, run_id: str) -> dict[str, Any]:
    """``OCIDataIntegrationRunTaskOperator`` arguments for one item (no I/O, no credentials)."""
    dataset = estate.dataset(item.dataset)
    task = dataset.data_integration
    if task is None:
        raise ValueError(f"dataset {item.dataset!r} has engine {ENGINE!r} but no data_integration block")
    if item.kind == "quarantine":
        raise ValueError(f"{item.dataset}: quarantine rows never leave the source; not a Data Integration item")
    source_url, target_url = runner.endpoint_urls(estate, item)
    bindings = {**task.bindings, "SOURCE_URL": source_url, "TARGET_URL": target_url,
                "PARTITION": item.partition, "TARGET_REGION": item.region}
    if item.kind == "route":
        bindings["JURISDICTIONS"] = ",".join(item.jurisdictions)
        bindings["ROUTING_COLUMN"] = dataset.routing.column if dataset.routing else ""
    return {"workspace_id": task.workspace_id, "application_key": task.application_key, "task_key": task.task_key,
            "bindings": bindings, "oci_conn_id": task.connection_id,
            "rerun_failed_on_retry": task.on_retry == "rerun_failed",
            "task_run_name": f"{item.dataset}-{item.region}-{item.partition}".replace("/", "-").replace("=", "")}


def expected_rows(estate: Estate, item: SyncItem, source: Location) -> int | None:
    """Rows the target must hold: all of the source (copy), or the rows the router allows (route)."""
    dataset = estate.dataset(item.dataset)
    if dataset.format != "parquet":
        return None
    if item.kind == "copy":
        return runner.source_rows(source)
    import pyarrow.parquet as pq

    from multicloud.sync.copier import list_objects
    from multicloud.sync.routing import router_for

    router, allowed, total = router_for(estate, item.dataset), frozenset(item.jurisdictions), 0
    for rel in list_objects(source):
        if rel.endswith(".parquet"):
            with source.fs.open(source.child(rel).path, "rb") as handle:
                for batch in pq.ParquetFile(handle).iter_batches(columns=[router.column]):
                    total += int(router.mask(router.codes(batch), allowed).true_count)
    return total


def land(estate: Estate, item: SyncItem, run_id: str, task_run: dict[str, Any]) -> dict[str, Any]:
    """Validate what the task run wrote (as the fsspec path validates) and record the outcome."""
    ends = runner.endpoints(estate, item)
    detail: dict[str, Any] = {"source_url": ends.source.url, "target_url": ends.target.url, "engine": ENGINE,
                              "task_run_key": task_run.get("key"), "records_written": task_run.get("records_written")}
    dims = {"dataset": item.dataset, "region": item.region, "kind": item.kind}
    try:
        if not ends.target.fs.exists(ends.target.path):
            raise FileNotFoundError(f"task run {task_run.get('key')} succeeded but {ends.target.url} does not exist")
        expected = expected_rows(estate, item, ends.source)
        detail["rows"] = expected
        if expected is not None:
            detail["validation"] = runner.validate_item(estate, item, ends.target, expected)
        else:
            detail["validation"] = {"success": None, "unverified": f"format {estate.dataset(item.dataset).format}"}
    except Exception as exc:
        runner.record_outcome(run_id, item, "failed", {**detail, "error": f"{type(exc).__name__}: {exc}"})
        metrics.emit("sync.item_failed", 1, dimensions=dims, estate=estate)
        raise
    runner.record_outcome(run_id, item, "ok", detail)
    metrics.emit("sync.rows_landed", detail.get("rows") or 0, dimensions=dims, estate=estate)
    return detail
