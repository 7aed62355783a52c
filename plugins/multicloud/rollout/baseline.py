"""One runtime on every cluster: the baseline the estate declares, and the drift check against it.

The expected runtime is the estate's ``runtime`` block (image, Python version, environment,
resource limits). The actual one is what each cluster reports it runs: a local replica reports
its own interpreter, environment and kernel-enforced memory limit; a Kubernetes Deployment its
pod template. The governance DAG calls ``drift_report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multicloud.estate.models import Estate


def baseline_runtime(estate: Estate, cluster_id: str | None = None) -> dict[str, Any]:
    """The runtime every cluster runs: the estate's ``runtime`` block; for ``cluster_id``, its image is
    that cluster's own ``image`` only when the estate declares one (else the same image everywhere).

    Rollouts, cost moves and DR standbys all deploy with this (``<cluster>.spot``, a spot pool,
    runs its cluster's image)."""
    from multicloud.drivers.scheduling import split_pool

    runtime = estate.runtime
    limits = runtime.limits.model_dump(exclude_none=True) if runtime.limits else {}
    image = runtime.image
    if cluster_id is not None:
        image = estate.cluster(split_pool(cluster_id)[0])[1].image or image
    return {"image": image, "python": runtime.python, "env": dict(runtime.env), "limits": limits}


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> list[dict[str, Any]]:
    """Fields where ``actual`` differs from ``expected`` (python compares by prefix: 3.11 ~ 3.11.7)."""
    differences = []

    def differ(field: str, want: Any, got: Any) -> None:
        differences.append({"field": field, "expected": want, "actual": got})

    if actual.get("image") != expected.get("image"):
        differ("image", expected.get("image"), actual.get("image"))
    want_py, got_py = str(expected.get("python", "")), str(actual.get("python", ""))
    if want_py and not (got_py == want_py or got_py.startswith(want_py + ".")):
        differ("python", want_py, got_py or None)
    got_env = actual.get("env") or {}
    for key, value in sorted((expected.get("env") or {}).items()):
        if got_env.get(key) != value:
            differ(f"env.{key}", value, got_env.get(key))
    got_limits = actual.get("limits") or {}
    for key, value in sorted((expected.get("limits") or {}).items()):
        got = got_limits.get(key)
        # A limit the cluster reports as unset is drift; one it cannot report at all (a local
        # server has no cpu limit) is not. Every cluster reports memory.
        reported = key in got_limits or (key == "memory_gb" and "limits" in actual)
        if reported and (got is None or float(got) != float(value)):
            differ(f"limits.{key}", value, got)
    return differences


def drift_report(estate: Estate, home: Path | None = None) -> list[dict[str, Any]]:
    """Per cluster and served model: expected vs actual runtime fields and their differences.

    A cluster that cannot be reached is reported with ``error`` (and counts as drift: unknown is
    not compliant).
    """
    from multicloud.drivers import driver_for

    rows: list[dict[str, Any]] = []
    for _region, cluster in estate.clusters():
        expected = baseline_runtime(estate, cluster.id)
        try:
            served = driver_for(estate, cluster.id, home=home).served()
        except Exception as exc:  # one unreachable cluster must not hide the others
            rows.append({"cluster": cluster.id, "model": None, "version": None, "expected": expected,
                         "actual": None, "differences": [], "drift": True, "error": f"{type(exc).__name__}: {exc}"})
            continue
        for model, info in sorted(served.items()):
            actual = info.get("runtime") or {}
            differences = compare(expected, actual)
            newest = max(info["versions"], key=lambda v: info.get("weights", {}).get(v, 0), default=None)
            rows.append({"cluster": cluster.id, "model": model, "version": newest, "expected": expected,
                         "actual": actual, "differences": differences, "drift": bool(differences)})
    return rows
