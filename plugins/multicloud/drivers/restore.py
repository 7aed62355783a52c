"""Put a model on one cluster back to what it served before a change. No Airflow import.

One algorithm for every caller that must undo a change on a cluster through its driver: a
rollout's rollback (``multicloud.rollout.engine``) and a failed cost move's target
(``multicloud.cost.apply``). The caller takes a ``snapshot`` before it changes anything; after a
failure, ``restore_previous`` removes the versions the change added, scales the versions it
changed back to their replica counts, and routes the traffic as it was. A version that ran before
but no longer runs cannot be recreated from the snapshot (it keeps no artifact or runtime): that
is a ``RestoreFailed``, raised before any traffic is routed to it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from multicloud.drivers.base import ClusterDriver


class RestoreFailed(RuntimeError):
    """A cluster cannot be put back to what it served before (a previous version is gone)."""


def snapshot(driver: ClusterDriver, model: str) -> dict[str, Any]:
    """What ``driver`` serves of ``model`` now: ``{"versions": {version: replicas}, "weights": {...}}``."""
    return previous_of(driver.served().get(model) or {})


def previous_of(served_entry: dict[str, Any]) -> dict[str, Any]:
    """The part of a ``served()`` entry that ``restore_previous`` puts back (versions, weights)."""
    return {"versions": dict(served_entry.get("versions") or {}), "weights": dict(served_entry.get("weights") or {})}


def restore_previous(driver: ClusterDriver, model: str, previous: dict[str, Any], *,
                     changed: Collection[str] | None = None) -> dict[str, Any]:
    """Return ``model`` on ``driver`` to exactly ``previous`` (a ``snapshot``); returns what it serves after.

    ``changed``: the versions the change deployed (a rollout's one version); versions outside it
    that differ from ``previous`` belong to someone else, so they are left alone and a previous
    version they no longer match cannot be restored. ``None``: the change owned the whole model on
    this cluster (a cost move's target): every version not in ``previous`` is removed, every other
    one scaled back.
    """
    old = previous.get("versions") or {}
    now = (driver.served().get(model) or {}).get("versions") or {}
    if changed is None and not old:
        if now:
            driver.remove(model)
        return snapshot(driver, model)

    def ours(version: str) -> bool:
        return changed is None or version in changed

    for version in [v for v in now if v not in old and ours(v)]:
        driver.remove(model, version)
    for version, replicas in old.items():
        if version not in now or (now[version] != replicas and not ours(version)):
            raise RestoreFailed(f"{driver.cluster_id}: previous {model} {version} is no longer deployed; "
                                "cannot restore it")
        if now[version] != replicas:
            driver.scale(model, version, replicas)
    if previous.get("weights"):
        driver.shift(model, previous["weights"])
    return snapshot(driver, model)
