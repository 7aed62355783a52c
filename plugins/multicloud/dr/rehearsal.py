"""The rehearsal's steps, one function per DAG task. Plain Python: the DAG file only wires them.

State a later step needs lives in a run file under ``{estate_home}/state/dr/runs/`` (written
atomically); every change to the estate goes through the fault ledger first, so ``restore``
(the DAG's all_done task) can always put the estate back, whatever happened before it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from multicloud import paths
from multicloud.dr import faults
from multicloud.dr.failover import backends, cluster_driver, pair_models
from multicloud.dr.gateway import start_gateway, stop_gateway
from multicloud.dr.ledger import APPLIED, UNDO_FAILED, FaultLedger, dr_state_dir
from multicloud.dr.preflight import PreflightFailed, check_failover_watcher, cluster_of, run_preflight, served_version
from multicloud.dr.probe import read_samples, start_probe, stop_probe
from multicloud.dr.scoring import (
    StopConditions,
    consecutive_healthy,
    evaluate_stop,
    first_correct_from,
    rto_s,
)
from multicloud.dr.steering import LocalGatewaySteering, steering_for
from multicloud.dr.watermarks import dataset_watermarks
from multicloud.dr.write_targets import set_write_target, write_targets, write_targets_file  # noqa: F401
from multicloud.reports import atomic_write_text, safe_run_id

log = logging.getLogger(__name__)

SCENARIOS = tuple(faults.SCENARIO_FAULTS)
PATHS = ("automated", "orchestrated")
FAULT_KINDS = frozenset({"servers_stopped", "storage_offline", "health_check_inverted"})
TRAFFIC_KINDS = frozenset({"traffic_switched", "write_target_promoted", "standby_deployed"})
# Staying on the secondary keeps traffic there (and the gateway that carries it) after restore.
KEEP_WHEN_STAYING = TRAFFIC_KINDS | {"route_set", "gateway_started", "artifact_staged"}
BASELINE_TIMEOUT_S = 30.0
FAILBACK_ANSWER_TIMEOUT_S = 30.0
PROBE_PAYLOAD = {"instances": [{"sessions_30d": 12, "spend_30d": 80.0, "support_tickets_90d": 1,
                                "tenure_months": 18}]}


class StopConditionTripped(RuntimeError):
    """A stop condition fired; the primary was restored before this was raised."""


@dataclass(frozen=True)
class Settings:
    pair: str
    scenario: str = "region_outage"
    dry_run: bool = False
    max_errors: int = 50
    max_duration_s: float = 300.0
    stabilisation_checks: int = 3
    fail_back: bool = True
    hold_s: float = 2.0
    probe_interval_s: float = 0.1
    check_interval_s: float = 0.25
    oci_conn_id: str = "oci_default"
    path: str = "automated"  # automated: health-checked steering + dr_failover act; orchestrated: this DAG switches
    dr_failover_wait_s: float = 120.0  # automated: how long to wait for dr_failover's actions (0: do not wait)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Settings:
        known = {k: params[k] for k in cls.__dataclass_fields__ if k in params and params[k] is not None}
        settings = cls(**known)
        if settings.scenario not in SCENARIOS:
            raise ValueError(f"scenario {settings.scenario!r} is not one of {SCENARIOS}")
        if settings.path not in PATHS:
            raise ValueError(f"path {settings.path!r} is not one of {PATHS}")
        if settings.stabilisation_checks < 1:
            raise ValueError("stabilisation_checks must be >= 1")
        StopConditions(int(settings.max_errors), float(settings.max_duration_s))  # validates
        return settings

    @property
    def stop_conditions(self) -> StopConditions:
        return StopConditions(int(self.max_errors), float(self.max_duration_s))


# ---- run state --------------------------------------------------------------------------------
def run_file(pair_id: str, run_id: str, home: Path | None = None) -> Path:
    name = f"{paths.clean_name(pair_id, 'DR pair id')}-{safe_run_id(run_id)}.json"
    return paths.home_path(home, "state", "dr", "runs", name, what="rehearsal journal")


def load_run(pair_id: str, run_id: str, home: Path | None = None) -> dict[str, Any]:
    path = run_file(pair_id, run_id, home)
    return json.loads(path.read_text()) if path.exists() else {"pair": pair_id, "run_id": run_id, "events": {}}


def save_run(state: dict[str, Any], home: Path | None = None) -> None:
    atomic_write_text(run_file(state["pair"], state["run_id"], home), json.dumps(state, indent=2, default=str))


def _event(state: dict[str, Any], name: str, at: float | None = None) -> float:
    state["events"][name] = at if at is not None else time.time()
    return state["events"][name]


# ---- helpers ----------------------------------------------------------------------------------------


def estate_snapshot(estate, pair, home: Path | None = None) -> dict[str, Any]:
    """What must be identical before and after a rehearsal (models, routes, storage, write target)."""
    models = pair_models(estate, pair)
    served = {}
    for region_id in (pair.primary, pair.secondary):
        cluster = cluster_of(estate, region_id)
        everything = cluster_driver(estate, cluster).served()
        served[cluster] = {m: {"versions": everything[m]["versions"], "weights": everything[m]["weights"]}
                           for m in models if m in everything}
    steering = steering_for(pair, home)
    route = steering.snapshot(pair.endpoint) if isinstance(steering, LocalGatewaySteering) else None
    return {
        "served": served,
        "route": route and {"region": route.get("region"), "backends": len(route.get("backends", []))},
        "storage": faults.storage_fingerprint(estate.region(pair.primary).storage.url),
        "write_target": write_targets(home).get(pair.id),
    }


def undo_handlers(estate, pair, home: Path | None = None) -> dict[str, Any]:
    def restore_route(undo: dict[str, Any]) -> None:
        steering, snapshot = steering_for(pair, home), undo["snapshot"]
        if isinstance(steering, LocalGatewaySteering) and snapshot and snapshot.get("region"):
            # Restarted servers listen on new ports: route to the region's replicas as they are now.
            fresh = backends(estate, snapshot["region"], pair_models(estate, pair))
            snapshot = {**snapshot, "backends": fresh or snapshot["backends"]}
        steering.restore(pair.endpoint, snapshot)

    def remove_standby(undo: dict[str, Any]) -> None:
        cluster_driver(estate, undo["cluster"]).remove(undo["model"], undo["version"])

    def scale_standby_back(undo: dict[str, Any]) -> None:
        cluster_driver(estate, undo["cluster"]).scale(undo["model"], undo["version"], undo["replicas"])

    return {
        "servers_stopped": lambda undo: faults.undo_servers_stopped(estate, undo),
        "storage_offline": faults.undo_storage_offline,
        "standby_deployed": remove_standby,
        "standby_scaled": scale_standby_back,
        "traffic_switched": restore_route,
        "route_set": restore_route,
        "write_target_promoted": lambda undo: set_write_target(pair.id, undo["previous"], home),
        "health_check_inverted": lambda undo: steering_for(pair, home).undo_health_fault(undo),
        "probe_started": lambda undo: stop_probe(undo.get("pid"), Path(undo["file"])),
        "gateway_started": lambda _undo: stop_gateway(home),
        "artifact_staged": _unstage,
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


def _samples(state: dict[str, Any]):
    return read_samples(Path(state["probe_file"])) if state.get("probe_file") else []


# ---- the steps ----------------------------------------------------------------------------------------
def preflight(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    pair = estate.dr_pair(settings.pair)
    state = load_run(pair.id, run_id, home)
    state.update(settings=asdict(settings), targets={"rto_s": pair.rto_target_s, "rpo_s": pair.rpo_target_s},
                 slo_availability=pair.slo_availability,
                 primary=pair.primary, secondary=pair.secondary, endpoint=pair.endpoint)
    _event(state, "preflight")
    checks, extra = run_preflight(estate, pair, settings.oci_conn_id)
    if settings.path == "automated" and settings.dr_failover_wait_s > 0 and not settings.dry_run:
        checks.append(check_failover_watcher(home))
    state["preflight"] = [c.as_dict() for c in checks]
    state["preflight_ok"] = all(c.ok for c in checks)
    save_run(state, home)
    for check in checks:
        log.info("preflight %-4s %s: %s", "ok" if check.ok else "FAIL", check.name, check.detail)
    if not state["preflight_ok"]:
        refusal = PreflightFailed(checks)
        state["outcome"] = "not_ready" if refusal.not_ready else "preflight_failed"
        save_run(state, home)
        raise refusal
    return {"ok": True, "checks": len(checks), "pilot_light_stack": pair.pilot_light_stack, **extra}


def baseline(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    pair = estate.dr_pair(settings.pair)
    ledger = FaultLedger(pair.id, home)
    state = load_run(pair.id, run_id, home)
    state["before"] = state.get("before") or estate_snapshot(estate, pair, home)
    models = pair_models(estate, pair)
    primary_served = cluster_driver(estate, cluster_of(estate, pair.primary)).served()
    state["expected_version"] = served_version(primary_served, models[0])
    state["artifacts"] = {m: primary_served[m].get("artifacts", {}) for m in models if m in primary_served}
    _stage_standby_artifacts(estate, pair, ledger, state, run_id)
    steering = steering_for(pair, home)
    if isinstance(steering, LocalGatewaySteering):
        if not ledger.find_open("gateway_started", "local"):
            entry = ledger.record("gateway_started", "local", {}, run_id)
            info, started = start_gateway(home)
            ledger.mark(entry, APPLIED) if started else ledger.mark(entry, "kept", note="already running")
        else:
            info, _ = start_gateway(home)
        root = f"{info['url']}/{pair.endpoint}"
        route = steering.snapshot(pair.endpoint) or {}
        armed = bool(route.get("standby") and route.get("health")) and not route.get("failed_over")
        if route.get("region") != pair.primary or armed != (settings.path == "automated"):
            entry = ledger.record("route_set", pair.endpoint, {"snapshot": steering.snapshot(pair.endpoint)}, run_id)
            if settings.path == "automated":  # health-checked, the secondary as standby: it fails over by itself
                steering.arm_failover(pair, backends(estate, pair.primary, models),
                                      backends(estate, pair.secondary, models))
            else:  # today's orchestrated path: a plain route that only this DAG switches
                steering.point_to(pair.endpoint, pair.primary, backends(estate, pair.primary, models))
            ledger.mark(entry, APPLIED)
    else:
        root = pair.probe_url or steering.probe_root(pair.endpoint)
        if settings.path == "automated" and not ledger.find_open("route_set", pair.endpoint):
            # cloud steering (Route 53 failover records, OCI DNS FAILOVER policy) fails over by itself
            entry = ledger.record("route_set", pair.endpoint, {"snapshot": steering.snapshot(pair.endpoint)}, run_id)
            steering.arm_failover(pair, backends(estate, pair.primary, models),
                                  backends(estate, pair.secondary, models))
            ledger.mark(entry, APPLIED)
    state["probe_root"] = root
    probe_entry = ledger.find_open("probe_started", pair.endpoint)
    if probe_entry is None or not probe_entry["undo"].get("pid"):
        probe_file = dr_state_dir(home) / "runs" / f"{run_file(pair.id, run_id, home).stem}.probe.jsonl"
        entry_id = probe_entry["id"] if probe_entry else ledger.record(
            "probe_started", pair.endpoint, {"pid": None, "file": str(probe_file)}, run_id)
        regions = {c.id: r.id for r, c in estate.clusters()}
        state["smoke_cases"] = _smoke_cases(estate, models[0], state["expected_version"])
        pid = start_probe(root, probe_file, PROBE_PAYLOAD, settings.probe_interval_s, regions,
                          smoke_cases=state["smoke_cases"])
        ledger.mark(entry_id, APPLIED, undo={"pid": pid, "file": str(probe_file)})
        state["probe_file"] = str(probe_file)
    else:
        state["probe_file"] = probe_entry["undo"]["file"]
    started = _event(state, "baseline")
    save_run(state, home)
    deadline = time.monotonic() + BASELINE_TIMEOUT_S
    first = None
    while time.monotonic() < deadline and first is None:
        first = first_correct_from(_samples(state), pair.primary, started, state["expected_version"])
        time.sleep(0.05)
    if first is None:
        raise RuntimeError(f"baseline: no correct answer from the primary {pair.primary} through {root} "
                           f"within {BASELINE_TIMEOUT_S:.0f}s (expected {models[0]} {state['expected_version']})")
    state["baseline_latency_ms"] = first.latency_ms
    save_run(state, home)
    log.info("baseline: %s serves %s %s through %s (%.1f ms)", pair.primary, models[0],
             state["expected_version"], root, first.latency_ms or 0)
    return {"expected_version": state["expected_version"], "probe_root": root}


def inject(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    pair = estate.dr_pair(settings.pair)
    ledger = FaultLedger(pair.id, home)
    state = load_run(pair.id, run_id, home)
    kinds = faults.SCENARIO_FAULTS[settings.scenario]
    if settings.dry_run:
        state["plan"] = [f"{k} on {pair.primary}" for k in kinds]
        save_run(state, home)
        log.info("dry run: would inject %s; nothing changed", state["plan"])
        return {"dry_run": True, "plan": state["plan"]}
    if "fault" not in state["events"]:
        state["watermarks_at_fault"] = {"primary": dataset_watermarks(estate, pair.primary, pair.datasets)}
        _event(state, "fault")
        save_run(state, home)
    applied = {}
    if "servers_stopped" in kinds:
        applied["servers_stopped"] = faults.stop_servers(estate, ledger, cluster_of(estate, pair.primary),
                                                         pair_models(estate, pair), run_id)
    if "storage_offline" in kinds:
        applied["storage_offline"] = faults.take_storage_offline(estate, ledger, pair.primary, run_id)
    applied.update(_health_fault(pair, ledger, run_id, home))
    state["faults"] = applied
    save_run(state, home)
    log.info("fault injected at %.3f: %s", state["events"]["fault"], applied)
    return {"faults": list(applied)}


def _health_fault(pair, ledger: FaultLedger, run_id: str, home: Path | None) -> dict[str, Any]:
    """Cloud health checks that cannot see the fault are told (e.g. Route 53's inverted check)."""
    steering = steering_for(pair, home)
    if isinstance(steering, LocalGatewaySteering) or ledger.find_open("health_check_inverted", pair.endpoint):
        return {}
    undo = steering.health_fault(pair.endpoint, pair.primary)
    if undo is None:
        return {}  # the steering's health checks see the real fault themselves
    entry = ledger.record("health_check_inverted", pair.endpoint, undo, run_id)
    steering.inject_health_fault(undo)
    ledger.mark(entry, APPLIED)
    return {"health_check_inverted": undo}


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
    from multicloud.dr import failover as automated

    steering = steering_for(pair, home)
    deadline = time.monotonic() + settings.max_duration_s
    moved = steering.failed_over(pair.endpoint)
    while moved is None:
        if time.monotonic() > deadline:
            _abort(estate, pair, state, f"the steering did not fail over within {settings.max_duration_s:g}s", home)
        time.sleep(settings.check_interval_s)
        moved = steering.failed_over(pair.endpoint)
    _event(state, "failover", float(moved["at"]))
    state["incident_signal"] = moved.get("incident")
    save_run(state, home)
    log.info("failover: the %s health checks moved %s to %s by themselves (%.2fs after the fault)", steering.name,
             pair.endpoint, moved["to"], float(moved["at"]) - state["events"]["fault"])
    incident = None
    deadline = time.monotonic() + settings.dr_failover_wait_s
    while settings.dr_failover_wait_s > 0 and time.monotonic() < deadline:
        incident = automated.incidents(home).get(moved.get("incident") or "")
        if incident and "write_target_promoted" in incident["events"] and "pilot_light_scaled" in incident["events"]:
            break
        time.sleep(settings.check_interval_s)
    if incident:
        state["dr_failover"] = {"run_id": incident["run_id"], "events": incident["events"]}
        for name, at in incident["events"].items():
            _event(state, f"dr_failover_{name}", at)
    elif settings.dr_failover_wait_s > 0:
        state["dr_failover"] = {"run_id": None, "error": f"dr_failover did not act within "
                                                         f"{settings.dr_failover_wait_s:g}s"}
    state.setdefault("watermarks_at_fault", {})["secondary"] = dataset_watermarks(estate, pair.secondary,
                                                                                pair.datasets)
    save_run(state, home)
    return {"steering": steering.name, "incident": moved.get("incident"), "dr_failover": bool(incident)}


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
                                          _standby_artifact(estate, pair, workload.model, version, state),
                                          runtime=baseline_runtime(estate, secondary)))
            status = driver.wait_ready(workload.model, version, faults.READY_TIMEOUT_S)
            if status.state != "complete":
                raise RuntimeError(f"standby {workload.model} {version} on {secondary} failed: {status.message}")
            _event(state, "standby_ready")
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
    _event(state, "failover")
    save_run(state, home)
    log.info("failover: %s now routes to %s via %s; write target %s", pair.endpoint, pair.secondary,
             steering.name, pair.secondary)
    return {"steering": steering.name}


