"""The rehearsal's fail back: faults undone first, the primary healthy for its checks before traffic
returns, traffic back (by the rehearsal, or observed from dr_failover) and the primary's first answer."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import pytest

from multicloud.dr import failback, failover
from multicloud.dr.journal import load_run, probe_file, save_run
from multicloud.dr.ledger import APPLIED, OPEN_STATES, UNDONE, FaultLedger
from multicloud.dr.settings import Settings
from multicloud.dr.write_targets import set_write_target, write_targets
from multicloud.waiting import wait_until

FAST = {"pair": "eu-churn", "path": "orchestrated", "max_duration_s": 1.0, "stabilisation_checks": 2,
        "check_interval_s": 0.02}


class Cluster:
    """A cluster driver serving churn-eu v1, its status as the test sets it."""

    def __init__(self, state: str = "complete", observe=lambda: None) -> None:
        self.state = state
        self.status_checks = 0
        self.observe = observe
        self.observed: list = []

    def served(self) -> dict:
        return {"churn-eu": {"versions": {"v1": 1}, "weights": {}}}

    def status(self, model: str, version: str):
        self.status_checks += 1
        self.observed.append(self.observe())
        return SimpleNamespace(state=self.state, message="")


@pytest.fixture
def rehearsed(estate, estate_home, tmp_path):
    """A rehearsal after its failover: primary storage taken aside, the write target on the secondary,
    the journal naming the probe's file."""
    pair = estate.dr_pair("eu-churn")
    ledger = FaultLedger(pair.id, estate_home)
    storage, aside = tmp_path / "oci-fra", tmp_path / "oci-fra.offline-1"
    aside.mkdir()
    (aside / "part.parquet").write_bytes(b"z")
    _applied(ledger, "storage_offline", pair.primary, {"path": str(storage), "aside": str(aside)})
    set_write_target(pair.id, {"customer-events": pair.secondary}, estate_home)
    _applied(ledger, "write_target_promoted", pair.id, {"previous": None})
    state = load_run(pair.id, "r1", estate_home)
    state.update(expected_version="v1", probe_file=str(probe_file(pair.id, "r1", estate_home)))
    save_run(state, estate_home)
    return SimpleNamespace(pair=pair, ledger=ledger, storage=storage)


def _applied(ledger: FaultLedger, kind: str, target: str, undo: dict) -> None:
    ledger.mark(ledger.record(kind, target, undo, "r1"), APPLIED)


def _open_kinds(ledger: FaultLedger) -> set[str]:
    return {e["kind"] for e in ledger.entries() if e["state"] in OPEN_STATES}


def _probe_answering_from_the_primary_once(estate_home, pair, returned) -> threading.Thread:
    """The probe: a correct answer from the primary once ``returned()`` says traffic is back there."""
    def run() -> None:
        if wait_until(returned, 5.0, interval_s=0.01):
            line = {"t": time.time(), "status": 200, "region": pair.primary, "version": "v1", "latency_ms": 2.0}
            out = probe_file(pair.id, "r1", estate_home)
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("a") as handle:
                handle.write(json.dumps(line) + "\n")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("params", [{"dry_run": True}, {"fail_back": False}])
def test_a_dry_run_or_staying_on_the_secondary_changes_nothing(estate, estate_home, rehearsed, params):
    settings = Settings.from_params({**FAST, **params})
    assert failback.fail_back(estate, settings, "r1", estate_home) == {"skipped": True}
    assert _open_kinds(rehearsed.ledger) == {"storage_offline", "write_target_promoted"}


