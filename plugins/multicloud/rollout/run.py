"""What each model_rollout task does, without Airflow (``rollout.tasks`` adapts these for the DAG)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud.assets import model_of_asset_uri
from multicloud.drivers import driver_for
from multicloud.placement import current_placement
from multicloud.rollout import engine, planner
from multicloud.rollout.baseline import baseline_runtime
from multicloud.rollout.gates import Thresholds
from multicloud.rollout.probes import run_gate
from multicloud.training import artifacts

if TYPE_CHECKING:
    from multicloud.estate.models import Estate
    from multicloud.rollout.settings import RolloutSettings

log = logging.getLogger(__name__)


def resolve_versions(estate: Estate, settings: RolloutSettings,
                     triggered: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """model -> version: the Param, else the triggering asset events, else each model's latest version."""
    from_events: dict[str, str] = {}
    for uri, extra in triggered:
        model = model_of_asset_uri(uri)
        if model and (extra or {}).get("version"):
            from_events[model] = str(extra["version"])
    if settings.model:
        models = [settings.model]
    elif from_events:
        models = list(from_events)
    else:
        models = [m.id for m in estate.models]
    chosen: dict[str, str] = {}
    for model in models:
        estate.model(model)  # KeyError names an unknown model
        version = settings.version or from_events.get(model) or artifacts.latest_version(estate, model)
        if not version:
            if settings.model:
                raise ValueError(f"model {model}: no trained version exists; run model_training first")
            log.warning("model %s has no trained version yet; not rolled out", model)
            continue
        artifacts.read_card(estate, model, version)  # fails clearly when the version does not exist
        chosen[model] = version
    return chosen


def build_plan(estate: Estate, settings: RolloutSettings, triggered: Iterable[tuple[str, dict[str, Any]]],
               home: Path | None = None) -> dict[str, Any]:
    placement = current_placement(estate, home)
    clusters = list(settings.clusters) or None
    candidates = [c.id for _region, c in estate.clusters() if clusters is None or c.id in clusters]
    # What every cluster serves, asked of all clusters at once (remote API servers answer in parallel).
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(candidates)))) as pool:
        served_by_cluster = dict(zip(candidates, pool.map(lambda c: driver_for(estate, c, home).served(), candidates),
                                     strict=True))
    plans = []
    for model, version in resolve_versions(estate, settings, triggered).items():
        serving = {cluster: served_by_cluster[cluster].get(model, {}) for cluster in candidates}
        plans.append(planner.plan_rollout(
            estate, placement, model, version, artifacts.artifact_uri(estate, model, version), clusters=clusters,
            strategy=settings.strategy, max_parallel=settings.max_parallel, serving=serving))
    stages = planner.merge_plans(plans) if not settings.dry_run else [[] for _ in planner.STAGES]
    return {"plans": plans, "stages": stages, "dry_run": settings.dry_run, "strategy": settings.strategy}


def deploy_lane(estate: Estate, lane: list[dict[str, Any]], strategy: str, run_id: str,
                ready_timeout_s: float, home: Path | None = None) -> list[dict[str, Any]]:
    """Start every cluster of the lane, then wait for each (start-ups overlap)."""
    journal = engine.Journal(run_id, home, estate)
    pairs = [(driver_for(estate, item["cluster"], home), item) for item in lane]
    try:
        started = engine.start_items(pairs, runtime=lambda cluster: baseline_runtime(estate, cluster),
                                     journal=journal,
                                     labels={"rollout": run_id[:63]})
        return [engine.finish_item(driver, item, begun, strategy=strategy, journal=journal,
                                   ready_timeout_s=ready_timeout_s)
                for (driver, item), begun in zip(pairs, started, strict=True)]
    except Exception as exc:
        journal.event("failed", cluster=",".join(i["cluster"] for i in lane), error=str(exc))
        raise


def thresholds_for(estate: Estate, model: str, settings: RolloutSettings) -> Thresholds:
    slo = estate.model(model).slo
    return Thresholds(
        success_rate_min=float(settings.gate_success_rate or slo.success_rate),
        p95_ms_max=float(settings.gate_p95_ms or slo.p95_ms),
        max_failed_checks=settings.gate_max_failed_checks,
        checks=settings.gate_checks,
        interval_s=settings.gate_interval_s,
    )


