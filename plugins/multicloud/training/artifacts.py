"""Where models live and how they are read and written: always in the TRAINING region's storage.

    {train_in region storage}/models/<model>/<version>/model.json   (the serving artifact)
    {train_in region storage}/models/<model>/<version>/card.json    (the model card; written last,
                                                                     with the artifact's SHA-256)

The card is the commit marker: a version without a card does not exist for readers, so a
half-written artifact is never served. The artifact inherits the class of its training data,
so it stays in the jurisdiction it was trained in. Versions are immutable.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from multicloud import paths
from multicloud.sync import layout
from multicloud.sync.storage import Location, location_for

if TYPE_CHECKING:
    import pandas as pd

    from multicloud.estate.models import Estate, Model
    from multicloud.training.train import TrainedModel  # pandas and numpy: rollout tasks never need them

MODELS_PREFIX = "models"


class ArtifactError(ValueError):
    """A model version is missing, incomplete, or would overwrite a different one."""


class TrainingDataMissing(FileNotFoundError):
    """The model's training region holds none of its dataset (residency_sync has not run there)."""


def artifact_uri(estate: Estate, model_id: str, version: str) -> str:
    return _location_url(estate, model_id, version)


def _location_url(estate: Estate, model_id: str, version: str | None = None) -> str:
    """models/<model>/<version> under the training region's storage; a version is one safe name."""
    region = estate.region(estate.model(model_id).train_in)
    parts = [MODELS_PREFIX, paths.clean_name(model_id, "model id")]
    if version:
        parts.append(paths.clean_name(version, "model version"))
    return paths.join_within(region.storage.url, *parts, what="model artifact path")


def _location(estate: Estate, model_id: str, version: str | None = None) -> Location:
    region = estate.region(estate.model(model_id).train_in)
    return location_for(region.storage, _location_url(estate, model_id, version))


def write_model(estate: Estate, trained: TrainedModel) -> str:
    """Write artifact then card; rerunning with the same artifact is a no-op. Returns the URI."""
    artifact = trained.artifact
    loc = _location(estate, artifact.model, artifact.version)
    model_path, card_path = f"{loc.path}/model.json", f"{loc.path}/card.json"
    body = artifact.to_json()
    if loc.fs.exists(card_path):
        with loc.fs.open(model_path, "r") as handle:
            existing = handle.read()
        if json.loads(existing) == json.loads(body):
            return loc.url
        raise ArtifactError(f"{artifact.model} {artifact.version} already exists at {loc.url} with a "
                            "different artifact; versions are immutable, choose a new version label")
    loc.fs.makedirs(loc.path, exist_ok=True)
    _write(loc.fs, model_path, body)
    # The model server refuses an artifact whose bytes are not the ones the card vouches for.
    card = {**trained.card, "artifact_sha256": hashlib.sha256(body.encode()).hexdigest()}
    _write(loc.fs, card_path, json.dumps(card, indent=2, sort_keys=True))
    return loc.url


def _write(fs: Any, path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with fs.open(tmp, "w") as handle:
        handle.write(text)
    fs.mv(tmp, path)


def read_card(estate: Estate, model_id: str, version: str) -> dict[str, Any]:
    loc = _location(estate, model_id, version)
    try:
        with loc.fs.open(f"{loc.path}/card.json", "r") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ArtifactError(f"{model_id} {version}: no model card at {loc.url} (not trained, or incomplete)") from None


def versions(estate: Estate, model_id: str) -> list[dict[str, Any]]:
    """Cards of every complete version, oldest first (by training time)."""
    loc = _location(estate, model_id)
    if not loc.fs.exists(loc.path):
        return []
    cards = []
    for card_path in loc.fs.glob(f"{loc.path}/*/card.json"):
        with loc.fs.open(card_path, "r") as handle:
            cards.append(json.load(handle))
    return sorted(cards, key=lambda c: (c.get("trained_at", ""), c["version"]))


def latest_version(estate: Estate, model_id: str) -> str | None:
    cards = versions(estate, model_id)
    return cards[-1]["version"] if cards else None


def load_training_frame(estate: Estate, model: Model) -> tuple[pd.DataFrame, dict[str, int]]:
    """The model's dataset as held in its training region, restricted to rows of the model's class.

    Reads only ``train_in``'s copy: training never reaches across a border. Rows whose class is
    not the model's (or is unknown) are dropped and counted, never trained on.
    """
    import pandas as pd
    import pyarrow.parquet as pq

    dataset = estate.dataset(model.trained_on)
    region = estate.region(model.train_in)
    url = layout.dataset_url(estate, region.id, dataset.id)
    loc = location_for(region.storage, url)
    files = sorted(f for f in loc.fs.glob(f"{loc.path}/**/*.parquet")
                   if not any(p.startswith((".", "_")) for p in f[len(loc.path):].split("/")))
    if not files:
        raise TrainingDataMissing(
            f"model {model.id}: no training data for dataset {dataset.id!r} in region {region.id} "
            f"({url}); run residency_sync for that region first")
    frame = pd.concat([pq.read_table(f, filesystem=loc.fs).to_pandas() for f in files], ignore_index=True)
    counts = {"files": len(files), "rows_read": len(frame)}
    if dataset.routing is not None:
        routing = dataset.routing
        if routing.column not in frame.columns:
            raise ValueError(f"dataset {dataset.id}: routing column {routing.column!r} missing in {url}")
        if routing.column_kind == "country":
            jurisdictions = frame[routing.column].map(estate.jurisdiction_of_country)
        else:
            jurisdictions = frame[routing.column]
        classes = jurisdictions.map(lambda j: routing.class_by_jurisdiction.get(j) if j else None)
        frame = frame[classes == model.data_class]
    elif dataset.data_class != model.data_class:
        raise ValueError(f"model {model.id} declares class {model.data_class!r} but dataset {dataset.id} "
                         f"is {dataset.data_class!r}; fix the estate")
    counts["rows_used"] = len(frame)
    counts["rows_excluded"] = counts["rows_read"] - len(frame)
    return frame.reset_index(drop=True), counts