def test_traffic_returns_only_after_the_primary_is_healthy_and_its_answer_is_timed(estate, estate_home, rehearsed,
                                                                                 monkeypatch):
    cluster = Cluster(observe=lambda: write_targets(estate_home).get(rehearsed.pair.id))
    monkeypatch.setattr(failback, "cluster_driver", lambda *_args: cluster)
    prober = _probe_answering_from_the_primary_once(
        estate_home, rehearsed.pair, lambda: rehearsed.pair.id not in write_targets(estate_home))
    result = failback.fail_back(estate, Settings.from_params(FAST), "r1", estate_home)
    prober.join(5)
    assert result["failback_s"] >= 0
    assert {e["state"] for e in rehearsed.ledger.entries()} == {UNDONE}
    assert (rehearsed.storage / "part.parquet").read_bytes() == b"z"
    state = load_run(rehearsed.pair.id, "r1", estate_home)
    events = state["events"]
    assert events["primary_restored"] <= events["failback"] <= events["primary_answers"]
    assert state["stabilisation"] == {"checks": 2, "needed": 2}
    assert cluster.status_checks == 2
    assert cluster.observed == [{"customer-events": "gcp-euw4"}] * 2  # writes stayed on the secondary meanwhile


def test_an_unhealthy_primary_keeps_traffic_on_the_secondary(estate, estate_home, rehearsed, monkeypatch):
    cluster = Cluster("failed")
    monkeypatch.setattr(failback, "cluster_driver", lambda *_args: cluster)
    with pytest.raises(RuntimeError, match=r"primary oke-fra not healthy for 2 checks .* traffic stays on gcp-euw4"):
        failback.fail_back(estate, Settings.from_params({**FAST, "max_duration_s": 0.3}), "r1", estate_home)
    assert _open_kinds(rehearsed.ledger) == {"write_target_promoted"}  # the faults are undone, traffic not
    assert write_targets(estate_home)[rehearsed.pair.id] == {"customer-events": rehearsed.pair.secondary}
    assert cluster.status_checks >= 2


def test_no_answer_from_the_primary_after_fail_back_fails_the_step(estate, estate_home, rehearsed, monkeypatch):
    monkeypatch.setattr(failback, "cluster_driver", lambda *_args: Cluster())
    monkeypatch.setattr(failback, "FAILBACK_ANSWER_TIMEOUT_S", 0.2)
    with pytest.raises(RuntimeError, match="no correct answer from oci-fra"):
        failback.fail_back(estate, Settings.from_params(FAST), "r1", estate_home)
    assert "primary_answers" not in load_run(rehearsed.pair.id, "r1", estate_home)["events"]


def test_on_the_automated_path_dr_failover_fails_back_and_the_rehearsal_only_observes(estate, estate_home,
                                                                                      rehearsed, monkeypatch):
    monkeypatch.setattr(failback, "cluster_driver", lambda *_args: Cluster())
    pair = rehearsed.pair
    incident = failover.open_incident(estate, {"pair": pair.id, "incident": "i-1", "at": 1.0}, estate_home, "dr-1")
    state = load_run(pair.id, "r1", estate_home)
    state.update(incident_signal=incident["id"], dr_failover={"run_id": "dr-1", "events": {}})
    save_run(state, estate_home)

    def dr_failover_fails_back() -> None:  # after its own checks, once the rehearsal repaired the primary
        if wait_until(lambda: "primary_restored" in load_run(pair.id, "r1", estate_home)["events"], 5.0,
                      interval_s=0.01):
            failover.mark("i-1", "failed_back", estate_home)

    prober = _probe_answering_from_the_primary_once(
        estate_home, pair, lambda: "failed_back" in failover.incidents(estate_home)["i-1"]["events"])
    threading.Thread(target=dr_failover_fails_back, daemon=True).start()
    result = failback.fail_back(estate, Settings.from_params({**FAST, "path": "automated"}), "r1", estate_home)
    prober.join(5)
    assert result["failback_s"] >= 0
    assert _open_kinds(rehearsed.ledger) == {"write_target_promoted"}  # dr_failover's to undo, not ours
    state = load_run(pair.id, "r1", estate_home)
    assert state["events"]["failback"] == failover.incidents(estate_home)["i-1"]["events"]["failed_back"]
    assert "failed_back" in state["dr_failover"]["events"]