def prometheus_check(estate: Estate, item: dict[str, Any], thresholds: Thresholds, fetch: Any) -> Any:
    """The cluster's Flagger-style metric check of ``item``'s version, or None without a Prometheus."""
    _region, cluster = estate.cluster(item["cluster"])
    if cluster.prometheus is None:
        return None
    from multicloud.rollout import metric_checks

    def run() -> tuple[dict[str, float], list[str]]:
        verdict = metric_checks.check(cluster.prometheus.url, item["model"], item["version"],
                                      cluster.prometheus.window_s, thresholds, fetch)
        return verdict.values, verdict.failures

    return run


def gate_stage(estate: Estate, stage: str, lanes: list[list[dict[str, Any]]], settings: RolloutSettings,
               run_id: str, home: Path | None = None) -> list[dict[str, Any]]:
    """Gate every (cluster, model) of a stage in parallel; raise RolloutFailed naming each failure."""
    items = [item for lane in lanes for item in lane]
    journal = engine.Journal(run_id, home, estate)

    cards = {(m, v): artifacts.read_card(estate, m, v) for m, v in {(i["model"], i["version"]) for i in items}}

    def one(item: dict[str, Any]) -> dict[str, Any]:
        card = cards[(item["model"], item["version"])]
        named = {"cluster": item["cluster"], "model": item["model"], "version": item["version"]}
        try:
            driver = driver_for(estate, item["cluster"], home)
            urls = driver.endpoints(item["model"], item["version"])
            thresholds = thresholds_for(estate, item["model"], settings)
            result = run_gate(urls, card["smoke_cases"], item["version"], thresholds, fetch=driver.fetch,
                              metric_check=prometheus_check(estate, item, thresholds, driver.fetch))
        except Exception as exc:  # an unreachable cluster fails its gate by name; the others are still judged
            return {**named, "passed": False, "reason": f"{type(exc).__name__}: {exc}", "p95_ms": 0.0}
        metrics = [c.metrics for c in result.checks if c.metrics]
        return {**named, "passed": result.passed, "reason": result.reason,
                "p95_ms": max((c.p95_ms for c in result.checks), default=0.0),
                **({"prometheus": metrics[-1]} if metrics else {})}

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(items)))) as pool:
        results = list(pool.map(one, items))
    journal.events("gate", [{"stage": stage, **result} for result in results])
    failed = [r for r in results if not r["passed"]]
    if failed:
        raise engine.RolloutFailed(f"{stage} gate failed on " + "; ".join(
            f"{r['cluster']} ({r['model']} {r['version']}): {r['reason']}" for r in failed))
    return results


def promote(estate: Estate, plan: dict[str, Any], run_id: str, home: Path | None = None) -> list[str]:
    journal = engine.Journal(run_id, home)
    targets = [] if plan["dry_run"] else [t for p in plan["plans"] for t in p["targets"]]

    def one(target: dict[str, Any]) -> str:
        engine.promote_item(driver_for(estate, target["cluster"], home), target["model"], target["version"])
        return target["cluster"]

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(targets)))) as pool:
        promoted = list(pool.map(one, targets))
    with journal.update() as data:
        data["promoted"] = True
    return promoted


def rollback_if_needed(estate: Estate, run_id: str, home: Path | None = None) -> list[dict[str, Any]]:
    """Unless the run promoted, return every cluster it touched to what it served before."""
    journal = engine.Journal(run_id, home)
    data = journal.read()
    if data["promoted"] or not data["touched"]:
        return []
    restored, errors = [], []
    for touched in data["touched"]:
        # One cluster that cannot be restored must not leave the others serving the new version.
        try:
            restored.append(engine.rollback_touched(driver_for(estate, touched["cluster"], home), touched))
        except Exception as exc:
            errors.append(f"{touched['cluster']} ({touched['model']}): {type(exc).__name__}: {exc}")
    with journal.update() as fresh:
        fresh["rolled_back"] = restored
        for error in errors:
            fresh["events"].append({"kind": "rollback_failed", "at": time.time(), "error": error})
    from multicloud.alerts import alert
    from multicloud.metrics import logs

    logs.record_many("rollback_step", [{"run_id": run_id, "restored": r} for r in restored]
                     + [{"run_id": run_id, "error": e} for e in errors], estate=estate, home=home)
    alert("rollback", f"model rollout {run_id} rolled back {len(restored)} cluster(s)"
          + (f"; {len(errors)} could not be restored" if errors else ""),
          {"restored": restored, "errors": errors}, home=home)
    if errors:
        raise engine.RolloutFailed("rollback incomplete: " + "; ".join(errors))
    return restored


