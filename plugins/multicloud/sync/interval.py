"""Which data interval a residency_sync run covers. Pure (no airflow import).

Airflow gives a run a data interval only sometimes:

- a scheduled or backfill run with logical date X covers [X, X+1h) (its data interval);
- a manual run *with* a logical date X gets the interval Airflow infers for manual runs of a
  ``CronDataIntervalTimetable``: [X-1h, X), the hour *before* X;
- a manual run *without* a logical date (the UI's default Trigger) has no data interval at all.

The rules, in order: the ``interval_start`` Param when set (an ISO datetime on an hour boundary,
UTC; the run covers [interval_start, +1h)); else the run's data interval; else the last complete
interval before ``run_after`` ([floor(run_after) - 1h, floor(run_after))). No caller may assume
``data_interval_start`` exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PERIOD = timedelta(hours=1)
# An interval_start is checked by its Param at trigger time (the pattern: sync.settings, the API
# refuses the run); parse_interval_start re-checks.


@dataclass(frozen=True)
class RunInterval:
    start: datetime
    end: datetime
    source: str  # "param", "data interval", "last complete interval before run_after"

    def describe(self) -> str:
        return f"[{self.start:%Y-%m-%dT%H:%M}, {self.end:%Y-%m-%dT%H:%M}) UTC ({self.source})"


def parse_interval_start(value: str) -> datetime:
    """An ``interval_start`` Param value as an aware UTC datetime on an hour boundary (ValueError otherwise)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"interval_start {value!r} is not an ISO datetime such as 2026-01-01T05:00:00Z") from exc
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment != floor_hour(moment):
        raise ValueError(f"interval_start {value!r} is not on an hour boundary (partitions are hourly)")
    return moment


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def run_interval(*, interval_start_param: str | None, data_interval_start: datetime | None,
                 data_interval_end: datetime | None, run_after: datetime | None,
                 now: datetime | None = None) -> RunInterval:
    """The interval this run syncs (see the module docstring for the rules)."""
    if interval_start_param:
        start = parse_interval_start(interval_start_param)
        return RunInterval(start, start + PERIOD, "param")
    if data_interval_start is not None:
        start = data_interval_start.astimezone(UTC)
        end = data_interval_end.astimezone(UTC) if data_interval_end is not None else start + PERIOD
        return RunInterval(start, end, "data interval")
    anchor = (run_after or now or datetime.now(UTC)).astimezone(UTC)
    end = floor_hour(anchor)
    return RunInterval(end - PERIOD, end, "last complete interval before run_after")


def check_partition_alignment(start: datetime, partitionings: dict[str, str]) -> None:
    """A chosen interval must start a partition of every dataset named explicitly (daily: midnight)."""
    misaligned = sorted(d for d, p in partitionings.items() if p == "daily" and start.hour != 0)
    if misaligned:
        raise ValueError(f"interval_start {start:%Y-%m-%dT%H:%M}Z does not start a daily partition of "
                         f"{misaligned}: use 00:00")
