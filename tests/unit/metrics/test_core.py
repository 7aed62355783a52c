"""emit / emit_points / read_points: every point reaches every sink of the estate; a failing sink
never fails the caller, is counted and is recorded as a point of its own."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from multicloud.metrics import core, metrics_file


@pytest.fixture(autouse=True)
def _counts(monkeypatch):
    monkeypatch.setattr(core, "SINK_FAILURES", {})


def test_emitted_points_are_read_back_by_name(estate_home):
    point = core.emit("sync.rows", 3, dimensions={"region": "oci-fra", "attempt": 2}, home=estate_home)
    core.emit_points([core.MetricPoint("dr.rto_s", 12.0, "seconds")], home=estate_home)
    assert point.dimensions == {"region": "oci-fra", "attempt": "2"}   # dimensions become strings
    assert core.read_points(estate_home, "sync.rows") == [point]
    assert [p.name for p in core.read_points(estate_home)] == ["sync.rows", "dr.rto_s"]


def test_no_points_writes_nothing(estate_home):
    core.emit_points([], home=estate_home)
    assert core.read_points(estate_home) == []


def test_a_line_that_is_not_a_point_is_skipped(estate_home):
    core.emit("a", 1, home=estate_home)
    with metrics_file(estate_home).open("a") as f:
        f.write("42\n")
    core.emit("b", 2, home=estate_home)
    assert [p.name for p in core.read_points(estate_home)] == ["a", "b"]


def test_a_failing_sink_is_counted_and_recorded_and_the_others_still_get_the_point(estate_home, monkeypatch):
    def broken(point, spec, home):
        raise ConnectionError("monitoring unreachable")

    monkeypatch.setitem(core.SINKS, "broken", broken)
    estate = SimpleNamespace(metrics=[SimpleNamespace(type="broken"), SimpleNamespace(type="file")])
    core.emit("sync.rows", 5, estate=estate, home=estate_home)
    assert core.SINK_FAILURES == {"broken": 1}
    assert [p.value for p in core.read_points(estate_home, "sync.rows")] == [5.0]
    (failure,) = core.read_points(estate_home, "metrics.sink_failures")
    assert failure.dimensions == {"sink": "broken", "metric": "sync.rows"}
