"""What the Estate view shows, as one JSON-ready dict: built from files, read-only, no Airflow import.

Residency status comes from a live at-rest audit when every region's storage is local (cheap;
the embedded estate), otherwise from the last estate_governance report (scanning real clouds on
each page load would be slow and costly). ``MULTICLOUD_UI_LIVE_AUDIT`` = ``auto`` (default),
``always`` or ``never`` overrides that choice; a live audit is reused for
``MULTICLOUD_UI_AUDIT_TTL_S`` seconds (default 5) so reloads stay cheap.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from multicloud import paths
from multicloud.governance import collect as sources

LIVE_AUDIT_ENV = "MULTICLOUD_UI_LIVE_AUDIT"
_cache: dict[str, tuple[float, dict[str, Any]]] = {}
TTL_ENV = "MULTICLOUD_UI_AUDIT_TTL_S"


def estate_view(home: Path | None = None, estate_file: str | None = None) -> dict[str, Any]:
    from multicloud.estate import load_estate

    home = home or paths.estate_home()
    try:
        estate = load_estate(estate_file, home=home)
    except Exception as exc:  # a broken estate is shown, never a blank page
        return {"error": f"{type(exc).__name__}: {exc}", "regions": [], "estate_file": str(paths.estate_file(estate_file))}
    overview = sources.estate_overview(estate)
    residency = _residency(estate, home)
    by_region = residency.get("violations_by_region", {})
    unverified = {u["region"]: u["cause"] for u in residency.get("unverified", [])}
    served = sources._guard(lambda: sources.served(estate, home))
    placement = sources._guard(lambda: sources.placement(estate, home))
    regions = []
    for region in overview["regions"]:
        cluster = region["cluster"]
        models = (served.get("clusters", {}).get(cluster, {}).get("models", {}) if cluster else {})
        regions.append({**region, "violations": by_region.get(region["id"], 0),
                        "unverified": unverified.get(region["id"]),
                        "models": {m: sorted(info.get("versions", {})) for m, info in models.items()},
                        "cluster_error": served.get("clusters", {}).get(cluster, {}).get("error") if cluster else None,
                        "replicas": {w: p.get(cluster, 0) for w, p in placement.get("workloads", {}).items()
                                     if cluster and p.get(cluster)}})
    return {
        "estate": overview["name"], "estate_file": str(paths.estate_file(estate_file)), "home": str(home),
        "clouds": overview["clouds"], "jurisdictions": overview["jurisdictions"], "regions": regions,
        "residency": residency,
        "cost": sources._guard(lambda: sources.cost(home)),
        "dr": sources._guard(lambda: sources.dr(home)),
        "alerts": sources._guard(lambda: sources.alerts(home)),
        "runs": sources.runs(home),
    }


def _residency(estate: Any, home: Path) -> dict[str, Any]:
    mode = os.environ.get(LIVE_AUDIT_ENV, "auto")
    local = all(r.storage.url.startswith("file://") for r in estate.regions)
    if mode == "always" or (mode == "auto" and local):
        key = f"{home}:{estate.name}"
        cached = _cache.get(key)
        if cached and time.monotonic() - cached[0] < float(os.environ.get(TTL_ENV, "5")):
            return cached[1]
        from multicloud.governance.audit import audit_estate

        result = {"source": "live audit", **audit_estate(estate).as_dict()}
        _cache[key] = (time.monotonic(), result)
        return result
    report = paths.reports_dir(home) / "estate_governance" / "report.json"
    if not report.exists():
        return {"source": sources.NO_DATA, "violations": [], "would_deny": [], "unclassified": [],
                "violations_by_region": {}}
    body = json.loads(report.read_text())
    return {"source": f"estate_governance run {body.get('run_id')}", **body["audit"]}
