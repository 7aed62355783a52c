"""The rehearsal's failover: the automated path only observes the steering and dr_failover (and aborts
when nothing moves); the orchestrated path deploys the standby, then switches traffic and writes."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from multicloud.dr import failover as automated
from multicloud.dr import rehearsal_failover
from multicloud.dr.journal import event, load_run, save_run
from multicloud.dr.ledger import APPLIED, FaultLedger
from multicloud.dr.settings import Settings
from multicloud.dr.undo import StopConditionTripped
from multicloud.dr.write_targets import write_targets

FAST = {"pair": "eu-churn", "max_duration_s": 0.3, "check_interval_s": 0.02, "dr_failover_wait_s": 0}


class Steering:
    """Health-checked steering as the test sets it: ``moved`` is what its checks did."""

    name = "test-steering"

    def __init__(self, moved: dict | None = None) -> None:
        self.moved = moved
        self.routes: dict[str, tuple[str, list[str]]] = {}

    def failed_over(self, endpoint: str) -> dict | None:
        return self.moved

    def snapshot(self, endpoint: str):
        return self.routes.get(endpoint)

    def point_to(self, endpoint: str, region: str, backends: list[str]) -> None:
        self.routes[endpoint] = (region, backends)


class Cluster:
    """The secondary's driver: what it serves and how a standby deploy ends."""

    def __init__(self, served: dict, ready: str = "complete") -> None:
        self._served, self.ready, self.deployed = served, ready, []

    def served(self) -> dict:
        return self._served

    def deploy(self, deployment) -> None:
        self.deployed.append(deployment)

    def wait_ready(self, model: str, version: str, timeout_s: float):
        return SimpleNamespace(state=self.ready, message="image pull back-off")


@pytest.fixture
def journal(estate_home):
    """A run after its baseline and fault: the version served, its artifact, when the fault hit."""
    state = load_run("eu-churn", "r1", estate_home)
    state.update(expected_version="v1", artifacts={"churn-eu": {"v1": "file:///models/churn-eu/v1"}})
    event(state, "fault")
    save_run(state, estate_home)
    return state


def _world(monkeypatch, steering: Steering, cluster: Cluster | None = None) -> None:
    monkeypatch.setattr(rehearsal_failover, "steering_for", lambda *_args: steering)
    monkeypatch.setattr(rehearsal_failover, "backends", lambda _estate, region, _models: [f"http://{region}:1"])
    if cluster is not None:
        monkeypatch.setattr(rehearsal_failover, "cluster_driver", lambda *_args: cluster)


@pytest.mark.parametrize("path", ["automated", "orchestrated"])
def test_a_dry_run_changes_nothing(estate, estate_home, journal, monkeypatch, path):
    steering = Steering()
    _world(monkeypatch, steering, Cluster({}))
    settings = Settings.from_params({**FAST, "path": path, "dry_run": True})
    assert rehearsal_failover.failover(estate, settings, "r1", estate_home) == {"dry_run": True}
    assert FaultLedger("eu-churn", estate_home).entries() == []
    assert steering.routes == {}


def test_automated_a_steering_that_never_fails_over_aborts_the_rehearsal(estate, estate_home, journal, monkeypatch):
    _world(monkeypatch, Steering(moved=None))
    with pytest.raises(StopConditionTripped, match=r"did not fail over within 0\.3s"):
        rehearsal_failover.failover(estate, Settings.from_params(FAST), "r1", estate_home)
    state = load_run("eu-churn", "r1", estate_home)
    assert state["outcome"] == "aborted"
    assert "failover" not in state["events"]


def test_automated_the_failover_is_timed_when_the_checks_moved_it(estate, estate_home, journal, monkeypatch):
    at = journal["events"]["fault"] + 1.5
    _world(monkeypatch, Steering({"from": "oci-fra", "to": "gcp-euw4", "at": at, "incident": "i-1"}))
    result = rehearsal_failover.failover(estate, Settings.from_params(FAST), "r1", estate_home)
    assert result == {"steering": "test-steering", "incident": "i-1", "dr_failover": False}
    state = load_run("eu-churn", "r1", estate_home)
    assert (state["events"]["failover"], state["incident_signal"]) == (at, "i-1")
    assert "dr_failover" not in state  # no wait asked for
    assert state["watermarks_at_fault"]["secondary"] == {"customer-events": None}  # no data replicated
    assert FaultLedger("eu-churn", estate_home).entries() == []  # observed: nothing changed


