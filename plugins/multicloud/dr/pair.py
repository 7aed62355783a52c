"""A DR pair's places: the cluster of a region, its driver, the pair's models and where they answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multicloud.drivers.base import ServedModel


def cluster_driver(estate, cluster_id: str):
    from multicloud import drivers

    return drivers.driver_for(estate, cluster_id)


def cluster_of(estate, region_id: str) -> str:
    region = estate.region(region_id)
    if region.cluster is None:
        raise ValueError(f"region {region_id!r} has no cluster: it cannot serve a DR pair's workloads")
    return region.cluster.id


def pair_models(estate, pair) -> list[str]:
    return [estate.workload(w).model for w in pair.workloads]


def backends(estate, region_id: str, models: list[str]) -> list[str]:
    """The serving endpoints of ``models`` on the cluster of ``region_id`` (what steering points at)."""
    driver = cluster_driver(estate, cluster_of(estate, region_id))
    return [url for model in models for url in driver.endpoints(model)]


def served_version(served: Mapping[str, ServedModel], model: str) -> str | None:
    """The version taking most traffic (the one a probe will see)."""
    entry = served.get(model)
    if not entry:
        return None
    live = {v: r for v, r in entry["versions"].items() if r > 0}
    weights = {v: w for v, w in (entry.get("weights") or {}).items() if v in live}
    if weights:
        return max(weights, key=lambda v: (weights[v], v))
    return max(live) if live else None
