"""Node pools: the capacity a move must grow before and release after, so savings reach the bill.

A replica moved away saves nothing while the node it left keeps running. For each cluster whose
estate entry lists ``node_pools``, the nodes its placement needs (replicas x their dominant share
of one node of the cluster's shape, rounded up) are compared with the pool's size:
- OKE: ``OCIContainerEngineHook.update_node_pool_size`` and its work-request wait;
- EKS: the amazon provider's ``EksHook`` (``update_nodegroup_config`` scaling ``desiredSize``,
  then the ``nodegroup_active`` waiter);
- a cluster whose estate says ``autoscaler: true`` is never resized by us: the autoscaler owns
  the pool, and we wait for its node count to drop (or report that it has not yet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from multicloud.waiting import wait_until

if TYPE_CHECKING:
    from multicloud.estate.models import Estate, NodePool

SPOT_SUFFIX = ".spot"


class PoolScaler(Protocol):
    pool_id: str

    def size(self) -> int: ...

    def resize(self, size: int) -> None: ...

    def running_nodes(self) -> int: ...


@dataclass
class OKENodePool:
    pool_id: str
    oci_conn_id: str
    poll_interval_s: float = 10.0
    timeout_s: float = 1800.0

    @property
    def hook(self):
        from multicloud.hooks.oci_container_engine import OCIContainerEngineHook

        return OCIContainerEngineHook(self.oci_conn_id)

    def size(self) -> int:
        return self.hook.get_node_pool_size(self.pool_id)

    def resize(self, size: int) -> None:
        hook = self.hook
        work_request = hook.update_node_pool_size(self.pool_id, size)
        hook.wait_for_work_request(work_request, poll_interval_s=self.poll_interval_s, timeout_s=self.timeout_s)

    def running_nodes(self) -> int:
        return self.hook.count_active_nodes(self.pool_id)


@dataclass
class EKSNodeGroup:
    pool_id: str
    cluster_name: str
    aws_conn_id: str
    region: str | None
    poll_interval_s: float = 10.0
    timeout_s: float = 1800.0

    @property
    def hook(self):
        from airflow.providers.amazon.aws.hooks.eks import EksHook

        return EksHook(aws_conn_id=self.aws_conn_id, region_name=self.region)

    def _scaling(self) -> dict[str, int]:
        group = self.hook.describe_nodegroup(clusterName=self.cluster_name, nodegroupName=self.pool_id)
        return group["nodegroup"]["scalingConfig"]

    def size(self) -> int:
        return int(self._scaling()["desiredSize"])

    def resize(self, size: int) -> None:
        hook = self.hook
        scaling = self._scaling()
        # desiredSize must lie in [minSize, maxSize]: widen the bounds when the new size needs it.
        config = {"minSize": min(int(scaling["minSize"]), size), "maxSize": max(int(scaling["maxSize"]), size),
                  "desiredSize": int(size)}
        hook.conn.update_nodegroup_config(clusterName=self.cluster_name, nodegroupName=self.pool_id,
                                          scalingConfig=config)
        hook.conn.get_waiter("nodegroup_active").wait(
            clusterName=self.cluster_name, nodegroupName=self.pool_id,
            WaiterConfig={"Delay": max(1, int(self.poll_interval_s)),
                          "MaxAttempts": max(1, int(self.timeout_s / max(1.0, self.poll_interval_s)))})

    def running_nodes(self) -> int:
        return self.size()


def pool_for(estate: Estate, cluster_id: str, *, poll_interval_s: float = 10.0,
             timeout_s: float = 1800.0) -> tuple[PoolScaler, NodePool] | None:
    """The scaler of the pool holding ``cluster_id``'s replicas (``<cluster>.spot``: its spot pool)."""
    spot = cluster_id.endswith(SPOT_SUFFIX)
    region, spec = estate.cluster(cluster_id.removesuffix(SPOT_SUFFIX))
    pools = [p for p in spec.node_pools if p.spot == spot]
    if not pools:
        return None
    pool = pools[0]
    conn = pool.connection_id or spec.connection_id
    if spec.kind == "oke":
        return OKENodePool(pool.id, conn or "oci_default", poll_interval_s, timeout_s), pool
    if spec.kind == "eks":
        if not spec.eks_cluster_name:
            raise ValueError(f"cluster {spec.id}: an EKS node group needs eks_cluster_name")
        return EKSNodeGroup(pool.id, spec.eks_cluster_name, conn or "aws_default", region.region,
                            poll_interval_s, timeout_s), pool
    raise ValueError(f"cluster {spec.id}: node pools of kind {spec.kind!r} are not supported (oke, eks)")


