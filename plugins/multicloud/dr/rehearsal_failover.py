"""The rehearsal's failover, one function per path.

Automated: change nothing; wait for the health-checked steering to move the endpoint and for
dr_failover's actions. Orchestrated: deploy the standby and switch traffic and writes here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from multicloud.dr import faults
from multicloud.dr.journal import event, load_run, save_run
from multicloud.dr.ledger import APPLIED, FaultLedger
from multicloud.dr.pair import backends, cluster_driver, cluster_of, pair_models, served_version
from multicloud.dr.settings import Settings
from multicloud.dr.standby import standby_artifact
from multicloud.dr.steering import steering_for
from multicloud.dr.undo import abort
from multicloud.dr.watermarks import dataset_watermarks
from multicloud.dr.write_targets import set_write_target, write_targets
from multicloud.waiting import wait_until

log = logging.getLogger(__name__)


def failover(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    if settings.path == "automated":
        return observe_failover(estate, settings, run_id, home)
    return orchestrated_failover(estate, settings, run_id, home)


def observe_failover(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    """Automated path: change nothing; wait for the steering to fail over and for dr_failover's actions."""
    pair = estate.dr_pair(settings.pair)
    state = load_run(pair.id, run_id, home)
    if settings.dry_run:
        log.info("dry run: the steering would fail %s over to %s by itself", pair.endpoint, pair.secondary)
        return {"dry_run": True}
    steering = steering_for(pair, home)
    moved = wait_until(lambda: steering.failed_over(pair.endpoint), settings.max_duration_s,
                       interval_s=settings.check_interval_s)
    if moved is None:
        abort(estate, pair, state, f"the steering did not fail over within {settings.max_duration_s:g}s", home)
    event(state, "failover", float(moved["at"]))
    state["incident_signal"] = moved.get("incident")
    save_run(state, home)
    log.info("failover: the %s health checks moved %s to %s by themselves (%.2fs after the fault)", steering.name,
             pair.endpoint, moved["to"], float(moved["at"]) - state["events"]["fault"])
    incident = _await_dr_failover(moved.get("incident") or "", settings, home)
    if incident:
        state["dr_failover"] = {"run_id": incident["run_id"], "events": incident["events"]}
        for name, at in incident["events"].items():
            event(state, f"dr_failover_{name}", at)
    elif settings.dr_failover_wait_s > 0:
        state["dr_failover"] = {"run_id": None, "error": f"dr_failover did not act within "
                                                         f"{settings.dr_failover_wait_s:g}s"}
    state.setdefault("watermarks_at_fault", {})["secondary"] = dataset_watermarks(estate, pair.secondary,
                                                                                pair.datasets)
    save_run(state, home)
    return {"steering": steering.name, "incident": moved.get("incident"), "dr_failover": bool(incident)}


def _await_dr_failover(incident_id: str, settings: Settings, home: Path | None) -> dict[str, Any] | None:
    """dr_failover's incident once it promoted the write target and scaled the pilot light (as far
    as it got when the wait ends; None without a wait or an incident)."""
    from multicloud.dr import failover as automated

    seen: list[dict[str, Any] | None] = [None]

    def acted() -> bool:
        seen.append(automated.incidents(home).get(incident_id))
        events = (seen[-1] or {}).get("events", {})
        return "write_target_promoted" in events and "pilot_light_scaled" in events

    if settings.dr_failover_wait_s > 0:
        wait_until(acted, settings.dr_failover_wait_s, interval_s=settings.check_interval_s)
    return seen[-1]


def orchestrated_failover(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    """Today's orchestrated path: this task deploys the standby and switches traffic itself."""
    pair = estate.dr_pair(settings.pair)
    ledger = FaultLedger(pair.id, home)
    state = load_run(pair.id, run_id, home)
    if settings.dry_run:
        log.info("dry run: would switch %s to %s", pair.endpoint, pair.secondary)
        return {"dry_run": True}
    from multicloud.drivers import ModelDeployment
    from multicloud.placement import current_placement
    from multicloud.rollout.baseline import baseline_runtime

    secondary = cluster_of(estate, pair.secondary)
    driver = cluster_driver(estate, secondary)
    served = driver.served()
    placement = current_placement(estate, home)
    for workload_id in pair.workloads:
        workload = estate.workload(workload_id)
        version = state["expected_version"] if workload.model == pair_models(estate, pair)[0] else None
        version = version or next(iter(state["artifacts"].get(workload.model, {})), None)
        if served_version(served, workload.model) is None and version:
            replicas = max(1, placement.get(workload_id, {}).get(cluster_of(estate, pair.primary), 1))
            if not ledger.find_open("standby_deployed", f"{secondary}/{workload.model}"):
                ledger.record("standby_deployed", f"{secondary}/{workload.model}",
                              {"cluster": secondary, "model": workload.model, "version": version}, run_id)
            driver.deploy(ModelDeployment(workload.model, version, replicas,
                                          standby_artifact(estate, pair, workload.model, version, state),
                                          runtime=baseline_runtime(estate, secondary)))
            status = driver.wait_ready(workload.model, version, faults.READY_TIMEOUT_S)
            if status.state != "complete":
                raise RuntimeError(f"standby {workload.model} {version} on {secondary} failed: {status.message}")
            event(state, "standby_ready")
            log.info("pilot light: deployed %s %s x%d on %s", workload.model, version, replicas, secondary)
    steering = steering_for(pair, home)
    if not ledger.find_open("traffic_switched", pair.endpoint):
        entry = ledger.record("traffic_switched", pair.endpoint, {"snapshot": steering.snapshot(pair.endpoint)},
                              run_id)
    else:
        entry = ledger.find_open("traffic_switched", pair.endpoint)["id"]
    steering.point_to(pair.endpoint, pair.secondary, backends(estate, pair.secondary, pair_models(estate, pair)))
    ledger.mark(entry, APPLIED)
    if not ledger.find_open("write_target_promoted", pair.id):
        entry = ledger.record("write_target_promoted", pair.id, {"previous": write_targets(home).get(pair.id)}, run_id)
        set_write_target(pair.id, dict.fromkeys(pair.datasets, pair.secondary), home)
        ledger.mark(entry, APPLIED)
    state.setdefault("watermarks_at_fault", {})["secondary"] = dataset_watermarks(estate, pair.secondary,
                                                                                pair.datasets)
    event(state, "failover")
    save_run(state, home)
    log.info("failover: %s now routes to %s via %s; write target %s", pair.endpoint, pair.secondary,
             steering.name, pair.secondary)
    return {"steering": steering.name}
