"""Model versions are unique per run, and asset events from backfills never retrain."""

from __future__ import annotations

from datetime import UTC, datetime

from multicloud.training.run import from_backfill, version_label

MINUTE = datetime(2026, 3, 1, 14, 37, 5, tzinfo=UTC)


def test_two_runs_in_the_same_minute_and_second_get_different_versions():
    first = version_label(MINUTE, "manual__2026-03-01T14:37:05.1+00:00")
    second = version_label(MINUTE, "asset_triggered__2026-03-01T14:37:05.9+00:00_AbCd")
    assert first != second
    assert first.startswith("v20260301143705-")
    assert version_label(MINUTE, "manual__2026-03-01T14:37:05.1+00:00") == first  # a retry keeps its version
    assert "/" not in first
    assert ".." not in first


def test_events_of_backfill_runs_are_recognised_by_extra_or_run_id():
    assert from_backfill({"run_type": "backfill"}, "x")
    assert from_backfill(None, "backfill__2026-03-01T14:00:00+00:00")
    assert not from_backfill({"run_type": "scheduled"}, "scheduled__2026-03-01T14:00:00+00:00")
    assert not from_backfill({}, None)