def nodes_needed(estate: Estate, cluster_id: str, placement: dict[str, dict[str, int]]) -> int:
    """Nodes of the cluster's shape that ``placement``'s replicas on ``cluster_id`` occupy."""
    from multicloud.cost.catalog import catalog_for_estate

    region, spec = estate.cluster(cluster_id.removesuffix(SPOT_SUFFIX))
    price = catalog_for_estate(estate).shape(region.cloud.value, region.region, spec.shape)
    used = 0.0
    for workload in estate.workloads:
        n = placement.get(workload.id, {}).get(cluster_id, 0)
        if not n:
            continue
        res = workload.resources
        fractions = [res.cpu / price.vcpu, res.memory_gb / price.memory_gb]
        if res.gpu:
            fractions.append(res.gpu / price.accelerator_count if price.accelerator_count else math.inf)
        used += n * max(fractions)
    return math.ceil(used - 1e-9)


def node_hourly(estate: Estate, cluster_id: str, factors: dict[tuple[str, str], float] | None = None) -> float:
    from multicloud.cost.catalog import catalog_for_estate

    region, spec = estate.cluster(cluster_id.removesuffix(SPOT_SUFFIX))
    price = catalog_for_estate(estate).shape(region.cloud.value, region.region, spec.shape)
    hourly = price.spot_hourly if cluster_id.endswith(SPOT_SUFFIX) and price.spot_hourly else price.on_demand_hourly
    factors = factors or {}
    cloud = region.cloud.value
    return hourly * factors.get((cloud, spec.shape), factors.get((cloud, "*"), 1.0))


def grow_for(estate: Estate, cluster_id: str, placement: dict[str, dict[str, int]], **kw: Any) -> dict | None:
    """Make room before a move: grow the pool to what ``placement`` needs (make-before-break)."""
    found = pool_for(estate, cluster_id, **kw)
    if found is None:
        return None
    scaler, pool = found
    _region, spec = estate.cluster(cluster_id.removesuffix(SPOT_SUFFIX))
    needed = nodes_needed(estate, cluster_id, placement)
    before = scaler.size()
    change = {"cluster": cluster_id, "pool": pool.id, "before": before, "after": before, "action": "none"}
    if needed <= before:
        return change
    if spec.autoscaler:
        change["action"] = "autoscaler grows it on pending pods"
        return change
    size = needed if pool.max_nodes is None else min(needed, pool.max_nodes)
    if size < needed:
        raise RuntimeError(f"{cluster_id}: pool {pool.id} needs {needed} nodes but max_nodes is {pool.max_nodes}")
    scaler.resize(size)
    change.update(after=size, action="grew")
    return change


def release_for(estate: Estate, cluster_id: str, placement: dict[str, dict[str, int]], *,
                autoscaler_wait_s: float = 600.0, poll_interval_s: float = 10.0, **kw: Any) -> dict | None:
    """After a move: shrink the pool to what is still placed there (or wait for the autoscaler)."""
    found = pool_for(estate, cluster_id, poll_interval_s=poll_interval_s, **kw)
    if found is None:
        return None
    scaler, pool = found
    _region, spec = estate.cluster(cluster_id.removesuffix(SPOT_SUFFIX))
    needed = max(pool.min_nodes, nodes_needed(estate, cluster_id, placement))
    before = scaler.size()
    change = {"cluster": cluster_id, "pool": pool.id, "before": before, "after": before, "action": "none"}
    if spec.autoscaler:
        readings: list[int] = []

        def released() -> bool:
            readings.append(scaler.running_nodes())
            return readings[-1] <= needed

        wait_until(released, autoscaler_wait_s, interval_s=poll_interval_s)
        change["before"], running = readings[0], readings[-1]
        change.update(after=running, action="autoscaler released" if running <= needed
                      else f"autoscaler has not released {running - needed} node(s) after {autoscaler_wait_s:g}s")
        return change
    if needed < before:
        scaler.resize(needed)
        change.update(after=needed, action="shrank")
    return change
