"""OCI Data Integration task runs on the signature-checking OCIEmulator (emulated: no OCI here).

Implements what the operator and trigger call, as the real service behaves:
  POST .../workspaces/{ws}/applications/{app}/taskRuns   create (honours opc-retry-token: the same
                                                         token returns the same task run)
  GET  .../taskRuns/{key}                                 read; each read advances the run one step
                                                         along its scripted states
  PUT  .../taskRuns/{key}                                 update; status TERMINATING -> TERMINATING,
                                                         then TERMINATED on the next read
A test scripts a run's life with ``script`` (states, plus an error message for ERROR).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.oci import OCIEmulator, OCIError, OCIRequest

BASE = r"/20200430/workspaces/(?P<ws>[^/]+)/applications/(?P<app>[^/]+)/taskRuns"


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
    history: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.terminate_requested:
            return "TERMINATED" if self.reads > 0 else "TERMINATING"
        return self.states[min(self.reads, len(self.states) - 1)]

    def as_json(self) -> dict[str, Any]:
        status = self.status
        data = {
            "key": self.key, "name": self.body.get("name"), "status": status,
            "modelType": "TASK_RUN", "objectVersion": 1,
            "configProvider": self.body.get("configProvider"),
            "refTaskRunId": self.body.get("refTaskRunId"), "reRunType": self.body.get("reRunType"),
        }
        if status == "ERROR":
            data["errorMessage"] = self.error_message
        if status == "SUCCESS":
            data["recordsWritten"] = 1234
            data["bytesProcessed"] = 98765
        return data


class DataIntegrationEmulator:
    def __init__(self, emulator: OCIEmulator) -> None:
        self.emulator = emulator
        self.runs: dict[str, TaskRun] = {}
        self.by_token: dict[str, str] = {}
        self.next_states: list[str] = ["QUEUED", "RUNNING", "SUCCESS"]
        self.next_error: str | None = None
        self._ids = itertools.count(1)
        emulator.route("POST", BASE)(self._create)
        emulator.route("GET", BASE + r"/(?P<key>[^/]+)")(self._get)
        emulator.route("PUT", BASE + r"/(?P<key>[^/]+)")(self._update)

    def script(self, *states: str, error: str | None = None) -> None:
        """States the next created run goes through, one per read (the last one sticks)."""
        self.next_states = list(states)
        self.next_error = error

    def _create(self, request: OCIRequest) -> tuple[int, Any]:
        body = request.body or {}
        if "registryMetadata" not in body or "aggregatorKey" not in body["registryMetadata"]:
            raise OCIError(400, "InvalidParameter", "registryMetadata.aggregatorKey is required")
        for name, value in (body.get("configProvider") or {}).get("bindings", {}).items():
            if "simpleValue" not in value and "rootObjectValue" not in value:
                raise OCIError(400, "InvalidParameter", f"binding {name} has no value")
        token = request.retry_token
        if token and token in self.by_token:
            return 200, self.runs[self.by_token[token]].as_json()
        key = f"taskrun-{next(self._ids)}"
        run = TaskRun(key, request.params["ws"], request.params["app"], body, list(self.next_states), self.next_error)
        self.runs[key] = run
        if token:
            self.by_token[token] = key
        return 200, {**run.as_json(), "status": "NOT_STARTED"}

    def _run(self, request: OCIRequest) -> TaskRun:
        run = self.runs.get(request.params["key"])
        if run is None or run.workspace != request.params["ws"]:
            raise OCIError(404, "NotAuthorizedOrNotFound", f"task run {request.params['key']} not found")
        return run

    def _get(self, request: OCIRequest) -> tuple[int, Any]:
        run = self._run(request)
        payload = run.as_json()
        run.reads += 1
        run.history.append(payload["status"])
        return 200, payload

    def _update(self, request: OCIRequest) -> tuple[int, Any]:
        run = self._run(request)
        if (request.body or {}).get("status") == "TERMINATING":
            run.terminate_requested = True
            run.reads = 0
        return 200, run.as_json()
