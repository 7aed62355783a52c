"""Airflow adapters behind dags/residency_sync.py: one function per task.

Imported inside tasks only. Each takes what the DAG's task receives from Airflow (its arguments
and the context values it names: ``params``, ``run_id``, ``ti``, ``dag_run``, dates, the
``outlet_events``), builds the run's ``SyncSettings`` from the Params, and calls the business
logic (planner/runner/routing/copier); these functions publish Asset events and record lineage,
metrics, the audit log and the summary. Decided refusals fail without retries.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

from multicloud import metrics, reports
from multicloud.dagkit import estate_for
from multicloud.residency.policy import ResidencyPolicy
from multicloud.sync import audit, data_integration, interval, plan_store, runner, sources
from multicloud.sync.plan_store import PlanManifest, ShardRef
from multicloud.sync.planner import SyncItem, plan_sync
from multicloud.sync.settings import SyncSettings
from multicloud.sync.sources import Arrivals, AwaitedPartition
from multicloud.sync.summary import build_summary

log = logging.getLogger(__name__)


class PlanReference(TypedDict):
    """What XCom carries of a written plan (key ``plan``): its digest and a few counts, never items."""

    digest: str
    interval_start: str
    interval_end: str
    interval_source: str
    items: int
    regions: int
    denials: int
    data_integration: int


class RegionResult(TypedDict):
    """A ``sync`` task's return value: one region's items, how many landed, rows, Asset events."""

    region: str
    items: int
    done: int
    rows: int
    assets: int


def estate_of(settings: SyncSettings):
    """The run's estate (``dagkit.estate_for``: the allowlisted ``estate_file``, else the configured one)."""
    return estate_for({"estate_file": settings.estate_file})


def _policy(estate, settings: SyncSettings) -> ResidencyPolicy:
    mode = settings.residency_mode or "estate"
    return ResidencyPolicy.from_estate(estate).tightened(None if mode == "estate" else mode)


def plan_task(params: Mapping[str, Any] | None, run_id: str, data_interval_start: datetime | None,
              data_interval_end: datetime | None, dag_run: Any, ti: Any,
              arrivals: Arrivals | None = None) -> list[ShardRef]:
    """``plan_run`` for the DAG: one shard reference per region to map over; the plan's reference
    (``plan_reference``: a digest and counts, the plan itself is a file) goes to XCom key ``plan``.
    A decided refusal (bad Param, unknown name) fails without retries.

    ``arrivals``: what ``await_sources`` returned; its ``late`` source partitions (waited for in
    vain) are not planned, and summarize fails the run naming them."""
    from airflow.sdk.exceptions import AirflowFailException

    from multicloud.estate import EstateError

    try:
        written = plan_run(SyncSettings.from_params(params), run_id, data_interval_start, data_interval_end,
                           dag_run.run_after, late=(arrivals or {}).get("late"))
    except (ValueError, KeyError, EstateError) as exc:
        raise AirflowFailException(f"residency_sync plan refused: {exc}") from exc
    ti.xcom_push(key="plan", value=plan_reference(written))
    return written["shards"]


def plan_run(settings: SyncSettings, run_id: str, interval_start: datetime | None,
             interval_end: datetime | None = None, run_after: datetime | None = None,
             home: Path | None = None, late: list[AwaitedPartition] | None = None) -> PlanManifest:
    """Plan one run and write it to the run's plan files (``plan_store``); returns the manifest.

    ``interval_start`` may be None (a manual run without a logical date): see
    ``multicloud.sync.interval`` for which interval the run then covers."""
    estate = estate_of(settings)
    _refuse_unknown_ids(estate, settings)
    chosen = interval.run_interval(interval_start_param=settings.interval_start,
                                   data_interval_start=interval_start, data_interval_end=interval_end,
                                   run_after=run_after)
    datasets, regions = settings.datasets or None, settings.regions or None
    if datasets:
        interval.check_partition_alignment(chosen.start, {d: estate.dataset(d).partitioning for d in datasets})
    interval_start, interval_end = chosen.start, chosen.end
    log.info("run %s covers %s", run_id, chosen.describe())
    dry_run = settings.dry_run
    if sources.produces_sources() and not dry_run:
        produced = sources.produce_local_sources(estate, interval_start, datasets)
        if produced:
            log.info("local estate: produced source partitions %s", ", ".join(produced))
    plan = plan_sync(estate, _policy(estate, settings), interval_start, datasets=datasets, regions=regions,
                     interval_end=interval_end)
    late_partitions = {(p["dataset"], p["partition"]) for p in late or []}
    if late_partitions:  # late source data: those items wait for a later run; the others sync now
        plan = dataclasses.replace(plan, items=tuple(i for i in plan.items
                                                     if (i.dataset, i.partition) not in late_partitions))
    # quarantine items stay on the fsspec path whatever the engine: those rows never leave the source
    fsspec_plan, di_items = data_integration.split_items(plan.items)
    # a dry run copies nothing: an OCI Data Integration task run would copy, so none is started
    di_kwargs = [] if dry_run else [data_integration.operator_kwargs(estate, i, run_id) for i in di_items]
    denials = [d.__dict__ for d in plan.denials]
    partitions: dict[str, str] = {}
    for i in plan.items:
        partitions.setdefault(i.dataset, i.partition)
    if not dry_run:
        audit.record_denials(plan.denials, run_id, interval_start.isoformat())
        audit.log_decisions(estate, plan, run_id)
        metrics.emit_points([metrics.MetricPoint("sync.denied" if d.blocks else "sync.would_deny", 1.0, "count",
                                                 {"dataset": d.dataset, "region": d.region, "class": d.data_class})
                             for d in plan.denials], estate=estate)
    log.info("planned %d items (%d via OCI Data Integration%s), %d denials", len(fsspec_plan), len(di_items),
             ", not started: dry run" if dry_run and di_items else "", len(denials))
    manifest: PlanManifest = {
        "data_integration": di_kwargs, "denials": denials, "partitions": partitions,
        "data_integration_items": [] if dry_run else [i.as_dict() for i in di_items],
        "interval_start": interval_start.isoformat(), "interval_end": interval_end.isoformat(),
        "interval_source": chosen.source, "dry_run": dry_run, "late": list(late or [])}
    return plan_store.write_plan(run_id, manifest, [i.as_dict() for i in fsspec_plan], home)


