"""A DR rehearsal's settings, from the DAG's Params (validated here, once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from multicloud.dr.faults import SCENARIO_FAULTS
from multicloud.dr.scoring import StopConditions

SCENARIOS = tuple(SCENARIO_FAULTS)
PATHS = ("automated", "orchestrated")


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
