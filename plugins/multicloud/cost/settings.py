"""cost_rebalance's settings: its trigger form, declared once (see ``multicloud.settings``)."""

from __future__ import annotations

from dataclasses import dataclass

from multicloud.settings import DagSettings, form

CLOUDS = ["oci", "aws", "azure", "gcp", "onprem"]


@dataclass(frozen=True)
class CostSettings(DagSettings):
    dry_run: bool = form(False, "Plan and report only; change nothing", type="boolean")
    min_savings_pct: float = form(5.0, "Apply only when the plan saves at least this % of monthly cost",
                                  type="number", minimum=0, maximum=100)
    max_moves: int = form(5, "Most replica moves in one run", type="integer", minimum=0, maximum=100)
    clouds: list[str] = form([], "Clouds to include (oci, aws, azure, gcp, onprem); empty: all",
                             type=["null", "array"], items={"type": "string", "enum": CLOUDS}, uniqueItems=True)
    approval_required: bool = form(False, "Wait for a human approval before applying", type="boolean")
    time_limit_s: float = form(10.0, "Optimiser time limit (s)", type="number", minimum=0.1, maximum=600)
    estate_file: str = form("", "Estate file; empty: the configured estate", type=["null", "string"])
    calibrate: bool = form(True, "Use the collected bills to calibrate prices", type="boolean")
