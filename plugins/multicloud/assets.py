"""Asset URIs shared by residency_sync, model_training and model_rollout (parse-time safe: no I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

MODELS_ALIAS = "multicloud-models"


def dataset_asset_uri(dataset_id: str, region_id: str) -> str:
    return f"multicloud://{dataset_id}/{region_id}"


def model_asset_uri(model_id: str) -> str:
    return f"multicloud://model/{model_id}"


def model_of_asset_uri(uri: str) -> str | None:
    prefix = "multicloud://model/"
    return uri[len(prefix):] if uri.startswith(prefix) else None


def training_inputs(estate: Estate) -> dict[str, list[str]]:
    """Synced-dataset asset URI -> the models trained on it (in that region)."""
    inputs: dict[str, list[str]] = {}
    for model in estate.models:
        inputs.setdefault(dataset_asset_uri(model.trained_on, model.train_in), []).append(model.id)
    return inputs
