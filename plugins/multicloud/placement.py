"""The placement store: how many replicas of each workload run on each cluster, right now.

Starts from the estate's declared ``placement``; cost_rebalance records the moves it applied.
A JSON file under the estate home, written atomically; readers always see a whole file.
"""

from __future__ import annotations

import json
from pathlib import Path

from multicloud import paths
from multicloud.estate.models import Estate
from multicloud.statefile import atomic_write_text

Placement = dict[str, dict[str, int]]


def placement_file(home: Path | None = None) -> Path:
    return paths.state_dir(home) / "placement.json"


def current_placement(estate: Estate, home: Path | None = None) -> Placement:
    declared = {w.id: dict(w.placement) for w in estate.workloads}
    path = placement_file(home)
    if not path.exists():
        return declared
    stored = json.loads(path.read_text())
    # Workloads added to the estate since the last write start from their declared placement.
    return {wid: stored.get(wid, placement) for wid, placement in declared.items()}


def save_placement(placement: Placement, home: Path | None = None) -> Path:
    cleaned = {w: {c: n for c, n in sorted(p.items()) if n > 0} for w, p in sorted(placement.items())}
    return atomic_write_text(placement_file(home), json.dumps(cleaned, indent=2))
