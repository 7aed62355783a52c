"""Run summaries: every DAG run ends with a summary readable in ten seconds.

Each DAG's last task calls ``write_summary``; the demo and the governance report read
``reports/<dag_id>/latest.json``. Files are written atomically (temp name, then rename).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multicloud import paths
from multicloud.paths import safe_run_id
from multicloud.statefile import atomic_write_text


def write_summary(dag_id: str, run_id: str, headline: list[str], data: dict[str, Any],
                  home: Path | None = None) -> Path:
    """Write reports/<dag_id>/<run>.json and latest.json; return the run's file."""
    folder = paths.home_path(home, "reports", paths.clean_name(dag_id, "dag id"))
    body = {
        "dag_id": dag_id, "run_id": run_id, "written_at": datetime.now(UTC).isoformat(),
        "headline": headline, "data": data,
    }
    text = json.dumps(body, indent=2, sort_keys=True, default=str)
    run_file = atomic_write_text(folder / f"{safe_run_id(run_id)}.json", text)
    atomic_write_text(folder / "latest.json", text)
    return run_file


def latest_summary(dag_id: str, home: Path | None = None) -> dict[str, Any] | None:
    path = paths.home_path(home, "reports", paths.clean_name(dag_id, "dag id"), "latest.json")
    return json.loads(path.read_text()) if path.exists() else None


def format_seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{float(value):.1f}s"
