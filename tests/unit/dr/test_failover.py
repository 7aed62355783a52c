"""Incidents of dr_failover: opened once per signal, the primary stable after its checks and window, and the
pilot light scaled up through the cluster driver and back at fail back."""

from __future__ import annotations

import json
import time

import pytest

from multicloud.dr import failover, health
from multicloud.dr.failover import PilotLightStep, pilot_light_step
from multicloud.dr.ledger import FaultLedger
from multicloud.dr.rehearsal import undo_handlers
from multicloud.drivers import ModelDeployment
from multicloud.drivers.local import LocalClusterDriver
from multicloud.estate import load_estate
from multicloud.paths import DEFAULT_ESTATE_FILE
from tests.dags.dr_fixtures import teardown, write_model


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


def _served(versions: dict[str, int]) -> dict:
    return {"churn-eu": {"versions": versions, "weights": {}}}


@pytest.mark.parametrize(("served", "primary", "warm", "expected"), [
    (_served({"v1": 1}), 3, 1, PilotLightStep("scale", "v1", 1, 3)),
    (_served({"v1": 0}), 2, 0, PilotLightStep("scale", "v1", 0, 2)),  # scaled to zero: scaled, not redeployed
    ({}, 2, 0, PilotLightStep("deploy", None, 0, 2)),
    (_served({"v1": 3}), 2, 1, PilotLightStep("none", "v1", 3, 3)),  # never scaled down at failover
    (_served({"v1": 1}), 1, 2, PilotLightStep("scale", "v1", 1, 2,
                                              "the pilot light ran 1 replica(s), below the estate's 2")),
])
def test_pilot_light_step(served, primary, warm, expected):
    assert pilot_light_step(served, "churn-eu", primary, warm) == expected


def test_an_out_pilot_light_is_deployed_and_named():
    step = pilot_light_step({}, "churn-eu", 1, 2)
    assert (step.action, step.replicas_to) == ("deploy", 2)
    assert "was out" in step.note


def _estate_with_pilot_light_of_zero(tmp_path, home):
    text = DEFAULT_ESTATE_FILE.read_text()
    text = text.replace("    endpoint: churn-eu.global\n", "    endpoint: churn-eu.global\n    pilot_light_replicas: 0\n", 1)
    text = text.replace("    replicas: 2\n    resources: {cpu: 2, memory_gb: 4}\n    critical: true\n"
                        "    reads: [customer-events]\n    requests_per_hour: 20000\n    placement: {oke-fra: 1, gke-euw4: 1}",
                        "    replicas: 3\n    resources: {cpu: 2, memory_gb: 4}\n    critical: true\n"
                        "    reads: [customer-events]\n    requests_per_hour: 20000\n    placement: {oke-fra: 2, gke-euw4: 1}", 1)
    assert "pilot_light_replicas: 0" in text
    assert "placement: {oke-fra: 2, gke-euw4: 1}" in text
    path = tmp_path / "estate.yaml"
    path.write_text(text)
    return load_estate(path, home=home)


def test_dr_failover_scales_a_pilot_light_of_zero_through_the_driver_and_back(tmp_path, estate_home, monkeypatch):
    estate = _estate_with_pilot_light_of_zero(tmp_path, estate_home)
    pair = estate.dr_pair("eu-churn")
    secondary = LocalClusterDriver("gke-euw4", estate_home)
    # the pilot light as the estate keeps it: deployed, 0 replicas (nothing runs, nothing to start)
    secondary.deploy(ModelDeployment("churn-eu", "v1", 0, write_model(estate),
                                     runtime=estate.runtime.model_dump(mode="json")))
    try:
        assert secondary.served()["churn-eu"]["versions"] == {"v1": 0}

        def no_deploy(*_args, **_kwargs):
            raise AssertionError("a pilot light that is deployed is scaled, never deployed again")

        monkeypatch.setattr(LocalClusterDriver, "deploy", no_deploy)
        incident = failover.open_incident(estate, {"pair": pair.id, "incident": "t:1", "at": 1.0}, estate_home, "r")
        assert failover.scale_pilot_light(estate, incident, estate_home) == {"churn-eu": 2}  # the primary's 2
        assert secondary.served()["churn-eu"]["versions"] == {"v1": 2}
        assert len(secondary.endpoints("churn-eu", "v1")) == 2
        [entry] = [e for e in FaultLedger(pair.id, estate_home).open_entries() if e["run_id"] == "t:1"]
        assert (entry["kind"], entry["undo"]["replicas"]) == ("standby_scaled", 0)

        # fail back's undo of the incident (the same handlers and kinds as failover.fail_back)
        undone = FaultLedger(pair.id, estate_home).undo_all(undo_handlers(estate, pair, estate_home),
                                                            only_kinds=failover.INCIDENT_KINDS)
        assert [(e["kind"], e["state"]) for e in undone] == [("standby_scaled", "undone")]
        assert secondary.served()["churn-eu"]["versions"] == {"v1": 0}  # back to its pilot light exactly
        assert secondary.endpoints("churn-eu", "v1") == []
    finally:
        teardown(estate_home)
