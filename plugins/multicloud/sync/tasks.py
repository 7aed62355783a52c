"""Airflow adapters behind dags/residency_sync.py: plan, sync one item, summarize.

Imported inside tasks only. The business logic is in planner/runner/routing/copier; these
functions read the run's context (params, interval, run id), publish Asset events, record
lineage, metrics, the audit log and the summary.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from multicloud import metrics, reports
from multicloud.dagkit import estate_for
from multicloud.residency.policy import ResidencyPolicy
from multicloud.sync import audit, data_integration, interval, runner, sources
from multicloud.sync.planner import SyncItem, plan_sync
from multicloud.sync.summary import build_summary

log = logging.getLogger(__name__)


def _policy(estate, params: dict[str, Any]) -> ResidencyPolicy:
    mode = params.get("residency_mode") or "estate"
    return ResidencyPolicy.from_estate(estate).tightened(None if mode == "estate" else mode)


def plan_task(params: dict[str, Any] | None, run_id: str, interval_start: datetime | None,
              interval_end: datetime | None, run_after: datetime | None) -> dict[str, Any]:
    """``plan_run`` for the DAG: a decided refusal (bad Param, unknown name) fails without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from multicloud.estate import EstateError

    try:
        return plan_run(params, run_id, interval_start, interval_end, run_after)
    except (ValueError, KeyError, EstateError) as exc:
        raise AirflowFailException(f"residency_sync plan refused: {exc}") from exc


def plan_run(params: dict[str, Any] | None, run_id: str, interval_start: datetime | None,
             interval_end: datetime | None = None, run_after: datetime | None = None) -> dict[str, Any]:
    """Plan one run. ``interval_start`` may be None (a manual run without a logical date): see
    ``multicloud.sync.interval`` for which interval the run then covers."""
    params = dict(params or {})
    estate = estate_for(params)
    _refuse_unknown_ids(estate, params)
    chosen = interval.run_interval(interval_start_param=params.get("interval_start"),
                                   data_interval_start=interval_start, data_interval_end=interval_end,
                                   run_after=run_after)
    if params.get("datasets"):
        interval.check_partition_alignment(
            chosen.start, {d: estate.dataset(d).partitioning for d in params["datasets"]})
    interval_start, interval_end = chosen.start, chosen.end
    log.info("run %s covers %s", run_id, chosen.describe())
    if sources.produces_sources() and not params.get("dry_run"):
        produced = sources.produce_local_sources(estate, interval_start, params.get("datasets") or None)
        if produced:
            log.info("local estate: produced source partitions %s", ", ".join(produced))
    plan = plan_sync(estate, _policy(estate, params), interval_start,
                     datasets=params.get("datasets") or None, regions=params.get("regions") or None,
                     interval_end=interval_end)
    dry_run = bool(params.get("dry_run"))
    # quarantine items stay on the fsspec path whatever the engine: those rows never leave the source
    fsspec_plan, di_items = data_integration.split_items(plan.items)
    fsspec_items = [i.as_dict() for i in fsspec_plan]
    # a dry run copies nothing: an OCI Data Integration task run would copy, so none is started
    di_kwargs = [] if dry_run else [data_integration.operator_kwargs(estate, i, run_id) for i in di_items]
    denials = [d.__dict__ for d in plan.denials]
    partitions: dict[str, str] = {}
    for i in plan.items:
        partitions.setdefault(i.dataset, i.partition)
    if not dry_run:
        audit.record_denials(plan.denials, run_id, interval_start.isoformat())
        audit.log_decisions(estate, plan, run_id)
        for d in plan.denials:
            metrics.emit("sync.denied" if d.blocks else "sync.would_deny", 1, estate=estate,
                         dimensions={"dataset": d.dataset, "region": d.region, "class": d.data_class})
    log.info("planned %d items (%d via OCI Data Integration%s), %d denials", len(fsspec_items), len(di_items),
             ", not started: dry run" if dry_run and di_items else "", len(denials))
    return {"items": fsspec_items, "data_integration": di_kwargs, "denials": denials, "partitions": partitions,
            "data_integration_items": [] if dry_run else [i.as_dict() for i in di_items],
            "interval_start": interval_start.isoformat(), "interval_end": interval_end.isoformat(),
            "interval_source": chosen.source}


