"""A local estate whose chosen clusters are Kubernetes clusters: one API emulator each, pods that run.

Every chosen cluster gets its own emulated API server (tests/emulators/kubernetes.py) and an
Airflow ``kubernetes`` connection ``k8s_<cluster>`` to it; the estate file is the local estate with
those clusters switched to ``driver: kubernetes`` (plus ``external_url`` or ``gateway`` when asked).
The estate's serving image runs the real serving entrypoint, as its Dockerfile's CMD would.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from multicloud.drivers.local import stop_all_servers
from multicloud.estate import load_estate
from multicloud.paths import DEFAULT_ESTATE_FILE
from multicloud.serving.model import LogisticModel
from tests.emulators.kubernetes import KubernetesEmulator

ROOT = Path(__file__).resolve().parents[1]
SERVING_IMAGE = "multicloud/model-server:1.4.0"  # the local estate's runtime.image


def serving_images(image: str = SERVING_IMAGE) -> dict[str, Any]:
    """The model-server image as the emulator runs it: this interpreter, the serving package on PYTHONPATH."""
    return {image: {"python": sys.executable,
                    "env": {"PYTHONPATH": str(ROOT / "plugins"), "PATH": os.environ.get("PATH", "")},
                    "cmd": ["python", "-m", "multicloud.serving", "serve", "--host", "0.0.0.0", "--port", "8080"]}}


def conn_id(cluster: str) -> str:
    return f"k8s_{cluster.replace('-', '_')}"


def start_clusters(clusters: Iterable[str], monkeypatch, log_dir: Path) -> dict[str, KubernetesEmulator]:
    """One running emulator per cluster, each with an Airflow connection to it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    emulators = {}
    for cluster in clusters:
        emulator = KubernetesEmulator(images=serving_images()).start(log_dir=str(log_dir))
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id(cluster).upper()}", json.dumps(
            {"conn_type": "kubernetes", "extra": {"kube_config": json.dumps(emulator.kubeconfig())}}))
        emulators[cluster] = emulator
    return emulators


def estate_yaml(emulators: dict[str, KubernetesEmulator], *, external: bool = False,
                gateway: bool = False, base: str | None = None) -> str:
    """The local estate with ``emulators``' clusters on the kubernetes driver."""
    text = base or DEFAULT_ESTATE_FILE.read_text()
    for cluster, emulator in emulators.items():
        marker = f"    cluster:\n      id: {cluster}\n"
        assert marker in text, f"no cluster {cluster} in the estate"
        extra = f"      driver: kubernetes\n      connection_id: {conn_id(cluster)}\n"
        if external:
            extra += f"      external_url: {emulator.ingress_url}\n"
        if gateway:
            extra += "      gateway: {name: models-gateway, namespace: gateway-system}\n"
        text = text.replace(marker, marker + extra, 1)
    return text


def use_estate(text: str, path: Path, monkeypatch) -> Path:
    path.write_text(text)
    monkeypatch.setenv("MULTICLOUD_ESTATE", str(path))
    return path


def write_artifact(root: Path, model: LogisticModel, card: dict[str, Any] | None = None) -> str:
    """model.json + card.json (with the artifact's SHA-256) in ``root``; returns its file:// URI."""
    root.mkdir(parents=True, exist_ok=True)
    body = model.to_json()
    (root / "model.json").write_text(body)
    card = {"model": model.model, "version": model.version, "data_class": model.data_class,
            "trained_at": "2026-11-29T10:00:00+00:00", "smoke_cases": [], **(card or {}),
            "artifact_sha256": hashlib.sha256(body.encode()).hexdigest()}
    (root / "card.json").write_text(json.dumps(card))
    return f"file://{root}"


def stop_all(emulators: dict[str, KubernetesEmulator]) -> None:
    for emulator in emulators.values():
        emulator.stop()
    assert not [pid for e in emulators.values() for pid in e.running_pids()]


@contextmanager
def kubernetes_deployment(template, root: Path, dag_id: str, clusters: tuple[str, ...], *,
                          external: bool = False) -> Iterator[tuple]:
    """A real-scheduler deployment (tests/harness/airflow.py) whose DAG folder holds ``dag_id`` alone,
    its estate the local one with ``clusters`` on emulated Kubernetes, with no scheduled run of its own
    before tomorrow (the test's runs are the only ones). This process sees the same estate, estate
    home and connections. Yields (instance, estate, emulators)."""
    from tests.harness.airflow import ROOT, AirflowInstance

    dags = root / "dags"
    dags.mkdir(parents=True)
    (dags / f"{dag_id}.py").symlink_to(ROOT / "dags" / f"{dag_id}.py")
    with pytest.MonkeyPatch.context() as patch:
        emulators = start_clusters(clusters, patch, root / "pods")
        try:
            estate_file = use_estate(estate_yaml(emulators, external=external), root / "estate.yaml", patch)
            connections = {f"AIRFLOW_CONN_{conn_id(c).upper()}": json.dumps(
                {"conn_type": "kubernetes", "extra": {"kube_config": json.dumps(e.kubeconfig())}})
                for c, e in emulators.items()}
            tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            instance = AirflowInstance(root, db_template=template, extra_env={
                "MULTICLOUD_ESTATE": str(estate_file), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                f"MULTICLOUD_{dag_id.upper()}_START_DATE": tomorrow, **connections})
            patch.setenv("MULTICLOUD_ESTATE_HOME", str(instance.estate_home))
            try:
                with instance:
                    instance.wait_for_dags([dag_id])
                    yield instance, load_estate(home=instance.estate_home), emulators
            finally:
                stop_all_servers(home=instance.estate_home)
        finally:
            errors = [e for emulator in emulators.values() for e in emulator.errors]
            stop_all(emulators)
    assert not errors
