"""Metric points and their fan-out to the estate's sinks.

A failing sink never fails the business task: the failure is logged, counted in
``SINK_FAILURES`` and, when the file sink is configured, recorded as a
``metrics.sink_failures`` point so the governance report shows it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from multicloud.metrics.points import MetricPoint
from multicloud.metrics.sinks import SINKS, file_sink, file_sink_many, metrics_file
from multicloud.statefile import read_json_lines

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

__all__ = ["SINK_FAILURES", "MetricPoint", "emit", "emit_points", "read_points"]

log = logging.getLogger(__name__)
_count_lock = threading.Lock()
SINK_FAILURES: dict[str, int] = {}


def emit(name: str, value: float, *, unit: str = "count", dimensions: dict[str, str] | None = None,
         estate: Estate | None = None, home: Path | None = None) -> MetricPoint:
    """Send one point to every sink of the estate (the file sink alone without an estate)."""
    point = MetricPoint(name, float(value), unit, {k: str(v) for k, v in (dimensions or {}).items()})
    emit_points([point], estate=estate, home=home)
    return point


def emit_points(points: list[MetricPoint], *, estate: Estate | None = None, home: Path | None = None) -> None:
    """``emit`` for a batch: the file sink appends every line in one write (thousands of denials of a plan)."""
    if not points:
        return
    specs = list(estate.metrics) if estate is not None else [None]
    failed: list[str] = []
    for spec in specs:
        kind = spec.type if spec is not None else "file"
        try:
            if kind == "file":
                file_sink_many(points, home)
            else:
                for point in points:
                    SINKS[kind](point, spec, home)
        except Exception as exc:  # a sink must never fail the business task
            with _count_lock:
                SINK_FAILURES[kind] = SINK_FAILURES.get(kind, 0) + 1
            failed.append(kind)
            log.warning("metrics sink %s failed for %s: %s: %s", kind, points[0].name, type(exc).__name__, exc)
    if failed and any(s is None or s.type == "file" for s in specs):
        for kind in failed:
            failure = MetricPoint("metrics.sink_failures", 1.0, "count", {"sink": kind, "metric": points[0].name})
            try:
                file_sink(failure, None, home)
            except Exception as exc:
                log.warning("could not record the metrics sink failure: %s", exc)


def read_points(home: Path | None = None, name: str | None = None) -> list[MetricPoint]:
    points = []
    for fields in read_json_lines(metrics_file(home)):
        try:
            points.append(MetricPoint(**fields))
        except TypeError:  # a line that is JSON but no point (a torn line can parse as a number)
            continue
    return [p for p in points if name is None or p.name == name]
