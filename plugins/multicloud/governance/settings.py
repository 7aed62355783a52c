"""estate_governance's settings: its trigger form, declared once (see ``multicloud.settings``)."""

from __future__ import annotations

from dataclasses import dataclass

from multicloud.settings import DagSettings, form


@dataclass(frozen=True)
class GovernanceSettings(DagSettings):
    regions: list[str] = form([], "region ids to audit (empty: every region of the estate)",
                              type=["null", "array"], items={"type": "string"})
    strict: bool = form(False, "count objects under no dataset/model prefix as violations (unknown class)",
                        type="boolean")
    alert_on_violation: bool = form(True, "raise a residency_violation alert", type="boolean")
    complete_when_unverified: bool = form(
        False, "let the run complete (red) when a region cannot be audited; by default it fails", type="boolean")
    estate_file: str = form("", "estate YAML (default: Variable/env/local)", type=["null", "string"])
