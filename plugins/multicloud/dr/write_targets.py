"""The write target: which region's replica each DR pair's applications write to.

One JSON file (``{estate_home}/state/dr/write_targets.json``): ``{pair: {dataset: region}}``; no
entry means the primary. A failover promotes the secondary; fail back removes the entry again.
"""

from __future__ import annotations

import json
from pathlib import Path

from multicloud.dr.ledger import dr_state_dir
from multicloud.statefile import atomic_write_text


def write_targets_file(home: Path | None = None) -> Path:
    return dr_state_dir(home) / "write_targets.json"


def write_targets(home: Path | None = None) -> dict[str, dict[str, str]]:
    path = write_targets_file(home)
    return json.loads(path.read_text()) if path.exists() else {}


def write_target(pair, dataset: str, home: Path | None = None) -> str:
    """The region ``dataset`` of ``pair`` is written to now."""
    return write_targets(home).get(pair.id, {}).get(dataset, pair.primary)


def set_write_target(pair_id: str, region_by_dataset: dict[str, str] | None, home: Path | None = None) -> None:
    targets = write_targets(home)
    if region_by_dataset is None:
        targets.pop(pair_id, None)
    else:
        targets[pair_id] = region_by_dataset
    atomic_write_text(write_targets_file(home), json.dumps(targets, indent=2, sort_keys=True))
