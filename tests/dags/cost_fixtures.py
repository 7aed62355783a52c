"""A served local estate for cost_rebalance tests: real model servers (local driver) per placement.

The churn models (real logistic-regression artifacts in the serving format, written in each
model's training region) run where the estate's declared placement puts their workloads.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from multicloud.drivers import ModelDeployment, driver_for
from multicloud.drivers.local import LocalClusterDriver
from multicloud.serving.model import LogisticModel
from multicloud.sync.layout import CUSTOMER_EVENT_FEATURES


def write_model(estate, model_id: str, version: str = "v1") -> str:
    model = estate.model(model_id)
    artifact = LogisticModel(model=model_id, version=version, data_class=model.data_class,
                             features=CUSTOMER_EVENT_FEATURES, mean=(12.0, 80.0, 1.2, 36.0),
                             scale=(3.5, 55.0, 1.1, 20.0), coef=(-0.8, -0.4, 0.9, -0.6), intercept=-0.5)
    root = Path(estate.region(model.train_in).storage.url.removeprefix("file://")) / "models" / model_id / version
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.json").write_text(artifact.to_json())
    return f"file://{root}"


def write_card(estate, model_id: str, uri: str, version: str = "v1") -> None:
    """The model card the rollout's checks read beside the artifact (its SHA-256 included)."""
    root = Path(uri.removeprefix("file://"))
    card = {"model": model_id, "version": version, "data_class": estate.model(model_id).data_class,
            "trained_at": "2026-11-29T10:00:00+00:00", "smoke_cases": [],
            "artifact_sha256": hashlib.sha256((root / "model.json").read_bytes()).hexdigest()}
    (root / "card.json").write_text(json.dumps(card))


def serve_declared_placement(estate, home: Path, version: str = "v1", *, every_driver: bool = False) -> None:
    """The declared placement served. ``every_driver``: through each cluster's own driver (local
    processes or Kubernetes pods), with model cards, and up to 90 s to be ready; otherwise local
    model servers only."""
    for workload in estate.workloads:
        uri = write_model(estate, workload.model, version)
        if every_driver:
            write_card(estate, workload.model, uri, version)
        for cluster, replicas in workload.placement.items():
            driver = driver_for(estate, cluster, home) if every_driver else LocalClusterDriver(cluster, home)
            driver.deploy(ModelDeployment(workload.model, version, replicas, uri,
                                          runtime=estate.runtime.model_dump(mode="json")))
            status = driver.wait_ready(workload.model, version, 90 if every_driver else 60)
            assert status.state == "complete", f"{cluster}: {status.message}"
