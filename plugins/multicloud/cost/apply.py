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

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud import paths, statefile
from multicloud.cost import pools
from multicloud.drivers import ModelDeployment, driver_for
from multicloud.drivers.restore import RestoreFailed, restore_previous, snapshot
from multicloud.paths import safe_run_id
from multicloud.placement import current_placement, placement_file, save_placement

if TYPE_CHECKING:
    from multicloud.drivers.base import ClusterDriver
    from multicloud.estate.models import Estate

READY_TIMEOUT_S = 60.0


class MoveFailed(RuntimeError):
    """A move could not complete; the target was rolled back and the source keeps serving."""


def move_id(move: dict[str, Any]) -> str:
    return f"{move['workload']}:{move['source'] or '-'}->{move['target'] or '-'}x{move['replicas']}"


def _ledger_file(run_id: str, home: Path | None) -> Path:
    return paths.home_path(home, "state", "cost_rebalance", f"{safe_run_id(run_id)}.json", what="cost ledger")


def _ledger(run_id: str, home: Path | None) -> dict[str, Any]:
    return statefile.read_json(_ledger_file(run_id, home), {})


def _record(run_id: str, home: Path | None, result: dict[str, Any], estate: Estate | None = None) -> None:
    path = _ledger_file(run_id, home)
    with statefile.update_json(path, dict, lock=path.with_suffix(".lock")) as data:
        data[result["id"]] = result
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
    """Apply one move; returns its result (status ``applied`` or ``rolled_back``), never half-done.

    In order: the target's node pool grows, the target serves and passes the health gate, the
    source shrinks, the placement is recorded, the source's node pool releases capacity. A target
    that fails is put back as it was and the source keeps serving.
    """
    mid = move_id(move)
    done = _ledger(run_id, home).get(mid)
    if done is not None and done["status"] == "applied":
        return done
    return _Move(estate, move, run_id, home, pool_options or {}).apply(ready_timeout_s, health_check)


def _moved(row: dict[str, int], source_id: str | None, target_id: str | None, count: int) -> dict[str, int]:
    """A workload's replicas per cluster after ``count`` replicas move from source to target."""
    row = dict(row)
    if source_id:
        row[source_id] = max(0, row.get(source_id, 0) - count)
    if target_id:
        row[target_id] = row.get(target_id, 0) + count
    return row


