"""What a model_training task does, without Airflow: train one model inside its region, store it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from multicloud.sync.layout import CUSTOMER_EVENT_FEATURES
from multicloud.training import artifacts
from multicloud.training.train import train_logistic

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

log = logging.getLogger(__name__)
LABEL = "churned"


def version_label(run_after, run_id: str) -> str:
    """A model version unique per run: run_after to the second plus a short hash of the run id."""
    import hashlib

    return f"v{run_after:%Y%m%d%H%M%S}-{hashlib.sha256(run_id.encode()).hexdigest()[:6]}"


def from_backfill(extra: dict | None, source_run_id: str | None) -> bool:
    """Whether an asset event came from a backfill run (residency_sync marks its events)."""
    return (extra or {}).get("run_type") == "backfill" or (source_run_id or "").startswith("backfill__")


def select_models(estate: Estate, requested: list[str] | None, triggered_uris: list[str]) -> list[str]:
    """Requested models, else those whose synced input was just updated, else every model."""
    known = [m.id for m in estate.models]
    if requested:
        unknown = sorted(set(requested) - set(known))
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; the estate has {known}")
        return list(dict.fromkeys(requested))
    if triggered_uris:
        from multicloud.assets import training_inputs

        inputs = training_inputs(estate)
        chosen = [m for uri in triggered_uris for m in inputs.get(uri, [])]
        return list(dict.fromkeys(chosen))
    return known


def train_and_store(estate: Estate, model_id: str, version: str) -> dict[str, Any]:
    model = estate.model(model_id)
    frame, counts = artifacts.load_training_frame(estate, model)
    log.info("%s: %s rows of class %s from %s (%s excluded)", model_id, counts["rows_used"],
             model.data_class, model.train_in, counts["rows_excluded"])
    trained = train_logistic(frame, model_id=model_id, version=version, data_class=model.data_class,
                             trained_in=model.train_in, dataset=model.trained_on,
                             features=CUSTOMER_EVENT_FEATURES, label=LABEL)
    trained.card["data"] = counts
    uri = artifacts.write_model(estate, trained)
    card = artifacts.read_card(estate, model_id, version)
    return {"model": model_id, "version": version, "artifact_uri": uri, "data_class": model.data_class,
            "trained_in": model.train_in, "rows": card["rows"], "metrics": card["metrics"]}