def _refuse_unknown_ids(estate, params: dict[str, Any]) -> None:
    """Every unknown dataset and region at once (ValueError: plan_task fails the run without retry)."""
    problems = []
    for kind, requested, known in (("dataset", params.get("datasets"), [d.id for d in estate.datasets]),
                                   ("region", params.get("regions"), [r.id for r in estate.regions])):
        if unknown := sorted(set(requested or ()) - set(known)):
            problems.append(f"unknown {kind}(s) {unknown}; the estate has {sorted(known)}")
    if problems:
        raise ValueError("; ".join(problems))


def sync_one(item_dict: dict[str, Any], params: dict[str, Any] | None, run_id: str, outlet_events: Any,
             alias: str) -> dict[str, Any]:
    from airflow.sdk import Asset, AssetAlias, get_current_context

    from multicloud.lineage import record_transfer

    params = dict(params or {})
    item = SyncItem.from_dict(item_dict)
    context = get_current_context()
    context["sync_label"] = f"{item.dataset} → {item.region} ({item.kind})"
    estate = estate_for(params)
    detail = runner.run_item(estate, item, run_id, dry_run=bool(params.get("dry_run")))
    if params.get("dry_run"):
        return detail
    record_transfer([detail["source_url"]], [detail["target_url"]],
                    component="sync" if item.kind == "copy" else "routing")
    if item.kind != "quarantine":
        outlet_events[AssetAlias(alias)].add(
            Asset(name=runner.asset_uri(item.dataset, item.region), uri=runner.asset_uri(item.dataset, item.region)),
            extra={"partition": item.partition, "rows": detail.get("rows"), "run_id": run_id,
                   "run_type": _run_type(context)},
        )
    log.info("%s → %s (%s): %s rows, %s", item.dataset, item.region, item.kind, detail.get("rows"),
             detail.get("copy") or detail.get("route"))
    return {k: v for k, v in detail.items() if k != "validation"} | {
        "validation": (detail.get("validation") or {}).get("success")}


def _run_type(context: Any) -> str:
    """'scheduled', 'manual', 'backfill', 'asset_triggered' (consumers read it: backfill policy)."""
    run_type = getattr(context.get("dag_run"), "run_type", "") or ""
    return str(getattr(run_type, "value", run_type))


def summarize_run(planned: dict[str, Any] | None, params: dict[str, Any] | None, run_id: str) -> list[str]:
    """The run's summary. ``planned`` is None when plan failed: the summary says so (no XCom error)."""
    from airflow.sdk.exceptions import AirflowFailException

    params = dict(params or {})
    if planned is None:
        headline = ["residency_sync: plan failed, nothing was synced (see the plan task log)"]
        reports.write_summary(runner.DAG_ID, run_id, headline, {"failed": ["plan"], "error": headline[0]})
        raise AirflowFailException(headline[0])
    outcomes = runner.read_outcomes(run_id)
    handed_off = planned.get("data_integration") or []
    extra_lines: list[str] = []
    failed_handoffs = 0
    if handed_off:
        from airflow.sdk import get_current_context

        finished = get_current_context()["ti"].xcom_pull(task_ids="data_integration") or []
        finished = [r for r in (finished if isinstance(finished, list) else [finished]) if r]
        extra_lines.append(f"OCI Data Integration: {len(finished)}/{len(handed_off)} task runs succeeded")
        failed_handoffs = len(handed_off) - len(finished)
    # the extra line counts in the headline's budget, so the FAILED line is never cut off
    landed_items = (planned.get("items") or []) + (planned.get("data_integration_items") or [])
    headline, data = build_summary(planned.get("partitions") or {}, landed_items,
                                   planned.get("denials") or [], outcomes, dry_run=bool(params.get("dry_run")),
                                   extra_lines=extra_lines)
    if failed_handoffs:
        data["failed"].append(f"{failed_handoffs} OCI Data Integration task run(s)")
    data["data_integration"] = handed_off
    reports.write_summary(runner.DAG_ID, run_id, headline, data)
    for line in headline:
        log.info("%s", line)
    if data["failed"]:
        raise AirflowFailException(f"residency_sync: {len(data['failed'])} item(s) failed: {', '.join(data['failed'])}")
    return headline
