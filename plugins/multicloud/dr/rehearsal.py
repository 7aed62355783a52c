"""The rehearsal's steps, one function per DAG task. Plain Python: the DAG file only wires them.

State a later step needs lives in the run's journal (``dr.journal``); every change to the estate
goes through the fault ledger first, so ``restore`` (the DAG's all_done task) can always put the
estate back, whatever happened before it. The longer steps have their own modules:
``dr.baseline``, ``dr.rehearsal_failover``, ``dr.failback``; undoing is ``dr.undo``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from multicloud.dr import faults
from multicloud.dr.baseline import baseline, estate_snapshot
from multicloud.dr.failback import fail_back
from multicloud.dr.journal import event, load_run, samples, save_run
from multicloud.dr.ledger import APPLIED, FaultLedger
from multicloud.dr.pair import cluster_of, pair_models
from multicloud.dr.preflight import PreflightFailed, check_failover_watcher, run_preflight
from multicloud.dr.rehearsal_failover import failover
from multicloud.dr.scoring import evaluate_stop, first_correct_from, rto_s
from multicloud.dr.settings import Settings
from multicloud.dr.steering import steering_for
from multicloud.dr.undo import KEEP_WHEN_STAYING, StopConditionTripped, abort, check_undo, undo_handlers
from multicloud.dr.watermarks import dataset_watermarks

__all__ = ["Settings", "StopConditionTripped", "baseline", "estate_snapshot", "fail_back", "failover", "inject",
           "load_run", "preflight", "restore", "save_run", "undo_handlers", "verify"]

log = logging.getLogger(__name__)


def preflight(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    pair = estate.dr_pair(settings.pair)
    state = load_run(pair.id, run_id, home)
    state.update(settings=asdict(settings), targets={"rto_s": pair.rto_target_s, "rpo_s": pair.rpo_target_s},
                 slo_availability=pair.slo_availability,
                 primary=pair.primary, secondary=pair.secondary, endpoint=pair.endpoint)
    event(state, "preflight")
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
        event(state, "fault")
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
    if ledger.find_open("health_check_inverted", pair.endpoint):
        return {}
    undo = steering.health_fault(pair.endpoint, pair.primary)
    if undo is None:
        return {}  # the steering's health checks see the real fault themselves
    entry = ledger.record("health_check_inverted", pair.endpoint, undo, run_id)
    steering.inject_health_fault(undo)
    ledger.mark(entry, APPLIED)
    return {"health_check_inverted": undo}


def verify(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    pair = estate.dr_pair(settings.pair)
    state = load_run(pair.id, run_id, home)
    if settings.dry_run:
        ok = first_correct_from(samples(state), pair.primary, state["events"]["baseline"], state["expected_version"])
        return {"dry_run": True, "primary_answers": ok is not None}
    fault_at, failover_at = state["events"]["fault"], state["events"]["failover"]
    while True:
        seen = samples(state)
        now = time.time()
        rto = rto_s(fault_at, seen, pair.secondary, state["expected_version"])
        # The duration is the experiment's (fault to recovery, then the hold), judged on the samples'
        # clock: a verify task that starts late on a busy scheduler does not make a recovery too slow.
        judged_at = now if rto is None else min(now, fault_at + rto + settings.hold_s)
        verdict = evaluate_stop(seen, fault_at=fault_at, now=judged_at, count_errors_after=failover_at,
                                conditions=settings.stop_conditions)
        if verdict.tripped:
            abort(estate, pair, state, verdict.reason, home)
        if rto is not None and now - (fault_at + rto) >= settings.hold_s:
            break
        time.sleep(settings.check_interval_s)
    state["rto_s"] = rto
    event(state, "first_secondary_answer", fault_at + rto)
    save_run(state, home)
    log.info("verify: first correct answer from %s %.3fs after the fault (target %gs); %d errors since failover",
             pair.secondary, rto, pair.rto_target_s, verdict.errors)
    return {"rto_s": rto, "errors_after_failover": verdict.errors}


def restore(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    """Undo every open ledger entry (whatever happened before) and compare the estate with the baseline."""
    pair = estate.dr_pair(settings.pair)
    state = load_run(pair.id, run_id, home)
    staying = (not settings.fail_back and not settings.dry_run and "failover" in state["events"]
               and state.get("outcome") != "aborted")
    ledger = FaultLedger(pair.id, home)
    outcome = ledger.undo_all(undo_handlers(estate, pair, home), keep_kinds=KEEP_WHEN_STAYING if staying else frozenset())
    state["restored"] = [{"kind": e["kind"], "target": e["target"], "state": e["state"]} for e in outcome]
    event(state, "restore")
    if state.get("before") is not None and not staying:
        after = estate_snapshot(estate, pair, home)
        state["after"] = after
        state["as_before"] = {key: after[key] == state["before"][key] for key in after}
    save_run(state, home)
    for entry in outcome:
        log.info("restore: %s %s -> %s", entry["kind"], entry["target"], entry["state"])
    check_undo(outcome)
    if state.get("as_before") and not all(state["as_before"].values()):
        differs = [k for k, same in state["as_before"].items() if not same]
        raise RuntimeError(f"estate differs from before the rehearsal in {differs}: "
                           f"before {[state['before'][k] for k in differs]}, after {[state['after'][k] for k in differs]}")
    return {"restored": len(outcome), "as_before": state.get("as_before")}
