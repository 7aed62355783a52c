"""OCI Resource Manager routes (jobs) on the ``OCIEmulator`` base, for the real ``oci`` SDK.

Emulated because no OCI endpoint is reachable here. A job advances one state per ``get_job``
(ACCEPTED -> IN_PROGRESS -> SUCCEEDED, or FAILED for stacks listed in ``failing_stacks``),
``opc-retry-token`` returns the job first created with it (as OCI does), ``DELETE`` cancels,
and ``/logs`` honours ``sortOrder`` and ``limit``. ``GET /jobs`` lists ``JobSummary`` items filtered
by ``stackId``/``displayName``/``lifecycleState`` and sorted by ``sortBy``/``sortOrder``.
``fail_next[stack] = n`` makes the stack's next n jobs fail (then they succeed again).
``overlaps`` records a create while a job of the same stack and name was in flight.
Not modelled: pagination tokens, plan resolution, job outputs, stack objects.
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
        self.by_token: dict[str, tuple[str, Any]] = {}
        self.fail_next: dict[str, int] = {}
        self.overlaps: list[str] = []
        self._ids = itertools.count(1)
        emulator.route("POST", f"{BASE}/jobs")(self.create_job)
        emulator.route("GET", f"{BASE}/jobs")(self.list_jobs)
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
            job_id, first_body = self.by_token[token]
            if first_body != body:
                raise OCIError(409, "Conflict", "the retry token was used with a different request")
            return 200, self._public(job_id)
        if any(j["stackId"] == body["stackId"] and j.get("displayName") == body.get("displayName")
               and j["lifecycleState"] in ("ACCEPTED", "IN_PROGRESS", "CANCELING") for j in self.jobs.values()):
            self.overlaps.append(body.get("displayName"))
        job_id = f"ocid1.ormjob.oc1..{next(self._ids)}"
        fails = body["stackId"] in self.failing_stacks or self.fail_next.get(body["stackId"], 0) > 0
        if self.fail_next.get(body["stackId"], 0) > 0:
            self.fail_next[body["stackId"]] -= 1
        self.jobs[job_id] = {
            "id": job_id, "stackId": body["stackId"], "compartmentId": "ocid1.compartment.oc1..dr",
            "displayName": body.get("displayName"), "operation": body.get("operation", "APPLY"),
            "jobOperationDetails": body.get("jobOperationDetails"), "lifecycleState": "ACCEPTED",
            "timeCreated": datetime.now(UTC).isoformat(), "freeformTags": body.get("freeformTags") or {},
            "_polls": 0, "_fails": fails, "_seq": len(self.jobs),
        }
        self.logs[job_id] = []
        self._log(job_id, f"Terraform {body.get('operation', 'APPLY').lower()} of stack {body['stackId']}")
        if token:
            self.by_token[token] = (job_id, body)
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
            if job["_fails"]:
                job["lifecycleState"] = "FAILED"
                job["failureDetails"] = {"code": "TERRAFORM_EXECUTION_ERROR", "message": "terraform apply failed"}
                self._log(job["id"], "Error: 400-LimitExceeded, node pool quota exceeded", "ERROR")
            else:
                job["lifecycleState"] = "SUCCEEDED"
                self._log(job["id"], "Apply complete! Resources: 3 added, 0 changed, 0 destroyed.")
        elif state == "CANCELING":
            job["lifecycleState"] = "CANCELED"
        if job["lifecycleState"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            job.setdefault("timeFinished", datetime.now(UTC).isoformat())
        return 200, self._public(job["id"])

    def list_jobs(self, request: OCIRequest):
        def wanted(job: dict[str, Any]) -> bool:
            for param, key in (("stackId", "stackId"), ("displayName", "displayName"),
                               ("lifecycleState", "lifecycleState"), ("id", "id")):
                value = (request.query.get(param) or [None])[0]
                if value is not None and job.get(key) != value:
                    return False
            return True

        sort_by = (request.query.get("sortBy") or ["TIMECREATED"])[0]
        if sort_by not in ("TIMECREATED", "DISPLAYNAME"):
            raise OCIError(400, "InvalidParameter", f"sortBy {sort_by!r}")
        found = sorted((j for j in self.jobs.values() if wanted(j)),
                       key=(lambda j: j["_seq"]) if sort_by == "TIMECREATED" else (lambda j: j.get("displayName") or ""),
                       reverse=(request.query.get("sortOrder") or ["DESC"])[0] == "DESC")
        summary_keys = ("id", "stackId", "compartmentId", "displayName", "operation", "lifecycleState",
                        "timeCreated", "timeFinished", "freeformTags")
        return 200, [{k: j[k] for k in summary_keys if k in j} for j in found]

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
