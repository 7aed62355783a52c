"""Cluster drivers: the contract (base) and the registry choosing one per estate cluster."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from multicloud.drivers.base import ClusterDriver, ModelDeployment, RolloutStatus

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

__all__ = ["ClusterDriver", "ModelDeployment", "RolloutStatus", "driver_for"]


def driver_for(estate: Estate, cluster_id: str, home: Path | None = None) -> ClusterDriver:
    """The driver the estate chose for ``cluster_id`` (imported lazily: kubernetes is heavy)."""
    _region, cluster = estate.cluster(cluster_id)
    if cluster.driver == "local":
        from multicloud.drivers.local import LocalClusterDriver

        return LocalClusterDriver.from_estate(estate, cluster_id, home=home)
    if cluster.driver == "kubernetes":
        from multicloud.drivers.kubernetes import KubernetesClusterDriver

        return KubernetesClusterDriver.from_estate(estate, cluster_id, home=home)
    raise ValueError(f"cluster {cluster_id!r}: unknown driver {cluster.driver!r}")
