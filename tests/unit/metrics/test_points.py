"""MetricPoint: an immutable point stamped with an aware UTC time; one JSON line in the file sink."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from multicloud.metrics.points import MetricPoint


def test_a_point_is_stamped_now_in_utc_and_is_immutable():
    point = MetricPoint("sync.rows", 3.0)
    stamped = datetime.fromisoformat(point.timestamp)
    assert stamped.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamped) < timedelta(seconds=60)
    assert (point.unit, point.dimensions) == ("count", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.value = 4.0  # type: ignore[misc]


def test_points_never_share_their_dimensions():
    first, second = MetricPoint("a", 1.0), MetricPoint("b", 2.0)
    first.dimensions["region"] = "oci-fra"
    assert second.dimensions == {}


def test_a_point_round_trips_through_its_json_line():
    point = MetricPoint("dr.rto_s", 12.5, "seconds", {"pair": "churn-eu"})
    line = json.dumps(dataclasses.asdict(point))
    assert MetricPoint(**json.loads(line)) == point
