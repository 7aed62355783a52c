"""Region health thresholds and the health-signal queue read by its trigger (a BaseEventTrigger for an AssetWatcher)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from multicloud.dr import health
from multicloud.triggers.dr_health import HealthSignalTrigger


def test_region_health_turns_unhealthy_after_the_threshold_and_healthy_after_good_checks():
    region = health.RegionHealth()
    region.observe(True, 1.0, healthy_threshold=3, unhealthy_threshold=2)
    assert region.healthy is True  # a first good check: healthy (like Route 53's initial state)
    region.observe(False, 2.0, 3, 2)
    assert region.healthy is True  # one failure is not enough
    region.observe(False, 3.0, 3, 2)
    assert region.healthy is False
    region.observe(True, 4.0, 3, 2)
    region.observe(True, 5.0, 3, 2)
    assert region.healthy is False  # two of three good checks
    region.observe(True, 6.0, 3, 2)
    assert (region.healthy, region.healthy_since, region.ok_in_row) == (True, 6.0, 3)


def _collect(trigger: HealthSignalTrigger, wanted: int, timeout: float = 3.0) -> list[dict]:
    async def run() -> list[dict]:
        events: list[dict] = []

        async def consume() -> None:
            async for event in trigger.run():
                events.append(event.payload)
                if len(events) >= wanted:
                    return

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(consume(), timeout)
        return events

    return asyncio.run(run())


def test_health_signal_trigger_yields_each_signal_once_and_resumes_after_a_restart(tmp_path):
    queue = tmp_path / "health-signals.jsonl"
    old = {"kind": "failover", "incident": "old", "at": time.time() - 3600}
    health.append_signal(queue, old)
    health.append_signal(queue, {"kind": "recovered", "incident": "x", "at": time.time()})
    health.append_signal(queue, {"kind": "failover", "incident": "a", "at": time.time()})
    trigger = HealthSignalTrigger(str(queue), poll_interval=0.05)
    classpath, kwargs = trigger.serialize()
    assert classpath == "multicloud.triggers.dr_health.HealthSignalTrigger"
    assert HealthSignalTrigger(**kwargs).serialize() == (classpath, kwargs)  # every argument serialized

    # first start: the hour-old signal and other kinds are skipped
    assert [e["incident"] for e in _collect(trigger, 99, timeout=0.5)] == ["a"]
    beat = json.loads(health.watcher_file(queue).read_text())  # the watcher says it runs
    assert time.time() - beat["at"] < 5
    health.append_signal(queue, {"kind": "failover", "incident": "b", "at": time.time()})
    with queue.open("a") as handle:
        handle.write('{"kind": "failover", "incid')  # a line being written is not read yet
    assert [e["incident"] for e in _collect(HealthSignalTrigger(**kwargs), 99, timeout=0.5)] == ["b"]  # resumes
    assert _collect(HealthSignalTrigger(**kwargs), 99, timeout=0.5) == []


def test_an_asset_watcher_accepts_the_trigger():
    from airflow.sdk import Asset, AssetWatcher

    asset = Asset("dr_health_signal", watchers=[AssetWatcher("w", HealthSignalTrigger("/x/signals.jsonl"))])
    assert isinstance(asset.watchers[0].trigger, HealthSignalTrigger)