def plan_reference(written: PlanManifest) -> PlanReference:
    """What XCom carries of a written plan (key ``plan``): its digest and a few counts, never items."""
    return {"digest": written["digest"], "interval_start": written["interval_start"],
            "interval_end": written["interval_end"], "interval_source": written["interval_source"],
            "items": sum(ref["items"] for ref in written["shards"]), "regions": len(written["shards"]),
            "denials": len(written["denials"]), "data_integration": len(written["data_integration"])}


def handoffs(reference: PlanReference, run_id: str) -> list[dict[str, Any]]:
    """The Data Integration operator's arguments of the plan's hand-offs (one task run each)."""
    return plan_store.read_manifest(run_id, reference["digest"])["data_integration"]


def handoff_items(reference: PlanReference, run_id: str) -> list[dict[str, Any]]:
    """The same hand-offs' items, in the same order (map index i lands task run i)."""
    return plan_store.read_manifest(run_id, reference["digest"])["data_integration_items"]


def _refuse_unknown_ids(estate, settings: SyncSettings) -> None:
    """Every unknown dataset and region at once (ValueError: plan_task fails the run without retry)."""
    problems = []
    for kind, requested, known in (("dataset", settings.datasets, [d.id for d in estate.datasets]),
                                   ("region", settings.regions, [r.id for r in estate.regions])):
        if unknown := sorted(set(requested or ()) - set(known)):
            problems.append(f"unknown {kind}(s) {unknown}; the estate has {sorted(known)}")
    if problems:
        raise ValueError("; ".join(problems))


ITEM_WORKERS_ENV = "MULTICLOUD_SYNC_ITEM_WORKERS"
DEFAULT_ITEM_WORKERS = 8


class ItemsFailed(RuntimeError):
    """Some items of a region failed (each recorded with its error); the region's task retries."""


def item_workers() -> int:
    """How many items a region task moves at once (``MULTICLOUD_SYNC_ITEM_WORKERS``, default 8)."""
    import os

    raw = os.environ.get(ITEM_WORKERS_ENV, "").strip()
    try:
        workers = int(raw) if raw else DEFAULT_ITEM_WORKERS
    except ValueError:
        raise ValueError(f"{ITEM_WORKERS_ENV}={raw!r} is not a whole number") from None
    if workers < 1:
        raise ValueError(f"{ITEM_WORKERS_ENV}={workers} must be at least 1")
    return workers


def sync_items(estate, items: list[SyncItem], run_id: str, *, dry_run: bool = False,
               workers: int | None = None) -> tuple[dict[SyncItem, dict[str, Any]], dict[SyncItem, str]]:
    """Run every item with at most ``workers`` at once: (details of those that succeeded, errors).

    Each item records its own outcome (``runner.run_item``), so one failing item never hides the
    others' results; the caller decides what a failure means for the task."""
    from concurrent.futures import ThreadPoolExecutor

    done: dict[SyncItem, dict[str, Any]] = {}
    failed: dict[SyncItem, str] = {}
    with ThreadPoolExecutor(max_workers=workers or item_workers(), thread_name_prefix="sync-item") as pool:
        futures = {pool.submit(runner.run_item, estate, item, run_id, dry_run=dry_run): item for item in items}
        for future, item in futures.items():
            try:
                done[item] = future.result()
            except Exception as exc:  # recorded by run_item with its trace; reported together below
                failed[item] = f"{type(exc).__name__}: {exc}"
    return done, failed


