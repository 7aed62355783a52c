"""What the ``dr_failover`` DAG does after the steering failed a pair over by itself.

DNS (or the gateway) moves traffic by itself; it cannot promote the secondary's write target,
scale a pilot light up, apply the standby stack or page anyone. One function per task; plain
Python, no Airflow import.

An *incident* is one failover signal (``dr.health``): ``incidents.json`` under the DR state
folder records each by id, so a repeated signal (a triggerer restart re-reading the queue, two
signals for one outage) opens nothing twice: ``open_incident`` returns None. Every change goes
through the pair's fault ledger first (``run_id`` = incident id), so fail back, a rehearsal's
restore and a crash all undo through the same handlers and the estate ends exactly as before.

Fail back is deliberate: ``primary_stable`` is true only after the primary answered
``fail_back.healthy_checks`` health checks in a row and has been healthy for
``fail_back.stabilisation_s`` seconds; with ``fail_back.approval`` a person approves first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud import statefile
from multicloud.dr.ledger import APPLIED, FaultLedger, dr_state_dir
from multicloud.dr.pair import backends, cluster_driver, cluster_of, pair_models, served_version
from multicloud.dr.steering import steering_for
from multicloud.dr.write_targets import set_write_target, write_targets

if TYPE_CHECKING:
    from multicloud.drivers.base import ServedModel

log = logging.getLogger(__name__)

OPEN, FAILED_BACK = "open", "failed_back"
READY_TIMEOUT_S = 60.0
INCIDENT_KINDS = frozenset({"write_target_promoted", "standby_scaled", "standby_deployed"})


# ---- incidents ---------------------------------------------------------------------------------
def incidents_file(home: Path | None = None) -> Path:
    return dr_state_dir(home) / "incidents.json"


def incidents(home: Path | None = None) -> dict[str, dict[str, Any]]:
    return statefile.read_json(incidents_file(home), {})


def _locked_incidents(home: Path | None) -> AbstractContextManager[dict[str, dict[str, Any]]]:
    return statefile.update_json(incidents_file(home), dict)


def open_incident(estate, signal: dict[str, Any], home: Path | None = None, run_id: str = "") -> dict[str, Any] | None:
    """Record the incident a signal names; None when it (or another open one of the pair) is known."""
    pair = _pair_of(estate, signal)
    incident_id = str(signal.get("incident") or f"{pair.id}:{signal.get('at')}")
    with _locked_incidents(home) as known:
        if incident_id in known:
            log.info("incident %s already handled by %s: nothing to do", incident_id, known[incident_id]["run_id"])
            return None
        open_ones = [i for i in known.values() if i["pair"] == pair.id and i["state"] == OPEN]
        if open_ones:
            log.info("pair %s already fails over in incident %s: %s joins it", pair.id, open_ones[0]["id"],
                     incident_id)
            return None
        incident = {"id": incident_id, "pair": pair.id, "from": signal.get("from", pair.primary),
                    "to": signal.get("to", pair.secondary), "signalled_at": signal.get("at"),
                    "opened_at": time.time(), "run_id": run_id, "state": OPEN, "events": {}}
        known[incident_id] = incident
    log.info("incident %s: %s failed over from %s to %s", incident_id, pair.endpoint, incident["from"], incident["to"])
    return incident


def mark(incident_id: str, event: str, home: Path | None = None, **fields: Any) -> dict[str, Any]:
    with _locked_incidents(home) as known:
        incident = known[incident_id]
        incident["events"].setdefault(event, time.time())
        incident.update(fields)
        return dict(incident)


def _pair_of(estate, signal: dict[str, Any]):
    if signal.get("pair"):
        return estate.dr_pair(signal["pair"])
    for pair in estate.dr_pairs:
        if pair.endpoint == signal.get("endpoint"):
            return pair
    raise KeyError(f"signal names no DR pair of the estate: {signal}")


# ---- arming: health-checked steering in place (the rehearsal's baseline and the estate's set-up) ----
def arm(estate, pair, home: Path | None = None) -> dict[str, Any]:
    """Put the pair's endpoint behind health-checked failover steering; returns where clients call it.

    Local estate: start the gateway (unless it runs) and route the endpoint to the primary's
    replicas with the secondary's as the health-checked standby. Cloud steering is armed by
    ``steering.arm_failover`` with the regions' DNS answers.
    """
    from multicloud.dr.gateway import start_gateway

    steering = steering_for(pair, home)
    models = pair_models(estate, pair)
    primary, standby = backends(estate, pair.primary, models), backends(estate, pair.secondary, models)
    info: dict[str, Any] = {}
    if steering.name == "local-gateway":
        info, _started = start_gateway(home)
        info = {**info, "root": f"{info['url']}/{pair.endpoint}"}
    steering.arm_failover(pair, primary, standby)
    return info


# ---- the actions -------------------------------------------------------------------------------
def promote_write_target(estate, incident: dict[str, Any], home: Path | None = None) -> dict[str, str]:
    pair = estate.dr_pair(incident["pair"])
    ledger = FaultLedger(pair.id, home)
    promoted = dict.fromkeys(pair.datasets, pair.secondary)
    if not ledger.find_open("write_target_promoted", pair.id):
        entry = ledger.record("write_target_promoted", pair.id, {"previous": write_targets(home).get(pair.id)},
                              incident["id"])
        set_write_target(pair.id, promoted, home)
        ledger.mark(entry, APPLIED)
    mark(incident["id"], "write_target_promoted", home)
    log.info("write target of %s promoted to %s", pair.datasets, pair.secondary)
    return promoted


@dataclass(frozen=True)
class PilotLightStep:
    """What failover does to one workload's copy at the secondary (pure: see ``pilot_light_step``)."""

    action: str  # "deploy" (nothing deployed there), "scale" (the driver's scale path) or "none"
    version: str | None
    replicas_from: int
    replicas_to: int
    note: str = ""


