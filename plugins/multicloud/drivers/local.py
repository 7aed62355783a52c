"""The local cluster driver: each estate cluster runs real model servers as local processes.

One process per replica (``multicloud/serving/server.py``) on a loopback port, serving a real
model artifact. Everything a cluster knows lives in ``{estate home}/clusters/<id>/state.json``
(written atomically, under an exclusive file lock so concurrent tasks on one cluster serialise):
versions, replicas with PID + process start time (a recycled PID is never mistaken for ours),
ports, traffic weights, the runtime each version was started with, and the specs of removed
versions so a rollback can bring one back.

Node pools: the driver of ``<cluster>.spot`` (``pool="spot"``) keeps its replicas in
``state.spot.json`` beside the cluster's ``state.json`` (same lock, same directory); every replica
record says which pool it runs on (``pool``: ``on-demand`` or ``spot``). A scoped driver sees and
changes only its pool's replicas; ``endpoints(model)`` without a version (what traffic reaches)
lists the serving replicas of every pool.

Servers run in their own session (process group) so they outlive the Airflow task that started
them (a cluster keeps serving between DAG runs), carry the command-line marker
``multicloud-model-server`` with ``--home`` and ``--cluster-dir`` so a sweep can find every one,
and exit on their own when their cluster directory disappears.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import psutil

from multicloud import paths, statefile
from multicloud.drivers.base import ClusterDriver, ModelDeployment, RolloutStatus, ServedModel
from multicloud.drivers.scheduling import pool_id, pool_scheduling
from multicloud.serving.model import LogisticModel, ModelFormatError
from multicloud.serving.server import MARKER
from multicloud.statefile import atomic_write_text
from multicloud.waiting import wait_until

if TYPE_CHECKING:
    from multicloud.estate.models import Estate


class ServerProcess(TypedDict):
    """One replica's model server process, as the cluster's state file records it."""

    replica: int
    pool: str  # the node pool ("on-demand" when the driver manages no pool)
    pid: int
    started_at: float  # epoch seconds
    port: int | None  # None until the server wrote its port file
    port_file: str
    pid_file: str
    log: str


SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "serving" / "server.py"
PROBE_TIMEOUT_S = 1.0
STOP_GRACE_S = 2.0
# Environment a server inherits from us: nothing else (no credentials leak into model servers).
_PASS_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


class LocalDriverError(RuntimeError):
    """A local cluster cannot do what was asked (bad artifact, unknown version, ...)."""


class LocalClusterDriver(ClusterDriver):
    def __init__(self, cluster_id: str, home: Path | None = None, pool: str | None = None) -> None:
        super().__init__(pool_id(cluster_id, pool))
        self.physical_id = cluster_id
        self.pool = pool
        self.home = Path(home) if home is not None else paths.estate_home()
        self.dir = self.home / "clusters" / cluster_id
        self.state_file = self.dir / ("state.json" if pool is None else f"state.{pool}.json")

    @classmethod
    def from_estate(cls, estate: Estate, cluster_id: str, home: Path | None = None,
                    pool: str | None = None) -> LocalClusterDriver:
        _region, cluster = estate.cluster(cluster_id)  # KeyError names an unknown cluster
        if cluster.driver != "local":
            raise ValueError(f"cluster {cluster_id!r} uses driver {cluster.driver!r}, not 'local'")
        if pool is not None:
            pool_scheduling(cluster, pool)  # a pool the cluster does not have is refused here
        return cls(cluster_id, home, pool)

    def pool_drivers(self) -> list[LocalClusterDriver]:
        """This cluster's drivers of every pool that holds state (the on-demand one first)."""
        pools = sorted(p.name.removeprefix("state.").removesuffix(".json") for p in self.dir.glob("state.*.json"))
        return [LocalClusterDriver(self.physical_id, self.home)] + [
            LocalClusterDriver(self.physical_id, self.home, p) for p in pools]

    # ---- state ---------------------------------------------------------------------------------
    def _empty(self) -> dict[str, Any]:
        return {"cluster": self.cluster_id, "models": {}}

    def _read(self) -> dict[str, Any]:
        return statefile.read_json(self.state_file) or self._empty()

    def _locked(self) -> contextlib.AbstractContextManager[dict[str, Any]]:
        """Read-modify-write the state under the cluster's lock (one for all its pools).

        Written if it changed, even when the body failed: processes may have started or stopped.
        """
        return statefile.update_json(self.state_file, self._empty, lock=self.dir / ".lock", write_on_error=True)

    # ---- the contract ----------------------------------------------------------------------------
    def deploy(self, deployment: ModelDeployment) -> None:
        if deployment.replicas < 0:
            raise ValueError(f"replicas must be >= 0; got {deployment.replicas}")
        artifact = self._artifact_path(deployment)
        spec = {
            "replicas": deployment.replicas, "artifact_uri": deployment.artifact_uri,
            "artifact_path": str(artifact), "runtime": dict(deployment.runtime), "labels": dict(deployment.labels),
        }
        with self._locked() as state:
            self._reap_orphans(state)
            entry = state["models"].setdefault(
                deployment.model, {"versions": {}, "weights": {}, "history": [], "retired": {}})
            current = entry["versions"].get(deployment.version)
            if current is not None and _spec_key(current) != _spec_key(spec):
                self._stop_all(current)  # same version, new artifact or runtime: restart every replica
                current = None
            if current is None:
                current = {**spec, "deployed_at": time.time(), "processes": []}
                entry["versions"][deployment.version] = current
            current["replicas"] = deployment.replicas
            if deployment.version in entry["history"]:
                entry["history"].remove(deployment.version)
            entry["history"].append(deployment.version)
            entry["retired"].pop(deployment.version, None)
            if not entry["weights"] or sum(entry["weights"].values()) == 0:
                entry["weights"] = {deployment.version: 100}
            entry["weights"].setdefault(deployment.version, 0)
            self._converge(deployment.model, deployment.version, current)

    def status(self, model: str, version: str | None = None) -> RolloutStatus:
        entry = self._read()["models"].get(model)
        version = version or (_newest(entry) if entry else None)
        record = entry["versions"].get(version) if entry and version else None
        if record is None:
            return RolloutStatus(self.cluster_id, model, version, 0, 0, 0, "absent", "not deployed here")
        return self._status_of(model, version, record)

    def wait_ready(self, model: str, version: str, timeout_s: float) -> RolloutStatus:
        last: list[RolloutStatus] = []

        def settled() -> RolloutStatus | None:
            last[:] = [self.status(model, version)]
            return last[0] if last[0].state in ("complete", "failed", "absent") else None

        # poll fast first (servers start in ~0.2 s), then back off
        status = wait_until(settled, timeout_s, interval_s=0.01, backoff=1.5, max_interval_s=0.1)
        if status is None:
            late = last[0]
            status = RolloutStatus(
                self.cluster_id, model, version, late.desired, late.updated, late.ready, "failed",
                f"not ready after {timeout_s:.0f}s ({late.ready}/{late.desired} ready): {late.message}")
        self._record_ports(model, version)
        return status

    def scale(self, model: str, version: str, replicas: int) -> None:
        if replicas < 0:
            raise ValueError(f"replicas must be >= 0; got {replicas}")
        with self._locked() as state:
            record = self._record(state, model, version)
            record["replicas"] = replicas
            self._converge(model, version, record)

    def shift(self, model: str, weights: dict[str, int]) -> None:
        if any(int(w) < 0 for w in weights.values()) or sum(int(w) for w in weights.values()) != 100:
            raise ValueError(f"weights must be non-negative percentages summing to 100; got {weights}")
        with self._locked() as state:
            entry = state["models"].get(model)
            unknown = sorted(set(weights) - set(entry["versions"] if entry else ()))
            if unknown:
                raise LocalDriverError(f"cluster {self.cluster_id}: cannot route {model} to undeployed {unknown}")
            entry["weights"] = {v: int(w) for v, w in weights.items()}

    def rollback(self, model: str) -> str | None:
        with self._locked() as state:
            entry = state["models"].get(model)
            if not entry or not entry["versions"]:
                return None
            current = _newest(entry)
            earlier = [v for v in entry["history"] if v != current]
            previous = earlier[-1] if earlier else None
            if previous is not None and previous not in entry["versions"]:
                spec = entry["retired"].get(previous)
                if spec is None:
                    raise LocalDriverError(f"cluster {self.cluster_id}: no spec kept for {model} {previous}")
                record = {**spec, "deployed_at": time.time(), "processes": []}
                entry["versions"][previous] = record
                self._converge(model, previous, record)
            self._retire(entry, current)
            entry["history"] = [v for v in entry["history"] if v != current]
            if previous is None:
                state["models"].pop(model, None)
            else:
                entry["weights"] = {previous: 100}
        if previous is not None:
            self.wait_ready(model, previous, timeout_s=30)
        return previous

    def remove(self, model: str, version: str | None = None) -> None:
        with self._locked() as state:
            entry = state["models"].get(model)
            if entry is None:
                return
            if version is None:
                for record in entry["versions"].values():
                    self._stop_all(record)
                state["models"].pop(model)
                return
            if version not in entry["versions"]:
                return
            self._retire(entry, version)
            if not entry["versions"]:
                entry["weights"] = {}
            elif sum(entry["weights"].values()) != 100:
                # Traffic of the removed version goes to the newest remaining one.
                entry["weights"] = {_newest(entry): 100}

    def endpoints(self, model: str, version: str | None = None) -> list[str]:
        entry = self._read()["models"].get(model)
        others: list[str] = []
        if version is None and self.pool is None:  # what traffic reaches: the serving replicas of every pool
            others = [url for other in self.pool_drivers()[1:] for url in other.endpoints(model)]
        if not entry:
            return others
        if version is not None:
            versions = [version]
        else:
            versions = [v for v, w in entry["weights"].items() if w > 0] or list(entry["versions"])
        return self._urls(entry, versions) + others

    @staticmethod
    def _urls(entry: dict[str, Any], versions: list[str]) -> list[str]:
        urls = []
        for v in versions:
            for proc in entry["versions"].get(v, {}).get("processes", []):
                port = proc.get("port") or _read_port(proc)
                if port and _alive(proc):
                    urls.append(f"http://127.0.0.1:{port}")
        return urls

    def served(self) -> dict[str, ServedModel]:
        out: dict[str, ServedModel] = {}
        for model, entry in self._read()["models"].items():
            if not entry["versions"]:
                continue
            newest = _newest(entry)
            out[model] = {
                "versions": {v: r["replicas"] for v, r in entry["versions"].items()},
                "weights": dict(entry["weights"]),
                "runtime": self.actual_runtime(model, newest) or entry["versions"][newest]["runtime"],
                "artifacts": {v: r["artifact_uri"] for v, r in entry["versions"].items()},
            }
        return out

    # ---- extras (local only) ---------------------------------------------------------------------
    def actual_runtime(self, model: str, version: str) -> dict[str, Any] | None:
        """The runtime a live replica reports it runs (None when no replica answers)."""
        for url in self.endpoints(model, version):
            try:
                with urllib.request.urlopen(f"{url}/version", timeout=PROBE_TIMEOUT_S) as response:
                    return json.loads(response.read())["runtime"]
            except (OSError, ValueError, KeyError):
                continue
        return None

    def pids(self) -> list[int]:
        return [p["pid"] for e in self._read()["models"].values()
                for r in e["versions"].values() for p in r["processes"] if _alive(p)]

    def stop_everything(self) -> int:
        """Stop every server of this cluster (of every pool, unless scoped to one) and forget its models
        (tests, teardown). Returns how many ran."""
        others = sum(d.stop_everything() for d in self.pool_drivers()[1:]) if self.pool is None else 0
        with self._locked() as state:
            running = sum(1 for e in state["models"].values() for r in e["versions"].values()
                          for p in r["processes"] if _alive(p))
            for entry in state["models"].values():
                for record in entry["versions"].values():
                    self._stop_all(record)
            state["models"] = {}
            self._reap_orphans(state)
        return running + others

    # ---- internals ---------------------------------------------------------------------------------
    def _artifact_path(self, deployment: ModelDeployment) -> Path:
        uri = deployment.artifact_uri
        target = uri if uri.endswith(".json") else f"{uri.rstrip('/')}/model.json"
        if target.startswith("file://"):
            path = Path(target.removeprefix("file://"))
        elif "://" not in target:
            path = Path(target)
        else:  # remote artifact store: fetch a local copy for the servers
            import fsspec

            path = self.dir / "artifacts" / deployment.model / deployment.version / "model.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            with fsspec.open(target, "rb") as remote:
                atomic_write_text(path, remote.read().decode())
        try:
            model = LogisticModel.load(path)
        except FileNotFoundError:
            raise LocalDriverError(f"cluster {self.cluster_id}: artifact {target} does not exist") from None
        except ModelFormatError as exc:
            raise LocalDriverError(f"cluster {self.cluster_id}: artifact {target} is not a model: {exc}") from None
        if (model.model, model.version) != (deployment.model, deployment.version):
            raise LocalDriverError(
                f"cluster {self.cluster_id}: artifact {target} holds {model.model} {model.version}, "
                f"not {deployment.model} {deployment.version}")
        return path

    def _record(self, state: dict[str, Any], model: str, version: str) -> dict[str, Any]:
        record = state["models"].get(model, {}).get("versions", {}).get(version)
        if record is None:
            raise LocalDriverError(f"cluster {self.cluster_id}: {model} {version} is not deployed")
        return record

    def _converge(self, model: str, version: str, record: dict[str, Any]) -> None:
        """Start missing replicas, replace dead ones, stop extras."""
        live = [p for p in record["processes"] if _alive(p)]
        for dead in (p for p in record["processes"] if not _alive(p)):
            Path(dead["port_file"]).unlink(missing_ok=True)
        live.sort(key=lambda p: p["replica"])
        for extra in live[record["replicas"]:]:
            _stop(extra)
        live = live[: record["replicas"]]
        used = {p["replica"] for p in live}
        free = (i for i in range(10_000) if i not in used)
        while len(live) < record["replicas"]:
            live.append(self._spawn(model, version, record, next(free)))
        record["processes"] = live

    def _spawn(self, model: str, version: str, record: dict[str, Any], replica: int) -> ServerProcess:
        runtime = record["runtime"]
        run_dir = self.dir / "run"
        logs = self.dir / "logs"
        run_dir.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        stem = f"{model}-{version}-{self.pool}-{replica}" if self.pool else f"{model}-{version}-{replica}"
        port_file = run_dir / f"{stem}.port"
        port_file.unlink(missing_ok=True)
        pid_file = run_dir / f"{stem}.{time.time_ns()}.pid"
        env = {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
        env.update({str(k): str(v) for k, v in (runtime.get("env") or {}).items()})
        limits = runtime.get("limits") or {}
        command = [
            sys.executable, "-I", "-S", str(SERVER_SCRIPT), "--marker", MARKER,
            "--home", str(self.home), "--cluster-dir", str(self.dir), "--cluster", self.physical_id,
            "--artifact", record["artifact_path"], "--port-file", str(port_file), "--replica", str(replica),
            "--pid-file", str(pid_file),
            "--image", str(runtime.get("image", "")), "--env-keys", ",".join(sorted(runtime.get("env") or {})),
        ]
        if limits.get("memory_gb"):
            command += ["--memory-limit-gb", str(limits["memory_gb"])]
        with open(logs / f"{stem}.log", "ab") as log:
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       start_new_session=True, close_fds=True)
        # Detach from the Popen object: the server outlives this call (and this process); psutil
        # reaps nothing, so a stopped server is waited for in _terminate.
        process.returncode = 0
        return {"replica": replica, "pool": self.pool or "on-demand", "pid": process.pid, "started_at": time.time(),
                "port": None, "port_file": str(port_file), "pid_file": str(pid_file), "log": str(logs / f"{stem}.log")}

    def _status_of(self, model: str, version: str, record: dict[str, Any]) -> RolloutStatus:
        desired = record["replicas"]
        procs = record["processes"]
        alive = [p for p in procs if _alive(p)]
        dead = [p for p in procs if not _alive(p)]
        ready = sum(1 for p in alive if _healthy(p, model, version))
        if dead:
            state, message = "failed", f"{len(dead)} replica(s) exited: {_log_tail(dead[0])}"
        elif len(alive) < desired:
            state, message = "progressing", f"{len(alive)}/{desired} replicas started"
        elif ready >= desired:
            state, message = "complete", f"{ready}/{desired} replicas ready"
        else:
            state, message = "progressing", f"{ready}/{desired} replicas ready"
        return RolloutStatus(self.cluster_id, model, version, desired, len(alive), ready, state, message)

    def _record_ports(self, model: str, version: str) -> None:
        with self._locked() as state:
            record = state["models"].get(model, {}).get("versions", {}).get(version)
            for proc in (record or {}).get("processes", []):
                if proc.get("port") is None:
                    proc["port"] = _read_port(proc)

    def _retire(self, entry: dict[str, Any], version: str) -> None:
        record = entry["versions"].pop(version, None)
        if record is None:
            return
        self._stop_all(record)
        entry["retired"][version] = {k: v for k, v in record.items() if k not in ("processes", "deployed_at")}
        entry["weights"].pop(version, None)

    def _stop_all(self, record: dict[str, Any]) -> None:
        for proc in record["processes"]:
            _stop(proc)
        record["processes"] = []

    def _reap_orphans(self, state: dict[str, Any]) -> None:
        """Kill servers of this cluster that the state does not know (a task killed mid-deploy)."""
        known = {p["pid"] for e in state["models"].values() for r in e["versions"].values()
                 for p in r["processes"]}
        for other in self.dir.glob("state*.json"):  # the other pools' replicas are not orphans
            if other != self.state_file:
                models = json.loads(other.read_text(encoding="utf-8"))["models"]
                known |= {p["pid"] for e in models.values() for r in e["versions"].values() for p in r["processes"]}
        # Every server writes a pid file as its first act: a directory listing finds them all,
        # far cheaper than scanning every process of the machine on each deploy.
        orphans = []
        for pid_file in (self.dir / "run").glob("*.pid"):
            try:
                pid = int(pid_file.read_text() or 0)
            except (OSError, ValueError):
                continue
            if pid in known:
                continue
            pid_file.unlink(missing_ok=True)
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                flags = _flags(process.cmdline())
                if MARKER in process.cmdline() and flags.get("--cluster-dir") == str(self.dir):
                    orphans.append(process)
        _terminate(orphans)


