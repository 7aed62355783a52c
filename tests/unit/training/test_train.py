"""Training inside one jurisdiction: real scikit-learn fit, JSON artifact, model card, residency of rows."""

from __future__ import annotations

import json

import pytest

from multicloud.serving.model import LogisticModel
from multicloud.sync.layout import CUSTOMER_EVENT_FEATURES
from multicloud.training import artifacts
from multicloud.training.train import TrainingError, train_logistic
from tests.synthetic_events import events, write_partition


def _train(frame, version="v1"):
    return train_logistic(frame, model_id="churn-eu", version=version, data_class="eu-personal",
                          trained_in="oci-fra", dataset="customer-events", features=CUSTOMER_EVENT_FEATURES,
                          label="churned")


def test_trained_artifact_reproduces_sklearn_and_its_smoke_cases():
    trained = _train(events(["DE"], 600).to_pandas())
    card = trained.card
    assert card["metrics"]["auc"] > 0.7
    assert card["holdout_rows"] == 150
    assert len(card["smoke_cases"]) >= 4
    assert {c["expected"]["label"] for c in card["smoke_cases"]} == {0, 1}
    model = LogisticModel.from_dict(json.loads(trained.artifact.to_json()))
    for case in card["smoke_cases"]:
        assert model.predict(case["instance"]) == case["expected"]


def test_unusable_data_is_refused_with_the_cause():
    frame = events(["DE"], 100).to_pandas()
    with pytest.raises(TrainingError, match="at least 40"):
        _train(frame.head(10))
    frame["churned"] = 0
    with pytest.raises(TrainingError, match="single class"):
        _train(frame)
    with pytest.raises(TrainingError, match="lacks column"):
        _train(frame.drop(columns=["tenure_months"]))


def test_only_the_training_regions_rows_of_the_models_class_are_used(estate):
    model = estate.model("churn-eu")
    with pytest.raises(artifacts.TrainingDataMissing, match=r"no training data .* oci-fra"):
        artifacts.load_training_frame(estate, model)
    write_partition(estate, "oci-fra", ["DE", "FR", "US", "ZZ"], rows=400)
    write_partition(estate, "gcp-euw4", ["DE"], rows=999, seed=5)  # another region: never read
    frame, counts = artifacts.load_training_frame(estate, model)
    assert set(frame["country"]) == {"DE", "FR"}
    assert counts == {"files": 1, "rows_read": 400, "rows_used": 200, "rows_excluded": 200}


def test_artifacts_are_written_in_the_training_region_and_are_immutable(estate, estate_home):
    trained = _train(events(["DE"], 300).to_pandas())
    uri = artifacts.write_model(estate, trained)
    assert uri == f"file://{estate_home}/storage/oci-fra/models/churn-eu/v1"
    assert artifacts.write_model(estate, trained) == uri  # same artifact again: no-op
    other = _train(events(["DE"], 300, seed=9).to_pandas())
    with pytest.raises(artifacts.ArtifactError, match="immutable"):
        artifacts.write_model(estate, other)
    assert artifacts.read_card(estate, "churn-eu", "v1")["trained_in"] == "oci-fra"
    assert artifacts.latest_version(estate, "churn-eu") == "v1"
    with pytest.raises(artifacts.ArtifactError, match="no model card"):
        artifacts.read_card(estate, "churn-eu", "v2")


def test_model_selection_follows_request_then_triggering_assets(estate):
    from multicloud.training.run import select_models

    assert select_models(estate, ["churn-us"], []) == ["churn-us"]
    assert select_models(estate, [], ["x-multicloud://customer-events/oci-fra"]) == ["churn-eu"]
    assert select_models(estate, [], ["x-multicloud://customer-events/gcp-euw4"]) == []
    assert select_models(estate, [], []) == ["churn-eu", "churn-us"]
    with pytest.raises(ValueError, match="unknown model"):
        select_models(estate, ["nope"], [])
