"""Health-checked failover: thresholds, the gateway failing over by itself with no failed request,
the health-signal trigger (a BaseEventTrigger for an AssetWatcher) and incident idempotency."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest

from multicloud.dr import failover, gateway, health
from multicloud.dr.probe import probe_once
from multicloud.dr.steering import LocalGatewaySteering
from multicloud.estate import load_estate
from multicloud.triggers.dr_health import HealthSignalTrigger
from tests.unit.dr.test_gateway_and_probe import _Backend, wait_until


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


def test_gateway_fails_over_by_itself_retries_on_the_standby_and_signals_once(estate_home):
    fra, euw4 = _Backend("oke-fra", "v1"), _Backend("gke-euw4", "v1")
    pair = load_estate(home=estate_home).dr_pair("eu-churn").model_copy(update={"health_check": health_check()})
    steering = LocalGatewaySteering(estate_home)
    info, _ = gateway.start_gateway(estate_home)
    root = f"{info['url']}/{pair.endpoint}"
    try:
        steering.arm_failover(pair, [fra.url], [euw4.url])
        assert probe_once(root, {"instances": [{}]}).region == "oci-fra"
        fra.close()  # the primary dies
        samples = [probe_once(root, {"instances": [{}]}, retry=False) for _ in range(40) if not time.sleep(0.05)]
        assert all(s.answered for s in samples), [s.error for s in samples if not s.answered]  # gateway retried
        assert {s.region for s in samples} == {"gcp-euw4"}
        moved = steering.failed_over(pair.endpoint)
        assert (moved["from"], moved["to"]) == ("oci-fra", "gcp-euw4")
        [signal] = health.read_signals(health.signals_file(estate_home))[0]
        assert (signal["kind"], signal["pair"], signal["incident"]) == ("failover", "eu-churn", moved["incident"])
        assert steering.region_health(pair.endpoint)["oci-fra"]["healthy"] is False
        # sticky: three more rounds of checks (the primary still down) move nothing and signal nothing
        checks = steering.region_health(pair.endpoint)["oci-fra"]["checks"]
        wait_until(lambda: steering.region_health(pair.endpoint)["oci-fra"]["checks"] >= checks + 3, 30,
                   "three more health-check rounds")
        assert len(health.read_signals(health.signals_file(estate_home))[0]) == 1
        assert steering.serving_region(pair.endpoint) == "gcp-euw4"

        back = _Backend("oke-fra", "v1")  # the primary returns elsewhere: fail back is deliberate
        steering.fail_back(pair.endpoint, "oci-fra", [back.url])
        route = steering.snapshot(pair.endpoint)
        assert (route["region"], route["standby"]["region"], "failed_over" in route) == ("oci-fra", "gcp-euw4", False)
        assert probe_once(root, {"instances": [{}]}).region == "oci-fra"
        back.close()
    finally:
        gateway.stop_gateway(estate_home)
        euw4.close()


def health_check():
    from multicloud.estate.models import HealthCheck

    return HealthCheck(interval_s=0.1, timeout_s=0.3, unhealthy_threshold=2, healthy_threshold=2)


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


def test_a_repeated_signal_opens_no_second_incident(estate_home):
    estate = load_estate(home=estate_home)
    signal = {"kind": "failover", "incident": "churn-eu.global:oci-fra:1", "pair": "eu-churn", "from": "oci-fra",
              "to": "gcp-euw4", "at": time.time()}
    first = failover.open_incident(estate, signal, estate_home, "run-1")
    assert first["state"] == "open"
    assert failover.open_incident(estate, signal, estate_home, "run-2") is None
    assert failover.open_incident(estate, {**signal, "incident": "other"}, estate_home, "run-3") is None  # joins
    assert list(failover.incidents(estate_home)) == [signal["incident"]]
    with pytest.raises(KeyError, match="names no DR pair"):
        failover.open_incident(estate, {"endpoint": "nowhere"}, estate_home)
    assert json.loads(failover.incidents_file(estate_home).read_text())[signal["incident"]]["run_id"] == "run-1"


def test_primary_is_stable_only_after_n_checks_and_the_window(estate_home, monkeypatch):
    estate = load_estate(home=estate_home)
    incident = {"pair": "eu-churn"}
    now = time.time()
    state = {"churn-eu.global": {"oci-fra": {"healthy": True, "ok_in_row": 4, "healthy_since": now - 10}}}
    monkeypatch.setattr(health, "read_health", lambda home=None, path=None: state)
    monkeypatch.setattr(failover, "backends", lambda *a: [])
    pair = estate.dr_pair("eu-churn")
    assert (pair.fail_back.healthy_checks, pair.fail_back.stabilisation_s) == (5, 60.0)
    assert not failover.primary_stable(estate, incident, estate_home, now)  # 4 < 5 checks
    state["churn-eu.global"]["oci-fra"]["ok_in_row"] = 5
    assert not failover.primary_stable(estate, incident, estate_home, now)  # healthy 10 s < 60 s
    assert failover.primary_stable(estate, incident, estate_home, now + 50)


def test_preflight_of_the_automated_path_needs_a_running_failover_watcher(estate_home):
    from multicloud.dr.preflight import check_failover_watcher
    from multicloud.statefile import atomic_write_text

    missing = check_failover_watcher(estate_home)
    assert not missing.ok
    assert "never beat" in missing.detail
    assert "unpause dr_failover" in missing.detail
    beat = health.watcher_file(health.signals_file(estate_home))
    beat.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(beat, json.dumps({"at": time.time() - 1}))
    assert check_failover_watcher(estate_home).ok
    atomic_write_text(beat, json.dumps({"at": time.time() - 600}))
    stale = check_failover_watcher(estate_home)
    assert not stale.ok
    assert "last beat 600s ago" in stale.detail
