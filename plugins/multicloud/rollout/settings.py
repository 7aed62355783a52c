"""model_rollout's settings: its trigger form, declared once (see ``multicloud.settings``)."""

from __future__ import annotations

from dataclasses import dataclass

from multicloud.settings import DagSettings, form
from multicloud.training.settings import VERSION_PATTERN

# The rollout's shape, here and not in the planner (which imports them): the DAG file reads them at
# every parse, and the planner's imports (the residency engine) are not for parse time.
STRATEGIES = ("canary", "rolling", "blue_green")
STAGES = ("canary", "wave_1", "wave_2", "wave_3")


@dataclass(frozen=True)
class RolloutSettings(DagSettings):
    model: str = form("", "Model id from the estate; empty: from the triggering asset, else every model",
                      type=["null", "string"], pattern=r"^$|^[a-z0-9][a-z0-9-]*$")
    version: str = form("", "Version (no '/' or '..'); empty: from the asset event, else the latest",
                        type=["null", "string"], pattern=VERSION_PATTERN, maxLength=64)
    clusters: list[str] = form([], "Candidate clusters; empty: every cluster of the estate",
                               type=["null", "array"], items={"type": "string"})
    strategy: str = form("canary", "canary (10% during gates), blue_green (0% until promotion), rolling (100%)",
                         enum=list(STRATEGIES))
    max_parallel: int = form(4, "Clusters deployed at once", type="integer", minimum=1, maximum=64)
    gate_checks: int = form(2, "Checks per gate (Flagger iterations)", type="integer", minimum=1, maximum=100)
    gate_interval_s: float = form(0.5, "Seconds between checks", type="number", minimum=0, maximum=3600)
    gate_max_failed_checks: int = form(1, "Failed checks before rollback", type="integer", minimum=1, maximum=100)
    gate_success_rate: float | None = form(None, "Least success rate in (0, 1]; empty: the model's SLO",
                                           type=["null", "number"], exclusiveMinimum=0, maximum=1)
    gate_p95_ms: float | None = form(None, "Highest p95 latency in ms (> 0); empty: the model's SLO p95",
                                     type=["null", "number"], exclusiveMinimum=0)
    ready_timeout_s: int = form(60, "Seconds a deploy may take to become ready", type="integer", minimum=1,
                                maximum=3600)
    dry_run: bool = form(False, "Plan and report only", type="boolean")
    approval_required: bool = form(False, "A human approves after the canary", type="boolean")
    estate_file: str = form("", "Estate file; empty: the configured estate", type=["null", "string"])
