"""The rehearsal's fail back: the faults undone, the primary healthy for its checks, traffic back
on it (by dr_failover on the automated path, here otherwise) and its first correct answer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from multicloud.dr.journal import event, load_run, samples, save_run
from multicloud.dr.ledger import FaultLedger
from multicloud.dr.pair import backends, cluster_driver, cluster_of, pair_models, served_version
from multicloud.dr.scoring import consecutive_healthy, first_correct_from
from multicloud.dr.settings import Settings
from multicloud.dr.steering import steering_for
from multicloud.dr.undo import FAULT_KINDS, TRAFFIC_KINDS, check_undo, undo_handlers
from multicloud.waiting import wait_until

log = logging.getLogger(__name__)

FAILBACK_ANSWER_TIMEOUT_S = 30.0


def fail_back(estate, settings: Settings, run_id: str, home: Path | None = None) -> dict[str, Any]:
    pair = estate.dr_pair(settings.pair)
    state = load_run(pair.id, run_id, home)
    if settings.dry_run or not settings.fail_back:
        log.info("fail back skipped (%s)", "dry run" if settings.dry_run else "fail_back=false: staying on "
                 + pair.secondary)
        return {"skipped": True}
    ledger = FaultLedger(pair.id, home)
    handlers = undo_handlers(estate, pair, home)
    check_undo(ledger.undo_all(handlers, only_kinds=FAULT_KINDS))
    event(state, "primary_restored")
    save_run(state, home)
    state["stabilisation"] = _await_healthy_primary(estate, pair, settings)
    if settings.path == "automated" and (state.get("dr_failover") or {}).get("run_id"):
        failback_at = _await_automated_fail_back(pair, settings, state, home)
    else:
        failback_at = event(state, "failback")
        check_undo(ledger.undo_all(handlers, only_kinds=TRAFFIC_KINDS))
        if settings.path == "automated":  # no dr_failover ran: re-arm the route on the primary ourselves
            _re_arm(estate, pair, home)
    save_run(state, home)
    back = wait_until(lambda: first_correct_from(samples(state), pair.primary, failback_at, state["expected_version"]),
                      FAILBACK_ANSWER_TIMEOUT_S)
    if back is None:
        raise RuntimeError(f"after fail back no correct answer from {pair.primary} within {FAILBACK_ANSWER_TIMEOUT_S:.0f}s")
    event(state, "primary_answers", back.t)
    save_run(state, home)
    log.info("fail back: %s healthy for %d checks, traffic back at %.3f, first answer %.3fs later", pair.primary,
             settings.stabilisation_checks, failback_at, back.t - failback_at)
    return {"failback_s": round(back.t - failback_at, 3)}


def _await_healthy_primary(estate, pair, settings: Settings) -> dict[str, int]:
    """Every model of the pair complete on the primary for ``stabilisation_checks`` checks in a row."""
    primary_cluster = cluster_of(estate, pair.primary)
    driver = cluster_driver(estate, primary_cluster)
    versions = [(m, served_version(driver.served(), m)) for m in pair_models(estate, pair)]
    checks: list[bool] = []

    def stable() -> bool:
        checks.append(all(v and driver.status(m, v).state == "complete" for m, v in versions))
        return consecutive_healthy(checks) >= settings.stabilisation_checks

    if not wait_until(stable, settings.max_duration_s, interval_s=settings.check_interval_s):
        raise RuntimeError(f"primary {primary_cluster} not healthy for {settings.stabilisation_checks} checks "
                           f"within {settings.max_duration_s:g}s; traffic stays on {pair.secondary}")
    return {"checks": len(checks), "needed": settings.stabilisation_checks}


def _re_arm(estate, pair, home: Path | None) -> None:
    """Steering whose failover stays put (the gateway's) goes back to the primary and re-arms."""
    steering = steering_for(pair, home)
    if not steering.fails_back_by_itself and steering.failed_over(pair.endpoint):
        steering.fail_back(pair.endpoint, pair.primary, backends(estate, pair.primary, pair_models(estate, pair)))


def _await_automated_fail_back(pair, settings: Settings, state: dict[str, Any], home: Path | None) -> float:
    """dr_failover fails back after its own healthy checks and window: observe it, change nothing."""
    from multicloud.dr import failover as automated

    incident_id = state.get("incident_signal") or ""
    timeout_s = pair.fail_back.stabilisation_s + settings.max_duration_s

    def failed_back() -> dict[str, Any] | None:
        incident = automated.incidents(home).get(incident_id) or {}
        return incident if "failed_back" in incident.get("events", {}) else None

    incident = wait_until(failed_back, timeout_s, interval_s=settings.check_interval_s)
    if incident is None:
        raise RuntimeError(f"dr_failover did not fail {pair.endpoint} back within {timeout_s:g}s of the primary's repair")
    state["dr_failover"]["events"] = incident["events"]
    return event(state, "failback", incident["events"]["failed_back"])