def pilot_light_step(served: Mapping[str, ServedModel], model: str, primary_replicas: int, pilot_light_replicas: int
                     ) -> PilotLightStep:
    """Scale the pilot light (``pilot_light_replicas`` kept warm) up to what the primary ran.

    A pilot light of 0 is a deployment scaled to zero: it is scaled up through the driver, not
    deployed again; only a secondary with no deployment of the model at all gets one. Failover
    never scales the secondary down (it may run more than the primary already).
    """
    target = max(1, primary_replicas, pilot_light_replicas)
    entry = served.get(model) or {}
    versions = entry.get("versions") or {}
    version = served_version(served, model) or (max(versions) if versions else None)
    if version is None:
        note = (f"the estate keeps {pilot_light_replicas} replica(s) warm but none is deployed: the pilot light "
                "was out") if pilot_light_replicas else ""
        return PilotLightStep("deploy", None, 0, target, note)
    current = int(versions.get(version, 0))
    note = (f"the pilot light ran {current} replica(s), below the estate's {pilot_light_replicas}"
            if current < pilot_light_replicas else "")
    if current >= target:
        return PilotLightStep("none", version, current, current, note)
    return PilotLightStep("scale", version, current, target, note)


def scale_pilot_light(estate, incident: dict[str, Any], home: Path | None = None) -> dict[str, int]:
    """Scale the secondary's copy of each workload from its pilot light up to the primary's replicas."""
    from multicloud.drivers import ModelDeployment
    from multicloud.placement import current_placement
    from multicloud.rollout.baseline import baseline_runtime

    pair = estate.dr_pair(incident["pair"])
    ledger = FaultLedger(pair.id, home)
    secondary = cluster_of(estate, pair.secondary)
    driver = cluster_driver(estate, secondary)
    placement = current_placement(estate, home)
    scaled: dict[str, int] = {}
    for workload_id in pair.workloads:
        workload = estate.workload(workload_id)
        primary_replicas = placement.get(workload_id, {}).get(cluster_of(estate, pair.primary), workload.replicas)
        step = pilot_light_step(driver.served(), workload.model, primary_replicas, pair.pilot_light_replicas)
        target = f"{secondary}/{workload.model}"
        if step.note:
            log.warning("pilot light %s: %s", target, step.note)
        version = step.version
        if step.action == "deploy":
            version, artifact = _standby_artifact(estate, pair, workload.model)
            if artifact is None:
                raise RuntimeError(f"pilot light {target}: nothing deployed and no staged artifact to deploy")
            if not ledger.find_open("standby_deployed", target):
                ledger.record("standby_deployed", target, {"cluster": secondary, "model": workload.model,
                                                           "version": version}, incident["id"])
            driver.deploy(ModelDeployment(workload.model, version, step.replicas_to, artifact,
                                          runtime=baseline_runtime(estate, secondary)))
        elif step.action == "scale":
            if not ledger.find_open("standby_scaled", target):
                ledger.record("standby_scaled", target, {"cluster": secondary, "model": workload.model,
                                                         "version": version, "replicas": step.replicas_from},
                              incident["id"])
            driver.scale(workload.model, version, step.replicas_to)
        status = driver.wait_ready(workload.model, version, READY_TIMEOUT_S)
        if status.state != "complete":
            raise RuntimeError(f"pilot light {target} {version}: not ready: {status.message}")
        scaled[workload.model] = step.replicas_to
        log.info("pilot light %s %s: %s %d -> %d replicas", target, version, step.action, step.replicas_from,
                 step.replicas_to)
    steering = steering_for(pair, home)  # the new replicas join the route
    steering.set_backends(pair.endpoint, pair.secondary, backends(estate, pair.secondary, pair_models(estate, pair)))
    mark(incident["id"], "pilot_light_scaled", home)
    log.info("pilot light on %s scaled to %s", secondary, scaled)
    return scaled