def _staged_uri(estate, pair, model: str, version: str) -> str:
    return paths.join_within(estate.region(pair.secondary).storage.url, "models", paths.clean_name(model, "model id"),
                             paths.clean_name(version, "model version"), what="staged artifact path")


def _stage_standby_artifacts(estate, pair, ledger: FaultLedger, state: dict[str, Any], run_id: str) -> None:
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
        target = f"{_staged_uri(estate, pair, model, version)}/model.json"
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


def _unstage(undo: dict[str, Any]) -> None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(undo["url"])
    if fs.exists(path):
        fs.rm(path)
    folder = path.rsplit("/", 1)[0]
    for _ in range(3):  # models/<model>/<version>: drop the folders the staging created, if empty
        if fs.exists(folder) and not fs.ls(folder):
            fs.rmdir(folder)
        folder = folder.rsplit("/", 1)[0]


def _standby_artifact(estate, pair, model: str, version: str, state: dict[str, Any]) -> str:
    """The copy staged in the secondary's own storage (the primary's may be down), else the primary's."""
    import fsspec

    staged = _staged_uri(estate, pair, model, version)
    fs, path = fsspec.core.url_to_fs(f"{staged}/model.json")
    return staged if fs.exists(path) else state["artifacts"][model][version]


def _abort(estate, pair, state: dict[str, Any], reason: str, home: Path | None) -> None:
    state["outcome"] = "aborted"
    state["abort_reason"] = reason
    _event(state, "abort")
    save_run(state, home)
    log.error("STOP CONDITION: %s; restoring the primary now", reason)
    FaultLedger(pair.id, home).undo_all(undo_handlers(estate, pair, home), only_kinds=FAULT_KINDS | TRAFFIC_KINDS)
    _event(state, "primary_restored")
    save_run(state, home)
    raise StopConditionTripped(reason)


