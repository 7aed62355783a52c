"""The governance DAG's last step: merge the per-region audits, write the report, emit metrics,
raise alerts, and write the run summary (what the demo and the Estate view read)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud import reports
from multicloud.governance import report as report_mod

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

log = logging.getLogger(__name__)

COMPLETE_WHEN_UNVERIFIED = "complete_when_unverified"


class ResidencyUnverified(RuntimeError):
    """At least one region could not be audited: the run fails (the report and alert are written)."""


def merge_audits(audits: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"regions": [], "objects_scanned": 0, "rows_scanned": 0, "violations": [],
                              "would_deny": [], "unclassified": [], "violations_by_region": {}, "errors": [],
                              "unverified": [], "stale_temporaries": [], "region_status": {}, "exempt": 0}
    for audit in audits:
        for key in ("regions", "violations", "would_deny", "unclassified", "errors", "unverified",
                    "stale_temporaries"):
            merged[key] += audit.get(key, [])
        for key in ("objects_scanned", "rows_scanned", "exempt"):
            merged[key] += audit.get(key, 0)
        merged["violations_by_region"].update(audit["violations_by_region"])
        merged["region_status"].update(audit.get("region_status", {}))
    merged["status"] = ("unverified" if merged["unverified"] else "violations" if merged["violations"] else "clean")
    return merged


def publish_report(audits: list[dict[str, Any]], collected: dict[str, Any], estate: Estate, run_id: str, *,
                   alert_on_violation: bool = True, complete_when_unverified: bool = False,
                   home: Path | None = None) -> dict[str, Any]:
    """Merge, write and announce the run's report; ResidencyUnverified when a region could not be
    audited (unless ``complete_when_unverified``: the run then completes red)."""
    from multicloud.alerts import alert
    from multicloud.metrics import emit

    audit = merge_audits(audits)
    report = report_mod.build(audit, collected, run_id)
    json_path, html_path = report_mod.write(report, home)

    for region, count in audit["violations_by_region"].items():
        emit("governance.residency_violations", count, dimensions={"region": region}, estate=estate, home=home)
    emit("governance.would_deny", len(audit["would_deny"]), estate=estate, home=home)
    emit("governance.unclassified_objects", len(audit["unclassified"]), estate=estate, home=home)
    emit("governance.unverified_regions", len(audit["unverified"]), estate=estate, home=home)
    unverified_regions = {u["region"] for u in audit["unverified"]}
    for region in audit["regions"]:
        emit("governance.region_unverified", int(region in unverified_regions), dimensions={"region": region},
             estate=estate, home=home)
    emit("governance.stale_temporaries", len(audit["stale_temporaries"]), estate=estate, home=home)
    if collected["drift"]["status"] == "ok":
        emit("governance.drifted_deployments", collected["drift"]["drifted"], estate=estate, home=home)

    if audit["violations"] and alert_on_violation:
        regions = sorted({v["region"] for v in audit["violations"]})
        alert("residency_violation",
              f"{len(audit['violations'])} object(s) at rest where their data class may not live ({', '.join(regions)})",
              {"report": str(html_path), "paths": [v["path"] for v in audit["violations"][:50]]},
              run_id=run_id, home=home)
    if audit["unverified"]:
        alert("residency_unverified",
              f"{len(audit['unverified'])} region(s) could not be audited at rest: residency there is "
              f"UNVERIFIED ({', '.join(sorted(unverified_regions))})",
              {"report": str(html_path), "regions": audit["unverified"]}, run_id=run_id, home=home)
    drift = collected["drift"]
    if drift["status"] == "ok" and drift["drifted"]:
        clusters = sorted({str(r["cluster"]) for r in drift["rows"] if r.get("drift")})
        alert("drift", f"{drift['drifted']} deployment(s) differ from the runtime baseline ({', '.join(clusters)})",
              {"rows": [r for r in drift["rows"] if r.get("drift")][:20]}, run_id=run_id, home=home)
    for entry in audit["unverified"]:
        log.error("UNVERIFIED region %s (%s): %s", entry["region"], entry["url"], entry["cause"])

    lines = [*report_mod.headline(report), f"Report: {html_path}"]
    lines = [*lines[:7], lines[-1]] if len(lines) > 8 else lines
    reports.write_summary(report_mod.DAG_ID, run_id, lines,
                          {"report_html": str(html_path), "report_json": str(json_path),
                           "violations": audit["violations"], "violations_by_region": audit["violations_by_region"],
                           "would_deny": len(audit["would_deny"]), "unclassified": len(audit["unclassified"]),
                           "errors": audit["errors"], "unverified": audit["unverified"], "status": audit["status"]},
                          home=home)
    for line in lines:
        log.info("%s", line)
    if audit["unverified"] and not complete_when_unverified:
        raise ResidencyUnverified(
            f"{len(audit['unverified'])} region(s) UNVERIFIED ({', '.join(sorted(unverified_regions))}); the report "
            f"{html_path} shows them in red. Set the Param {COMPLETE_WHEN_UNVERIFIED}=true to let the run complete red.")
    return {"violations": len(audit["violations"]), "unverified": len(audit["unverified"]),
            "status": audit["status"], "report": str(html_path)}
