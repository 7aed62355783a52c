"""Metric points and their fan-out to the estate's sinks."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud import paths

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

log = logging.getLogger(__name__)
_lock = threading.Lock()
SINK_FAILURES: dict[str, int] = {}


@dataclass(frozen=True)
class MetricPoint:
    name: str
    value: float
    unit: str = "count"
    dimensions: dict[str, str] = field(default_factory=dict)
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def metrics_file(home: Path | None = None) -> Path:
    return (home or paths.estate_home()) / "metrics" / "metrics.jsonl"


def emit(name: str, value: float, *, unit: str = "count", dimensions: dict[str, str] | None = None,
         estate: Estate | None = None, home: Path | None = None) -> MetricPoint:
    point = MetricPoint(name, float(value), unit, {k: str(v) for k, v in (dimensions or {}).items()})
    sinks = [s.type for s in estate.metrics] if estate is not None else ["file"]
    for sink in sinks:
        try:
            _SINKS[sink](point, estate, home)
        except Exception as exc:  # a sink must never fail the business task
            SINK_FAILURES[sink] = SINK_FAILURES.get(sink, 0) + 1
            log.warning("metrics sink %s failed for %s: %s", sink, name, exc)
    return point


def read_points(home: Path | None = None, name: str | None = None) -> list[MetricPoint]:
    path = metrics_file(home)
    if not path.exists():
        return []
    points = [MetricPoint(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
    return [p for p in points if name is None or p.name == name]


def _file_sink(point: MetricPoint, _estate: Any, home: Path | None) -> None:
    path = metrics_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock, path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(point), sort_keys=True) + "\n")


_SINKS: dict[str, Any] = {"file": _file_sink}
