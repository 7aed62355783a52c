"""What every traffic steering of a DR pair's endpoint does (``dr.steering`` has the backends)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, NotRequired, TypedDict

# {from, to, at[, incident]}: "from" is a keyword, hence the functional form.
FailedOver = TypedDict("FailedOver", {
    "from": str,  # the region traffic left
    "to": str,  # the region it serves from now
    "at": float,  # epoch seconds: when it moved (or when this read saw it)
    "incident": NotRequired[str],  # the gateway's incident id (the local estate's steering)
})
"""The failover a steering's health checks made (``TrafficSteering.failed_over``)."""


class TrafficSteering(ABC):
    name = "abstract"
    # The local estate's gateway process carries the endpoint (a rehearsal starts it); DNS needs none.
    needs_gateway = False
    # Health-checked DNS failover returns to the primary once it is healthy again; the gateway's stays put.
    fails_back_by_itself = True

    @abstractmethod
    def snapshot(self, endpoint: str) -> Any:
        """Everything ``restore`` needs to put the endpoint's routing back exactly."""

    @abstractmethod
    def point_to(self, endpoint: str, region: str, backends: list[str]) -> None:
        """Send all of ``endpoint``'s traffic to ``region`` (local backends are URLs)."""

    @abstractmethod
    def restore(self, endpoint: str, snapshot: Any) -> None:
        """Put back what ``snapshot`` returned."""

    @abstractmethod
    def serving_region(self, endpoint: str) -> str | None:
        """Which region the endpoint sends traffic to now (None: none or several)."""

    def probe_root(self, endpoint: str) -> str:
        """Where a client reaches the endpoint (the rehearsal's probe goes there): its DNS name."""
        return f"https://{endpoint}"

    # ---- health-checked failover: the steering fails over by itself; these read and re-arm it ----
    def arm_failover(self, pair, primary_backends: list[str], standby_backends: list[str]) -> None:
        """Health-checked failover of the pair's endpoint: primary first, the secondary when it fails."""
        raise NotImplementedError(f"{self.name} steering cannot arm health-checked failover")

    def failed_over(self, endpoint: str) -> FailedOver | None:
        """The failover the health checks made ({from, to, ...}), None while the primary serves."""
        return None

    def region_health(self, endpoint: str) -> dict[str, dict[str, Any]]:
        """Per region: {healthy, ok_in_row, healthy_since} as the steering's health checks see it."""
        return {}

    def resolve(self, endpoint: str) -> list[str]:
        """The answer a resolver gets for the endpoint now (the steering's own answer rules)."""
        raise NotImplementedError(f"{self.name} steering does not answer DNS queries")

    def health_fault(self, endpoint: str, region: str) -> dict[str, Any] | None:
        """What ``inject_health_fault`` will change for ``region`` and ``undo_health_fault`` puts back;
        None when the steering's health checks see the real fault themselves. Changes nothing."""
        return None

    def inject_health_fault(self, undo: dict[str, Any]) -> None:
        """Make the steering's health checks see the region fail (``undo`` from ``health_fault``)."""
        return None

    def undo_health_fault(self, undo: dict[str, Any]) -> None:
        """Put back what ``inject_health_fault`` changed."""
        return None

    def set_backends(self, endpoint: str, region: str, backends: list[str]) -> None:
        """Tell the steering where a region's replicas listen now (a no-op where DNS names stay)."""
        return None

    def fail_back(self, endpoint: str, primary: str, primary_backends: list[str]) -> None:
        """Send traffic back to the primary and re-arm the health-checked failover."""
        self.point_to(endpoint, primary, primary_backends)

    def needs_arming(self, endpoint: str, primary: str, *, automated: bool, armed: bool) -> bool:
        """Whether a rehearsal's baseline must route the endpoint to ``primary`` before it starts.

        DNS steering is armed for health-checked failover once (``armed``: the fault ledger already
        has it); an orchestrated rehearsal leaves its records as they are.
        """
        return automated and not armed

    def route_fingerprint(self, endpoint: str) -> dict[str, Any] | None:
        """What of the endpoint's routing a rehearsal must leave as it found it (None: nothing to compare)."""
        return None

    def current_snapshot(self, snapshot: Any, backends_of: Callable[[str], list[str]]) -> Any:
        """``snapshot`` as ``restore`` should apply it now that servers may have restarted.

        Where routing names backends by DNS name (the clouds), restarts change nothing: as is.
        ``backends_of(region)`` gives a region's backends as they listen now.
        """
        return snapshot
