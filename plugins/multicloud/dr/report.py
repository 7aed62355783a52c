"""The rehearsal report: JSON, an HTML page with a timeline chart, a metric, a history line.

Files (under the estate home):
- ``reports/dr_rehearsal/<run>.json`` and ``latest.json`` (``reports.write_summary``; ``data`` holds
  the whole report), ``reports/dr_rehearsal/<run>.html`` and ``latest.html``;
- ``reports/dr_rehearsal/history.jsonl``: one line per rehearsal (pair, scenario, outcome, RTO,
  RPO, targets) so the trend across rehearsals can be seen; the governance report reads it.
Metrics: ``dr.rto_seconds``, ``dr.rpo_seconds`` and ``dr.rehearsal`` (1 per run, outcome dimension).
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multicloud import paths
from multicloud.dr.scoring import (
    Sample,
    Score,
    availability,
    budget_used,
    downtime_s,
    error_budget_s,
    first_try_availability,
    mttr_ratio,
    rpo_s,
    worst_rpo_s,
)
from multicloud.statefile import atomic_write_text

DAG_ID = "dr_rehearsal"
TIMELINE_EVENTS = ("baseline", "fault", "failover", "first_secondary_answer", "abort", "primary_restored",
                   "failback", "primary_answers", "restore")


def history_file(home: Path | None = None) -> Path:
    return paths.reports_dir(home) / DAG_ID / "history.jsonl"


def build_report(state: dict[str, Any], samples: Sequence[Sample]) -> dict[str, Any]:
    """Pure: the report's content from the run state and the probe samples."""
    targets = state.get("targets") or {}
    marks = state.get("watermarks_at_fault") or {}
    per_dataset = {d: rpo_s(p, (marks.get("secondary") or {}).get(d)) for d, p in (marks.get("primary") or {}).items()}
    score = Score(state.get("rto_s"), worst_rpo_s(per_dataset) if per_dataset else None,
                  targets.get("rto_s", 0) or 0, targets.get("rpo_s", 0) or 0)
    settings = state.get("settings") or {}
    as_before = state.get("as_before")
    if state.get("outcome") in ("preflight_failed", "aborted"):
        outcome = state["outcome"]
    elif settings.get("dry_run"):
        outcome = "dry_run"
    elif "restore" not in state["events"] or state.get("rto_s") is None:
        outcome = "error"
    elif settings.get("fail_back") and "primary_answers" not in state["events"]:
        outcome = "error"  # fail back never saw the primary answer again: restore alone does not pass
    elif score.rto_met and score.rpo_met and (as_before is None or all(as_before.values())):
        outcome = "passed"
    else:
        outcome = "targets_missed"
    t0 = state["events"].get("baseline") or state["events"].get("preflight") or 0
    errors = [s for s in samples if not s.answered]
    return {
        "pair": state.get("pair"), "run_id": state.get("run_id"), "scenario": settings.get("scenario"),
        "primary": state.get("primary"), "secondary": state.get("secondary"), "endpoint": state.get("endpoint"),
        "outcome": outcome, "abort_reason": state.get("abort_reason"),
        "score": score.as_dict(), "rpo_per_dataset": per_dataset,
        "events": {k: round(v - t0, 3) for k, v in state["events"].items() if v is not None},
        "events_at": {k: datetime.fromtimestamp(v, UTC).isoformat() for k, v in state["events"].items() if v},
        "probe": {"samples": len(samples), "errors": len(errors), "availability": availability(samples),
                  "availability_first_try": first_try_availability(samples),
                  "retried": sum(1 for s in samples if s.retried),
                  "answers_checked": "smoke cases" if state.get("smoke_cases") else "version only",
                  "regions": sorted({s.region for s in samples if s.region})},
        "path": settings.get("path", "orchestrated"), "mttr_s": state.get("rto_s"),
        "slo": _slo(state, samples), "dr_failover": state.get("dr_failover"),
        "mttr_compare": state.get("mttr_compare"),
        "preflight": state.get("preflight", []), "faults": state.get("faults"), "plan": state.get("plan"),
        "restored": state.get("restored", []), "as_before": as_before,
        "expected_version": state.get("expected_version"), "settings": settings,
    }


