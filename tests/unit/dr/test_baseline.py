"""The rehearsal's baseline: the estate as it was, the endpoint routed to the primary as the path needs
it (recorded before it changes), one probe through it, and the primary's first correct answer."""

from __future__ import annotations

from typing import Any

import pytest

from multicloud.dr import baseline, journal
from multicloud.dr.journal import load_run
from multicloud.dr.ledger import APPLIED, PENDING, FaultLedger
from multicloud.dr.settings import Settings
from multicloud.dr.steering_base import TrafficSteering
from multicloud.dr.write_targets import set_write_target
from tests.dags.dr_fixtures import teardown
from tests.unit.dr.backend_servers import Backend, waited

ORCHESTRATED = Settings(pair="eu-churn", path="orchestrated", probe_interval_s=0.05)
AUTOMATED = Settings(pair="eu-churn", path="automated", probe_interval_s=0.05)


class DnsSteering(TrafficSteering):
    """Health-checked DNS steering kept in memory; ``refuse`` makes arming fail."""

    name = "dns"

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.routes: dict[str, Any] = {}

    def snapshot(self, endpoint: str) -> Any:
        return self.routes.get(endpoint)

    def point_to(self, endpoint: str, region: str, backends: list[str]) -> None:
        self.routes[endpoint] = {"region": region, "backends": backends}

    def restore(self, endpoint: str, snapshot: Any) -> None:
        self.routes[endpoint] = snapshot

    def serving_region(self, endpoint: str) -> str | None:
        return (self.routes.get(endpoint) or {}).get("region")

    def arm_failover(self, pair, primary_backends: list[str], standby_backends: list[str]) -> None:
        if self.refuse:
            raise RuntimeError("health check quota exceeded")
        self.routes[pair.endpoint] = {"region": pair.primary, "backends": primary_backends,
                                      "standby": standby_backends}


class Cluster:
    def __init__(self, served: dict) -> None:
        self._served = served

    def served(self) -> dict:
        return self._served


def _dns(monkeypatch, steering: DnsSteering) -> None:
    monkeypatch.setattr(baseline, "steering_for", lambda *_args: steering)
    monkeypatch.setattr(baseline, "backends", lambda _estate, region, _models: [f"http://{region}:1"])


def test_automated_arms_health_checked_failover_once_and_probes_the_dns_name(estate, estate_home, monkeypatch):
    steering = DnsSteering()
    _dns(monkeypatch, steering)
    pair = estate.dr_pair("eu-churn")
    ledger = FaultLedger(pair.id, estate_home)
    for run in ("r1", "r2"):  # a later rehearsal finds the route armed
        assert baseline.route_to_primary(estate, pair, AUTOMATED, ledger, run, estate_home) == "https://churn-eu.global"
    assert steering.routes["churn-eu.global"] == {"region": "oci-fra", "backends": ["http://oci-fra:1"],
                                                  "standby": ["http://gcp-euw4:1"]}
    [entry] = ledger.entries()
    assert (entry["kind"], entry["state"], entry["undo"]) == ("route_set", APPLIED, {"snapshot": None})


def test_orchestrated_leaves_dns_records_as_they_are(estate, estate_home, monkeypatch):
    steering = DnsSteering()
    _dns(monkeypatch, steering)
    pair = estate.dr_pair("eu-churn")
    ledger = FaultLedger(pair.id, estate_home)
    assert baseline.route_to_primary(estate, pair, ORCHESTRATED, ledger, "r1", estate_home) == "https://churn-eu.global"
    assert steering.routes == {}
    assert ledger.entries() == []


def test_a_failed_arming_stays_in_the_ledger_for_restore(estate, estate_home, monkeypatch):
    _dns(monkeypatch, DnsSteering(refuse=True))
    pair = estate.dr_pair("eu-churn")
    ledger = FaultLedger(pair.id, estate_home)
    with pytest.raises(RuntimeError, match="quota"):
        baseline.route_to_primary(estate, pair, AUTOMATED, ledger, "r1", estate_home)
    [entry] = ledger.open_entries()
    assert (entry["kind"], entry["state"]) == ("route_set", PENDING)  # recorded before the change


