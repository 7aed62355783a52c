"""Undoing a DR pair's fault-ledger entries: how for each kind, which kinds when, and a stop condition's abort."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from multicloud.dr import faults
from multicloud.dr.gateway import stop_gateway
from multicloud.dr.journal import event, save_run
from multicloud.dr.ledger import UNDO_FAILED, FaultLedger
from multicloud.dr.pair import backends, cluster_driver, pair_models
from multicloud.dr.probe import stop_probe
from multicloud.dr.standby import unstage
from multicloud.dr.steering import steering_for
from multicloud.dr.write_targets import set_write_target

log = logging.getLogger(__name__)


FAULT_KINDS = frozenset({"servers_stopped", "storage_offline", "health_check_inverted"})
TRAFFIC_KINDS = frozenset({"traffic_switched", "write_target_promoted", "standby_deployed"})
# Staying on the secondary keeps traffic there (and the gateway that carries it) after restore.
KEEP_WHEN_STAYING = TRAFFIC_KINDS | {"route_set", "gateway_started", "artifact_staged"}


class StopConditionTripped(RuntimeError):
    """A stop condition fired; the primary was restored before this was raised."""


def undo_handlers(estate, pair, home: Path | None = None) -> dict[str, Any]:
    def restore_route(undo: dict[str, Any]) -> None:
        steering = steering_for(pair, home)
        snapshot = steering.current_snapshot(undo["snapshot"],
                                             lambda region: backends(estate, region, pair_models(estate, pair)))
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
        "artifact_staged": unstage,
    }


def check_undo(outcome: list[dict[str, Any]]) -> None:
    failed = [f"{e['kind']} {e['target']}: {e.get('error')}" for e in outcome if e["state"] == UNDO_FAILED]
    if failed:
        raise RuntimeError("undo failed (left open in the ledger for the next restore): " + "; ".join(failed))


def abort(estate, pair, state: dict[str, Any], reason: str, home: Path | None) -> None:
    state["outcome"] = "aborted"
    state["abort_reason"] = reason
    event(state, "abort")
    save_run(state, home)
    log.error("STOP CONDITION: %s; restoring the primary now", reason)
    FaultLedger(pair.id, home).undo_all(undo_handlers(estate, pair, home), only_kinds=FAULT_KINDS | TRAFFIC_KINDS)
    event(state, "primary_restored")
    save_run(state, home)
    raise StopConditionTripped(reason)
