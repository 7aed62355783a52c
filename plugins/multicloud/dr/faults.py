"""Faults a rehearsal injects, and how each is undone. Every fault is in the ledger before it happens.

- ``servers_stopped``: the primary cluster's model servers for the pair's workloads are scaled to
  zero through the cluster driver (local: the processes stop; Kubernetes: deployments scale to 0).
  Undo scales every version back to its recorded replicas and waits until ready.
- ``storage_offline``: the primary region's storage folder is renamed aside (one atomic rename;
  readers see it gone). Undo renames it back. Object storage (``s3://`` and the rest) is taken
  offline on the network instead: the fault proxy registered under the region's id
  (``dr.netfaults``; the storage connection's ``endpoint_url`` points at it) is switched to
  ``blackhole``, and undo puts its previous fault back. Without such a proxy the fault is refused
  (nothing can be injected, so nothing is rehearsed).

Other ledger kinds the rehearsal records (traffic, replica promotion, standby, probe, gateway)
have their undo handlers in ``rehearsal.undo_handlers``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from multicloud.dr.ledger import APPLIED, FaultLedger
from multicloud.dr.pair import cluster_driver

log = logging.getLogger(__name__)

# the faults each scenario of dr.settings.SCENARIOS injects
SCENARIO_FAULTS = {
    "region_outage": ("servers_stopped", "storage_offline"),
    "cluster_loss": ("servers_stopped",),
    "storage_loss": ("storage_offline",),
}
READY_TIMEOUT_S = 60.0


def stop_servers(estate, ledger: FaultLedger, cluster_id: str, models: list[str], run_id: str = "") -> dict:
    """Scale every version of ``models`` on ``cluster_id`` to zero; returns what was running."""
    existing = ledger.find_open("servers_stopped", cluster_id)
    if existing:  # a retried task: the fault is already recorded (and maybe applied)
        running = existing["undo"]["versions"]
        entry_id = existing["id"]
    else:
        served = cluster_driver(estate, cluster_id).served()
        running = {m: dict(served[m]["versions"]) for m in models if m in served}
        entry_id = ledger.record("servers_stopped", cluster_id, {"cluster": cluster_id, "versions": running}, run_id)
    driver = cluster_driver(estate, cluster_id)
    for model, versions in running.items():
        for version in versions:
            driver.scale(model, version, 0)
    ledger.mark(entry_id, APPLIED)
    log.info("fault: stopped %s on %s", running, cluster_id)
    return running


def undo_servers_stopped(estate, undo: dict[str, Any]) -> None:
    driver = cluster_driver(estate, undo["cluster"])
    for model, versions in undo["versions"].items():
        for version, replicas in versions.items():
            driver.scale(model, version, replicas)
    for model, versions in undo["versions"].items():
        for version, replicas in versions.items():
            if replicas:
                status = driver.wait_ready(model, version, READY_TIMEOUT_S)
                if status.state != "complete":
                    raise RuntimeError(f"{undo['cluster']}: {model} {version} did not come back: {status.message}")
    log.info("undo: restarted %s on %s", undo["versions"], undo["cluster"])


def local_storage_path(storage_url: str) -> Path:
    if not storage_url.startswith("file://"):
        raise ValueError(f"only file:// storage can be taken offline on this estate; got {storage_url!r}")
    return Path(storage_url.removeprefix("file://"))


def take_storage_offline(estate, ledger: FaultLedger, region_id: str, run_id: str = "") -> str:
    url = estate.region(region_id).storage.url
    if not url.startswith("file://"):
        return _blackhole_storage(ledger, region_id, url, run_id)
    path = local_storage_path(url)
    existing = ledger.find_open("storage_offline", region_id)
    if existing:
        aside = Path(existing["undo"]["aside"])
        entry_id = existing["id"]
    else:
        aside = path.with_name(f"{path.name}.offline-{int(time.time() * 1000)}")
        entry_id = ledger.record("storage_offline", region_id, {"path": str(path), "aside": str(aside)}, run_id)
    if path.exists():
        os.rename(path, aside)
    elif not aside.exists():  # nothing to take away: still an outage, recorded as such
        aside.mkdir(parents=True)
    ledger.mark(entry_id, APPLIED)
    log.info("fault: storage of %s moved aside to %s", region_id, aside.name)
    return str(aside)


def _blackhole_storage(ledger: FaultLedger, region_id: str, url: str, run_id: str) -> str:
    from multicloud.dr import netfaults

    info = netfaults.proxy_info(ledger.path.parent, region_id)
    if info is None:
        raise ValueError(f"storage of {region_id} is {url!r}, not file://, and no network fault proxy named "
                         f"{region_id!r} runs in front of it (multicloud.dr.netfaults.start_proxy, with the storage "
                         "connection's endpoint_url pointing at it): cannot take it offline")
    control = Path(info["control"])
    existing = ledger.find_open("storage_offline", region_id)
    if existing:
        entry_id = existing["id"]
    else:
        previous = asdict(netfaults.read_fault(control))
        entry_id = ledger.record("storage_offline", region_id, {"control": str(control), "previous": previous},
                                 run_id)
    netfaults.write_fault(control, netfaults.Fault("blackhole"))
    ledger.mark(entry_id, APPLIED)
    log.info("fault: storage of %s blackholed at its proxy %s", region_id, info["url"])
    return f"blackhole {info['url']}"


def undo_storage_offline(undo: dict[str, Any]) -> None:
    if "control" in undo:  # object storage behind a fault proxy: its previous fault back
        from multicloud.dr import netfaults

        netfaults.write_fault(Path(undo["control"]), netfaults.Fault(**undo["previous"]))
        log.info("undo: storage proxy %s back to %s", undo["control"], undo["previous"]["mode"])
        return
    path, aside = Path(undo["path"]), Path(undo["aside"])
    if not aside.exists():
        if path.exists():
            return  # already restored
        raise FileNotFoundError(f"neither {path} nor its offline copy {aside} exists")
    if path.exists():
        if any(path.iterdir()):
            # Something wrote to the region while it was "down": keep both, never lose data.
            path.rename(path.with_name(f"{path.name}.written-during-outage-{int(time.time())}"))
        else:
            path.rmdir()
    os.rename(aside, path)
    log.info("undo: storage %s back in place", path)


def storage_fingerprint(storage_url: str) -> dict[str, Any]:
    """Files and sizes under a file:// storage root: equal before and after means nothing was lost."""
    try:
        root = local_storage_path(storage_url)
    except ValueError:
        return {"url": storage_url, "checked": False}
    if not root.exists():
        return {"url": storage_url, "exists": False, "files": 0, "bytes": 0}
    files = [p for p in root.rglob("*") if p.is_file()]
    return {"url": storage_url, "exists": True, "files": len(files), "bytes": sum(p.stat().st_size for p in files)}
