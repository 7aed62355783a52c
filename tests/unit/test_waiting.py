"""wait_until: the one poll-until-deadline loop."""

from __future__ import annotations

import itertools
import time

import pytest

from multicloud.waiting import wait_until


def test_returns_the_first_truthy_value_without_sleeping_first():
    calls = []
    assert wait_until(lambda: calls.append(1) or "ready", 5, interval_s=10) == "ready"  # a sleep would be 10 s
    assert calls == [1]


def test_returns_none_at_the_deadline_and_checks_once_more_there():
    seen: list[float] = []
    started = time.monotonic()
    assert wait_until(lambda: seen.append(time.monotonic()) and None, 0.3, interval_s=0.1) is None
    took = time.monotonic() - started
    assert 0.3 <= took < 2.0  # generous: a loaded machine schedules late, never early
    assert seen[-1] - started >= 0.3  # the last check at the deadline, not a sleep short of it


def test_backoff_grows_to_the_cap():
    seen: list[float] = []
    wait_until(lambda: seen.append(time.monotonic()) and None, 0.5, interval_s=0.01, backoff=2.0,
               max_interval_s=0.08)
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert min(gaps[:-1]) >= 0.01  # never shorter than the first pause (the last one is cut at the deadline)
    assert len(seen) < 20  # it did back off: 0.01 s pauses would be ~50 checks, doubling to 0.08 s is ~9


def test_a_check_that_raises_stops_the_wait():
    def exited():
        raise RuntimeError("the process exited with 1")

    with pytest.raises(RuntimeError, match="exited with 1"):
        wait_until(exited, 10)
