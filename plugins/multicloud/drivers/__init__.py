"""Cluster drivers: the contract (base) and the registry choosing one per estate cluster."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from multicloud.drivers.base import ClusterDriver, ModelDeployment, RolloutStatus

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

__all__ = ["ClusterDriver", "ModelDeployment", "RolloutStatus", "driver_for"]


def driver_for(estate: Estate, cluster_id: str, home: Path | None = None) -> ClusterDriver:
    """The driver the estate chose for ``cluster_id`` (imported lazily: kubernetes is heavy).

    ``<cluster>.spot`` is the cluster's spot node pool: the cluster's driver scoped to that pool
    (``multicloud.drivers.scheduling``); a cluster without a spot pool has no such id.
    """
    from multicloud.drivers.scheduling import split_pool

    physical, pool = split_pool(cluster_id)
    _region, cluster = estate.cluster(physical)
    if pool is not None and cluster.spot is None:
        raise ValueError(f"cluster {physical!r} has no spot pool, so {cluster_id!r} does not exist")
    if cluster.driver == "local":
        from multicloud.drivers.local import LocalClusterDriver

        return LocalClusterDriver.from_estate(estate, physical, home=home, pool=pool)
    if cluster.driver == "kubernetes":
        from multicloud.drivers.kubernetes import KubernetesClusterDriver

        return KubernetesClusterDriver.from_estate(estate, physical, home=home, pool=pool)
    raise ValueError(f"cluster {cluster_id!r}: unknown driver {cluster.driver!r}")
