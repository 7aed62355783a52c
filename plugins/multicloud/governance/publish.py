"""The governance DAG's last step: merge the per-region audits, write the report, emit metrics,
raise alerts, and write the run summary (what the demo and the Estate view read)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from multicloud import reports
from multicloud.governance import report as report_mod

log = logging.getLogger(__name__)


def merge_audits(audits: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"regions": [], "objects_scanned": 0, "rows_scanned": 0, "violations": [],
                              "would_deny": [], "unclassified": [], "violations_by_region": {}, "errors": []}
    for audit in audits:
        for key in ("regions", "violations", "would_deny", "unclassified", "errors"):
            merged[key] += audit[key]
        merged["objects_scanned"] += audit["objects_scanned"]
        merged["rows_scanned"] += audit["rows_scanned"]
        merged["violations_by_region"].update(audit["violations_by_region"])
    return merged


def publish_report(audits: list[dict[str, Any]], collected: dict[str, Any], context: Mapping[str, Any],
                   home: Path | None = None) -> dict[str, Any]:
    from multicloud.alerts import alert
    from multicloud.dagkit import estate_for
    from multicloud.metrics import emit

    estate = estate_for(context["params"])
    audit = merge_audits(audits)
    report = report_mod.build(audit, collected, context["run_id"])
    json_path, html_path = report_mod.write(report, home)

    for region, count in audit["violations_by_region"].items():
        emit("governance.residency_violations", count, dimensions={"region": region}, estate=estate, home=home)
    emit("governance.would_deny", len(audit["would_deny"]), estate=estate, home=home)
    emit("governance.unclassified_objects", len(audit["unclassified"]), estate=estate, home=home)
    if collected["drift"]["status"] == "ok":
        emit("governance.drifted_deployments", collected["drift"]["drifted"], estate=estate, home=home)

    if audit["violations"] and context["params"].get("alert_on_violation", True):
        regions = sorted({v["region"] for v in audit["violations"]})
        alert("residency_violation",
              f"{len(audit['violations'])} object(s) at rest where their data class may not live ({', '.join(regions)})",
              {"report": str(html_path), "paths": [v["path"] for v in audit["violations"][:50]]},
              context=context, home=home)
    drift = collected["drift"]
    if drift["status"] == "ok" and drift["drifted"]:
        clusters = sorted({str(r["cluster"]) for r in drift["rows"] if r.get("drift")})
        alert("drift", f"{drift['drifted']} deployment(s) differ from the runtime baseline ({', '.join(clusters)})",
              {"rows": [r for r in drift["rows"] if r.get("drift")][:20]}, context=context, home=home)
    if audit["errors"]:
        log.warning("regions that could not be audited: %s", audit["errors"])

    lines = [*report_mod.headline(report), f"Report: {html_path}"]
    lines = [*lines[:7], lines[-1]] if len(lines) > 8 else lines
    reports.write_summary(report_mod.DAG_ID, context["run_id"], lines,
                          {"report_html": str(html_path), "report_json": str(json_path),
                           "violations": audit["violations"], "violations_by_region": audit["violations_by_region"],
                           "would_deny": len(audit["would_deny"]), "unclassified": len(audit["unclassified"]),
                           "errors": audit["errors"]}, home=home)
    for line in lines:
        log.info("%s", line)
    return {"violations": len(audit["violations"]), "report": str(html_path)}
