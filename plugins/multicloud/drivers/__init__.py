"""Cluster drivers: the contract (base) and its implementations (local, kubernetes)."""

from multicloud.drivers.base import ClusterDriver, ModelDeployment, RolloutStatus

__all__ = ["ClusterDriver", "ModelDeployment", "RolloutStatus"]
