"""The run's summary: per region what landed, what was denied, what was quarantined. Pure."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

MAX_LANDED_LINES = 4


def build_summary(partitions: dict[str, str], items: list[dict[str, Any]], denials: list[dict[str, Any]],
                  outcomes: dict[str, dict[str, Any]], dry_run: bool = False) -> tuple[list[str], dict[str, Any]]:
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
    parts = ", ".join(sorted(set(partitions.values())))
    verb = "would land (dry run)" if dry_run else "landed"
    headline = [
        f"{parts}: {sum(1 for i in items if i['kind'] != 'quarantine') - len(failed)} (dataset, region) pairs {verb}, "
        f"{len(failed)} failed, {len(blocking)} denied, {len(would)} would-deny (audit)",
    ]
    groups: dict[tuple, list[str]] = defaultdict(list)
    for region, datasets in landed.items():
        groups[tuple(sorted(datasets.items()))].append(region)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1]))
    for content, regions in ordered[:MAX_LANDED_LINES]:
        what = ", ".join(f"{d} {rows:,} rows" for d, rows in content)
        headline.append(f"{verb} in {', '.join(sorted(regions))}: {what}")
    if len(ordered) > MAX_LANDED_LINES:
        rest = sorted(r for _, regions in ordered[MAX_LANDED_LINES:] for r in regions)
        headline.append(f"{verb} also in {', '.join(rest)} (see the report)")
    headline.append("denied: " + (_denial_text(blocking) or "none"))
    if would:
        headline.append("would-deny (audit mode, copied and recorded): " + _denial_text(would))
    headline.append("quarantined at source: " + (", ".join(f"{d} {n:,} rows" for d, n in sorted(quarantined.items()))
                                                 or "none"))
    if failed:
        headline.append("FAILED: " + ", ".join(sorted(failed)))
    data = {
        "partitions": partitions, "landed": landed, "quarantined": quarantined, "failed": sorted(failed),
        "denied": blocking, "would_deny": would, "dry_run": dry_run,
        "outcomes": {k: {x: y for x, y in v.items() if x != "trace"} for k, v in outcomes.items()},
    }
    return headline[:8], data


def _denial_text(denials: list[dict[str, Any]]) -> str:
    by_dataset: dict[str, set[str]] = defaultdict(set)
    for d in denials:
        by_dataset[d["dataset"]].add(f"{d['region']}({d['data_class']})")
    texts = []
    for dataset, pairs in sorted(by_dataset.items()):
        shown = sorted(pairs)
        more = f" +{len(shown) - 3} more" if len(shown) > 3 else ""
        texts.append(f"{dataset}→{', '.join(shown[:3])}{more}")
    return "; ".join(texts)
