"""Which node pool a replica runs on: pool ids and the pod scheduling constraints of each pool.

A cluster's spot/preemptible node pool is addressed as ``<cluster>.spot`` (the placement store,
the optimiser and the move ledger all use that id); its driver is the cluster's own driver scoped
to the pool. On Kubernetes a pool is a set of nodes carrying a capacity-type label: the pods of a
spot Deployment get that label as ``nodeSelector`` (plus the tolerations of the pool's taint),
and, on a cluster that has a spot pool, the pods of an on-demand Deployment get a required node
affinity that keeps them *off* spot nodes, so "at least one on-demand replica" is a scheduling
fact, not a hope. Labels per managed Kubernetes (the estate may name its own per pool):

- EKS managed node groups: ``eks.amazonaws.com/capacityType: SPOT``;
- GKE Spot VMs: ``cloud.google.com/gke-spot: "true"``;
- AKS spot node pools: ``kubernetes.azure.com/scalesetpriority: spot``, tainted
  ``kubernetes.azure.com/scalesetpriority=spot:NoSchedule`` (so spot pods tolerate it);
- OKE preemptible capacity: ``oci.oraclecloud.com/oke-is-preemptible: "true"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multicloud.estate.models import ClusterSpec

SPOT = "spot"
SPOT_SUFFIX = f".{SPOT}"
POOL_LABEL = "multicloud.io/pool"
CAPACITY_LABELS: dict[str, dict[str, str]] = {
    "eks": {"eks.amazonaws.com/capacityType": "SPOT"},
    "gke": {"cloud.google.com/gke-spot": "true"},
    "aks": {"kubernetes.azure.com/scalesetpriority": "spot"},
    "oke": {"oci.oraclecloud.com/oke-is-preemptible": "true"},
    "local": {"multicloud.io/capacity-type": "spot"},
}
CAPACITY_TOLERATIONS: dict[str, list[dict[str, str]]] = {
    "aks": [{"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot",
             "effect": "NoSchedule"}],
}


def split_pool(cluster_id: str) -> tuple[str, str | None]:
    """``"oke-fra.spot"`` -> ``("oke-fra", "spot")``; a plain cluster id -> ``(id, None)``."""
    physical, dot, pool = cluster_id.rpartition(".")
    if not dot:
        return cluster_id, None
    if pool != SPOT or not physical:
        raise ValueError(f"{cluster_id!r}: unknown node pool {pool!r} (only '<cluster>{SPOT_SUFFIX}' exists)")
    return physical, pool


def pool_id(cluster_id: str, pool: str | None) -> str:
    return f"{cluster_id}.{pool}" if pool else cluster_id


def spot_selector(cluster: ClusterSpec) -> dict[str, str]:
    """The node labels that make a node part of ``cluster``'s spot pool."""
    if cluster.spot is None:
        raise ValueError(f"cluster {cluster.id}: has no spot pool")
    if cluster.spot.node_selector:
        return dict(cluster.spot.node_selector)
    return dict(CAPACITY_LABELS[cluster.kind])


def pool_scheduling(cluster: ClusterSpec, pool: str | None) -> dict[str, Any]:
    """Pod-spec fields that pin a replica to ``pool`` of ``cluster`` (None: its on-demand nodes).

    Spot: ``nodeSelector`` + ``tolerations``. On-demand on a cluster with a spot pool: a required
    node affinity excluding spot nodes (one ``NotIn`` term per label: a node missing any spot
    label is not a spot node). On a cluster without a spot pool: nothing (the pod spec is as before).
    A pool the cluster does not have is an error, never an unconstrained pod.
    """
    if pool is None:
        if cluster.spot is None:
            return {}
        terms = [{"matchExpressions": [{"key": key, "operator": "NotIn", "values": [value]}]}
                 for key, value in sorted(spot_selector(cluster).items())]
        return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": terms}}}}
    if pool != SPOT:
        raise ValueError(f"cluster {cluster.id}: unknown node pool {pool!r}")
    selector = spot_selector(cluster)
    tolerations = (cluster.spot.tolerations if cluster.spot.tolerations is not None
                   else CAPACITY_TOLERATIONS.get(cluster.kind, []))
    out: dict[str, Any] = {"nodeSelector": selector}
    if tolerations:
        out["tolerations"] = [dict(t) for t in tolerations]
    return out
