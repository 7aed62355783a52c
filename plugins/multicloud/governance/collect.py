"""Collect what every capability left behind into one governance view (plain dicts, JSON-ready).

Each section has ``status``: ``ok``, ``no data yet`` (the producing DAG has not run, or its module
is not installed) or ``error`` (with the reason): one broken source never hides the others.
Sources: the estate itself; the residency audit log (residency_sync); ``drift_report`` (rollout
baseline); each cluster driver's ``served()``; the placement store; reports of cost_rebalance,
model_training, model_rollout, dr_rehearsal (and DR history); the alerts file.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from multicloud import paths, reports
from multicloud.estate.models import Estate

log = logging.getLogger(__name__)
NO_DATA = "no data yet"
CAPABILITY_DAGS = ("residency_sync", "model_training", "model_rollout", "cost_rebalance", "dr_rehearsal",
                   "estate_governance")
# The monthly totals cost_rebalance's summary carries (multicloud.cost.run.report).
COST_KEYS = ("achieved_monthly",)
COST_BEFORE_KEYS = ("before_monthly",)


def collect(estate: Estate, home: Path | None = None) -> dict[str, Any]:
    home = home or paths.estate_home()
    return {
        "estate": estate_overview(estate),
        "residency_log": _guard(lambda: residency_log(home)),
        "drift": _guard(lambda: drift(estate, home)),
        "served": _guard(lambda: served(estate, home)),
        "placement": _guard(lambda: placement(estate, home)),
        "cost": _guard(lambda: cost(home)),
        "dr": _guard(lambda: dr(home)),
        "alerts": _guard(lambda: alerts(home)),
        "runs": runs(home),
    }


def _guard(section: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return section()
    except ImportError as exc:
        return {"status": NO_DATA, "reason": f"not installed: {exc.name or exc}"}
    except Exception as exc:
        log.warning("governance section failed: %s", exc, exc_info=True)
        return {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}


def estate_overview(estate: Estate) -> dict[str, Any]:
    regions = [{
        "id": r.id, "cloud": r.cloud.value, "region": r.region, "jurisdiction": r.jurisdiction,
        "storage": r.storage.url.split("://", 1)[0], "cluster": r.cluster.id if r.cluster else None,
        "cluster_kind": r.cluster.kind if r.cluster else None,
    } for r in estate.regions]
    return {
        "status": "ok", "name": estate.name, "regions": regions,
        "clouds": sorted({r["cloud"] for r in regions}),
        "jurisdictions": sorted({r["jurisdiction"] for r in regions}),
        "clusters": [r["cluster"] for r in regions if r["cluster"]],
        "datasets": [d.id for d in estate.datasets], "models": [m.id for m in estate.models],
    }


def residency_log(home: Path) -> dict[str, Any]:
    from multicloud.sync.audit import read_audit

    entries = read_audit(home)
    if not entries:
        return {"status": NO_DATA, "reason": "residency_sync has recorded no decisions"}
    outcomes = Counter(e.get("outcome") for e in entries)
    pairs = Counter(f"{e.get('dataset')} -> {e.get('region')} ({e.get('outcome')})" for e in entries)
    return {"status": "ok", "denied": outcomes.get("denied", 0), "would_deny": outcomes.get("would-deny", 0),
            "by_pair": dict(pairs.most_common(20)), "last_at": max(str(e.get("at", "")) for e in entries)}


def drift(estate: Estate, home: Path) -> dict[str, Any]:
    from multicloud.rollout.baseline import drift_report

    rows = drift_report(estate, home=home)
    if not rows:
        return {"status": NO_DATA, "reason": "no model is served on any cluster yet", "rows": [], "drifted": 0}
    return {"status": "ok", "rows": rows, "drifted": sum(1 for r in rows if r.get("drift"))}


def served(estate: Estate, home: Path) -> dict[str, Any]:
    from multicloud.drivers import driver_for

    clusters: dict[str, Any] = {}
    for _region, cluster in estate.clusters():
        try:
            clusters[cluster.id] = {"models": driver_for(estate, cluster.id, home=home).served()}
        except Exception as exc:  # an unreachable cluster is shown, not hidden
            clusters[cluster.id] = {"models": {}, "error": f"{type(exc).__name__}: {exc}"}
    versions = {(m, v) for c in clusters.values() for m, info in c["models"].items() for v in info.get("versions", {})}
    status = "ok" if versions or any("error" in c for c in clusters.values()) else NO_DATA
    return {"status": status, "clusters": clusters, "model_versions": sorted(f"{m}@{v}" for m, v in versions)}


def placement(estate: Estate, home: Path) -> dict[str, Any]:
    from multicloud.placement import current_placement

    return {"status": "ok", "workloads": current_placement(estate, home)}


def cost(home: Path) -> dict[str, Any]:
    history = _run_summaries("cost_rebalance", home)
    if not history:
        return {"status": NO_DATA, "reason": "cost_rebalance has not run"}
    trend = [{"at": s["written_at"], "run_id": s["run_id"],
              "monthly": _find_number(s.get("data", {}), COST_KEYS),
              "monthly_before": _find_number(s.get("data", {}), COST_BEFORE_KEYS)} for s in history]
    latest = history[-1]
    return {"status": "ok", "headline": latest.get("headline", []), "run_id": latest["run_id"],
            "monthly": trend[-1]["monthly"], "monthly_before": trend[-1]["monthly_before"],
            "currency": _find_value(latest.get("data", {}), ("currency",)) or "USD", "trend": trend}


def dr(home: Path) -> dict[str, Any]:
    history: list[dict[str, Any]] = []
    try:
        from multicloud.dr.report import read_history

        history = read_history(home)
    except ImportError:
        pass
    latest = reports.latest_summary("dr_rehearsal", home)
    if not history and latest is None:
        return {"status": NO_DATA, "reason": "dr_rehearsal has not run"}
    last = history[-1] if history else {}
    data = (latest or {}).get("data", {})
    return {
        "status": "ok", "headline": (latest or {}).get("headline", []), "run_id": (latest or {}).get("run_id"),
        "outcome": last.get("outcome") or data.get("outcome"),
        "rto_s": last.get("rto_s", _find_number(data, ("rto_s",))),
        "rpo_s": last.get("rpo_s", _find_number(data, ("rpo_s",))),
        "rto_target_s": last.get("rto_target_s", _find_number(data, ("rto_target_s",))),
        "rpo_target_s": last.get("rpo_target_s", _find_number(data, ("rpo_target_s",))),
        "availability": last.get("availability"), "budget_used": last.get("budget_used"),
        "mttr_ratio": _mttr_ratio(history),
        "trend": history[-30:],
    }


def _mttr_ratio(history: list[dict[str, Any]]) -> float | None:
    """Automated / orchestrated MTTR: the newest rehearsal that measured both, else the newest of each path."""
    for line in reversed(history):
        if line.get("mttr_ratio") is not None:
            return line["mttr_ratio"]
    newest = {}
    for line in history:
        if line.get("mttr_s") is not None and line.get("path"):
            newest[line["path"]] = line["mttr_s"]
    if newest.get("automated") is None or not newest.get("orchestrated"):
        return None
    return round(newest["automated"] / newest["orchestrated"], 3)


def alerts(home: Path) -> dict[str, Any]:
    from multicloud.alerts import read_alerts

    found = read_alerts(home)
    return {"status": "ok" if found else NO_DATA, "count": len(found),
            "by_kind": dict(Counter(a["kind"] for a in found)), "recent": found[-10:][::-1]}


def runs(home: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for dag_id in CAPABILITY_DAGS:
        summary = reports.latest_summary(dag_id, home)
        found[dag_id] = ({"status": "ok", "run_id": summary["run_id"], "written_at": summary["written_at"],
                          "headline": summary.get("headline", [])} if summary else {"status": NO_DATA})
    return found


def _run_summaries(dag_id: str, home: Path) -> list[dict[str, Any]]:
    folder = paths.reports_dir(home) / dag_id
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.json"):
        if path.name == "latest.json":
            continue
        try:
            body = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(body, dict) and "written_at" in body and "run_id" in body:
            found.append(body)
    return sorted(found, key=lambda s: s["written_at"])


def _find_value(data: Any, keys: Iterable[str]) -> Any:
    """The first value under any of ``keys`` (breadth first through nested dicts)."""
    keys = tuple(keys)
    queue = [data]
    while queue:
        node = queue.pop(0)
        if isinstance(node, dict):
            for key in keys:
                if key in node and not isinstance(node[key], dict | list):
                    return node[key]
            queue.extend(v for v in node.values() if isinstance(v, dict))
    return None


def _find_number(data: Any, keys: Iterable[str]) -> float | None:
    value = _find_value(data, keys)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
