"""SourcePartitionsTrigger: survives a triggerer restart (deadlines are wall-clock epochs), fires
one event with the partitions that arrived and those past their own deadline."""

from __future__ import annotations

import threading
import time

from multicloud.triggers import source_partitions
from multicloud.triggers.source_partitions import SourcePartitionsTrigger
from multicloud.waiting import wait_until
from tests.unit.triggers.triggerer import events, rebuilt


def _partition(root, name: str, deadline_in_s: float) -> dict:
    return {"dataset": "customer-events", "region": "oci-fra", "partition": name,
            "url": (root / name).as_uri(), "connection_id": None, "s3_compat": False,
            "timeout_s": deadline_in_s, "deadline": time.time() + deadline_in_s}


def test_serialize_round_trips_the_partitions_and_their_deadlines(tmp_path):
    partition = _partition(tmp_path, "2026-12-01T10", 60)
    trigger = rebuilt(SourcePartitionsTrigger(partitions=[partition], poll_interval=2))
    assert trigger.serialize()[1] == {"partitions": [partition], "poll_interval": 2}


def test_arrived_and_late_partitions_are_told_apart(tmp_path):
    (tmp_path / "there").mkdir()
    there, never = _partition(tmp_path, "there", 60), _partition(tmp_path, "never", 0.2)
    (event,) = events(SourcePartitionsTrigger(partitions=[there, never], poll_interval=0.02))
    assert [p["partition"] for p in event["arrived"]] == ["there"]
    assert [p["partition"] for p in event["late"]] == ["never"]


def test_a_partition_landing_while_waiting_arrives(tmp_path, monkeypatch):
    checks = []
    real = source_partitions.partition_exists
    monkeypatch.setattr(source_partitions, "partition_exists", lambda p: checks.append(p) or real(p))
    landing = threading.Thread(target=lambda: wait_until(lambda: len(checks) >= 2, 5)
                               and (tmp_path / "late").mkdir())
    landing.start()
    (event,) = events(SourcePartitionsTrigger(partitions=[_partition(tmp_path, "late", 5)], poll_interval=0.02))
    landing.join()
    assert [p["partition"] for p in event["arrived"]] == ["late"]
    assert event["late"] == []


def test_a_partition_already_past_its_deadline_is_late_at_once(tmp_path):
    started = time.monotonic()
    (event,) = events(SourcePartitionsTrigger(partitions=[_partition(tmp_path, "gone", -1)], poll_interval=30))
    assert [p["partition"] for p in event["late"]] == ["gone"]
    assert time.monotonic() - started < 5
