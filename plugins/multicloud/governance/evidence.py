"""Compliance evidence export: residency over an interval, checkable without reading logs.

One JSON document and one readable HTML page, for a date range of data intervals:

- every copy decision: *allowed* (each sync item of the range that ran, with the policy rule that
  allows it), *denied* and *would-deny* (the residency audit log, with the rule that denied it);
- the at-rest audit of every region, run when the export is made: clean, violations or
  **unverified** (with the cause);
- the SHA-256 and size of every object that landed for the allowed items (from the copier's
  manifest where there is one, otherwise read and hashed).

Written atomically to ``reports/evidence/evidence_<from>_<to>.{json,html}`` under the estate home.
``python -m multicloud.governance.evidence --from 2026-11-29 --to 2026-11-30`` (``--to`` is
exclusive; dates or ISO timestamps in UTC). Pure apart from storage and estate-home reads; no
Airflow import.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud import paths
from multicloud.statefile import atomic_write_text

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

SYNC_DAG = "residency_sync"
_PARTITION_RE = re.compile(r"dt=(?P<date>\d{4}-\d{2}-\d{2})(?:/hr=(?P<hour>\d{2}))?")


def export_evidence(estate: Estate, start: datetime, end: datetime, home: Path | None = None, *,
                    strict: bool = False) -> dict[str, Any]:
    """Build and write the evidence for data intervals in ``[start, end)``; returns the document
    with ``json_path`` and ``html_path`` set."""
    from multicloud.governance.audit import audit_estate
    from multicloud.residency.policy import ResidencyPolicy
    from multicloud.sync.audit import read_audit

    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ValueError(f"evidence range is empty: from {start.isoformat()} to {end.isoformat()}")
    policy = ResidencyPolicy.from_estate(estate)
    allowed = [_allowed(estate, policy, o) for o in _sync_outcomes(home) if _in_range(o["item"]["partition"],
                                                                                      o.get("_at"), start, end)]
    refused = [_refused(d) for d in read_audit(home) if _in_range(d.get("partition", ""), d.get("at"), start, end)]
    at_rest = audit_estate(estate, strict=strict).as_dict()
    document = {
        "kind": "residency-evidence", "estate": estate.name, "generated_at": datetime.now(UTC).isoformat(),
        "range": {"from": start.isoformat(), "to": end.isoformat(), "end_exclusive": True},
        "summary": {
            "allowed": len(allowed), "denied": sum(r["decision"] == "denied" for r in refused),
            "would_deny": sum(r["decision"] == "would-deny" for r in refused),
            "objects_landed": sum(len(a["landed"]) for a in allowed),
            "at_rest_status": at_rest["status"], "violations_at_rest": len(at_rest["violations"]),
            "unverified_regions": [u["region"] for u in at_rest["unverified"]],
        },
        "decisions": sorted(allowed + refused, key=lambda d: (d["partition"], d["dataset"], d["region"], d["decision"])),
        "at_rest": {
            "status": at_rest["status"], "region_status": at_rest["region_status"],
            "unverified": at_rest["unverified"], "violations": at_rest["violations"],
            "would_deny": at_rest["would_deny"], "unclassified": at_rest["unclassified"],
            "stale_temporaries": at_rest["stale_temporaries"], "objects_scanned": at_rest["objects_scanned"],
            "rows_scanned": at_rest["rows_scanned"],
        },
        "notes": ["Rules of allowed decisions are the estate's policy at export time; denied and would-deny "
                  "rules are as recorded when the sync decided.",
                  "An unverified region is not known to be clean."],
    }
    stem = f"evidence_{_stamp(start)}_{_stamp(end)}"
    json_path = paths.home_path(home, "reports", "evidence", f"{stem}.json", what="evidence file")
    html_path = json_path.with_suffix(".html")
    document["json_path"], document["html_path"] = str(json_path), str(html_path)
    atomic_write_text(json_path, json.dumps(document, indent=2, sort_keys=True, default=str))
    atomic_write_text(html_path, render_html(document))
    return document


# ---- decisions -------------------------------------------------------------------------------------
def _sync_outcomes(home: Path | None) -> list[dict[str, Any]]:
    root = paths.home_path(home, "state", SYNC_DAG)
    outcomes = []
    for path in sorted(root.glob("*/*.json")) if root.exists() else []:
        try:
            body = json.loads(path.read_text())
        except ValueError:
            continue
        if body.get("status") == "ok" and "item" in body:
            body["_run"] = path.parent.name
            body["_at"] = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
            outcomes.append(body)
    return outcomes


def _allowed(estate: Estate, policy: Any, outcome: dict[str, Any]) -> dict[str, Any]:
    item = outcome["item"]
    dataset = estate.dataset(item["dataset"])
    if item["kind"] == "quarantine":
        rules = [{"class": None, "rule": "quarantine-in-source",
                  "reason": "rows of unknown class stay in the dataset's source region"}]
    elif dataset.routing is not None:
        routing = dataset.routing
        rules = [_rule(policy, routing.class_by_jurisdiction.get(j), item["region"]) for j in item["jurisdictions"]]
    else:
        rules = [_rule(policy, dataset.data_class, item["region"])]
    return {"decision": "allowed", "dataset": item["dataset"], "region": item["region"], "kind": item["kind"],
            "partition": item["partition"], "run": outcome["_run"], "at": outcome["_at"],
            "jurisdictions": item.get("jurisdictions", []), "would_deny_classes": item.get("would_deny", []),
            "rules": rules, "target_url": outcome.get("target_url"), "rows": outcome.get("rows"),
            "landed": _landed(estate, item, outcome.get("target_url"))}


def _rule(policy: Any, data_class: str | None, region: str) -> dict[str, Any]:
    decision = policy.decide(data_class, region)
    return {"class": data_class, "rule": decision.rule, "reason": decision.reason, "allowed": decision.allowed,
            "mode": decision.mode}


def _refused(entry: dict[str, Any]) -> dict[str, Any]:
    return {"decision": entry.get("outcome", "denied"), "dataset": entry.get("dataset"), "region": entry.get("region"),
            "partition": entry.get("partition", ""), "run": entry.get("run_id"), "at": entry.get("at"),
            "rules": [{"class": entry.get("class"), "rule": entry.get("rule"), "reason": entry.get("reason")}],
            "landed": []}


def _landed(estate: Estate, item: dict[str, Any], target_url: str | None) -> list[dict[str, Any]]:
    """SHA-256 and size of every visible object under the item's target (manifest first)."""
    from multicloud.sync.copier import list_objects, read_manifest
    from multicloud.sync.storage import location_for

    if not target_url:
        return []
    dataset = estate.dataset(item["dataset"])
    region = dataset.source if item["kind"] == "quarantine" else item["region"]
    try:
        loc = location_for(estate.region(region).storage, target_url)
        objects, manifest = list_objects(loc), read_manifest(loc)
    except Exception as exc:  # evidence says what it could not read, it never invents a checksum
        return [{"path": target_url, "error": f"{type(exc).__name__}: {exc}"}]
    landed = []
    for rel, info in sorted(objects.items()):
        entry = manifest.get(rel)
        if entry and entry.get("size") == info["size"]:
            digest, source = entry["sha256"], "manifest"
        else:
            digest, source = _sha256(loc.child(rel)), "read"
        landed.append({"path": f"{target_url.rstrip('/')}/{rel}", "size": info["size"], "sha256": digest,
                       "checksum_from": source})
    return landed


