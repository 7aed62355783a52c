"""AwaitSourcePartitionsOperator: no deferral when every source partition is there, one deferral for
all the missing ones that may still arrive, late at once where the estate sets no arrival timeout."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import TaskDeferred

from multicloud.operators.source_partitions import AwaitSourcePartitionsOperator
from multicloud.sync.sources import produce_local_sources
from multicloud.triggers.source_partitions import SourcePartitionsTrigger

START = datetime(2026, 3, 2, 7, tzinfo=UTC)
PARAMS = {
    "datasets": ["customer-events", "telemetry"],
    "regions": ["oci-fra", "oci-lon"],
    "interval_start": START.strftime("%Y-%m-%dT%H:00:00Z"),
}


@pytest.fixture
def live_estate(make_live_estate):
    """Telemetry waits up to 60 s for its source; the others are late at once."""
    return make_live_estate(lambda dataset: 60 if dataset == "telemetry" else 0)


def _context(params: dict) -> dict:
    return {
        "params": params,
        "data_interval_start": None,
        "data_interval_end": None,
        "dag_run": SimpleNamespace(run_after=START),
    }


def _operator() -> AwaitSourcePartitionsOperator:
    return AwaitSourcePartitionsOperator(task_id="await_sources", poll_interval=30)


def test_every_partition_there_returns_at_once(live_estate):
    produce_local_sources(live_estate, START, ["customer-events", "telemetry"])
    assert _operator().execute(_context(PARAMS)) == {"late": [], "arrived": []}


def test_missing_partitions_defer_once_with_a_deadline_and_those_without_a_timeout_are_late_now(live_estate):
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        _operator().execute(_context(PARAMS))
    trigger = deferred.value.trigger
    assert isinstance(trigger, SourcePartitionsTrigger)
    [waiting] = trigger.partitions
    assert (waiting["dataset"], waiting["timeout_s"]) == ("telemetry", 60)
    assert before + 60 <= waiting["deadline"] <= time.time() + 60
    assert trigger.poll_interval == 6  # a tenth of the shortest timeout, at most the operator's 30 s
    [late_now] = deferred.value.kwargs["late_now"]
    assert (late_now["dataset"], late_now["partition"]) == ("customer-events", "dt=2026-03-02/hr=07")
    assert "deadline" not in late_now

    event = {"late": [waiting], "arrived": []}
    result = _operator().execute_complete(_context(PARAMS), event, late_now=[late_now])
    assert [p["dataset"] for p in result["late"]] == ["customer-events", "telemetry"]


def test_params_plan_will_refuse_wait_for_nothing(live_estate):
    for params in ({**PARAMS, "datasets": ["customer-evnets"]}, {**PARAMS, "interval_start": "yesterday"}):
        assert _operator().execute(_context(params)) == {"late": [], "arrived": []}
