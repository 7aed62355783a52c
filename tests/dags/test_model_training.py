"""model_training end to end with dag.test(): trains inside the jurisdiction, stores artifact + card."""

from __future__ import annotations

import json

import pytest

from multicloud.estate import load_estate
from multicloud.reports import latest_summary
from tests.dags.dag_files import load_dag
from tests.synthetic_events import seed_customer_events


@pytest.mark.timeout(240)
def test_training_stores_versioned_artifacts_in_each_training_region(airflow_db, estate_home):
    estate = load_estate(home=estate_home)
    seed_customer_events(estate)
    run = load_dag("model_training").test(run_conf={"version": "v1"})
    assert run.state == "success"
    for model, region in (("churn-eu", "oci-fra"), ("churn-us", "aws-use1")):
        card = json.loads((estate_home / "storage" / region / "models" / model / "v1" / "card.json").read_text())
        assert card["trained_in"] == region
        assert card["metrics"]["auc"] > 0.7
    summary = latest_summary("model_training", estate_home)
    assert any("churn-eu v1: trained in oci-fra" in line for line in summary["headline"])
    # Each stored version is an asset event on x-multicloud://model/<model> (it schedules model_rollout).
    events = _model_asset_events(run.run_id)
    assert events == {"x-multicloud://model/churn-eu": "v1", "x-multicloud://model/churn-us": "v1"}


def _model_asset_events(run_id: str) -> dict[str, str]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.uri, AssetEvent.extra).join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .where(AssetEvent.source_run_id == run_id)).all()
    return {uri: (extra or {}).get("version") for uri, extra in rows}
