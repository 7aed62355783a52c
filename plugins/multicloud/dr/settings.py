"""A DR rehearsal's settings (dr_rehearsal's trigger form, declared once), and dr_failover's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from multicloud.settings import DagSettings, form

if TYPE_CHECKING:  # imported where used: dr_rehearsal's file imports these settings at every parse
    from multicloud.dr.scoring import StopConditions

# What can fail at the primary (dr.faults.SCENARIO_FAULTS says which faults each one injects).
SCENARIOS = ("region_outage", "cluster_loss", "storage_loss")
PATHS = ("automated", "orchestrated")


@dataclass(frozen=True)
class Settings(DagSettings):
    """dr_rehearsal's settings; the ``form`` fields are its trigger form (see ``multicloud.settings``)."""

    pair: str = form("eu-churn", "DR pair id from the estate (an unknown id fails preflight, publishes nothing)",
                     type="string", pattern=r"^[a-z0-9][a-z0-9-]*$")
    scenario: str = form("region_outage", "what fails at the primary", enum=list(SCENARIOS))
    dry_run: bool = form(False, "preflight and baseline only; inject nothing", type="boolean")
    max_errors: int = form(50, "stop: failed probes after failover", type="integer", minimum=0, maximum=100000)
    max_duration_s: float = form(300, "stop: seconds since the fault", type="number", exclusiveMinimum=0,
                                 maximum=3600)
    stabilisation_checks: int = form(3, "healthy checks of the primary before traffic returns", type="integer",
                                     minimum=1, maximum=100)
    fail_back: bool = form(True, "return to the primary (false: stay on the secondary)", type="boolean")
    hold_s: float = form(2, "seconds to watch the secondary after RTO", type="number", minimum=0, maximum=600)
    # automated: health-checked steering + dr_failover act; orchestrated: this DAG switches
    path: str = form("automated", "automated: inject and only observe (health-checked steering and dr_failover "
                                  "recover); orchestrated: this DAG switches traffic (today's path, the peer)",
                     enum=list(PATHS))
    # automated: how long to wait for dr_failover's actions (0: do not wait)
    dr_failover_wait_s: float = form(120, "automated: seconds to wait for dr_failover's actions (0: none)",
                                     type="number", minimum=0, maximum=3600)
    oci_conn_id: str = form("oci_default", "OCI connection (FastConnect, stacks)", type="string")
    estate_file: str = form("", "estate YAML (default: Variable/env/local)", type=["null", "string"])
    probe_interval_s: float = 0.1
    check_interval_s: float = 0.25

    def check(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario {self.scenario!r} is not one of {SCENARIOS}")
        if self.path not in PATHS:
            raise ValueError(f"path {self.path!r} is not one of {PATHS}")
        if self.stabilisation_checks < 1:
            raise ValueError("stabilisation_checks must be >= 1")
        self.stop_conditions  # noqa: B018  (validates)

    @property
    def stop_conditions(self) -> StopConditions:
        from multicloud.dr.scoring import StopConditions

        return StopConditions(int(self.max_errors), float(self.max_duration_s))


@dataclass(frozen=True)
class FailoverSettings(DagSettings):
    """dr_failover's settings: its trigger form (manual runs; an event run takes the pair from its signal)."""

    pair: str | None = form(None, "manual runs: the DR pair id (event runs: from the signal)",
                            type=["null", "string"])
    oci_conn_id: str = form("oci_default", "OCI connection (standby stack)", type="string")
    estate_file: str | None = form(None, "estate YAML (default: Variable/env/local)", type=["null", "string"])
