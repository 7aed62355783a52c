"""OCI Resource Manager routes (jobs) on the ``OCIEmulator`` base, for the real ``oci`` SDK.

Emulated because no OCI endpoint is reachable here. A job advances one state per ``get_job``
(ACCEPTED -> IN_PROGRESS -> SUCCEEDED, or FAILED for stacks listed in ``failing_stacks``),
``opc-retry-token`` returns the job first created with it (as OCI does), ``DELETE`` cancels,
and ``/logs`` honours ``sortOrder`` and ``limit``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from tests.emulators.oci import OCIEmulator, OCIError, OCIRequest

BASE = "/20180917"


class ResourceManagerEmulator:
    def __init__(self, emulator: OCIEmulator, failing_stacks: set[str] | None = None,
                 steps_to_finish: int = 2) -> None:
        self.emulator = emulator
        self.failing_stacks = failing_stacks or set()
        self.steps_to_finish = steps_to_finish
        self.jobs: dict[str, dict[str, Any]] = {}
        self.logs: dict[str, list[dict[str, Any]]] = {}
        self.by_token: dict[str, str] = {}
        self._ids = itertools.count(1)
        emulator.route("POST", f"{BASE}/jobs")(self.create_job)
        emulator.route("GET", f"{BASE}/jobs/(?P<job>[^/]+)")(self.get_job)
        emulator.route("GET", f"{BASE}/jobs/(?P<job>[^/]+)/logs")(self.get_logs)
        emulator.route("DELETE", f"{BASE}/jobs/(?P<job>[^/]+)")(self.cancel_job)

    def _log(self, job_id: str, message: str, level: str = "INFO") -> None:
        self.logs[job_id].append({"type": "TERRAFORM_CONSOLE", "level": level, "message": message,
                                  "timestamp": datetime.now(UTC).isoformat()})

    def create_job(self, request: OCIRequest):
        body = request.body or {}
        if not body.get("stackId"):
            raise OCIError(400, "InvalidParameter", "stackId is required")
        token = request.retry_token
        if token and token in self.by_token:
            return 200, self.jobs[self.by_token[token]]
        job_id = f"ocid1.ormjob.oc1..{next(self._ids)}"
        self.jobs[job_id] = {
            "id": job_id, "stackId": body["stackId"], "compartmentId": "ocid1.compartment.oc1..dr",
            "displayName": body.get("displayName"), "operation": body.get("operation", "APPLY"),
            "jobOperationDetails": body.get("jobOperationDetails"), "lifecycleState": "ACCEPTED",
            "timeCreated": datetime.now(UTC).isoformat(), "_polls": 0,
        }
        self.logs[job_id] = []
        self._log(job_id, f"Terraform {body.get('operation', 'APPLY').lower()} of stack {body['stackId']}")
        if token:
            self.by_token[token] = job_id
        return 200, self._public(job_id)

    def _public(self, job_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.jobs[job_id].items() if not k.startswith("_")}

    def get_job(self, request: OCIRequest):
        job = self.jobs.get(request.params["job"])
        if job is None:
            raise OCIError(404, "NotAuthorizedOrNotFound", "job not found")
        state = job["lifecycleState"]
        job["_polls"] += 1
        if state == "ACCEPTED":
            job["lifecycleState"] = "IN_PROGRESS"
            self._log(job["id"], "module.standby: Creating...")
        elif state == "IN_PROGRESS" and job["_polls"] > self.steps_to_finish:
            if job["stackId"] in self.failing_stacks:
                job["lifecycleState"] = "FAILED"
                job["failureDetails"] = {"code": "TERRAFORM_EXECUTION_ERROR", "message": "terraform apply failed"}
                self._log(job["id"], "Error: 400-LimitExceeded, node pool quota exceeded", "ERROR")
            else:
                job["lifecycleState"] = "SUCCEEDED"
                self._log(job["id"], "Apply complete! Resources: 3 added, 0 changed, 0 destroyed.")
        elif state == "CANCELING":
            job["lifecycleState"] = "CANCELED"
        return 200, self._public(job["id"])

    def get_logs(self, request: OCIRequest):
        entries = list(self.logs.get(request.params["job"], []))
        if request.query.get("sortOrder", ["ASC"])[0] == "DESC":
            entries.reverse()
        limit = int(request.query.get("limit", [len(entries) or 1])[0])
        return 200, entries[:limit]

    def cancel_job(self, request: OCIRequest):
        job = self.jobs.get(request.params["job"])
        if job is None:
            raise OCIError(404, "NotAuthorizedOrNotFound", "job not found")
        if job["lifecycleState"] in ("ACCEPTED", "IN_PROGRESS"):
            job["lifecycleState"] = "CANCELING"
        return 204, None