def _slo(state: dict[str, Any], samples: Sequence[Sample]) -> dict[str, Any]:
    """The rehearsal's downtime (as the retrying client saw it) against the pair's monthly error budget."""
    slo = float(state.get("slo_availability") or 0.999)
    down = downtime_s(samples)
    return {"availability_target": slo, "monthly_error_budget_s": error_budget_s(slo), "downtime_s": down,
            "budget_used": budget_used(down, slo)}


def with_mttr_ratio(automated_s: float | None, orchestrated_s: float | None) -> dict[str, Any]:
    """Automated vs orchestrated time to recovery, same fault, same run (the seed: a 50% reduction)."""
    ratio = mttr_ratio(automated_s, orchestrated_s)
    return {"automated_s": automated_s, "orchestrated_s": orchestrated_s, "ratio": ratio,
            "goal_met": ratio is not None and ratio <= 0.5}


def headline(report: dict[str, Any], html_path: Path | None) -> list[str]:
    score = report["score"]

    def fmt(value: float | None, target: float, met: bool) -> str:
        return "n/a" if value is None else f"{value:.1f}s (target {target:g}s, {'met' if met else 'MISSED'})"

    lines = [f"DR {report['pair']} {report['scenario']}: {report['outcome'].upper()}"
             f" ({report['primary']} -> {report['secondary']})"]
    if report["outcome"] == "preflight_failed":
        lines += [f"preflight: {c['name']}: {c['detail']}" for c in report["preflight"] if not c["ok"]][:3]
    else:
        lines.append(f"RTO {fmt(score['rto_s'], score['rto_target_s'], score['rto_met'])}")
        lines.append(f"RPO {fmt(score['rpo_s'], score['rpo_target_s'], score['rpo_met'])}")
        if report["abort_reason"]:
            lines.append(f"stop condition: {report['abort_reason']}; primary restored")
        if report["as_before"] is not None:
            same = all(report["as_before"].values())
            lines.append("estate as before: yes" if same else
                         f"estate as before: NO ({[k for k, v in report['as_before'].items() if not v]})")
        probe = report["probe"]
        if probe["samples"]:
            slo = report["slo"]
            lines.append(f"probe ({report['path']} path, {probe['answers_checked']}): {probe['samples']} requests, "
                         f"{probe['errors']} failed after one retry, availability {probe['availability']:.2%} "
                         f"(first try {probe['availability_first_try']:.2%}); downtime {slo['downtime_s']:.1f}s = "
                         f"{slo['budget_used']:.3%} of the monthly error budget ({slo['monthly_error_budget_s'] / 60:.1f} min)")
        compare = report.get("mttr_compare")
        if compare and compare.get("ratio") is not None:
            lines.append(f"MTTR automated {compare['automated_s']:.2f}s vs orchestrated {compare['orchestrated_s']:.2f}s:"
                         f" ratio {compare['ratio']:.2f}")
    if html_path is not None:
        lines.append(f"report: {html_path}")
    return lines[:8]