def _standby_artifact(estate, pair, model: str) -> tuple[str | None, str | None]:
    """The newest artifact staged in the secondary's own storage (``models/<model>/<version>``)."""
    import fsspec

    root = f"{estate.region(pair.secondary).storage.url.rstrip('/')}/models/{model}"
    fs, path = fsspec.core.url_to_fs(root)
    if not fs.exists(path):
        return None, None
    versions = sorted(p.rstrip("/").rsplit("/", 1)[1] for p in fs.ls(path) if fs.exists(f"{p}/model.json"))
    return (versions[-1], f"{root}/{versions[-1]}") if versions else (None, None)


def page(estate, incident: dict[str, Any], home: Path | None = None) -> dict[str, Any]:
    from multicloud.alerts import alert

    pair = estate.dr_pair(incident["pair"])
    return alert("failover", f"DR {pair.id}: {pair.endpoint} failed over from {incident['from']} to "
                 f"{incident['to']} by itself (incident {incident['id']})",
                 {"incident": incident["id"], "pair": pair.id, "from": incident["from"], "to": incident["to"]},
                 home=home)


# ---- fail back -------------------------------------------------------------------------------------
def primary_stable(estate, incident: dict[str, Any], home: Path | None = None, now: float | None = None) -> bool:
    """True once the primary passed N health checks in a row and stayed healthy for the window."""
    pair = estate.dr_pair(incident["pair"])
    policy = pair.fail_back
    steering = steering_for(pair, home)
    fresh = backends(estate, pair.primary, pair_models(estate, pair))
    if fresh:  # the primary's restarted servers: health-check them where they listen now
        steering.set_backends(pair.endpoint, pair.primary, fresh)
    health = steering.region_health(pair.endpoint).get(pair.primary) or {}
    now = time.time() if now is None else now
    since = health.get("healthy_since")
    stable = bool(health.get("healthy") and health.get("ok_in_row", 0) >= policy.healthy_checks
                  and since is not None and now - since >= policy.stabilisation_s)
    log.info("primary %s: healthy=%s, %s good checks in a row (need %d), healthy for %.1fs (need %gs)",
             pair.primary, health.get("healthy"), health.get("ok_in_row", 0), policy.healthy_checks,
             now - since if since else 0.0, policy.stabilisation_s)
    return stable


def fail_back(estate, incident: dict[str, Any], home: Path | None = None) -> dict[str, Any]:
    """Traffic back to the primary, then undo what the incident changed (write target, pilot light)."""
    from multicloud.alerts import alert
    from multicloud.dr.undo import undo_handlers

    pair = estate.dr_pair(incident["pair"])
    steering = steering_for(pair, home)
    primary_backends = backends(estate, pair.primary, pair_models(estate, pair))
    steering.fail_back(pair.endpoint, pair.primary, primary_backends)
    undone = FaultLedger(pair.id, home).undo_all(undo_handlers(estate, pair, home), only_kinds=INCIDENT_KINDS)
    failed = [f"{e['kind']} {e['target']}: {e.get('error')}" for e in undone if e["state"] != "undone"]
    if failed:
        raise RuntimeError("fail back could not undo: " + "; ".join(failed))
    steering.set_backends(pair.endpoint, pair.secondary, backends(estate, pair.secondary, pair_models(estate, pair)))
    closed = mark(incident["id"], "failed_back", home, state=FAILED_BACK)
    alert("fail_back", f"DR {pair.id}: {pair.endpoint} back on {pair.primary} (incident {incident['id']})",
          {"incident": incident["id"], "undone": [e["kind"] for e in undone]}, home=home)
    return {"undone": [e["kind"] for e in undone], "events": closed["events"]}
