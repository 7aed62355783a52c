"""OCIPollingTrigger's own machinery, with a subclass whose wait is scripted (no service needed):
one event per run, the deadline from the serialized start, kill versus cleanup."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from multicloud.hooks.oci import OCIWaiterTimeout
from multicloud.triggers import base
from multicloud.triggers.base import OCIPollingTrigger


class _Scripted(OCIPollingTrigger):
    resource_fields = ("outcome",)

    def __init__(self, *, outcome: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outcome = outcome
        self.stopped = 0

    async def wait(self, deadline: float | None) -> Any:
        if self.outcome == "timeout":
            raise OCIWaiterTimeout("still RUNNING", last={"state": "RUNNING"})
        if self.outcome == "error":
            raise RuntimeError("404 NotAuthorizedOrNotFound")
        return {"state": self.outcome}

    def event_for(self, resource: Any) -> dict[str, Any]:
        return {"status": "success", "state": resource["state"]}

    def timeout_event(self, last: Any, message: str) -> dict[str, Any]:
        return {"status": "timeout", "message": message, "last": last["state"]}

    def stop_remote(self) -> None:
        self.stopped += 1


def _events(trigger: OCIPollingTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def test_serialize_round_trips_every_argument_and_keeps_the_start(monkeypatch):
    monkeypatch.setattr(base, "wall_clock", lambda: 1000.0)
    trigger = _Scripted(outcome="SUCCEEDED", oci_conn_id="oci_x", region="eu-frankfurt-1", timeout_s=60)
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("test_base._Scripted")
    monkeypatch.setattr(base, "wall_clock", lambda: 5000.0)  # the triggerer restarts much later
    rebuilt = _Scripted(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert (rebuilt.started_at, rebuilt.deadline) == (1000.0, 1060.0)


def test_no_timeout_means_no_deadline():
    assert _Scripted(outcome="SUCCEEDED").deadline is None


@pytest.mark.parametrize(("outcome", "expected"), [
    ("SUCCEEDED", {"status": "success", "state": "SUCCEEDED"}),
    ("error", {"status": "error", "message": "RuntimeError: 404 NotAuthorizedOrNotFound"}),
])
def test_one_event_per_run(outcome, expected):
    assert _events(_Scripted(outcome=outcome)) == [expected]


def test_a_timeout_reports_the_last_read_and_the_limit():
    [event] = _events(_Scripted(outcome="timeout", timeout_s=30))
    assert event == {"status": "timeout", "message": "still RUNNING (30s after the start)", "last": "RUNNING"}


def test_kill_stops_the_remote_work_but_cleanup_and_a_fired_trigger_never_do():
    killed = _Scripted(outcome="SUCCEEDED")
    asyncio.run(killed.cleanup())  # a triggerer restart
    assert killed.stopped == 0
    asyncio.run(killed.on_kill())  # a user killed the deferred task
    assert killed.stopped == 1

    fired = _Scripted(outcome="SUCCEEDED")
    _events(fired)
    asyncio.run(fired.on_kill())
    assert fired.stopped == 0
    kept = _Scripted(outcome="SUCCEEDED", stop_on_kill=False)
    asyncio.run(kept.on_kill())
    assert kept.stopped == 0
