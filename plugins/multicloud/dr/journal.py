"""A rehearsal run's journal: what a later step needs, under ``{estate_home}/state/dr/runs/``.

Written atomically after every step; the probe's samples live beside it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from multicloud import paths
from multicloud.dr.ledger import dr_state_dir
from multicloud.dr.probe import read_samples
from multicloud.dr.scoring import Sample
from multicloud.paths import safe_run_id
from multicloud.statefile import atomic_write_text


def run_file(pair_id: str, run_id: str, home: Path | None = None) -> Path:
    name = f"{paths.clean_name(pair_id, 'DR pair id')}-{safe_run_id(run_id)}.json"
    return paths.home_path(home, "state", "dr", "runs", name, what="rehearsal journal")


def probe_file(pair_id: str, run_id: str, home: Path | None = None) -> Path:
    """Where the run's probe writes its samples (one JSON line each), beside the journal."""
    return dr_state_dir(home) / "runs" / f"{run_file(pair_id, run_id, home).stem}.probe.jsonl"


def load_run(pair_id: str, run_id: str, home: Path | None = None) -> dict[str, Any]:
    path = run_file(pair_id, run_id, home)
    return json.loads(path.read_text()) if path.exists() else {"pair": pair_id, "run_id": run_id, "events": {}}


def save_run(state: dict[str, Any], home: Path | None = None) -> None:
    atomic_write_text(run_file(state["pair"], state["run_id"], home), json.dumps(state, indent=2, default=str))


def event(state: dict[str, Any], name: str, at: float | None = None) -> float:
    """Record when ``name`` happened (now unless ``at``); returns the time."""
    state["events"][name] = at if at is not None else time.time()
    return state["events"][name]


def samples(state: dict[str, Any]) -> list[Sample]:
    return read_samples(Path(state["probe_file"])) if state.get("probe_file") else []
