"""Which interval a residency_sync run covers: with, without a logical date, or chosen in the form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from multicloud.sync.interval import check_partition_alignment, parse_interval_start, run_interval

RUN_AFTER = datetime(2026, 3, 1, 14, 37, 12, tzinfo=UTC)


def test_a_run_without_logical_date_covers_the_last_complete_hour_before_run_after():
    chosen = run_interval(interval_start_param=None, data_interval_start=None, data_interval_end=None,
                          run_after=RUN_AFTER)
    assert (chosen.start, chosen.end) == (datetime(2026, 3, 1, 13, tzinfo=UTC), datetime(2026, 3, 1, 14, tzinfo=UTC))


def test_a_data_interval_wins_over_run_after_and_the_param_wins_over_both():
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    chosen = run_interval(interval_start_param=None, data_interval_start=start,
                          data_interval_end=start + timedelta(hours=1), run_after=RUN_AFTER)
    assert chosen.start == start
    assert chosen.source == "data interval"
    chosen = run_interval(interval_start_param="2026-02-01T05:00:00Z", data_interval_start=start,
                          data_interval_end=None, run_after=RUN_AFTER)
    assert (chosen.start, chosen.end) == (datetime(2026, 2, 1, 5, tzinfo=UTC), datetime(2026, 2, 1, 6, tzinfo=UTC))


@pytest.mark.parametrize("value", ["2026-02-01T05:30:00Z", "yesterday", "2026-13-01T05:00:00"])
def test_a_bad_interval_start_names_the_cause(value):
    with pytest.raises(ValueError, match="interval_start"):
        parse_interval_start(value)


def test_a_daily_dataset_needs_a_midnight_interval():
    with pytest.raises(ValueError, match="product-catalog"):
        check_partition_alignment(datetime(2026, 2, 1, 5, tzinfo=UTC), {"product-catalog": "daily",
                                                                        "customer-events": "hourly"})
    check_partition_alignment(datetime(2026, 2, 1, 0, tzinfo=UTC), {"product-catalog": "daily"})
