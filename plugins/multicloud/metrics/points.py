"""A metric point: what every sink sends and the file sink stores as one JSON line."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class MetricPoint:
    name: str
    value: float
    unit: str = "count"
    dimensions: dict[str, str] = field(default_factory=dict)
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
