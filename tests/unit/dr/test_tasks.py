"""The Airflow adapters of dr_rehearsal and dr_failover: settings from the Params, expected refusals
as failures without retries, "nothing to rehearse yet" as a skip, and the incident a signal opens."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from multicloud.dr import rehearsal, tasks
from multicloud.dr.journal import load_run, save_run
from multicloud.dr.preflight import Check, PreflightFailed
from multicloud.dr.undo import StopConditionTripped

PARAMS = {"pair": "eu-churn", "scenario": "cluster_loss", "path": "orchestrated"}


def _raising(exc: Exception):
    def step(*_args, **_kwargs):
        raise exc

    return step


def test_a_step_gets_the_estate_the_settings_of_its_params_the_run_and_the_estate_home(estate_home, monkeypatch):
    seen = []
    monkeypatch.setattr(rehearsal, "preflight", lambda *args: seen.append(args) or {"ok": True})
    assert tasks.preflight(PARAMS, "run-1") == {"ok": True}
    [(estate, settings, run_id, home)] = seen
    assert estate.dr_pair("eu-churn").primary == "oci-fra"
    assert (settings.pair, settings.scenario, settings.path) == ("eu-churn", "cluster_loss", "orchestrated")
    assert (run_id, home) == ("run-1", estate_home)


def test_nothing_to_rehearse_yet_skips_the_run(estate_home, monkeypatch):
    not_ready = PreflightFailed([Check("secondary serves", False, "the primary serves nothing", not_ready=True)])
    monkeypatch.setattr(rehearsal, "preflight", _raising(not_ready))
    with pytest.raises(AirflowSkipException, match="not ready to rehearse"):
        tasks.preflight(PARAMS, "run-1")


def test_a_real_preflight_refusal_fails_without_retries(estate_home, monkeypatch):
    refused = PreflightFailed([Check("residency", False, "eu-personal may not leave the EU")])
    monkeypatch.setattr(rehearsal, "preflight", _raising(refused))
    with pytest.raises(AirflowFailException, match="residency: eu-personal may not leave the EU"):
        tasks.preflight(PARAMS, "run-1")


def test_invalid_params_fail_the_first_step_without_retries(estate_home, monkeypatch):
    monkeypatch.setattr(rehearsal, "preflight", _raising(AssertionError("must not run")))
    with pytest.raises(AirflowFailException, match="scenario"):
        tasks.preflight({**PARAMS, "scenario": "meteor"}, "run-1")


@pytest.mark.parametrize("exc", [StopConditionTripped("errors 51 > 50"), ValueError("bad value"),
                                 KeyError("no workload")])
def test_expected_refusals_of_a_step_fail_without_retries(estate_home, monkeypatch, exc):
    monkeypatch.setattr(rehearsal, "inject", _raising(exc))
    with pytest.raises(AirflowFailException):
        tasks.inject_fault(PARAMS, "run-1")


def test_anything_else_propagates_so_that_airflow_retries_it(estate_home, monkeypatch):
    monkeypatch.setattr(rehearsal, "failover", _raising(RuntimeError("standby not ready")))
    with pytest.raises(RuntimeError, match="standby not ready"):
        tasks.fail_over(PARAMS, "run-1")


def test_after_a_not_ready_preflight_every_later_step_and_the_report_skip(estate_home, monkeypatch):
    state = load_run("eu-churn", "run-1", estate_home)
    state["outcome"] = "not_ready"
    save_run(state, estate_home)
    for name in ("baseline", "inject", "failover", "verify", "fail_back", "restore"):
        monkeypatch.setattr(rehearsal, name, _raising(AssertionError(f"{name} must not run")))
    for task in (tasks.baseline, tasks.inject_fault, tasks.fail_over, tasks.verify, tasks.fail_back, tasks.restore,
                 tasks.report):
        with pytest.raises(AirflowSkipException, match="not ready"):
            task(PARAMS, "run-1")
    monkeypatch.setattr(rehearsal, "baseline", lambda *_args: {"probe_root": "x"})
    assert tasks.baseline(PARAMS, "run-2") == {"probe_root": "x"}  # another run is not affected


def test_an_unknown_pair_fails_before_anything_runs_or_is_published(estate_home, monkeypatch):
    monkeypatch.setattr(rehearsal, "baseline", _raising(AssertionError("must not run")))
    with pytest.raises(AirflowFailException, match=r"unknown DR pair 'eu-chrun'.*Nothing published"):
        tasks.baseline({**PARAMS, "pair": "eu-chrun"}, "run-1")


@pytest.mark.parametrize(("outcome", "passes"), [("passed", True), ("dry_run", True), ("failed", False),
                                                  ("aborted", False)])
def test_the_report_fails_the_run_unless_it_passed(estate_home, monkeypatch, outcome, passes):
    from multicloud.dr import report

    headline = [f"rehearsal {outcome}", "RTO 4.2 s (target 30 s)"]
    published = []
    monkeypatch.setattr(report, "publish", lambda *args: published.append(args) or {"outcome": outcome,
                                                                                      "headline": headline})
    if passes:
        assert tasks.report(PARAMS, "run-1") == headline
    else:
        with pytest.raises(AirflowFailException, match=re.escape(f"rehearsal {outcome}: rehearsal {outcome} | RTO")):
            tasks.report(PARAMS, "run-1")
    [(_estate, state, samples, home)] = published
    assert (state["pair"], state["run_id"], samples, home) == ("eu-churn", "run-1", [], estate_home)


def test_a_manual_failover_run_opens_an_incident_for_its_pair_once(estate_home):
    incident = tasks.open_incident({"pair": "eu-churn"}, "manual-1", None)
    assert (incident["id"], incident["pair"], incident["from"], incident["to"]) == (
        "manual:manual-1", "eu-churn", "oci-fra", "gcp-euw4")
    assert incident["approval"] is False
    assert incident["pilot_light_stack"] == ""
    assert tasks.open_incident({"pair": "eu-churn"}, "manual-2", {}) is False  # the pair already fails over


def test_an_event_run_opens_the_incident_of_its_signal(estate_home):
    signal = {"kind": "failover", "pair": "eu-churn", "incident": "churn-eu.global:oci-fra:7", "at": 7.0}
    events = {"dr_health_signal": [SimpleNamespace(extra={"payload": signal})]}
    assert tasks.open_incident({}, "asset-run", events)["id"] == "churn-eu.global:oci-fra:7"
    assert tasks.open_incident({}, "asset-run-2", events) is False  # a repeated signal: nothing to do


def test_a_failover_run_without_a_signal_or_a_pair_is_refused(estate_home):
    with pytest.raises(ValueError, match="needs a health signal"):
        tasks.open_incident({}, "run-1", {})
