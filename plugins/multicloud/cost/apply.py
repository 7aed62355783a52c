"""Apply one placement move make-before-break through the cluster drivers. No Airflow import.

A move takes ``replicas`` replicas of a workload from ``source`` to ``target``:
  1. deploy at the target (the version the source serves, same artifact, the runtime baseline)
     with the target's current replicas + ``replicas``;
  2. health gate: the target becomes ready and every endpoint answers /healthz with that version;
  3. shift: the target routes its traffic for the model to that version;
  4. scale the source down by ``replicas`` (remove the model there when none is left);
  5. record the new placement (placement store, locked read-modify-write).
A failure in 1-3 rolls back: the target returns to what it ran before; the source was never
touched, so it keeps serving.

Node level, for clusters whose estate lists node pools (``multicloud.cost.pools``): before step 1
the target's pool grows when the replicas would not fit its nodes (make-before-break for
capacity too); after step 5 the source's pool shrinks to what is still placed there, or, where a
cluster autoscaler runs, the move waits for its node count to drop. The result lists every pool
change, so the report counts released nodes rather than moved replicas.

Spot pools: ``<cluster>.spot`` is the cluster's spot node pool, served by the cluster's driver
scoped to that pool (``multicloud.drivers.scheduling``: the Kubernetes pods get the pool's
``nodeSelector`` and tolerations, the local driver records each replica's pool), so a move onto
or off a spot pool is make-before-break like any other, and its node pool is the spot one. Before
anything starts, a move of a critical workload is checked against the placement store and the
drivers: every region where it would run a spot replica keeps at least one on-demand replica that
is really served there; what cannot be verified refuses the move (status ``refused``), never
applies it.

Right-sizing actions are moves with one end missing: no ``source`` adds replicas at the target
(steps 1-3 and 5), no ``target`` removes replicas at the source (steps 4-5). Desired replica counts come from the placement store (the truth of
what runs), so a retried move converges instead of adding replicas twice; the run's move ledger
makes a finished move a no-op.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud import paths
from multicloud.cost import pools
from multicloud.drivers import ModelDeployment, driver_for
from multicloud.placement import current_placement, placement_file, save_placement
from multicloud.reports import atomic_write_text, safe_run_id

if TYPE_CHECKING:
    from multicloud.drivers.base import ClusterDriver
    from multicloud.estate.models import Estate

READY_TIMEOUT_S = 60.0


class MoveFailed(RuntimeError):
    """A move could not complete; the target was rolled back and the source keeps serving."""


def move_id(move: dict[str, Any]) -> str:
    return f"{move['workload']}:{move['source'] or '-'}->{move['target'] or '-'}x{move['replicas']}"


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ledger_file(run_id: str, home: Path | None) -> Path:
    return paths.home_path(home, "state", "cost_rebalance", f"{safe_run_id(run_id)}.json", what="cost ledger")


def _ledger(run_id: str, home: Path | None) -> dict[str, Any]:
    path = _ledger_file(run_id, home)
    return json.loads(path.read_text()) if path.exists() else {}


def _record(run_id: str, home: Path | None, result: dict[str, Any], estate: Estate | None = None) -> None:
    path = _ledger_file(run_id, home)
    with _lock(path.with_suffix(".lock")):
        data = _ledger(run_id, home)
        data[result["id"]] = result
        atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True))
    from multicloud.metrics import logs

    logs.record("cost_move", {"run_id": run_id, **{k: result.get(k) for k in (
        "id", "workload", "model", "source", "target", "replicas", "status", "version", "error", "seconds",
        "steps")}}, estate=estate, home=home)


def serving_version(estate: Estate, driver: ClusterDriver, model: str,
                    *more: ClusterDriver | None) -> tuple[str, str]:
    """(version, artifact_uri) the first of ``driver``, ``more`` serving ``model`` serves now; else
    the newest trained version."""
    for each in (driver, *more):
        info = each.served().get(model) if each is not None else None
        if info and info.get("versions"):
            weights = info.get("weights") or {}
            version = max(info["versions"], key=lambda v: (weights.get(v, 0), v))
            artifact = (info.get("artifacts") or {}).get(version)
            if artifact:
                return version, artifact
    from multicloud.training.artifacts import artifact_uri, latest_version

    version = latest_version(estate, model)
    if version is None:
        raise MoveFailed(f"{model}: not served on {driver.cluster_id} and no trained version exists")
    return version, artifact_uri(estate, model, version)


def apply_move(estate: Estate, move: dict[str, Any], run_id: str, *, home: Path | None = None,
               ready_timeout_s: float = READY_TIMEOUT_S, health_check=None,
               pool_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apply one move; returns its result (status ``applied`` or ``rolled_back``), never half-done."""
    from multicloud.rollout.baseline import baseline_runtime

    mid = move_id(move)
    done = _ledger(run_id, home).get(mid)
    if done is not None and done["status"] == "applied":
        return done
    workload = estate.workload(move["workload"])
    model, count = workload.model, int(move["replicas"])
    source_id, target_id = move.get("source"), move.get("target")
    placement = current_placement(estate, home)
    here = placement.get(workload.id, {})
    started = time.monotonic()
    result: dict[str, Any] = {"id": mid, **move, "model": model, "steps": [], "nodes": []}
    if _already_applied(here, source_id, target_id, count, move):
        # A retry after the placement was recorded but before the ledger was: already applied.
        result.update(status="applied", seconds=0.0, note="already in the placement store")
        _record(run_id, home, result, estate)
        return result
    after = {k: dict(v) for k, v in placement.items()}
    row = after.setdefault(workload.id, {})
    if source_id:
        row[source_id] = max(0, row.get(source_id, 0) - count)
    if target_id:
        row[target_id] = row.get(target_id, 0) + count

    problem = on_demand_floor(estate, workload, after, move, home)
    if problem:
        result.update(status="refused", error=problem, seconds=round(time.monotonic() - started, 3))
        result["steps"].append(f"refused before any change: {problem}")
        _record(run_id, home, result, estate)
        from multicloud.alerts import alert

        alert("rollback", f"cost move of {model} {source_id} -> {target_id} refused: {problem}"[:300],
              {"move": move}, home=home)
        return result
    source = driver_for(estate, source_id, home=home) if source_id else None
    version = None
    if target_id:
        target = driver_for(estate, target_id, home=home)
        before_target = target.served().get(model, {})
        try:
            grown = pools.grow_for(estate, target_id, after, **(pool_options or {}))
            if grown:
                result["nodes"].append(grown)
                result["steps"].append(f"{target_id}: node pool {grown['pool']} {grown['action']} "
                                       f"({grown['before']} -> {grown['after']} nodes)")
            # A move runs what its source serves; replicas added run what the target (or, for a
            # spot pool, the cluster's on-demand nodes) serves.
            version, artifact = (serving_version(estate, source, model) if source is not None else
                                 serving_version(estate, target, model, _sibling(estate, target_id, home)))
            result["version"] = version
            desired = here.get(target_id, 0) + count
            target.deploy(ModelDeployment(model, version, desired, artifact, baseline_runtime(estate, target_id),
                                          {"model": model, "version": version, "workload": workload.id}))
            result["steps"].append(f"deployed {model} {version} x{desired} at {target_id}")
            status = target.wait_ready(model, version, ready_timeout_s)
            if status.state != "complete":
                raise MoveFailed(f"{target_id}: {model} {version} not ready: {status.message}")
            endpoints = target.endpoints(model, version)
            problems = health_check(endpoints, version) if health_check else _health(endpoints, version, target.fetch)
            if not endpoints or problems:
                raise MoveFailed(f"{target_id}: health gate failed: {problems or 'no endpoints'}")
            result["steps"].append(f"health gate passed on {len(endpoints)} endpoint(s)")
            weights = (target.served().get(model) or {}).get("weights") or {}
            if weights.get(version, 0) == 0:
                target.shift(model, {version: 100})
            result["steps"].append(f"traffic for {model} at {target_id} on {version}")
        except Exception as exc:
            _restore(target, model, before_target)
            result.update(status="rolled_back", error=f"{type(exc).__name__}: {exc}",
                          seconds=round(time.monotonic() - started, 3))
            result["steps"].append(f"rolled back {target_id}; {source_id or 'the source'} kept serving")
            _record(run_id, home, result, estate)
            from multicloud.alerts import alert

            alert("rollback", f"cost move of {model} {source_id} -> {target_id} rolled back: {result['error']}"[:300],
                  {"move": move, "steps": result["steps"]}, home=home)
            return result

    if source is not None:
        left = here.get(source_id, 0) - count
        source_info = source.served().get(model)
        if source_info:
            if left <= 0:
                source.remove(model)
            else:
                source.scale(model, version or serving_version(estate, source, model)[0], left)
        result["steps"].append(f"{source_id}: {max(left, 0)} replica(s) left")
    with _lock(placement_file(home).with_suffix(".lock")):
        latest = current_placement(estate, home)
        row = dict(latest.get(workload.id, {}))
        if source_id:
            row[source_id] = max(0, row.get(source_id, 0) - count)
        if target_id:
            row[target_id] = row.get(target_id, 0) + count
        latest[workload.id] = row
        save_placement(latest, home)
    if source_id:
        try:
            released = pools.release_for(estate, source_id, latest, **(pool_options or {}))
        except Exception as exc:  # the move stands; the capacity is reported as not released
            released = {"cluster": source_id, "pool": "?", "before": None, "after": None,
                        "action": f"not released: {type(exc).__name__}: {exc}"[:300]}
        if released:
            result["nodes"].append(released)
            result["steps"].append(f"{source_id}: node pool {released['pool']} {released['action']} "
                                   f"({released['before']} -> {released['after']} nodes)")
    result.update(status="applied", seconds=round(time.monotonic() - started, 3))
    _record(run_id, home, result, estate)
    return result