def _sha256(loc: Any) -> str:
    digest = hashlib.sha256()
    with loc.fs.open(loc.path, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


# ---- time range --------------------------------------------------------------------------------------
def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _in_range(partition: str, recorded_at: str | None, start: datetime, end: datetime) -> bool:
    """A decision belongs to the range of its data interval (its partition), else of when it was recorded."""
    moment = _partition_time(partition)
    if moment is None:
        moment = _parse(partition) or _parse(recorded_at)
    return moment is not None and start <= moment < end


def _partition_time(partition: str) -> datetime | None:
    match = _PARTITION_RE.search(partition or "")
    if not match:
        return None
    return datetime.fromisoformat(match["date"]).replace(hour=int(match["hour"] or 0), tzinfo=UTC)


def _parse(value: str | None) -> datetime | None:
    try:
        return _utc(datetime.fromisoformat(value)) if value else None
    except ValueError:
        return None


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


# ---- HTML -------------------------------------------------------------------------------------------
def render_html(doc: dict[str, Any]) -> str:
    esc = html.escape
    summary, at_rest = doc["summary"], doc["at_rest"]
    unverified = {u["region"]: u["cause"] for u in at_rest["unverified"]}
    status_css = "ok" if at_rest["status"] == "clean" else "bad"
    decision_rows = "".join(
        f"<tr class='{esc(d['decision'])}'><td>{esc(d['decision'])}</td><td>{esc(str(d['dataset']))}</td>"
        f"<td>{esc(str(d['region']))}</td><td>{esc(d['partition'])}</td>"
        f"<td>{esc(_rules_text(d['rules']))}</td>"
        f"<td>{len(d['landed'])}</td></tr>" for d in doc["decisions"])
    region_rows = "".join(
        f"<tr><td>{esc(region)}</td><td class='{'ok' if status == 'clean' else 'bad'}'>{esc(status.upper())}</td>"
        f"<td>{esc(unverified.get(region, ''))}</td></tr>" for region, status in at_rest["region_status"].items())
    landed_rows = "".join(
        f"<tr><td>{esc(str(obj.get('path')))}</td><td>{obj.get('size', '')}</td>"
        f"<td><code>{esc(str(obj.get('sha256') or obj.get('error')))}</code></td></tr>"
        for d in doc["decisions"] for obj in d["landed"])
    violation_rows = "".join(
        f"<tr><td>{esc(v['region'])}</td><td>{esc(v['path'])}</td><td>{esc(str(v['data_class']))}</td>"
        f"<td>{esc(v['rule'])}</td></tr>" for v in at_rest["violations"])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Residency evidence {esc(doc['estate'])}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px}} .bad{{color:#b00020;font-weight:bold}}
.ok{{color:#1b5e20}} tr.denied td{{color:#b00020}} tr.would-deny td{{color:#e65100}} code{{font-size:11px}}</style>
</head><body><h1>Residency evidence: {esc(doc['estate'])}</h1>
<p>Data intervals from {esc(doc['range']['from'])} to {esc(doc['range']['to'])} (end exclusive); generated
{esc(doc['generated_at'])}.</p>
<ul><li>{summary['allowed']} allowed, {summary['denied']} denied, {summary['would_deny']} would-deny copy decision(s)</li>
<li>{summary['objects_landed']} object(s) landed, each with its SHA-256 below</li>
<li class="{status_css}">At rest now: {esc(at_rest['status'].upper())}, {summary['violations_at_rest']} violation(s),
{len(unverified)} unverified region(s)</li></ul>
<h2>Copy decisions</h2><table><tr><th>decision</th><th>dataset</th><th>region</th><th>partition</th>
<th>class: rule</th><th>objects landed</th></tr>{decision_rows}</table>
<h2>At-rest audit per region</h2><table><tr><th>region</th><th>status</th><th>cause</th></tr>{region_rows}</table>
{'<h3>Violations at rest</h3><table><tr><th>region</th><th>path</th><th>class</th><th>rule</th></tr>' + violation_rows + '</table>' if violation_rows else ''}
<h2>What landed</h2><table><tr><th>object</th><th>bytes</th><th>sha256</th></tr>{landed_rows}</table>
<p>{'<br>'.join(esc(n) for n in doc['notes'])}</p></body></html>"""


def _rules_text(rules: list[dict[str, Any]]) -> str:
    return "; ".join(f"{r.get('class')}: {r.get('rule')}" for r in rules)


# ---- CLI ----------------------------------------------------------------------------------------------
def _moment(text: str) -> datetime:
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date (2026-11-29) or an ISO timestamp, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    from multicloud.estate import EstateError, load_estate

    parser = argparse.ArgumentParser(prog="python -m multicloud.governance.evidence",
                                     description="Export residency evidence (JSON + HTML) for a range of data intervals.")
    parser.add_argument("--from", dest="start", type=_moment, required=True, help="first day or instant (UTC)")
    parser.add_argument("--to", dest="end", type=_moment, help="end, exclusive (default: one day after --from)")
    parser.add_argument("--estate", help="estate YAML (default: the configured one)")
    parser.add_argument("--strict", action="store_true", help="count unclassified objects as violations")
    args = parser.parse_args(argv)
    try:
        estate = load_estate(args.estate)
        doc = export_evidence(estate, args.start, args.end or args.start + timedelta(days=1), strict=args.strict)
    except (EstateError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    s = doc["summary"]
    print(f"{s['allowed']} allowed, {s['denied']} denied, {s['would_deny']} would-deny; {s['objects_landed']} objects "
          f"landed; at rest {s['at_rest_status']} ({s['violations_at_rest']} violations, "
          f"{len(s['unverified_regions'])} unverified)")
    print(f"Evidence: {doc['html_path']}")
    print(f"Evidence (JSON): {doc['json_path']}")
    return 1 if s["at_rest_status"] != "clean" else 0


if __name__ == "__main__":
    sys.exit(main())