# ---- process helpers -------------------------------------------------------------------------------
def _alive(proc: ServerProcess) -> bool:
    """Our replica still runs. Identity is the spawn-unique pid-file path on the command line, not
    the start time: psutil derives start times from the boot time, which moves when the wall clock
    is stepped, and a recycled PID never carries our path."""
    try:
        process = psutil.Process(proc["pid"])
        token = proc.get("pid_file") or proc["port_file"]
        return process.status() != psutil.STATUS_ZOMBIE and token in process.cmdline()
    except psutil.Error:
        return False


def _read_port(proc: ServerProcess) -> int | None:
    try:
        return int(Path(proc["port_file"]).read_text())
    except (OSError, ValueError):
        return None


def _healthy(proc: ServerProcess, model: str, version: str) -> bool:
    port = proc.get("port") or _read_port(proc)
    if not port:
        return False
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=PROBE_TIMEOUT_S) as response:
            body = json.loads(response.read())
        return body.get("model") == model and body.get("version") == version
    except (OSError, ValueError):
        return False


def _log_tail(proc: ServerProcess, lines: int = 3) -> str:
    try:
        text = Path(proc["log"]).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "no output"


def _stop(proc: ServerProcess) -> None:
    Path(proc["port_file"]).unlink(missing_ok=True)
    if proc.get("pid_file"):
        Path(proc["pid_file"]).unlink(missing_ok=True)
    if not _alive(proc):
        return
    with contextlib.suppress(psutil.Error):
        _terminate([psutil.Process(proc["pid"])])


