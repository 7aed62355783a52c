"""Deferrable polling of an OCI Resource Manager job until it reaches a terminal state.

The OCI SDK is synchronous: every call runs in a worker thread (``asyncio.to_thread``) so the
triggerer's event loop never blocks. ``on_kill`` (a user killed the deferred task) cancels the
job; ``cleanup`` (every exit, triggerer restarts included) never touches it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

TERMINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELED")
LOG_TAIL_LINES = 20


def job_client(oci_conn_id: str):
    import oci

    from multicloud.hooks.oci import OCIHook

    return OCIHook(oci_conn_id).get_client(oci.resource_manager.ResourceManagerClient)


def job_log_tail(client, job_id: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of the job's log, oldest first (what explains a failure)."""
    import oci

    try:
        entries = client.get_job_logs(job_id, sort_order="DESC", limit=lines).data
    except oci.exceptions.ServiceError as err:
        return [f"(job log unavailable: {err.status} {err.code})"]
    return [entry.message for entry in reversed(entries) if entry.message]


class ResourceManagerJobTrigger(BaseTrigger):
    def __init__(self, job_id: str, oci_conn_id: str, poll_interval_s: float = 10.0,
                 timeout_s: float = 3600.0, started_at: float | None = None) -> None:
        super().__init__()
        self.job_id = job_id
        self.oci_conn_id = oci_conn_id
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self.started_at = started_at if started_at is not None else time.time()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {
            "job_id": self.job_id, "oci_conn_id": self.oci_conn_id, "poll_interval_s": self.poll_interval_s,
            "timeout_s": self.timeout_s, "started_at": self.started_at,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        client = await asyncio.to_thread(job_client, self.oci_conn_id)
        while True:
            try:
                job = (await asyncio.to_thread(client.get_job, self.job_id)).data
            except Exception as exc:
                yield TriggerEvent({"status": "error", "job_id": self.job_id,
                                    "message": f"get_job failed: {type(exc).__name__}: {exc}"})
                return
            state = job.lifecycle_state
            if state in TERMINAL_STATES:
                event: dict[str, Any] = {"status": state, "job_id": self.job_id, "operation": job.operation}
                if state != "SUCCEEDED":
                    event["log_tail"] = await asyncio.to_thread(job_log_tail, client, self.job_id)
                    event["message"] = (job.failure_details.message if getattr(job, "failure_details", None)
                                        else f"job {state}")
                yield TriggerEvent(event)
                return
            if time.time() - self.started_at > self.timeout_s:
                tail = await asyncio.to_thread(job_log_tail, client, self.job_id)
                yield TriggerEvent({"status": "timeout", "job_id": self.job_id, "log_tail": tail,
                                    "message": f"job still {state} after {self.timeout_s:g}s"})
                return
            self.log.info("Resource Manager job %s is %s", self.job_id, state)
            await asyncio.sleep(self.poll_interval_s)

    async def on_kill(self) -> None:
        client = await asyncio.to_thread(job_client, self.oci_conn_id)
        await asyncio.to_thread(cancel_job, client, self.job_id)


def cancel_job(client, job_id: str) -> bool:
    """Cancel unless already terminal; True when a cancel was sent."""
    import oci

    try:
        if client.get_job(job_id).data.lifecycle_state in TERMINAL_STATES:
            return False
        client.cancel_job(job_id)
        return True
    except oci.exceptions.ServiceError as err:
        if err.status == 404:
            return False
        raise