def _sibling(estate: Estate, cluster_id: str, home: Path | None) -> ClusterDriver | None:
    """For replicas added to a spot pool: the driver of the cluster's on-demand nodes (whose
    served version the new replicas run); None for an on-demand cluster."""
    from multicloud.drivers.scheduling import split_pool

    physical, pool = split_pool(cluster_id)
    return driver_for(estate, physical, home=home) if pool else None


def on_demand_floor(estate: Estate, workload: Any, after: dict[str, dict[str, int]], move: dict[str, Any],
                    home: Path | None = None) -> str | None:
    """Why ``move`` would leave a critical workload with spot but no on-demand replica in a region
    (None: it would not). Checked on the placement after the move and, for the on-demand replicas
    the move relies on but does not start itself, against what the drivers really serve; a driver
    that cannot be asked makes the answer "unverified", which refuses the move."""
    from multicloud.drivers.scheduling import split_pool

    if not workload.critical:
        return None
    spot: dict[str, int] = {}
    on_demand: dict[str, dict[str, int]] = {}
    for cluster_id, n in after.get(workload.id, {}).items():
        if n <= 0:
            continue
        physical, pool = split_pool(cluster_id)
        region = estate.cluster(physical)[0].id
        if pool:
            spot[region] = spot.get(region, 0) + n
        else:
            on_demand.setdefault(region, {})[cluster_id] = n
    for region in sorted(r for r, n in spot.items() if n):
        held = on_demand.get(region, {})
        if not held:
            return (f"{workload.id} is critical: {spot[region]} spot replica(s) in {region} would have no on-demand "
                    "replica beside them")
        if move.get("target") in held:
            continue  # the move starts that on-demand replica itself, behind its health gate
        served = 0
        for cluster_id in held:
            try:
                served += sum((driver_for(estate, cluster_id, home=home).served().get(workload.model) or {})
                              .get("versions", {}).values())
            except Exception as exc:  # cannot be checked: unverified, so refused
                return f"{workload.id} is critical: on-demand replicas in {region} unverified ({type(exc).__name__}: {exc})"
        if served < 1:
            return (f"{workload.id} is critical: the placement store says {sum(held.values())} on-demand replica(s) in "
                    f"{region}, but {', '.join(sorted(held))} serve(s) none")
    return None