def test_the_snapshot_holds_the_pair_models_route_storage_and_write_target(estate, estate_home, monkeypatch):
    steering = DnsSteering()
    steering.point_to("churn-eu.global", "oci-fra", ["a", "b"])
    monkeypatch.setattr(baseline, "steering_for", lambda *_args: steering)
    steering.route_fingerprint = lambda endpoint: {"region": steering.serving_region(endpoint)}
    served = {"churn-eu": {"versions": {"v1": 2}, "weights": {"v1": 100}, "artifacts": {"v1": "x"}},
              "other-model": {"versions": {"v9": 1}, "weights": {}}}
    monkeypatch.setattr(baseline, "cluster_driver", lambda _estate, cluster: Cluster(served if cluster == "oke-fra"
                                                                                      else {}))
    storage = estate_home / "storage" / "oci-fra" / "customer-events"
    storage.mkdir(parents=True)
    (storage / "part.parquet").write_bytes(b"12345")
    set_write_target("eu-churn", {"customer-events": "oci-fra"}, estate_home)
    snapshot = baseline.estate_snapshot(estate, estate.dr_pair("eu-churn"), estate_home)
    assert snapshot["served"] == {"oke-fra": {"churn-eu": {"versions": {"v1": 2}, "weights": {"v1": 100}}},
                                  "gke-euw4": {}}
    assert snapshot["route"] == {"region": "oci-fra"}
    assert (snapshot["storage"]["files"], snapshot["storage"]["bytes"]) == (1, 5)
    assert snapshot["write_target"] == {"customer-events": "oci-fra"}


@pytest.fixture
def primary_answering(estate_home, monkeypatch):
    """The primary's churn-eu v1 as a real HTTP backend; the secondary's as another."""
    made = {"oci-fra": Backend("oke-fra", "v1"), "gcp-euw4": Backend("gke-euw4", "v1")}
    monkeypatch.setattr(baseline, "backends", lambda _estate, region, _models: [made[region].url])
    monkeypatch.setattr(baseline, "cluster_driver", lambda *_args: Cluster(
        {"churn-eu": {"versions": {"v1": 1}, "weights": {}}}))
    yield made
    teardown(estate_home)
    for backend in made.values():
        backend.close()


def test_baseline_through_the_gateway_sees_the_primary_and_a_retry_reuses_the_probe(estate, estate_home,
                                                                                  primary_answering):
    result = baseline.baseline(estate, ORCHESTRATED, "r1", estate_home)
    assert result["expected_version"] == "v1"
    assert result["probe_root"].endswith("/churn-eu.global")
    first = load_run("eu-churn", "r1", estate_home)
    assert first["baseline_latency_ms"] > 0
    assert first["smoke_cases"] is None  # no model card: answers are checked by version
    baseline.baseline(estate, ORCHESTRATED, "r1", estate_home)  # the task retried
    again = load_run("eu-churn", "r1", estate_home)
    assert (again["before"], again["probe_file"]) == (first["before"], first["probe_file"])
    kinds = sorted((e["kind"], e["state"]) for e in FaultLedger("eu-churn", estate_home).entries())
    assert kinds == [("gateway_started", APPLIED), ("probe_started", APPLIED), ("route_set", APPLIED)]


def test_a_primary_serving_another_version_fails_the_baseline(estate, estate_home, primary_answering, monkeypatch):
    monkeypatch.setattr(baseline, "BASELINE_TIMEOUT_S", 0.5)
    monkeypatch.setattr(baseline, "cluster_driver", lambda *_args: Cluster(
        {"churn-eu": {"versions": {"v2": 1}, "weights": {}}}))  # the probe will see v1 answer
    with pytest.raises(RuntimeError, match=r"no correct answer from the primary oci-fra .*\(expected churn-eu v2\)"):
        baseline.baseline(estate, ORCHESTRATED, "r1", estate_home)
    samples = waited(lambda: journal.samples(load_run("eu-churn", "r1", estate_home)), 10, "probe samples")
    assert {(s.region, s.version) for s in samples if s.answered} == {("oci-fra", "v1")}  # answers, of v1
