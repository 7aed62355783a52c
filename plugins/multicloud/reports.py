"""Run summaries: every DAG run ends with a summary readable in ten seconds.

Each DAG's last task calls ``write_summary``; the demo and the governance report read
``reports/<dag_id>/latest.json``. Files are written atomically (temp name, then rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multicloud import paths


def atomic_write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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


def safe_run_id(run_id: str) -> str:
    """A run id as one file or folder name (``manual__2026-11-29T14:25:29+00:00`` has ':' and '+').

    Never ``.``/``..`` or a hidden name, never longer than 200 characters (a hash keeps it unique).
    """
    name = re.sub(r"^\.", "_", re.sub(r"[^A-Za-z0-9._-]+", "_", str(run_id))) or "_"
    if len(name) > 200:
        name = f"{name[:180]}-{hashlib.sha256(str(run_id).encode()).hexdigest()[:16]}"
    return paths.clean_name(name, "run id")


def format_seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{float(value):.1f}s"