def _terminate(processes: list[psutil.Process]) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)  # each server leads its own process group
    _gone, alive = psutil.wait_procs(processes, timeout=STOP_GRACE_S)
    for process in alive:
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=STOP_GRACE_S)


def find_servers(home: Path | None = None, cluster_dir: Path | None = None,
                 under: Path | None = None) -> list[psutil.Process]:
    """Model-server processes (by marker), optionally only those of one home, cluster or path prefix."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if MARKER not in cmdline:
            continue
        args = _flags(cmdline)
        if home is not None and args.get("--home") != str(home):
            continue
        if cluster_dir is not None and args.get("--cluster-dir") != str(cluster_dir):
            continue
        if under is not None and not Path(args.get("--home", "")).is_relative_to(under):  # not a mere prefix
            continue
        found.append(process)
    return found


def stop_all_servers(home: Path | None = None, under: Path | None = None) -> int:
    """Stop every model server of an estate home (or under a path prefix); returns how many ran."""
    if home is None and under is None:
        raise ValueError("name the estate home (or a path prefix) whose model servers to stop")
    stopped = 0
    if home is not None:
        clusters = Path(home) / "clusters"
        for state_file in clusters.glob("*/state.json") if clusters.is_dir() else ():
            stopped += LocalClusterDriver(state_file.parent.name, Path(home)).stop_everything()
    leftovers = find_servers(home=home, under=under)
    _terminate(leftovers)
    return stopped + len(leftovers)


def _flags(cmdline: list[str]) -> dict[str, str]:
    return {cmdline[i]: cmdline[i + 1] for i in range(len(cmdline) - 1) if cmdline[i].startswith("--")}


def _newest(entry: dict[str, Any]) -> str | None:
    deployed = [v for v in entry["history"] if v in entry["versions"]]
    return deployed[-1] if deployed else (next(iter(entry["versions"]), None))


def _spec_key(spec: dict[str, Any]) -> str:
    return json.dumps({k: spec.get(k) for k in ("artifact_path", "runtime")}, sort_keys=True)


__all__ = ["LocalClusterDriver", "LocalDriverError", "find_servers", "stop_all_servers"]
