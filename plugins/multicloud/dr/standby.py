"""Pilot light: the served artifact staged in the secondary's own storage while the primary is up.

A region outage takes the primary's storage (where the artifact lives) down with it; the
staged copy lets the standby start from the secondary's storage. Staging is recorded in the
fault ledger (``artifact_staged``) and ``unstage`` removes it again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from multicloud import paths
from multicloud.dr.ledger import APPLIED, FaultLedger
from multicloud.dr.pair import cluster_driver, cluster_of, pair_models, served_version
from multicloud.statefile import atomic_write_text

log = logging.getLogger(__name__)


def staged_uri(estate, pair, model: str, version: str) -> str:
    return paths.join_within(estate.region(pair.secondary).storage.url, "models", paths.clean_name(model, "model id"),
                             paths.clean_name(version, "model version"), what="staged artifact path")


def stage_standby_artifacts(estate, pair, ledger: FaultLedger, state: dict[str, Any], run_id: str) -> None:
    """Pilot light: copy the served artifact into the secondary's storage while the primary is up.

    A region outage takes the primary's storage (where the artifact lives) down with it; the
    preflight's residency check already allowed the model's data class in the secondary.
    """
    import fsspec

    served = cluster_driver(estate, cluster_of(estate, pair.secondary)).served()
    for model, artifacts in state["artifacts"].items():
        if served_version(served, model) is not None:
            continue  # warm standby: nothing to stage
        version = state["expected_version"] if model == pair_models(estate, pair)[0] else next(iter(artifacts), None)
        if version is None or version not in artifacts:
            continue
        target = f"{staged_uri(estate, pair, model, version)}/model.json"
        fs, path = fsspec.core.url_to_fs(target)
        if fs.exists(path):
            continue
        entry = ledger.record("artifact_staged", target, {"url": target}, run_id)
        source = artifacts[version] if artifacts[version].endswith(".json") else f"{artifacts[version].rstrip('/')}/model.json"
        with fsspec.open(source, "rb") as handle:
            body = handle.read()
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        if target.startswith("file://"):
            atomic_write_text(Path(path), body.decode())  # never a half-written artifact
        else:
            fs.pipe(path, body)
        ledger.mark(entry, APPLIED)
        log.info("pilot light: staged %s %s in %s", model, version, pair.secondary)


def unstage(undo: dict[str, Any]) -> None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(undo["url"])
    if fs.exists(path):
        fs.rm(path)
    folder = path.rsplit("/", 1)[0]
    for _ in range(3):  # models/<model>/<version>: drop the folders the staging created, if empty
        if fs.exists(folder) and not fs.ls(folder):
            fs.rmdir(folder)
        folder = folder.rsplit("/", 1)[0]


def standby_artifact(estate, pair, model: str, version: str, state: dict[str, Any]) -> str:
    """The copy staged in the secondary's own storage (the primary's may be down), else the primary's."""
    import fsspec

    staged = staged_uri(estate, pair, model, version)
    fs, path = fsspec.core.url_to_fs(f"{staged}/model.json")
    return staged if fs.exists(path) else state["artifacts"][model][version]