def test_automated_dr_failover_actions_are_recorded_and_a_missing_one_is_named(estate, estate_home, journal,
                                                                             monkeypatch):
    moved = {"from": "oci-fra", "to": "gcp-euw4", "at": journal["events"]["fault"] + 1, "incident": "i-1"}
    _world(monkeypatch, Steering(moved))
    settings = Settings.from_params({**FAST, "dr_failover_wait_s": 0.2})
    rehearsal_failover.failover(estate, settings, "r1", estate_home)
    assert load_run("eu-churn", "r1", estate_home)["dr_failover"] == {
        "run_id": None, "error": "dr_failover did not act within 0.2s"}

    automated.open_incident(estate, {"pair": "eu-churn", "incident": "i-1", "at": 1.0}, estate_home, "dr-1")

    def dr_failover_acts() -> None:
        automated.mark("i-1", "write_target_promoted", estate_home)
        automated.mark("i-1", "pilot_light_scaled", estate_home)

    threading.Thread(target=dr_failover_acts, daemon=True).start()
    settings = Settings.from_params({**FAST, "dr_failover_wait_s": 5})
    assert rehearsal_failover.failover(estate, settings, "r1", estate_home)["dr_failover"] is True
    state = load_run("eu-churn", "r1", estate_home)
    assert state["dr_failover"]["run_id"] == "dr-1"
    assert {"dr_failover_write_target_promoted", "dr_failover_pilot_light_scaled"} <= set(state["events"])


def test_orchestrated_a_warm_standby_takes_traffic_and_writes_once_however_often_retried(estate, estate_home,
                                                                                       journal, monkeypatch):
    steering, cluster = Steering(), Cluster({"churn-eu": {"versions": {"v1": 1}, "weights": {}}})
    _world(monkeypatch, steering, cluster)
    settings = Settings.from_params({**FAST, "path": "orchestrated"})
    for _attempt in range(2):  # the task retried
        assert rehearsal_failover.failover(estate, settings, "r1", estate_home) == {"steering": "test-steering"}
    assert cluster.deployed == []  # warm: nothing to deploy
    assert steering.routes == {"churn-eu.global": ("gcp-euw4", ["http://gcp-euw4:1"])}
    assert write_targets(estate_home) == {"eu-churn": {"customer-events": "gcp-euw4"}}
    entries = FaultLedger("eu-churn", estate_home).entries()
    assert [(e["kind"], e["state"]) for e in entries] == [("traffic_switched", APPLIED),
                                                         ("write_target_promoted", APPLIED)]
    assert entries[1]["undo"] == {"previous": None}


def test_orchestrated_a_pilot_light_is_deployed_at_the_primary_replicas_before_traffic_moves(estate, estate_home,
                                                                                           journal, monkeypatch):
    steering, cluster = Steering(), Cluster({})
    _world(monkeypatch, steering, cluster)
    rehearsal_failover.failover(estate, Settings.from_params({**FAST, "path": "orchestrated"}), "r1", estate_home)
    [deployment] = cluster.deployed
    assert (deployment.model, deployment.version, deployment.replicas) == ("churn-eu", "v1", 1)
    assert deployment.artifact_uri == "file:///models/churn-eu/v1"  # nothing staged: the primary's copy
    kinds = [e["kind"] for e in FaultLedger("eu-churn", estate_home).entries()]
    assert kinds == ["standby_deployed", "traffic_switched", "write_target_promoted"]
    assert "standby_ready" in load_run("eu-churn", "r1", estate_home)["events"]


def test_orchestrated_a_standby_that_fails_to_start_moves_no_traffic(estate, estate_home, journal, monkeypatch):
    steering, cluster = Steering(), Cluster({}, ready="failed")
    _world(monkeypatch, steering, cluster)
    with pytest.raises(RuntimeError, match="standby churn-eu v1 on gke-euw4 failed: image pull back-off"):
        rehearsal_failover.failover(estate, Settings.from_params({**FAST, "path": "orchestrated"}), "r1",
                                    estate_home)
    assert steering.routes == {}
    assert write_targets(estate_home) == {}
    [entry] = FaultLedger("eu-churn", estate_home).entries()
    assert entry["kind"] == "standby_deployed"  # recorded first: restore removes what was deployed