def timeline_png(report: dict[str, Any], samples: Sequence[Sample], t0: float) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lanes = [report["primary"], report["secondary"], "error"]
    fig, ax = plt.subplots(figsize=(9, 2.8), dpi=90)
    for lane_index, lane in enumerate(lanes):
        xs = [s.t - t0 for s in samples if (s.region if s.answered else "error") == lane]
        if xs:
            ax.scatter(xs, [lane_index] * len(xs), s=8, color=("tab:blue", "tab:green", "tab:red")[lane_index],
                       label=lane)
    for name, at in report["events"].items():
        if name in TIMELINE_EVENTS and name != "restore":
            ax.axvline(at, color="grey", linestyle="--", linewidth=0.8)
            ax.text(at, len(lanes) - 0.4, name.replace("_", " "), rotation=90, fontsize=7, va="top")
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(-0.5, len(lanes) + 0.6)
    ax.set_xlabel("seconds since baseline")
    ax.set_title(f"{report['pair']} {report['scenario']}: answers by serving region")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def render_html(report: dict[str, Any], lines: list[str], png: bytes | None) -> str:
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{v:.3f}s</td></tr>" for k, v in report["events"].items())
    checks = "".join(f"<tr><td>{'ok' if c['ok'] else 'FAIL'}</td><td>{esc(c['name'])}</td><td>{esc(c['detail'])}"
                     f"</td></tr>" for c in report["preflight"])
    image = (f'<img alt="timeline" src="data:image/png;base64,{base64.b64encode(png).decode()}">' if png else "")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>DR rehearsal {esc(report['pair'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}td{{padding:2px 8px}}pre{{background:#f4f4f4;padding:1em}}</style>
</head><body><h1>DR rehearsal {esc(str(report['pair']))}: {esc(report['outcome'])}</h1>
<pre>{esc(chr(10).join(lines))}</pre>{image}
<h2>Timeline</h2><table>{rows}</table><h2>Preflight</h2><table>{checks}</table>
<h2>Report data</h2><pre>{esc(json.dumps(report, indent=2, default=str))}</pre></body></html>"""


def publish(estate, state: dict[str, Any], samples: Sequence[Sample], home: Path | None = None) -> dict[str, Any]:
    """Write the HTML page, the summary (JSON), a history line and the metrics. Returns the report."""
    from multicloud import reports
    from multicloud.metrics import emit

    report = build_report(state, samples)
    folder = paths.home_path(home, "reports", DAG_ID)
    html_path = paths.home_path(home, "reports", DAG_ID, f"{reports.safe_run_id(state['run_id'])}.html",
                                what="rehearsal report")
    t0 = state["events"].get("baseline") or time.time()
    png = timeline_png(report, samples, t0) if samples else None
    lines = headline(report, html_path)
    page = render_html(report, lines, png)
    atomic_write_text(html_path, page)
    atomic_write_text(folder / "latest.html", page)
    report["html"] = str(html_path)
    report["history_file"] = str(history_file(home))
    reports.write_summary(DAG_ID, state["run_id"], lines, report, home=home)
    score = report["score"]
    line = {"at": datetime.now(UTC).isoformat(), "run_id": state["run_id"], "pair": report["pair"],
            "scenario": report["scenario"], "outcome": report["outcome"], "rto_s": score["rto_s"],
            "rpo_s": score["rpo_s"], "rto_target_s": score["rto_target_s"], "rpo_target_s": score["rpo_target_s"],
            "availability": report["probe"]["availability"],
            "availability_first_try": report["probe"]["availability_first_try"], "path": report["path"],
            "mttr_s": report["mttr_s"], "downtime_s": report["slo"]["downtime_s"],
            "budget_used": report["slo"]["budget_used"],
            "mttr_ratio": (report.get("mttr_compare") or {}).get("ratio")}
    path = history_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")
    dims = {"pair": str(report["pair"]), "scenario": str(report["scenario"]), "outcome": report["outcome"]}
    if score["rto_s"] is not None:
        emit("dr.rto_seconds", score["rto_s"], unit="seconds", dimensions=dims, estate=estate, home=home)
    if score["rpo_s"] is not None:
        emit("dr.rpo_seconds", score["rpo_s"], unit="seconds", dimensions=dims, estate=estate, home=home)
    emit("dr.rehearsal", 1, dimensions=dims, estate=estate, home=home)
    from multicloud.metrics import logs

    logs.record_many("rehearsal_step", [
        {"run_id": state["run_id"], "pair": report["pair"], "scenario": report["scenario"], "step": step, "at": at}
        for step, at in sorted((state.get("events") or {}).items(), key=lambda kv: kv[1] or 0)]
        + [{"run_id": state["run_id"], "pair": report["pair"], "step": "outcome", "outcome": report["outcome"],
            "rto_s": score["rto_s"], "rpo_s": score["rpo_s"]}], estate=estate, home=home)
    if report["outcome"] not in ("passed", "dry_run"):
        from multicloud.alerts import alert

        alert("rehearsal_failed", f"DR rehearsal {report['pair']} ({report['scenario']}): {report['outcome']}",
              {"abort_reason": report.get("abort_reason"), "rto_s": score["rto_s"], "rpo_s": score["rpo_s"],
               "report": str(html_path)}, home=home)
    report["headline"] = lines
    return report


def read_history(home: Path | None = None) -> list[dict[str, Any]]:
    path = history_file(home)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
