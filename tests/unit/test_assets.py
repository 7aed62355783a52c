"""Asset URIs shared by the DAGs: one scheme Airflow takes as it is, model URIs that parse back."""

from __future__ import annotations

from airflow.sdk import Asset

from multicloud import assets
from multicloud.estate import load_estate


def test_dataset_and_model_uris_are_distinct_and_airflow_keeps_them_as_written():
    dataset, model = assets.dataset_asset_uri("customer-events", "oci-fra"), assets.model_asset_uri("churn-eu")
    assert dataset != model
    assert Asset(dataset).uri == dataset
    assert Asset(model).uri == model


def test_a_model_uri_parses_back_and_anything_else_is_not_a_model():
    assert assets.model_of_asset_uri(assets.model_asset_uri("churn-eu")) == "churn-eu"
    assert assets.model_of_asset_uri("s3://bucket/model/churn-eu") is None
    assert assets.model_of_asset_uri(assets.dataset_asset_uri("customer-events", "oci-fra")) is None


def test_training_inputs_name_every_model_under_its_training_dataset(estate_home):
    estate = load_estate(home=estate_home)
    inputs = assets.training_inputs(estate)
    assert sorted(m for models in inputs.values() for m in models) == sorted(m.id for m in estate.models)
    for model in estate.models:
        assert model.id in inputs[assets.dataset_asset_uri(model.trained_on, model.train_in)]
