"""HealthSignalTrigger: survives a triggerer restart (its read position is kept beside the queue),
fires once per failover signal, skips stale signals on a first start, and beats its heartbeat."""

from __future__ import annotations

import json
import time

from multicloud.dr.health import append_signal, watcher_file
from multicloud.triggers.dr_health import HealthSignalTrigger
from tests.unit.triggers.triggerer import events, rebuilt


def _signal(incident: str, kind: str = "failover", age_s: float = 0.0) -> dict:
    return {"kind": kind, "incident": incident, "from": "oci-fra", "to": "aws-fra", "at": time.time() - age_s}


def test_serialize_round_trips_every_argument(tmp_path):
    trigger = rebuilt(HealthSignalTrigger(str(tmp_path / "signals.jsonl"), poll_interval=0.2, kinds=["failover"],
                                          max_age_s=60.0, heartbeat_s=1.0))
    assert trigger.serialize()[0] == "multicloud.triggers.dr_health.HealthSignalTrigger"
    assert trigger.serialize()[1]["max_age_s"] == 60.0


def test_only_fresh_failover_signals_fire_and_the_heartbeat_is_written(tmp_path):
    queue = tmp_path / "signals.jsonl"
    for signal in (_signal("stale", age_s=3600), _signal("ok", kind="recovered"), _signal("a")):
        append_signal(queue, signal)
    fired = events(HealthSignalTrigger(str(queue), poll_interval=0.02), wanted=2, timeout=0.5)
    assert [e["incident"] for e in fired] == ["a"]
    assert "_end" not in fired[0]
    assert json.loads(watcher_file(queue).read_text())["at"] > time.time() - 60


def test_a_restart_resumes_after_the_last_signal_without_replaying_it(tmp_path):
    queue = tmp_path / "signals.jsonl"
    append_signal(queue, _signal("a"))
    trigger = HealthSignalTrigger(str(queue), poll_interval=0.02)
    # the position is stored once the triggerer took the event (the generator resumed after it)
    assert [e["incident"] for e in events(trigger, wanted=2, timeout=0.3)] == ["a"]
    append_signal(queue, _signal("b", age_s=3600))     # old, but after the stored position: not stale
    assert [e["incident"] for e in events(rebuilt(trigger), wanted=2, timeout=0.5)] == ["b"]
    assert events(rebuilt(trigger), timeout=0.3) == []


def test_a_signal_taken_but_not_acknowledged_is_fired_again(tmp_path):
    """At least once: stopped between yielding an event and storing the position, the signal repeats."""
    queue = tmp_path / "signals.jsonl"
    append_signal(queue, _signal("a"))
    trigger = HealthSignalTrigger(str(queue), poll_interval=0.02)
    assert [e["incident"] for e in events(trigger, wanted=1)] == ["a"]
    assert [e["incident"] for e in events(rebuilt(trigger), wanted=2, timeout=0.3)] == ["a"]


def test_a_truncated_queue_is_read_from_the_start(tmp_path):
    queue = tmp_path / "signals.jsonl"
    append_signal(queue, _signal("a" * 200))
    trigger = HealthSignalTrigger(str(queue), poll_interval=0.02)
    assert len(events(trigger, wanted=2, timeout=0.3)) == 1
    queue.write_text("")                               # replaced by a shorter queue
    append_signal(queue, _signal("c"))
    assert [e["incident"] for e in events(rebuilt(trigger))] == ["c"]