def summarize(estate: Estate, plan: dict[str, Any] | None, run_id: str,
              home: Path | None = None) -> tuple[list[str], dict[str, Any], bool]:
    """Headline lines, data, and whether the rollout succeeded."""
    journal = engine.Journal(run_id, home).read()
    if plan is None:
        return ["rollout could not be planned (see the plan task log)"], {"journal": journal}, False
    ok = journal["promoted"] and not journal["rolled_back"]
    lines: list[str] = []
    if journal["rolled_back"] or not ok:
        failures = [e for e in journal["events"] if e["kind"] in ("failed", "deploy_failed")
                    or (e["kind"] == "gate" and not e["passed"])]
        cause = failures[0] if failures else {}
        where = cause.get("cluster", "?")
        why = cause.get("reason") or cause.get("error") or cause.get("message") or "not promoted"
        lines.append(f"ROLLED BACK: {where}: {why}"[:160])
        lines.append("restored: " + ", ".join(
            f"{r['cluster']}={'/'.join(r['restored']) or 'nothing'}" for r in journal["rolled_back"]))
        unrestored = [e["error"] for e in journal["events"] if e["kind"] == "rollback_failed"]
        if unrestored:
            lines.append(f"NOT RESTORED: {'; '.join(unrestored)}"[:160])
    serving: dict[str, dict[str, Any]] = {}
    for model_plan in plan["plans"]:
        model, version = model_plan["model"], model_plan["version"]
        clusters = [t["cluster"] for t in model_plan["targets"]] + model_plan["unchanged"]
        for cluster in clusters:
            serving.setdefault(cluster, {})[model] = driver_for(estate, cluster, home).served().get(model, {})
        now = sorted(c for c in clusters if serving[c][model].get("weights", {}).get(version) == 100)
        prefix = "DRY RUN would deploy" if plan["dry_run"] else f"{model} {version} ({model_plan['data_class']})"
        if plan["dry_run"]:
            lines.append(f"{prefix} {model} {version} to {', '.join(t['cluster'] for t in model_plan['targets'])}")
        elif ok:
            lines.append(f"{prefix} serves on {', '.join(now) or 'no cluster'}"
                         + (f" ({len(model_plan['unchanged'])} unchanged)" if model_plan["unchanged"] else ""))
        by_replicas = sorted(c for c in clusters if serving[c][model].get("traffic") == "replica-count")
        if by_replicas and not plan["dry_run"]:
            lines.append(f"{model}: traffic split by replica count on {', '.join(by_replicas)} "
                         "(no Gateway API gateway declared; canary weights were not enforced)")
        if model_plan["excluded"]:
            by_j: dict[str, list[str]] = {}
            for e in model_plan["excluded"]:
                by_j.setdefault(e["jurisdiction"], []).append(e["cluster"])
            lines.append(f"{model} excluded by residency ({model_plan['data_class']} may not be served there): "
                         + "; ".join(f"{j}: {', '.join(cs)}" for j, cs in sorted(by_j.items())))
    ready = [e["ready_s"] for e in journal["events"] if e["kind"] == "deployed"]
    if ready and ok:
        lines.append(f"{len(ready)} cluster(s) deployed, slowest readiness {max(ready):.2f}s, strategy {plan['strategy']}")
    data = {"plan": plan, "journal": journal, "serving": serving, "ok": ok}
    return lines[:8], data, ok or plan["dry_run"]
