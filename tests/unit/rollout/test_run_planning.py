"""Which version a rollout takes (Param, asset event, latest) and what a dry run plans."""

from __future__ import annotations

import pytest

from multicloud.estate import load_estate
from multicloud.rollout.run import build_plan, resolve_versions
from multicloud.serving.model import LogisticModel
from multicloud.training import artifacts
from multicloud.training.train import TrainedModel


@pytest.fixture
def estate(estate_home):
    estate = load_estate(home=estate_home)
    for version, trained_at in (("v1", "2026-11-01T00:00:00+00:00"), ("v2", "2026-11-02T00:00:00+00:00")):
        model = LogisticModel("churn-eu", version, "eu-personal", ("x",), (0.0,), (1.0,), (1.0,), 0.0)
        artifacts.write_model(estate, TrainedModel(model, {"version": version, "trained_at": trained_at,
                                                           "smoke_cases": []}))
    return estate


def test_version_comes_from_param_then_asset_event_then_latest(estate):
    assert resolve_versions(estate, {"model": "churn-eu", "version": "v1"}, []) == {"churn-eu": "v1"}
    event = [("multicloud://model/churn-eu", {"version": "v1"})]
    assert resolve_versions(estate, {}, event) == {"churn-eu": "v1"}
    assert resolve_versions(estate, {}, []) == {"churn-eu": "v2"}  # churn-us has no version: skipped
    with pytest.raises(artifacts.ArtifactError, match="no model card"):
        resolve_versions(estate, {"model": "churn-eu", "version": "v9"}, [])
    with pytest.raises(ValueError, match="no trained version"):
        resolve_versions(estate, {"model": "churn-us"}, [])


def test_dry_run_plans_but_schedules_nothing(estate):
    plan = build_plan(estate, {"model": "churn-eu", "dry_run": True}, [])
    assert plan["dry_run"] is True
    assert [t["cluster"] for t in plan["plans"][0]["targets"]] == ["oke-fra", "gke-euw4"]
    assert plan["stages"] == [[], [], [], []]
