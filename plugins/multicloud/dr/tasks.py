"""Airflow adapters behind dags/dr_rehearsal.py and dags/dr_failover.py: one function per task.

Imported inside tasks only. Each takes what the DAG's task receives from Airflow (its arguments
and the context values it names: ``params``, ``run_id``, ``triggering_asset_events``), builds the
run's settings from the Params (``dr.settings``), calls ``dr.rehearsal`` / ``dr.failover``, and
turns expected refusals into failures without retries (or skips, for a rehearsal that finds
nothing to rehearse yet).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from multicloud import paths
from multicloud.dagkit import estate_for
from multicloud.dr.settings import FailoverSettings, Settings

log = logging.getLogger("airflow.task")
NOT_READY = "not ready to rehearse (see preflight): nothing to do"

# --- dr_rehearsal -------------------------------------------------------------------------------


def _rehearsal_state(params: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """This run's rehearsal state. A pair the estate does not know (a typo in the trigger form)
    fails here, before anything is published: such a run never becomes "the last rehearsal"."""
    from airflow.sdk.exceptions import AirflowFailException

    from multicloud.dr import rehearsal

    settings = Settings.from_params(params)
    known = [p.id for p in estate_for(params).dr_pairs]
    if settings.pair not in known:
        raise AirflowFailException(f"unknown DR pair {settings.pair!r}; the estate has {known}. Nothing published.")
    return rehearsal.load_run(settings.pair, run_id, paths.estate_home())


def _step(step: Callable[..., dict[str, Any]], params: Mapping[str, Any], run_id: str, *,
          first: bool = False) -> dict[str, Any]:
    """Run one rehearsal step; expected refusals fail the task without retries.

    A preflight that finds nothing to rehearse yet (the primary serves no model, as on a fresh
    estate before the first rollout) skips the run instead: every later step is skipped and
    nothing is published as "the last rehearsal"."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from multicloud.dr import rehearsal
    from multicloud.dr.preflight import PreflightFailed

    if not first and _rehearsal_state(params, run_id).get("outcome") == "not_ready":
        raise AirflowSkipException(NOT_READY)
    try:
        return step(estate_for(params), Settings.from_params(params), run_id, paths.estate_home())
    except PreflightFailed as exc:
        if exc.not_ready:
            raise AirflowSkipException(f"not ready to rehearse: {exc}") from exc
        raise AirflowFailException(str(exc)) from exc
    except (rehearsal.StopConditionTripped, ValueError, KeyError) as exc:
        raise AirflowFailException(str(exc)) from exc


def preflight(params: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    from multicloud.dr import rehearsal

    return _step(rehearsal.preflight, params, run_id, first=True)


def baseline(params: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    from multicloud.dr import rehearsal

    return _step(rehearsal.baseline, params, run_id)


def inject_fault(params: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    from multicloud.dr import rehearsal

    return _step(rehearsal.inject, params, run_id)


def fail_over(params: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    from multicloud.dr import rehearsal

    return _step(rehearsal.failover, params, run_id)


def verify(params: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    from multicloud.dr import rehearsal

    return _step(rehearsal.verify, params, run_id)


def fail_back(params: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    from multicloud.dr import rehearsal

    return _step(rehearsal.fail_back, params, run_id)


def restore(params: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    from multicloud.dr import rehearsal

    return _step(rehearsal.restore, params, run_id)


def report(params: Mapping[str, Any], run_id: str) -> list[str]:
    """Publish the rehearsal's report; fails the run unless it passed (or was a dry run)."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from multicloud.dr.probe import read_samples
    from multicloud.dr.report import publish

    state = _rehearsal_state(params, run_id)
    if state.get("outcome") == "not_ready":
        raise AirflowSkipException("not ready to rehearse (see preflight); nothing published")
    samples = read_samples(Path(state["probe_file"])) if state.get("probe_file") else []
    result = publish(estate_for(params), state, samples, paths.estate_home())
    for line in result["headline"]:
        log.info("%s", line)
    if result["outcome"] not in ("passed", "dry_run"):
        raise AirflowFailException(f"rehearsal {result['outcome']}: " + " | ".join(result["headline"][:3]))
    return result["headline"]


# --- dr_failover --------------------------------------------------------------------------------


def open_incident(params: Mapping[str, Any], run_id: str,
                  triggering_asset_events: Mapping[Any, Any] | None) -> dict[str, Any] | bool:
    """The incident of the first new failover signal (False: every signal is a repeat)."""
    from multicloud.dr import failover

    settings = FailoverSettings.from_params(params)
    signals = [event.extra.get("payload") or {} for events in (triggering_asset_events or {}).values()
               for event in events]
    if not signals and settings.pair:
        signals = [{"pair": settings.pair, "incident": f"manual:{run_id}"}]
    if not signals:
        raise ValueError("dr_failover needs a health signal (asset event) or params.pair")
    estate = estate_for(params)
    for signal in signals:
        incident = failover.open_incident(estate, signal, paths.estate_home(), run_id)
        if incident:
            pair = estate.dr_pair(incident["pair"])
            return {**incident, "pilot_light_stack": pair.pilot_light_stack or "",
                    "approval": pair.fail_back.approval}
    return False  # every signal is a repeat: nothing to do


def page(incident: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    from multicloud.dr import failover

    return failover.page(estate_for(params), incident, paths.estate_home())


def promote_write_target(incident: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    from multicloud.dr import failover

    return failover.promote_write_target(estate_for(params), incident, paths.estate_home())


def scale_pilot_light(incident: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    from multicloud.dr import failover

    return failover.scale_pilot_light(estate_for(params), incident, paths.estate_home())


def primary_stable(incident: dict[str, Any], params: Mapping[str, Any]) -> bool:
    from multicloud.dr import failover

    return failover.primary_stable(estate_for(params), incident, paths.estate_home())


def fail_back_incident(incident: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    from multicloud.dr import failover

    return failover.fail_back(estate_for(params), incident, paths.estate_home())
