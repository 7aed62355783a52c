"""The run's summary: per region what landed, what was denied, what was quarantined. Pure."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

MAX_LINES = 8


def build_summary(partitions: dict[str, str], items: list[dict[str, Any]], denials: list[dict[str, Any]],
                  outcomes: dict[str, dict[str, Any]], dry_run: bool = False,
                  extra_lines: list[str] | None = None) -> tuple[list[str], dict[str, Any]]:
    """(headline of at most MAX_LINES, data). ``extra_lines`` follow the first line, within the budget."""
    by_item = {(o["item"]["dataset"], o["item"]["region"], o["item"]["kind"]): o for o in outcomes.values()}
    landed: dict[str, dict[str, int]] = defaultdict(dict)  # region -> dataset -> rows
    failed: list[str] = []
    quarantined: dict[str, int] = {}
    for item in items:
        outcome = by_item.get((item["dataset"], item["region"], item["kind"]))
        status = outcome["status"] if outcome else "not-run"
        if status not in ("ok", "dry-run"):
            failed.append(f"{item['dataset']}→{item['region']}")
            continue
        if item["kind"] == "quarantine":
            quarantined[item["dataset"]] = int((outcome or {}).get("rows") or 0)
        else:
            landed[item["region"]][item["dataset"]] = int((outcome or {}).get("rows") or 0)

    blocking = [d for d in denials if d["blocks"]]
    would = [d for d in denials if not d["blocks"]]
    parts = max(partitions.values(), key=len, default="(no partition)")
    verb = "would land (dry run)" if dry_run else "landed"
    headline = [
        f"{parts}: {sum(1 for i in items if i['kind'] != 'quarantine') - len(failed)} (dataset, region) {verb}, "
        f"{len(failed)} failed, {len(blocking)} denied, {len(would)} would-deny (audit)",
        *(extra_lines or []),
    ]
    tail = ["denied (never copied): " + (_denial_text(blocking) or "none")]
    if would:
        tail.append("would-deny (audit mode, copied and recorded): " + _denial_text(would))
    tail.append("quarantined at source (unknown/missing jurisdiction): "
                + (", ".join(f"{d} {n:,} rows" for d, n in sorted(quarantined.items())) or "none"))
    if failed:
        tail.append("FAILED: " + ", ".join(sorted(failed)))
    groups: dict[tuple, list[str]] = defaultdict(list)
    for region, datasets in landed.items():
        groups[tuple(sorted(datasets.items()))].append(region)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1]))
    budget = max(1, MAX_LINES - len(headline) - len(tail))
    shown = ordered if len(ordered) <= budget else ordered[: budget - 1]
    for content, regions in shown:
        what = ", ".join(f"{d} {rows:,}" for d, rows in content)
        headline.append(f"{', '.join(sorted(regions))}: {what} rows")
    if len(shown) < len(ordered):
        rest = sorted(f"{r} ({sum(c for _, c in content):,} rows)" for content, regions in ordered[len(shown):]
                      for r in regions)
        headline.append(f"also {verb} in {', '.join(rest)}")
    headline += tail
    data = {
        "partitions": partitions, "landed": landed, "quarantined": quarantined, "failed": sorted(failed),
        "denied": blocking, "would_deny": would, "dry_run": dry_run,
        "outcomes": {k: {x: y for x, y in v.items() if x != "trace"} for k, v in outcomes.items()},
    }
    return headline[:MAX_LINES], data


def _denial_text(denials: list[dict[str, Any]]) -> str:
    by_dataset: dict[str, set[str]] = defaultdict(set)
    for d in denials:
        by_dataset[d["dataset"]].add(f"{d['region']}({d['data_class']})")
    texts = []
    for dataset, pairs in sorted(by_dataset.items()):
        if len(pairs) > 3:  # record-routed: other jurisdictions' rows withheld from many regions
            regions = {p.split("(")[0] for p in pairs}
            texts.append(f"{dataset} rows withheld from {len(regions)} regions ({len(pairs)} region/class pairs)")
        else:
            texts.append(f"{dataset}→{', '.join(sorted(pairs))}")
    return "; ".join(texts)
