"""The governance report: one JSON document, one self-contained HTML page with charts, a headline.

Pure rendering (matplotlib with the Agg backend, PNGs embedded as base64): no Airflow import.
Written atomically to ``reports/estate_governance/report.{json,html}`` under the estate home.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multicloud import paths
from multicloud.reports import format_seconds
from multicloud.statefile import atomic_write_text

DAG_ID = "estate_governance"


def build(audit: dict[str, Any], collected: dict[str, Any], run_id: str) -> dict[str, Any]:
    return {"dag_id": DAG_ID, "run_id": run_id, "generated_at": datetime.now(UTC).isoformat(),
            "audit": audit, **collected}


def headline(report: dict[str, Any]) -> list[str]:
    estate, audit = report["estate"], report["audit"]
    violations = len(audit["violations"])
    unverified = audit.get("unverified", [])
    lines = [
        *([f"Residency at rest UNVERIFIED in {len(unverified)} region(s): "
           + ", ".join(sorted(u["region"] for u in unverified))] if unverified else []),
        f"Residency at rest: {violations} violation(s), {len(audit['would_deny'])} would-deny, "
        f"{len(audit['unclassified'])} unclassified ({audit['objects_scanned']} objects, {audit['rows_scanned']} rows)",
        f"Estate: {len(estate['clouds'])} clouds, {len(estate['regions'])} regions, {len(estate['clusters'])} clusters, "
        f"{len(estate['jurisdictions'])} jurisdictions",
    ]
    drift = report["drift"]
    lines.append(f"Environment drift: {drift['drifted']} of {len(drift['rows'])} deployments" if drift["status"] == "ok"
                 else f"Environment drift: {drift['status']}")
    served = report["served"]
    lines.append(f"Served model versions: {', '.join(served['model_versions']) or 'none'}" if served["status"] == "ok"
                 else f"Served model versions: {served['status']}")
    cost = report["cost"]
    if cost["status"] == "ok" and cost.get("monthly") is not None:
        lines.append(f"Cost: {cost['monthly']:,.0f} {cost['currency']}/month"
                     + (f" (was {cost['monthly_before']:,.0f})" if cost.get("monthly_before") else ""))
    else:
        lines.append(f"Cost: {cost['status'] if cost['status'] != 'ok' else 'no total in the report'}")
    dr = report["dr"]
    lines.append(f"Last DR rehearsal: {dr.get('outcome')}, RTO {format_seconds(dr.get('rto_s'))} / RPO {format_seconds(dr.get('rpo_s'))}"
                 + (f", availability {dr['availability']:.2%}" if dr.get("availability") is not None else "")
                 + (f", MTTR automated/orchestrated {dr['mttr_ratio']:.2f}" if dr.get("mttr_ratio") is not None else "")
                 if dr["status"] == "ok" else f"Last DR rehearsal: {dr['status']}")
    if report["alerts"]["status"] == "ok":
        lines.append(f"Alerts: {report['alerts']['count']} ({', '.join(f'{k} {v}' for k, v in report['alerts']['by_kind'].items())})")
    return lines[:9]


def write(report: dict[str, Any], home: Path | None = None) -> tuple[Path, Path]:
    folder = paths.reports_dir(home) / DAG_ID
    json_path = atomic_write_text(folder / "report.json", json.dumps(report, indent=2, sort_keys=True, default=str))
    html_path = atomic_write_text(folder / "report.html", render_html(report))
    return json_path, html_path


# ---- HTML ----------------------------------------------------------------------------------------
def render_html(report: dict[str, Any]) -> str:
    esc = html.escape
    audit, estate = report["audit"], report["estate"]
    charts = [c for c in (_violations_chart(audit), _cost_chart(report["cost"]), _dr_chart(report["dr"])) if c]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Estate governance report</title><style>"
        "body{font-family:sans-serif;margin:2em;color:#222} table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px} .bad{color:#b00020;font-weight:bold}"
        ".ok{color:#1b5e20} .muted{color:#777} img{max-width:46%;margin:0 1em 1em 0}</style></head><body>",
        f"<h1>Estate governance: {esc(estate['name'])}</h1>",
        f"<p class='muted'>run {esc(str(report['run_id']))}, generated {esc(report['generated_at'])}</p>",
        "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in headline(report)) + "</ul>",
        "".join(f"<img alt='{esc(title)}' src='data:image/png;base64,{png}'>" for title, png in charts),
        "<h2>Residency at rest</h2>",
        *_unverified_section(audit),
        _table(["region", "path", "kind", "class", "rows", "rule", "reason"],
               [[f["region"], f["path"], f["kind"], f["data_class"], f["rows"], f["rule"], f["reason"]]
                for f in audit["violations"]], css="bad", empty=_no_violation_text(audit)),
    ]
    if audit.get("stale_temporaries"):
        parts += ["<h3>Stale temporaries (older than the in-flight bound; classified like any object)</h3>",
                  _table(["region", "path", "age (s)"],
                         [[t["region"], t["path"], t["age_s"]] for t in audit["stale_temporaries"]])]
    if audit["would_deny"]:
        parts += ["<h3>Would deny (classes in audit mode)</h3>",
                  _table(["region", "path", "class", "reason"],
                         [[f["region"], f["path"], f["data_class"], f["reason"]] for f in audit["would_deny"]])]
    if audit["unclassified"]:
        parts += ["<h3>Unclassified objects</h3>",
                  _table(["region", "path"], [[f["region"], f["path"]] for f in audit["unclassified"]])]
    status = audit.get("region_status", {})
    parts += ["<h2>Regions</h2>", _table(
        ["region", "cloud", "cloud region", "jurisdiction", "cluster", "violations", "at-rest audit"],
        [[r["id"], r["cloud"], r["region"], r["jurisdiction"], r["cluster"] or "-",
          audit["violations_by_region"].get(r["id"], 0), status.get(r["id"], "not audited").upper()]
         for r in estate["regions"]])]
    parts += ["<h2>Environment drift</h2>", _section(report["drift"], lambda d: _table(
        ["cluster", "model", "version", "drift", "differences"],
        [[r["cluster"], r.get("model"), r.get("version"), "yes" if r.get("drift") else "no",
          r.get("error") or "; ".join(map(str, r.get("differences", [])))] for r in d["rows"]]))]
    parts += ["<h2>Served model versions</h2>", _section(report["served"], lambda s: _table(
        ["cluster", "model", "versions (replicas)", "weights"],
        [[cid, m, ", ".join(f"{v} ({n})" for v, n in info.get("versions", {}).items()), json.dumps(info.get("weights", {}))]
         for cid, c in s["clusters"].items() for m, info in c["models"].items()]))]
    parts += ["<h2>Cost</h2>", _section(report["cost"], lambda c: "<ul>" + "".join(
        f"<li>{esc(line)}</li>" for line in c.get("headline", [])) + "</ul>")]
    parts += ["<h2>Last DR rehearsal</h2>", _section(report["dr"], lambda d: "<ul>" + "".join(
        f"<li>{esc(line)}</li>" for line in d.get("headline", [])) + "</ul>")]
    parts += ["<h2>Alerts</h2>", _section(report["alerts"], lambda a: _table(
        ["raised", "kind", "message", "dag run"],
        [[x["raised_at"], x["kind"], x["message"], f"{x.get('dag_id')} / {x.get('run_id')}"] for x in a["recent"]]))]
    parts.append("</body></html>")
    return "\n".join(parts)


def _unverified_section(audit: dict[str, Any]) -> list[str]:
    unverified = audit.get("unverified", [])
    if not unverified:
        return []
    return [f"<p class='bad' id='unverified'>UNVERIFIED: {len(unverified)} region(s) could not be audited; "
            "nothing is known about what they hold.</p>",
            _table(["region", "storage", "cause"], [[u["region"], u["url"], u["cause"]] for u in unverified], css="bad")]


def _no_violation_text(audit: dict[str, Any]) -> str:
    if audit.get("unverified"):
        return "No violation found in the regions that could be read; the unverified regions above are not known to be clean."
    return "No violation: every object and row is where its class allows."


def _section(section: dict[str, Any], render: Any) -> str:
    if section["status"] != "ok":
        return f"<p class='muted'>{html.escape(section['status'])}: {html.escape(str(section.get('reason', '')))}</p>"
    return render(section)


def _table(headers: list[str], rows: list[list[Any]], css: str = "", empty: str = "none") -> str:
    if not rows:
        return f"<p class='ok'>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td class='{css}'>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"




# ---- charts --------------------------------------------------------------------------------------
def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6, 3))


def _violations_chart(audit: dict[str, Any]) -> tuple[str, str]:
    from collections import Counter

    figure, axes = _figure()
    regions = list(audit["violations_by_region"])
    counts = [audit["violations_by_region"][r] for r in regions]
    audit_mode = Counter(f["region"] for f in audit["would_deny"])
    would = [audit_mode.get(r, 0) for r in regions]
    axes.bar(regions, counts, color="#b00020", label="violations")
    axes.bar(regions, would, bottom=counts, color="#f57c00", label="would deny (audit mode)")
    axes.set_ylim(0, max([1, *(c + w for c, w in zip(counts, would, strict=True))]) * 1.15)
    axes.set_title("Objects out of place at rest, per region")
    axes.tick_params(axis="x", rotation=45, labelsize=7)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(fontsize=7)
    return "violations per region", _png(figure)


def _number_runs(axes: Any, count: int, label: str) -> None:
    """Runs 1..n on the x axis (a lone point otherwise gets a meaningless -0.04..0.04 axis)."""
    axes.set_xticks(range(count), [str(i + 1) for i in range(count)])
    axes.set_xlim(-0.5, count - 0.5)
    axes.set_ylim(bottom=0)
    axes.set_xlabel(label)


def _cost_chart(cost: dict[str, Any]) -> tuple[str, str] | None:
    points = [p for p in cost.get("trend", []) if p.get("monthly") is not None]
    if cost["status"] != "ok" or not points:
        return None
    figure, axes = _figure()
    axes.plot(range(len(points)), [p["monthly"] for p in points], marker="o")
    axes.set_title(f"Monthly cost per cost_rebalance run ({cost.get('currency', 'USD')})")
    _number_runs(axes, len(points), "run")
    return "cost trend", _png(figure)


def _dr_chart(dr: dict[str, Any]) -> tuple[str, str] | None:
    points = [p for p in dr.get("trend", []) if p.get("rto_s") is not None]
    if dr["status"] != "ok" or not points:
        return None
    figure, axes = _figure()
    axes.plot(range(len(points)), [p["rto_s"] for p in points], marker="o", label="RTO (s)")
    downtime = [(i, p["downtime_s"]) for i, p in enumerate(points) if p.get("downtime_s") is not None]
    if downtime:
        axes.plot([i for i, _ in downtime], [d for _, d in downtime], marker="x", label="client downtime (s)")
    axes.axhline(points[-1].get("rto_target_s") or 0, color="#b00020", linestyle="--", label="RTO target")
    axes.set_title("DR rehearsals: measured RTO")
    _number_runs(axes, len(points), "rehearsal")
    axes.legend(fontsize=7)
    return "DR trend", _png(figure)
