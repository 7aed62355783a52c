"""Deferrable wait for an OCI Resource Manager job (PLAN / APPLY) to reach a terminal state.

Events: ``SUCCEEDED`` / ``FAILED`` / ``CANCELED`` (with the last log lines when not succeeded), or
``timeout`` at the serialized deadline (with the log tail). Polling, backoff, deadline and kill
semantics come from ``OCIPollingTrigger``; the calls from ``OCIResourceManagerHook``.
"""

from __future__ import annotations

from typing import Any

from multicloud.hooks.oci_resource_manager import OCIResourceManagerHook
from multicloud.triggers.base import OCIPollingTrigger


class ResourceManagerJobTrigger(OCIPollingTrigger):
    """Wait for one Resource Manager job to end.

    :param job_id: the job's OCID (from ``create_job``).
    :param oci_conn_id: the Airflow connection (type ``oci``).
    :param region: an OCI region id overriding the connection's region.
    :param poll_interval: seconds before the second read; doubles up to ``max_poll_interval``.
    :param max_poll_interval: the longest wait between two reads, in seconds.
    :param timeout_s: seconds after ``started_at`` at which the wait gives up (None: never).
    :param started_at: wall-clock start of the wait (epoch seconds), kept across triggerer restarts.
    :param stop_on_kill: cancel the job when a user kills the deferred task.
    """

    hook_class = OCIResourceManagerHook
    resource_fields = ("job_id",)

    def __init__(self, *, job_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("poll_interval", 10.0)
        kwargs.setdefault("max_poll_interval", 60.0)
        kwargs.setdefault("timeout_s", 3600.0)
        super().__init__(**kwargs)
        self.job_id = job_id

    @property
    def hook(self) -> OCIResourceManagerHook:
        return super().hook  # type: ignore[return-value]

    async def wait(self, deadline: float | None) -> Any:
        return await self.hook.async_job_completion(self.job_id, poll_interval=self.poll_interval,
                                                    max_poll_interval=self.max_poll_interval, deadline=deadline)

    def event_for(self, job: Any) -> dict[str, Any]:
        return job_event(self.hook, job)

    def timeout_event(self, last: Any, message: str) -> dict[str, Any]:
        return {"status": "timeout", "job_id": self.job_id, "message": message,
                "log_tail": self.hook.job_log_tail(self.job_id)}

    def stop_remote(self) -> None:
        self.log.info("Cancelling Resource Manager job %s", self.job_id)
        self.hook.cancel_job(self.job_id)


def job_event(hook: OCIResourceManagerHook, job: Any) -> dict[str, Any]:
    """The event for a terminal job (also the non-deferrable path's result)."""
    event: dict[str, Any] = {"status": job.lifecycle_state, "job_id": job.id, "operation": job.operation}
    if job.lifecycle_state != "SUCCEEDED":
        event["log_tail"] = hook.job_log_tail(job.id)
        details = getattr(job, "failure_details", None)
        event["message"] = details.message if details else f"job {job.lifecycle_state}"
    return event