def _already_applied(here: dict[str, int], source_id: str | None, target_id: str | None, count: int,
                     move: dict[str, Any]) -> bool:
    if source_id and target_id:
        return here.get(source_id, 0) < count and here.get(target_id, 0) >= count
    before = int(move.get("before", -1))  # one-ended (right-sizing): the count the plan started from
    if source_id:
        return before >= 0 and here.get(source_id, 0) <= before - count
    return before >= 0 and here.get(target_id, 0) >= before + count


def _health(endpoints: list[str], version: str, fetch: Any = None) -> list[str]:
    """Every endpoint answers /healthz with ``version`` (through the driver's ``fetch``: proxy credentials)."""
    from multicloud.rollout.probes import probe_endpoint

    samples = [s for url in endpoints for s in probe_endpoint(url, [], version, fetch)]
    return [f"{s.url}: {s.error}" for s in samples if not s.ok]


def _restore(target: ClusterDriver, model: str, before: dict[str, Any]) -> None:
    """Put the target back to exactly the versions and replicas it ran before the move."""
    now = target.served().get(model)
    if not now:
        return
    old_versions = before.get("versions") or {}
    if not old_versions:
        target.remove(model)
        return
    for version in now["versions"]:
        if version not in old_versions:
            target.remove(model, version)
        elif now["versions"][version] != old_versions[version]:
            target.scale(model, version, old_versions[version])
    if before.get("weights"):
        target.shift(model, before["weights"])
