"""Which version a rollout takes (Param, asset event, latest) and what a dry run plans."""

from __future__ import annotations

import pytest

from multicloud.rollout.run import build_plan, resolve_versions
from multicloud.rollout.settings import RolloutSettings
from multicloud.serving.model import LogisticModel
from multicloud.training import artifacts
from multicloud.training.train import TrainedModel


@pytest.fixture
def estate(estate):
    """The shared estate with two trained versions of churn-eu."""
    for version, trained_at in (("v1", "2026-11-01T00:00:00+00:00"), ("v2", "2026-11-02T00:00:00+00:00")):
        model = LogisticModel("churn-eu", version, "eu-personal", ("x",), (0.0,), (1.0,), (1.0,), 0.0)
        artifacts.write_model(estate, TrainedModel(model, {"version": version, "trained_at": trained_at,
                                                           "smoke_cases": []}))
    return estate


def test_version_comes_from_param_then_asset_event_then_latest(estate):
    assert resolve_versions(estate, RolloutSettings.from_params({"model": "churn-eu", "version": "v1"}), []) == {"churn-eu": "v1"}
    event = [("x-multicloud://model/churn-eu", {"version": "v1"})]
    assert resolve_versions(estate, RolloutSettings.from_params({}), event) == {"churn-eu": "v1"}
    assert resolve_versions(estate, RolloutSettings.from_params({}), []) == {"churn-eu": "v2"}  # churn-us has no version: skipped
    with pytest.raises(artifacts.ArtifactError, match="no model card"):
        resolve_versions(estate, RolloutSettings.from_params({"model": "churn-eu", "version": "v9"}), [])
    with pytest.raises(ValueError, match="no trained version"):
        resolve_versions(estate, RolloutSettings.from_params({"model": "churn-us"}), [])


def test_dry_run_plans_but_schedules_nothing(estate):
    plan = build_plan(estate, RolloutSettings.from_params({"model": "churn-eu", "dry_run": True}), [])
    assert plan["dry_run"] is True
    assert [t["cluster"] for t in plan["plans"][0]["targets"]] == ["oke-fra", "gke-euw4"]
    assert plan["stages"] == [[], [], [], []]


def test_a_gate_names_every_failing_cluster_even_an_unreachable_one(estate, estate_home, monkeypatch):
    from multicloud.rollout import engine, run

    real_driver_for = run.driver_for

    def driver_for(estate, cluster, home=None):
        if cluster == "gke-euw4":
            raise ConnectionError("cluster API unreachable")
        return real_driver_for(estate, cluster, home)

    monkeypatch.setattr(run, "driver_for", driver_for)
    lanes = [[{"cluster": c, "model": "churn-eu", "version": "v1"}] for c in ("oke-fra", "gke-euw4")]
    params = RolloutSettings.from_params({"gate_checks": 1, "gate_interval_s": 0})
    with pytest.raises(engine.RolloutFailed, match=r"oke-fra .*no endpoint answered.*gke-euw4 .*unreachable"):
        run.gate_stage(estate, "canary", lanes, params, "gate-run", estate_home)
    gates = [e for e in engine.Journal("gate-run", estate_home).read()["events"] if e["kind"] == "gate"]
    assert [(g["cluster"], g["passed"]) for g in gates] == [("oke-fra", False), ("gke-euw4", False)]
