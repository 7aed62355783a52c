"""OCI Data Integration task runs on the signature-checking OCIEmulator (emulated: no OCI here).

Implements what the hook calls, with the SDK models' field names (``TaskRun``, ``TaskRunSummary``)
and the service's behaviour:
  POST .../workspaces/{ws}/applications/{app}/taskRuns   create; an ``opc-retry-token`` seen before
                                                         returns the run it created (a different body
                                                         with the same token is 409, as OCI answers)
  GET  .../taskRuns?name=&sortBy=&sortOrder=              list (``TaskRunSummaryCollection``), no state change
  GET  .../taskRuns/{key}                                 read; each read advances the run one step
                                                         along its scripted states
  PUT  .../taskRuns/{key}                                 update; status TERMINATING -> TERMINATING,
                                                         then TERMINATED on the next read
A test scripts the next runs' lives with ``script`` (states, plus an error message for ERROR).
``on_success(run)`` stands in for the published task's work (tests move data there).
``overlaps`` records every create that happened while a run of the same name was in flight (the
real service would allow it; tests assert it never happens). Not modelled: pagination tokens,
task schedules, metrics/outputs, the workspace and application objects themselves.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.oci import OCIEmulator, OCIError, OCIRequest

BASE = r"/20200430/workspaces/(?P<ws>[^/]+)/applications/(?P<app>[^/]+)/taskRuns"
IN_FLIGHT = {"NOT_STARTED", "QUEUED", "RUNNING", "TERMINATING"}
STATES = {"NOT_STARTED", "QUEUED", "RUNNING", "TERMINATING", "TERMINATED", "SUCCESS", "ERROR"}


@dataclass
class TaskRun:
    key: str
    workspace: str
    application: str
    body: dict[str, Any]
    states: list[str]
    error_message: str | None = None
    reads: int = 0
    terminate_requested: bool = False
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    history: list[str] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        return self.body.get("name")

    @property
    def status(self) -> str:
        if self.terminate_requested:
            return "TERMINATED" if self.reads > 0 else "TERMINATING"
        if self.reads == 0:
            return "NOT_STARTED"
        return self.states[min(self.reads - 1, len(self.states) - 1)]

    def as_json(self) -> dict[str, Any]:
        status = self.status
        data = {
            "key": self.key, "name": self.name, "status": status, "modelType": "TASK_RUN", "objectVersion": 1,
            "configProvider": self.body.get("configProvider"), "taskKey": self.body["registryMetadata"]["aggregatorKey"],
            "refTaskRunId": self.body.get("refTaskRunId"), "reRunType": self.body.get("reRunType"),
            "startTimeMillis": self.created_ms, "lastUpdated": self.created_ms + self.reads,
        }
        if status not in IN_FLIGHT:
            data["endTimeMillis"] = self.created_ms + self.reads
        if status == "ERROR":
            data["errorMessage"] = self.error_message
            data["executionErrors"] = [self.error_message] if self.error_message else []
        if status == "SUCCESS":
            data["recordsWritten"] = 1234
            data["bytesProcessed"] = 98765
        return data

    def summary(self) -> dict[str, Any]:
        full = self.as_json()
        keep = ("key", "name", "status", "modelType", "objectVersion", "startTimeMillis", "endTimeMillis",
                "lastUpdated", "recordsWritten", "bytesProcessed", "refTaskRunId", "reRunType")
        return {k: full[k] for k in keep if k in full}


class DataIntegrationEmulator:
    def __init__(self, emulator: OCIEmulator) -> None:
        self.emulator = emulator
        self.runs: dict[str, TaskRun] = {}
        self.by_token: dict[str, tuple[str, Any]] = {}
        self.next_states: list[list[str]] = []
        self.default_states = ["QUEUED", "RUNNING", "SUCCESS"]
        self.next_errors: list[str | None] = []
        self.overlaps: list[str] = []
        # what the published task does when a run succeeds (tests move the data here); None: nothing
        self.on_success: Callable[[TaskRun], None] | None = None
        self._ids = itertools.count(1)
        emulator.route("POST", BASE)(self._create)
        emulator.route("GET", BASE)(self._list)
        emulator.route("GET", BASE + r"/(?P<key>[^/]+)")(self._get)
        emulator.route("PUT", BASE + r"/(?P<key>[^/]+)")(self._update)

    def script(self, *states: str, error: str | None = None) -> None:
        """Queue the states of the next created run, one per read after NOT_STARTED (the last sticks).

        Call it several times to script several runs in order; unscripted runs succeed.
        """
        unknown = set(states) - STATES
        assert not unknown, f"not TaskRun states: {unknown}"
        self.next_states.append(list(states))
        self.next_errors.append(error)

    def _create(self, request: OCIRequest) -> tuple[int, Any]:
        body = request.body or {}
        if "registryMetadata" not in body or "aggregatorKey" not in body["registryMetadata"]:
            raise OCIError(400, "InvalidParameter", "registryMetadata.aggregatorKey is required")
        for name, value in (body.get("configProvider") or {}).get("bindings", {}).items():
            if "simpleValue" not in value and "rootObjectValue" not in value:
                raise OCIError(400, "InvalidParameter", f"binding {name} has no value")
        if body.get("reRunType") in ("FAILED", "STEP") and body.get("refTaskRunId") not in self.runs:
            raise OCIError(400, "InvalidParameter", "refTaskRunId must name an existing task run")
        token = request.retry_token
        with self.emulator.lock:
            if token and token in self.by_token:
                key, first_body = self.by_token[token]
                if first_body != body:
                    raise OCIError(409, "Conflict", "the retry token was used with a different request")
                return 200, self.runs[key].as_json()
            if any(r.name == body.get("name") and r.status in IN_FLIGHT for r in self.runs.values()):
                self.overlaps.append(body.get("name"))
            key = f"taskrun-{next(self._ids)}"
            states = self.next_states.pop(0) if self.next_states else list(self.default_states)
            error = self.next_errors.pop(0) if self.next_errors else None
            run = TaskRun(key, request.params["ws"], request.params["app"], body, states, error)
            self.runs[key] = run
            if token:
                self.by_token[token] = (key, body)
        return 200, run.as_json()

    def _run(self, request: OCIRequest) -> TaskRun:
        run = self.runs.get(request.params["key"])
        if run is None or run.workspace != request.params["ws"]:
            raise OCIError(404, "NotAuthorizedOrNotFound", f"task run {request.params['key']} not found")
        return run

    def _list(self, request: OCIRequest) -> tuple[int, Any]:
        name = (request.query.get("name") or [None])[0]
        sort_by = (request.query.get("sortBy") or ["TIME_CREATED"])[0]
        if sort_by not in ("TIME_CREATED", "DISPLAY_NAME", "TIME_UPDATED"):
            raise OCIError(400, "InvalidParameter", f"sortBy {sort_by!r}")
        runs = [r for r in self.runs.values() if r.workspace == request.params["ws"]
                and r.application == request.params["app"] and (name is None or r.name == name)]
        runs.sort(key=lambda r: (r.created_ms, int(r.key.split("-")[-1])),
                  reverse=(request.query.get("sortOrder") or ["DESC"])[0] == "DESC")
        return 200, {"items": [r.summary() for r in runs]}

    def _get(self, request: OCIRequest) -> tuple[int, Any]:
        run = self._run(request)
        with self.emulator.lock:
            run.reads += 1
            payload = run.as_json()
            first_success = payload["status"] == "SUCCESS" and "SUCCESS" not in run.history
            run.history.append(payload["status"])
        if first_success and self.on_success is not None:
            self.on_success(run)
        return 200, payload

    def _update(self, request: OCIRequest) -> tuple[int, Any]:
        run = self._run(request)
        if (request.body or {}).get("status") == "TERMINATING" and run.status in IN_FLIGHT:
            run.terminate_requested = True
            run.reads = 0
        return 200, run.as_json()