def verify(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    pair = estate.dr_pair(settings.pair)
    state = load_run(pair.id, run_id, home)
    if settings.dry_run:
        ok = first_correct_from(_samples(state), pair.primary, state["events"]["baseline"], state["expected_version"])
        return {"dry_run": True, "primary_answers": ok is not None}
    fault_at, failover_at = state["events"]["fault"], state["events"]["failover"]
    while True:
        samples = _samples(state)
        now = time.time()
        rto = rto_s(fault_at, samples, pair.secondary, state["expected_version"])
        # The duration is the experiment's (fault to recovery, then the hold), judged on the samples'
        # clock: a verify task that starts late on a busy scheduler does not make a recovery too slow.
        judged_at = now if rto is None else min(now, fault_at + rto + settings.hold_s)
        verdict = evaluate_stop(samples, fault_at=fault_at, now=judged_at, count_errors_after=failover_at,
                                conditions=settings.stop_conditions)
        if verdict.tripped:
            _abort(estate, pair, state, verdict.reason, home)
        if rto is not None and now - (fault_at + rto) >= settings.hold_s:
            break
        time.sleep(settings.check_interval_s)
    state["rto_s"] = rto
    _event(state, "first_secondary_answer", fault_at + rto)
    save_run(state, home)
    log.info("verify: first correct answer from %s %.3fs after the fault (target %gs); %d errors since failover",
             pair.secondary, rto, pair.rto_target_s, verdict.errors)
    return {"rto_s": rto, "errors_after_failover": verdict.errors}


def fail_back(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    pair = estate.dr_pair(settings.pair)
    state = load_run(pair.id, run_id, home)
    if settings.dry_run or not settings.fail_back:
        log.info("fail back skipped (%s)", "dry run" if settings.dry_run else "fail_back=false: staying on "
                 + pair.secondary)
        return {"skipped": True}
    ledger = FaultLedger(pair.id, home)
    handlers = undo_handlers(estate, pair, home)
    _check_undo(ledger.undo_all(handlers, only_kinds=FAULT_KINDS))
    _event(state, "primary_restored")
    save_run(state, home)
    primary_cluster = cluster_of(estate, pair.primary)
    driver = cluster_driver(estate, primary_cluster)
    versions = [(m, served_version(driver.served(), m)) for m in pair_models(estate, pair)]
    checks: list[bool] = []
    deadline = time.monotonic() + settings.max_duration_s
    while consecutive_healthy(checks) < settings.stabilisation_checks:
        if time.monotonic() > deadline:
            raise RuntimeError(f"primary {primary_cluster} not healthy for {settings.stabilisation_checks} checks "
                               f"within {settings.max_duration_s:g}s; traffic stays on {pair.secondary}")
        checks.append(all(v and driver.status(m, v).state == "complete" for m, v in versions))
        time.sleep(settings.check_interval_s)
    state["stabilisation"] = {"checks": len(checks), "needed": settings.stabilisation_checks}
    if settings.path == "automated" and (state.get("dr_failover") or {}).get("run_id"):
        failback_at = _await_automated_fail_back(estate, pair, settings, state, home)
    else:
        failback_at = _event(state, "failback")
        _check_undo(ledger.undo_all(handlers, only_kinds=TRAFFIC_KINDS))
        if settings.path == "automated":  # no dr_failover ran: re-arm the route on the primary ourselves
            steering = steering_for(pair, home)
            if isinstance(steering, LocalGatewaySteering) and (steering.snapshot(pair.endpoint) or {}).get(
                    "failed_over"):
                steering.fail_back(pair.endpoint, pair.primary, backends(estate, pair.primary, pair_models(estate, pair)))
    save_run(state, home)
    deadline = time.monotonic() + FAILBACK_ANSWER_TIMEOUT_S
    back = None
    while back is None and time.monotonic() < deadline:
        back = first_correct_from(_samples(state), pair.primary, failback_at, state["expected_version"])
        time.sleep(0.05)
    if back is None:
        raise RuntimeError(f"after fail back no correct answer from {pair.primary} within {FAILBACK_ANSWER_TIMEOUT_S:.0f}s")
    _event(state, "primary_answers", back.t)
    save_run(state, home)
    log.info("fail back: %s healthy for %d checks, traffic back at %.3f, first answer %.3fs later", pair.primary,
             settings.stabilisation_checks, failback_at, back.t - failback_at)
    return {"failback_s": round(back.t - failback_at, 3)}


def _await_automated_fail_back(estate, pair, settings: Settings, state: dict[str, Any], home: Path | None) -> float:
    """dr_failover fails back after its own healthy checks and window: observe it, change nothing."""
    from multicloud.dr import failover as automated

    incident_id = state.get("incident_signal") or ""
    deadline = time.monotonic() + pair.fail_back.stabilisation_s + settings.max_duration_s
    while time.monotonic() < deadline:
        incident = automated.incidents(home).get(incident_id) or {}
        if "failed_back" in incident.get("events", {}):
            state["dr_failover"]["events"] = incident["events"]
            return _event(state, "failback", incident["events"]["failed_back"])
        time.sleep(settings.check_interval_s)
    raise RuntimeError(f"dr_failover did not fail {pair.endpoint} back within "
                       f"{pair.fail_back.stabilisation_s + settings.max_duration_s:g}s of the primary's repair")


def _check_undo(outcome: list[dict[str, Any]]) -> None:
    failed = [f"{e['kind']} {e['target']}: {e.get('error')}" for e in outcome if e["state"] == UNDO_FAILED]
    if failed:
        raise RuntimeError("undo failed (left open in the ledger for the next restore): " + "; ".join(failed))


def restore(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    """Undo every open ledger entry (whatever happened before) and compare the estate with the baseline."""
    pair = estate.dr_pair(settings.pair)
    state = load_run(pair.id, run_id, home)
    staying = (not settings.fail_back and not settings.dry_run and "failover" in state["events"]
               and state.get("outcome") != "aborted")
    ledger = FaultLedger(pair.id, home)
    outcome = ledger.undo_all(undo_handlers(estate, pair, home), keep_kinds=KEEP_WHEN_STAYING if staying else frozenset())
    state["restored"] = [{"kind": e["kind"], "target": e["target"], "state": e["state"]} for e in outcome]
    _event(state, "restore")
    if state.get("before") is not None and not staying:
        after = estate_snapshot(estate, pair, home)
        state["after"] = after
        state["as_before"] = {key: after[key] == state["before"][key] for key in after}
    save_run(state, home)
    for entry in outcome:
        log.info("restore: %s %s -> %s", entry["kind"], entry["target"], entry["state"])
    _check_undo(outcome)
    if state.get("as_before") and not all(state["as_before"].values()):
        differs = [k for k, same in state["as_before"].items() if not same]
        raise RuntimeError(f"estate differs from before the rehearsal in {differs}: "
                           f"before {[state['before'][k] for k in differs]}, after {[state['after'][k] for k in differs]}")
    return {"restored": len(outcome), "as_before": state.get("as_before")}
