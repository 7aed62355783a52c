"""Airflow adapters behind dags/estate_governance.py: one function per task.

Imported inside tasks only. Each takes what the DAG's task receives from Airflow (its arguments
and the context values it names: ``params``, ``run_id``), builds the run's ``GovernanceSettings``
from the Params, calls the governance modules, and turns decided refusals into failures without
retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from multicloud.dagkit import estate_for, mapped_results, refuse_unknown
from multicloud.governance.settings import GovernanceSettings


def regions_to_audit(params: Mapping[str, Any]) -> list[str]:
    """The regions asked for, else every region; unknown ids fail at once, naming the estate's."""
    known = [r.id for r in estate_for(params).regions]
    chosen = GovernanceSettings.from_params(params).regions or known
    refuse_unknown("region", chosen, known)
    return chosen


def audit_region(region_id: str, params: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    from multicloud.governance.audit import audit_estate, log_findings

    estate = estate_for(params)
    result = audit_estate(estate, regions=[region_id], strict=GovernanceSettings.from_params(params).strict)
    log_findings(estate, result, run_id)
    return result.as_dict()


def collect_state(params: Mapping[str, Any]) -> dict[str, Any]:
    from multicloud.governance.collect import collect

    return collect(estate_for(params))


def publish(audits: Any, collected: dict[str, Any], params: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException

    from multicloud.governance.publish import ResidencyUnverified, publish_report

    settings = GovernanceSettings.from_params(params)
    try:
        return publish_report(mapped_results(audits), collected, estate_for(params), run_id,
                              alert_on_violation=settings.alert_on_violation,
                              complete_when_unverified=settings.complete_when_unverified)
    except ResidencyUnverified as exc:
        # decided: a retry of publish re-reads the same audits and can only fail again (10 s later)
        raise AirflowFailException(str(exc)) from exc