class _Move:
    """One move being applied: what it changes, and the result (steps, nodes) it records."""

    def __init__(self, estate: Estate, move: dict[str, Any], run_id: str, home: Path | None,
                 pool_options: dict[str, Any]) -> None:
        self.estate, self.move, self.run_id, self.home, self.pool_options = estate, move, run_id, home, pool_options
        self.workload = estate.workload(move["workload"])
        self.model, self.count = self.workload.model, int(move["replicas"])
        self.source_id, self.target_id = move.get("source"), move.get("target")
        self.placement = current_placement(estate, home)
        self.here = self.placement.get(self.workload.id, {})
        self.started = time.monotonic()
        self.result: dict[str, Any] = {"id": move_id(move), **move, "model": self.model, "steps": [], "nodes": []}

    def apply(self, ready_timeout_s: float, health_check) -> dict[str, Any]:
        if _already_applied(self.here, self.source_id, self.target_id, self.count, self.move):
            # A retry after the placement was recorded but before the ledger was: already applied.
            self.result.update(status="applied", seconds=0.0, note="already in the placement store")
            return self._recorded()
        after = {k: dict(v) for k, v in self.placement.items()}
        after[self.workload.id] = _moved(after.get(self.workload.id, {}), self.source_id, self.target_id, self.count)
        problem = on_demand_floor(self.estate, self.workload, after, self.move, self.home)
        if problem:
            self.result.update(status="refused", error=problem, seconds=self._seconds())
            self.result["steps"].append(f"refused before any change: {problem}")
            return self._recorded(alert=f"refused: {problem}", details={"move": self.move})
        source = driver_for(self.estate, self.source_id, home=self.home) if self.source_id else None
        version = None
        if self.target_id:
            target = driver_for(self.estate, self.target_id, home=self.home)
            before_target = snapshot(target, self.model)
            try:
                version = self._serve_at_target(target, source, after, ready_timeout_s, health_check)
            except Exception as exc:
                step = self._roll_back_target(target, before_target)
                self.result.update(status="rolled_back", error=f"{type(exc).__name__}: {exc}", seconds=self._seconds())
                self.result["steps"].append(step)
                return self._recorded(alert=f"rolled back: {self.result['error']}",
                                      details={"move": self.move, "steps": self.result["steps"]})
        if source is not None:
            self._shrink_source(source, version)
        latest = self._record_placement()
        if self.source_id:
            self._release_source_nodes(latest)
        self.result.update(status="applied", seconds=self._seconds())
        return self._recorded()

    def _serve_at_target(self, target: ClusterDriver, source: ClusterDriver | None, after: dict[str, dict[str, int]],
                         ready_timeout_s: float, health_check) -> str:
        """The target serves the model with the moved replicas, healthy, with its traffic; returns the version."""
        from multicloud.rollout.baseline import baseline_runtime

        model, steps = self.model, self.result["steps"]
        grown = pools.grow_for(self.estate, self.target_id, after, **self.pool_options)
        if grown:
            self.result["nodes"].append(grown)
            steps.append(f"{self.target_id}: node pool {grown['pool']} {grown['action']} "
                         f"({grown['before']} -> {grown['after']} nodes)")
        # A move runs what its source serves; replicas added run what the target (or, for a
        # spot pool, the cluster's on-demand nodes) serves.
        version, artifact = (serving_version(self.estate, source, model) if source is not None else
                             serving_version(self.estate, target, model,
                                             _sibling(self.estate, self.target_id, self.home)))
        self.result["version"] = version
        desired = self.here.get(self.target_id, 0) + self.count
        target.deploy(ModelDeployment(model, version, desired, artifact, baseline_runtime(self.estate, self.target_id),
                                      {"model": model, "version": version, "workload": self.workload.id}))
        steps.append(f"deployed {model} {version} x{desired} at {self.target_id}")
        status = target.wait_ready(model, version, ready_timeout_s)
        if status.state != "complete":
            raise MoveFailed(f"{self.target_id}: {model} {version} not ready: {status.message}")
        endpoints = target.endpoints(model, version)
        problems = health_check(endpoints, version) if health_check else _health(endpoints, version, target.fetch)
        if not endpoints or problems:
            raise MoveFailed(f"{self.target_id}: health gate failed: {problems or 'no endpoints'}")
        steps.append(f"health gate passed on {len(endpoints)} endpoint(s)")
        weights = (target.served().get(model) or {}).get("weights") or {}
        if weights.get(version, 0) == 0:
            target.shift(model, {version: 100})
        steps.append(f"traffic for {model} at {self.target_id} on {version}")
        return version

    def _roll_back_target(self, target: ClusterDriver, before: dict[str, Any]) -> str:
        """The target back to exactly the versions, replicas and weights it ran before the move."""
        kept = f"{self.source_id or 'the source'} kept serving"
        try:
            restore_previous(target, self.model, before)
        except RestoreFailed as exc:  # a version it ran before is gone: say so, the source still serves
            return f"could not restore {self.target_id} ({exc}); {kept}"
        return f"rolled back {self.target_id}; {kept}"

    def _shrink_source(self, source: ClusterDriver, version: str | None) -> None:
        left = self.here.get(self.source_id, 0) - self.count
        if source.served().get(self.model):
            if left <= 0:
                source.remove(self.model)
            else:
                source.scale(self.model, version or serving_version(self.estate, source, self.model)[0], left)
        self.result["steps"].append(f"{self.source_id}: {max(left, 0)} replica(s) left")

    def _record_placement(self) -> dict[str, dict[str, int]]:
        """The move in the placement store, applied to its latest state under its lock."""
        with statefile.locked(placement_file(self.home), placement_file(self.home).with_suffix(".lock")):
            latest = current_placement(self.estate, self.home)
            latest[self.workload.id] = _moved(latest.get(self.workload.id, {}), self.source_id, self.target_id,
                                              self.count)
            save_placement(latest, self.home)
        return latest

    def _release_source_nodes(self, latest: dict[str, dict[str, int]]) -> None:
        try:
            released = pools.release_for(self.estate, self.source_id, latest, **self.pool_options)
        except Exception as exc:  # the move stands; the capacity is reported as not released
            released = {"cluster": self.source_id, "pool": "?", "before": None, "after": None,
                        "action": f"not released: {type(exc).__name__}: {exc}"[:300]}
        if released:
            self.result["nodes"].append(released)
            self.result["steps"].append(f"{self.source_id}: node pool {released['pool']} {released['action']} "
                                        f"({released['before']} -> {released['after']} nodes)")

    def _seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def _recorded(self, alert: str | None = None, details: dict[str, Any] | None = None) -> dict[str, Any]:
        """The result in the run's ledger (and the log); with ``alert``, a rollback alert for people."""
        _record(self.run_id, self.home, self.result, self.estate)
        if alert is not None:
            from multicloud.alerts import alert as raise_alert

            raise_alert("rollback", f"cost move of {self.model} {self.source_id} -> {self.target_id} {alert}"[:300],
                        details or {}, home=self.home)
        return self.result


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
