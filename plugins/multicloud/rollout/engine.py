"""The per-cluster steps of a rollout and the run's journal. No Airflow import.

The journal (``{estate home}/state/rollouts/<run>.json``, locked, written atomically, plus the
lanes' append-only ``<run>.log``) records
what a run touched BEFORE it touches it, with the cluster's previous versions and weights, so a
failed gate, a failed deploy, a rejected approval or a killed task can always be rolled back on
every cluster the run touched, and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from multicloud import paths, statefile
from multicloud.drivers.base import ClusterDriver, ModelDeployment
from multicloud.drivers.restore import RestoreFailed, restore_previous, snapshot
from multicloud.paths import safe_run_id


class RolloutFailed(RuntimeError):
    """A cluster did not become ready, or a gate failed."""


class Journal:
    """The run's journal; with an ``estate``, every event is also a ``rollout_step`` log entry.

    What parallel lanes record (each cluster's state before it is touched, step events) is
    appended to ``<run>.log``, one JSON line per ``write`` on an ``O_APPEND`` descriptor, so the
    lanes of a wave never queue for each other's journal writes. ``update`` (promotion, rollback)
    rewrites ``<run>.json`` under a lock, folding in the log up to the offset it read; ``read``
    returns both merged (for a cluster, the first "before" recorded wins: a retried deploy must
    not record the new version as what came before).
    """

    def __init__(self, run_id: str, home: Path | None = None, estate: Any = None) -> None:
        self.path = paths.home_path(home, "state", "rollouts", f"{safe_run_id(run_id)}.json", what="rollout journal")
        self.log_path = self.path.with_suffix(".log")
        self.run_id, self.home, self.estate = run_id, home, estate

    def read(self) -> dict[str, Any]:
        return self._merged()[0]

    def _merged(self) -> tuple[dict[str, Any], int]:
        """The journal with the log folded in, and the log offset folded up to."""
        data = (json.loads(self.path.read_text()) if self.path.exists()
                else {"touched": [], "events": [], "promoted": False, "rolled_back": []})
        offset = int(data.pop("log_offset", 0))
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                tail = log.read()
        except FileNotFoundError:
            tail = b""
        for line in tail.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # a line still being written
            offset += len(line)
            record = json.loads(line)
            if "touched" in record:
                touched = record["touched"]
                if not any(t["cluster"] == touched["cluster"] and t["model"] == touched["model"]
                           for t in data["touched"]):
                    data["touched"].append(touched)
            else:
                data["events"].append(record["event"])
        return data, offset

    @contextlib.contextmanager
    def update(self) -> Iterator[dict[str, Any]]:
        with statefile.locked(self.path, self.path.with_suffix(".lock")):
            data, offset = self._merged()
            yield data
            statefile.write_json(self.path, {**data, "log_offset": offset})

    def _append(self, records: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(record, sort_keys=True) + "\n" for record in records).encode()
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text)  # one write: concurrent appends never interleave
        finally:
            os.close(fd)

    def touch(self, befores: list[dict[str, Any]]) -> None:
        """Record what clusters served before this run touches them (before touching them)."""
        self._append([{"touched": before} for before in befores])

    def event(self, kind: str, **fields: Any) -> None:
        self.events(kind, [fields])

    def events(self, kind: str, many: list[dict[str, Any]]) -> None:
        """Several events of one kind in one journal write (and one batch per log sink)."""
        if not many:
            return
        now = time.time()
        self._append([{"event": {"kind": kind, "at": now, **fields}} for fields in many])
        if self.estate is not None:
            from multicloud.metrics import logs

            logs.record_many("rollout_step", [{"run_id": self.run_id, "step": kind, **fields} for fields in many],
                             estate=self.estate, home=self.home)


def deploy_item(driver: ClusterDriver, item: dict[str, Any], *, strategy: str, runtime: dict[str, Any],
                journal: Journal, ready_timeout_s: float, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """Deploy one model version on one cluster beside what runs, wait for readiness, set weights."""
    started = start_items([(driver, item)], runtime=runtime, journal=journal, labels=labels)[0]
    return finish_item(driver, item, started, strategy=strategy, journal=journal, ready_timeout_s=ready_timeout_s)


def start_items(pairs: list[tuple[ClusterDriver, dict[str, Any]]], *,
                runtime: dict[str, Any] | Callable[[str], dict[str, Any]], journal: Journal,
                labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Record what each cluster served (one journal write), then start every deployment.

    Starting is quick (processes spawn in the background), so a lane starts all its clusters
    before waiting for any: their start-ups overlap. ``runtime`` is one baseline, or a function of
    the cluster id (a cluster may declare its own image).
    """
    befores = [snapshot(driver, item["model"]) for driver, item in pairs]
    journal.touch([{"cluster": item["cluster"], "model": item["model"], "version": item["version"],
                    "previous": before} for (_driver, item), before in zip(pairs, befores, strict=True)])
    started = []
    for (driver, item), before in zip(pairs, befores, strict=True):
        t0 = time.monotonic()
        model, version = item["model"], item["version"]
        try:
            baseline = runtime(item["cluster"]) if callable(runtime) else runtime
            driver.deploy(ModelDeployment(model, version, item["replicas"], item["artifact_uri"], baseline,
                                          {"model": model, "version": version, **(labels or {})}))
        except Exception as exc:
            journal.event("deploy_failed", cluster=item["cluster"], model=model, version=version, message=str(exc))
            raise
        started.append({"t0": t0, "before": before})
    return started


def finish_item(driver: ClusterDriver, item: dict[str, Any], started: dict[str, Any], *, strategy: str,
                journal: Journal, ready_timeout_s: float) -> dict[str, Any]:
    """Wait for readiness (measured from this cluster's deploy), then set the strategy's weights."""
    model, version, cluster = item["model"], item["version"], item["cluster"]
    status = driver.wait_ready(model, version, ready_timeout_s)
    ready_s = round(time.monotonic() - started["t0"], 3)
    if status.state != "complete":
        journal.event("deploy_failed", cluster=cluster, model=model, version=version, message=status.message)
        raise RolloutFailed(f"{cluster}: {model} {version} not ready: {status.message}")
    old = [v for v in started["before"].get("versions", {}) if v != version]
    if strategy == "rolling" or not old:
        weights = {version: 100}
    elif strategy == "canary":
        weights = {**{v: 0 for v in old}, old[-1]: 90, version: 10}
    else:  # blue_green: green is up and probed, blue keeps all traffic until promotion
        weights = {**{v: 0 for v in old}, old[-1]: 100, version: 0}
    driver.shift(model, weights)
    journal.event("deployed", cluster=cluster, model=model, version=version, ready_s=ready_s, weights=weights)
    return {"cluster": cluster, "model": model, "version": version, "ready_s": ready_s, "weights": weights}


def promote_item(driver: ClusterDriver, model: str, version: str) -> None:
    """All traffic to ``version``, every other version of the model removed."""
    served = driver.served().get(model, {})
    if version not in served.get("versions", {}):
        raise RolloutFailed(f"{driver.cluster_id}: cannot promote {model} {version}: it is not deployed")
    if set(served["versions"]) == {version} and served.get("weights") == {version: 100}:
        return  # already promoted (a first deploy gets all traffic at once): nothing to write
    driver.shift(model, {version: 100})
    for other in served["versions"]:
        if other != version:
            driver.remove(model, other)


def rollback_touched(driver: ClusterDriver, touched: dict[str, Any]) -> dict[str, Any]:
    """Return one cluster to exactly what it served before the run (versions and weights)."""
    model = touched["model"]
    try:
        after = restore_previous(driver, model, touched["previous"], changed={touched["version"]})
    except RestoreFailed as exc:
        raise RolloutFailed(str(exc)) from exc
    return {"cluster": touched["cluster"], "model": model, "restored": after["versions"], "weights": after["weights"]}