def sync_region(shard: ShardRef, params: Mapping[str, Any] | None, run_id: str, dag_run: Any,
                outlet_events: Any, alias: str) -> RegionResult:
    """Airflow task body: move every item of one region's plan shard, a bounded number at once.

    Lineage is recorded per item that moved. When every item succeeded, one Asset event per
    (dataset, region) that landed is published; while any item failed the task fails (and retries),
    and if it fails for good ``publish_partial_regions`` publishes what did land."""
    from multicloud.lineage import record_transfer

    settings = SyncSettings.from_params(params)
    items = [SyncItem.from_dict(i) for i in plan_store.read_shard(run_id, shard["region"], shard["digest"])]
    estate = estate_of(settings)
    dry_run = settings.dry_run
    done, failed = sync_items(estate, items, run_id, dry_run=dry_run)
    if not dry_run:
        for item, detail in done.items():
            record_transfer([detail["source_url"]], [detail["target_url"]],
                            component="sync" if item.kind == "copy" else "routing")
    rows = sum(int(d.get("rows") or 0) for d in done.values())
    log.info("%s: %d of %d items done (%s rows), %d failed", shard["region"], len(done), len(items), f"{rows:,}",
             len(failed))
    if failed:
        for item, error in failed.items():
            log.error("%s → %s (%s) failed: %s", item.dataset, item.region, item.kind, error)
        raise ItemsFailed(f"{shard['region']}: {len(failed)} of {len(items)} item(s) failed: "
                          + "; ".join(f"{i.dataset} ({i.kind}): {e}" for i, e in sorted(
                              failed.items(), key=lambda kv: kv[0].dataset))[:4000])
    published = 0
    if not dry_run:
        published = publish(outlet_events, alias, [(i, d) for i, d in done.items() if i.kind != "quarantine"],
                            run_id, _run_type(dag_run))
    return {"region": shard["region"], "items": len(items), "done": len(done), "rows": rows, "assets": published}


def land_item(item_dict: Mapping[str, Any], params: Mapping[str, Any] | None, run_id: str, ti: Any,
              outlet_events: Any, alias: str) -> dict[str, Any]:
    """Airflow task body: land the item whose task run (same map index) succeeded; Asset + lineage."""
    from airflow.sdk import Asset, AssetAlias
    from airflow.sdk.exceptions import AirflowSkipException

    from multicloud.lineage import record_transfer

    item = SyncItem.from_dict(dict(item_dict))
    task_run = ti.xcom_pull(task_ids="data_integration", map_indexes=ti.map_index)
    if not task_run:
        raise AirflowSkipException(f"{item.dataset} → {item.region}: the task run did not succeed; nothing to land")
    detail = data_integration.land(estate_of(SyncSettings.from_params(params)), item, run_id, task_run)
    record_transfer([detail["source_url"]], [detail["target_url"]], component="data_integration")
    uri = runner.asset_uri(item.dataset, item.region)
    outlet_events[AssetAlias(alias)].add(Asset(name=uri, uri=uri), extra={
        "partition": item.partition, "rows": detail.get("rows"), "run_id": run_id, "engine": data_integration.ENGINE,
        "task_run_key": detail.get("task_run_key")})
    log.info("%s → %s via OCI Data Integration task run %s: %s rows validated", item.dataset, item.region,
             detail.get("task_run_key"), detail.get("rows"))
    return {k: v for k, v in detail.items() if k != "validation"} | {
        "validation": (detail.get("validation") or {}).get("success")}


def publish(outlet_events: Any, alias: str, landed: list[tuple[SyncItem, dict[str, Any]]], run_id: str,
            run_type: str) -> int:
    """One Asset event (through the alias) per (dataset, region) in ``landed``."""
    from airflow.sdk import Asset, AssetAlias

    for item, detail in landed:
        uri = runner.asset_uri(item.dataset, item.region)
        outlet_events[AssetAlias(alias)].add(Asset(name=uri, uri=uri), extra={
            "partition": item.partition, "rows": detail.get("rows"), "run_id": run_id, "run_type": run_type})
    return len(landed)


def landed_items(shard_items: list[SyncItem], outcomes: dict[str, dict[str, Any]]) -> list[tuple[SyncItem, dict]]:
    """The (item, outcome) pairs of a shard that landed: status ok, and not a quarantine item."""
    landed = []
    for item in shard_items:
        outcome = outcomes.get(runner.item_name(item))
        if item.kind != "quarantine" and outcome and outcome.get("status") == "ok" \
                and outcome.get("item") == item.as_dict():
            landed.append((item, outcome))
    return landed


