"""Where the estate file and the estate home (local storage, state, reports) live.

Resolution order for the estate file: explicit argument, ``MULTICLOUD_ESTATE`` environment
variable, then ``include/estate/local.yaml`` of this checkout. DAG tasks may also pass the
Airflow Variable ``multicloud_estate`` (read inside tasks, never at parse time).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = PROJECT_ROOT / "include"
DEFAULT_ESTATE_FILE = INCLUDE_DIR / "estate" / "local.yaml"

ESTATE_FILE_ENV = "MULTICLOUD_ESTATE"
ESTATE_HOME_ENV = "MULTICLOUD_ESTATE_HOME"


def estate_file(explicit: str | os.PathLike[str] | None = None) -> Path:
    chosen = explicit or os.environ.get(ESTATE_FILE_ENV) or DEFAULT_ESTATE_FILE
    path = Path(chosen)
    return path if path.is_absolute() else (PROJECT_ROOT / path)


def estate_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    chosen = explicit or os.environ.get(ESTATE_HOME_ENV) or (PROJECT_ROOT / ".estate")
    path = Path(chosen)
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


def reports_dir(home: Path | None = None) -> Path:
    return (home or estate_home()) / "reports"


def state_dir(home: Path | None = None) -> Path:
    return (home or estate_home()) / "state"
