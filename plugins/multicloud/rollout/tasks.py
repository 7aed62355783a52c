"""Airflow adapters behind dags/model_rollout.py: one function per task.

Imported inside tasks only. Each takes what the DAG's task receives from Airflow (its arguments
and the context values it names: ``params``, ``run_id``, ``triggering_asset_events``),
builds the run's ``RolloutSettings`` from the Params, calls ``rollout.run`` and turns decided
refusals into failures without retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from multicloud.dagkit import estate_for, refuse_unknown
from multicloud.rollout import run
from multicloud.rollout.settings import RolloutSettings

DAG_ID = "model_rollout"


def plan(params: Mapping[str, Any], triggering_asset_events: Mapping[Any, Any] | None) -> dict[str, Any]:
    """The rollout plan: models, versions, targets and every stage's lanes; unknown ids fail at once."""
    settings = RolloutSettings.from_params(params)
    estate = estate_for(params)
    refuse_unknown("model", [settings.model] if settings.model else [], [m.id for m in estate.models])
    refuse_unknown("cluster", settings.clusters, [c.id for _, c in estate.clusters()])
    events = triggering_asset_events or {}
    triggered = [(event.asset.uri, dict(event.extra or {})) for key in events for event in events[key]]
    return run.build_plan(estate, settings, triggered)


def lanes(built: Mapping[str, Any], index: int) -> list[list[dict[str, Any]]]:
    """Stage ``index``'s lanes, as a task's own return value: Airflow maps a task only over a
    task's plain return value (not an item of it, not another XCom key)."""
    return built["stages"][index]


def deploy(lane: list[dict[str, Any]], params: Mapping[str, Any], run_id: str) -> list[dict[str, Any]]:
    from airflow.sdk.exceptions import AirflowFailException

    from multicloud.rollout.engine import RolloutFailed

    settings = RolloutSettings.from_params(params)
    try:
        return run.deploy_lane(estate_for(params), lane, settings.strategy, run_id, float(settings.ready_timeout_s))
    except RolloutFailed as exc:
        # The cluster answered: its pods did not become ready (progress deadline exceeded, or
        # not within ready_timeout_s). A retry would re-apply the same spec and wait again
        # before the rollback; retries are for errors reaching the cluster.
        raise AirflowFailException(str(exc)) from exc


def gate(stage: str, stage_lanes: list[list[dict[str, Any]]], params: Mapping[str, Any],
         run_id: str) -> list[dict[str, Any]]:
    return run.gate_stage(estate_for(params), stage, stage_lanes, RolloutSettings.from_params(params), run_id)


def approval_required(params: Mapping[str, Any]) -> bool:
    return RolloutSettings.from_params(params).approval_required


def promote(built: dict[str, Any], params: Mapping[str, Any], run_id: str) -> list[str]:
    return run.promote(estate_for(params), built, run_id)


def rollback(params: Mapping[str, Any], run_id: str) -> list[dict[str, Any]]:
    return run.rollback_if_needed(estate_for(params), run_id)


def summary(built: dict[str, Any] | None, params: Mapping[str, Any], run_id: str) -> None:
    """The run's summary and metrics (``built``: the plan, None when planning failed); fails the run
    when the rollout failed (and was rolled back)."""
    from airflow.sdk.exceptions import AirflowFailException

    from multicloud.metrics import emit
    from multicloud.reports import write_summary

    estate = estate_for(params)
    lines, data, ok = run.summarize(estate, built, run_id)
    write_summary(DAG_ID, run_id, lines, data)
    for line in lines:
        print(line)
    for model_plan in (built or {}).get("plans", []):
        dims = {"model": model_plan["model"], "version": model_plan["version"]}
        emit("rollout.clusters_targeted", len(model_plan["targets"]), dimensions=dims, estate=estate)
        emit("rollout.clusters_excluded", len(model_plan["excluded"]), dimensions=dims, estate=estate)
    emit("rollout.succeeded", int(ok), dimensions={"run_id": run_id}, estate=estate)
    if not ok:
        raise AirflowFailException("rollout failed and was rolled back: " + (lines[0] if lines else ""))