def publish_partial_regions(params: Mapping[str, Any] | None, run_id: str, ti: Any, dag_run: Any,
                            outlet_events: Any, alias: str) -> int:
    """Airflow task body: the Assets of what landed in each region whose ``sync`` did not succeed.

    A region's ``sync`` publishes its Assets only when all its items succeeded (a failed task
    publishes nothing), so one broken dataset would keep the region's other datasets from their
    consumers; this task runs after every ``sync`` ended, asks Airflow which did not succeed, and
    publishes those regions' landed items. A dry run publishes nothing."""
    shards = ti.xcom_pull(task_ids="plan", default=None)
    if not shards or SyncSettings.from_params(params).dry_run:
        return 0
    states = ti.get_task_states(dag_id=ti.dag_id, task_ids=["sync"], run_ids=[run_id]).get(run_id, {})
    unfinished = [s for n, s in enumerate(shards) if states.get(f"sync_{n}") != "success"]
    if not unfinished:
        return 0
    outcomes = runner.read_outcomes(run_id)
    run_type = _run_type(dag_run)
    total = 0
    for shard in unfinished:
        items = [SyncItem.from_dict(i) for i in plan_store.read_shard(run_id, shard["region"], shard["digest"])]
        landed = landed_items(items, outcomes)
        total += publish(outlet_events, alias, landed, run_id, run_type)
        log.info("%s: sync did not succeed; %d Asset event(s) published for what landed", shard["region"], len(landed))
    return total


def _run_type(dag_run: Any) -> str:
    """'scheduled', 'manual', 'backfill', 'asset_triggered' (consumers read it: backfill policy)."""
    run_type = getattr(dag_run, "run_type", "") or ""
    return str(getattr(run_type, "value", run_type))


def late_message(partition: AwaitedPartition) -> str:
    """One late source partition, named by dataset, source region and partition."""
    waited = f"not there after {partition['timeout_s']:g}s" if partition.get("timeout_s") else \
        "missing (the estate sets no arrival_timeout_s)"
    return (f"{partition['dataset']}: source partition {partition['partition']} in {partition['region']} is late, "
            f"{waited} ({partition['url']})")


def summarize_run(params: Mapping[str, Any] | None, run_id: str, ti: Any) -> list[str]:
    """The run's summary, from the plan's reference (XCom key ``plan``), the run's files and the Data
    Integration task runs that succeeded; fails the run when anything did not land.

    The reference is pulled here, not passed as an argument: when plan failed there is no XCom,
    and the summary must say so instead of failing on XComNotFound."""
    from airflow.sdk.exceptions import AirflowFailException

    settings = SyncSettings.from_params(params)
    reference = ti.xcom_pull(task_ids="plan", key="plan", default=None)
    if reference is None:
        headline = ["residency_sync: plan failed, nothing was synced (see the plan task log)"]
        reports.write_summary(runner.DAG_ID, run_id, headline, {"failed": ["plan"], "error": headline[0]})
        raise AirflowFailException(headline[0])
    planned = plan_store.read_manifest(run_id, reference["digest"])
    items = plan_store.read_items(run_id, planned)
    outcomes = runner.read_outcomes(run_id)
    handed_off = planned.get("data_integration") or []
    extra_lines: list[str] = []
    failed_handoffs = 0
    if handed_off:
        finished = ti.xcom_pull(task_ids="data_integration") or []
        finished = [r for r in (finished if isinstance(finished, list) else [finished]) if r]
        extra_lines.append(f"OCI Data Integration: {len(finished)}/{len(handed_off)} task runs succeeded")
        failed_handoffs = len(handed_off) - len(finished)
    late = planned.get("late") or []
    late_lines = [late_message(p) for p in late]
    extra_lines.extend(f"LATE {line}" for line in late_lines)
    # the extra line counts in the headline's budget, so the FAILED line is never cut off
    landed = items + (planned.get("data_integration_items") or [])
    headline, data = build_summary(planned.get("partitions") or {}, landed,
                                   planned.get("denials") or [], outcomes, dry_run=settings.dry_run,
                                   extra_lines=extra_lines)
    if failed_handoffs:
        data["failed"].append(f"{failed_handoffs} OCI Data Integration task run(s)")
    data["failed"].extend(late_lines)
    data["late"] = late
    data["data_integration"] = handed_off
    reports.write_summary(runner.DAG_ID, run_id, headline, data)
    for line in headline:
        log.info("%s", line)
    if data["failed"]:
        raise AirflowFailException(f"residency_sync: {len(data['failed'])} item(s) failed: "
                                   + ", ".join(data["failed"])[:4000])
    return headline
