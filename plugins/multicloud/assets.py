"""Asset URIs shared by residency_sync, model_training and model_rollout (parse-time safe: no I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

MODELS_ALIAS = "multicloud-models"

# An "x-" scheme, as Airflow's asset docs advise for a custom scheme without the semantics of a
# registered one (file, s3, postgres, ...): Airflow then takes the URI as it is. With any other
# unregistered scheme the first Asset of a process loads every provider's URI handlers, and the
# amazon provider's handler imports boto3 (about 1 s of CPU on every DAG-file parse).
SCHEME = "x-multicloud"


def dataset_asset_uri(dataset_id: str, region_id: str) -> str:
    return f"{SCHEME}://{dataset_id}/{region_id}"


def model_asset_uri(model_id: str) -> str:
    return f"{SCHEME}://model/{model_id}"


def model_of_asset_uri(uri: str) -> str | None:
    prefix = f"{SCHEME}://model/"
    return uri[len(prefix):] if uri.startswith(prefix) else None


def training_inputs(estate: Estate) -> dict[str, list[str]]:
    """Synced-dataset asset URI -> the models trained on it (in that region)."""
    inputs: dict[str, list[str]] = {}
    for model in estate.models:
        inputs.setdefault(dataset_asset_uri(model.trained_on, model.train_in), []).append(model.id)
    return inputs
