"""The rehearsal's baseline: the estate as it was, the endpoint routed to the primary, a probe
running through it and the primary's first correct answer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from multicloud.dr import faults
from multicloud.dr.gateway import start_gateway
from multicloud.dr.journal import event, load_run, probe_file, samples, save_run
from multicloud.dr.ledger import APPLIED, FaultLedger
from multicloud.dr.pair import backends, cluster_driver, cluster_of, pair_models, served_version
from multicloud.dr.probe import start_probe
from multicloud.dr.scoring import first_correct_from
from multicloud.dr.settings import Settings
from multicloud.dr.standby import stage_standby_artifacts
from multicloud.dr.steering import steering_for
from multicloud.dr.write_targets import write_targets
from multicloud.waiting import wait_until

log = logging.getLogger(__name__)

BASELINE_TIMEOUT_S = 30.0
PROBE_PAYLOAD = {"instances": [{"sessions_30d": 12, "spend_30d": 80.0, "support_tickets_90d": 1,
                                "tenure_months": 18}]}


def baseline(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    pair = estate.dr_pair(settings.pair)
    ledger = FaultLedger(pair.id, home)
    state = load_run(pair.id, run_id, home)
    state["before"] = state.get("before") or estate_snapshot(estate, pair, home)
    models = pair_models(estate, pair)
    primary_served = cluster_driver(estate, cluster_of(estate, pair.primary)).served()
    state["expected_version"] = served_version(primary_served, models[0])
    state["artifacts"] = {m: primary_served[m].get("artifacts", {}) for m in models if m in primary_served}
    stage_standby_artifacts(estate, pair, ledger, state, run_id)
    root = state["probe_root"] = route_to_primary(estate, pair, settings, ledger, run_id, home)
    _start_probe(estate, pair, settings, ledger, state, run_id, home)
    started = event(state, "baseline")
    save_run(state, home)
    first = wait_until(lambda: first_correct_from(samples(state), pair.primary, started, state["expected_version"]),
                       BASELINE_TIMEOUT_S)
    if first is None:
        raise RuntimeError(f"baseline: no correct answer from the primary {pair.primary} through {root} "
                           f"within {BASELINE_TIMEOUT_S:.0f}s (expected {models[0]} {state['expected_version']})")
    state["baseline_latency_ms"] = first.latency_ms
    save_run(state, home)
    log.info("baseline: %s serves %s %s through %s (%.1f ms)", pair.primary, models[0],
             state["expected_version"], root, first.latency_ms or 0)
    return {"expected_version": state["expected_version"], "probe_root": root}


def route_to_primary(estate, pair, settings: Settings, ledger: FaultLedger, run_id: str,
                     home: Path | None = None) -> str:
    """Route the endpoint to the primary as the path needs it; returns where the probe reaches it.

    Automated: health-checked, the secondary as standby (the steering fails over by itself).
    Orchestrated: a plain route that only the rehearsal switches.
    """
    steering = steering_for(pair, home)
    automated = settings.path == "automated"
    if steering.needs_gateway:
        root = f"{_start_gateway(ledger, run_id, home)['url']}/{pair.endpoint}"
    else:
        root = pair.probe_url or steering.probe_root(pair.endpoint)
    armed = ledger.find_open("route_set", pair.endpoint) is not None
    if steering.needs_arming(pair.endpoint, pair.primary, automated=automated, armed=armed):
        models = pair_models(estate, pair)
        entry = ledger.record("route_set", pair.endpoint, {"snapshot": steering.snapshot(pair.endpoint)}, run_id)
        if automated:
            steering.arm_failover(pair, backends(estate, pair.primary, models),
                                  backends(estate, pair.secondary, models))
        else:
            steering.point_to(pair.endpoint, pair.primary, backends(estate, pair.primary, models))
        ledger.mark(entry, APPLIED)
    return root


def _start_gateway(ledger: FaultLedger, run_id: str, home: Path | None) -> dict[str, Any]:
    """The local gateway, started once per rehearsal (a retried task finds it in the ledger)."""
    if ledger.find_open("gateway_started", "local"):
        return start_gateway(home)[0]
    entry = ledger.record("gateway_started", "local", {}, run_id)
    info, started = start_gateway(home)
    if started:
        ledger.mark(entry, APPLIED)
    else:
        ledger.mark(entry, "kept", note="already running")
    return info


def _start_probe(estate, pair, settings: Settings, ledger: FaultLedger, state: dict[str, Any], run_id: str,
                 home: Path | None) -> None:
    """The probe through the endpoint, once per rehearsal (a retried task reuses the running one)."""
    probe_entry = ledger.find_open("probe_started", pair.endpoint)
    if probe_entry is not None and probe_entry["undo"].get("pid"):
        state["probe_file"] = probe_entry["undo"]["file"]
        return
    out = probe_file(pair.id, run_id, home)
    entry_id = probe_entry["id"] if probe_entry else ledger.record(
        "probe_started", pair.endpoint, {"pid": None, "file": str(out)}, run_id)
    regions = {c.id: r.id for r, c in estate.clusters()}
    state["smoke_cases"] = _smoke_cases(estate, pair_models(estate, pair)[0], state["expected_version"])
    pid = start_probe(state["probe_root"], out, PROBE_PAYLOAD, settings.probe_interval_s, regions,
                      smoke_cases=state["smoke_cases"])
    ledger.mark(entry_id, APPLIED, undo={"pid": pid, "file": str(out)})
    state["probe_file"] = str(out)


def estate_snapshot(estate, pair, home: Path | None = None) -> dict[str, Any]:
    """What must be identical before and after a rehearsal (models, routes, storage, write target)."""
    models = pair_models(estate, pair)
    served = {}
    for region_id in (pair.primary, pair.secondary):
        cluster = cluster_of(estate, region_id)
        everything = cluster_driver(estate, cluster).served()
        served[cluster] = {m: {"versions": everything[m]["versions"], "weights": everything[m]["weights"]}
                           for m in models if m in everything}
    return {
        "served": served,
        "route": steering_for(pair, home).route_fingerprint(pair.endpoint),
        "storage": faults.storage_fingerprint(estate.region(pair.primary).storage.url),
        "write_target": write_targets(home).get(pair.id),
    }


def _smoke_cases(estate, model: str, version: str | None) -> list[dict[str, Any]] | None:
    """The model card's smoke cases (instances with their expected answers); None without a card."""
    if version is None:
        return None
    from multicloud.training.artifacts import ArtifactError, read_card

    try:
        return read_card(estate, model, version).get("smoke_cases") or None
    except (ArtifactError, KeyError, OSError) as exc:
        log.warning("no model card for %s %s (%s): answers are checked by version only", model, version, exc)
        return None
