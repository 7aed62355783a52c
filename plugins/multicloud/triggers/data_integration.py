"""Deferrable wait for an OCI Data Integration task run (model: the amazon provider's Glue trigger).

Events: ``success`` with the run's metadata, ``error`` (ERROR / TERMINATED) with the service's
message, ``timeout`` at the serialized deadline. Polling, backoff, deadline and kill semantics
come from ``OCIPollingTrigger``; the calls from ``OCIDataIntegrationHook``.
"""

from __future__ import annotations

from typing import Any

from multicloud.hooks.oci_data_integration import (
    SUCCESS_STATES,
    OCIDataIntegrationHook,
    failure_message,
    task_run_metadata,
)
from multicloud.triggers.base import OCIPollingTrigger


class OCIDataIntegrationTaskRunTrigger(OCIPollingTrigger):
    """Wait for one task run to end.

    :param task_run_key: the task run's key (from ``create_task_run``).
    :param workspace_id: the Data Integration workspace OCID.
    :param application_key: the application the task is published to.
    :param oci_conn_id: the Airflow connection (type ``oci``).
    :param region: an OCI region id overriding the connection's region.
    :param poll_interval: seconds before the second read; doubles up to ``max_poll_interval``.
    :param max_poll_interval: the longest wait between two reads, in seconds.
    :param timeout_s: seconds after ``started_at`` at which the wait gives up (None: never).
    :param started_at: wall-clock start of the wait (epoch seconds), kept across triggerer restarts.
    :param stop_on_kill: terminate the task run when a user kills the deferred task.
    """

    hook_class = OCIDataIntegrationHook
    resource_fields = ("task_run_key", "workspace_id", "application_key")

    def __init__(self, *, task_run_key: str, workspace_id: str, application_key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task_run_key = task_run_key
        self.workspace_id = workspace_id
        self.application_key = application_key

    @property
    def hook(self) -> OCIDataIntegrationHook:  # typed for the service's calls
        return super().hook  # type: ignore[return-value]

    async def wait(self, deadline: float | None) -> Any:
        return await self.hook.async_task_run_completion(
            self.workspace_id, self.application_key, self.task_run_key, poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval, deadline=deadline)

    def event_for(self, run: Any) -> dict[str, Any]:
        event = {"task_run_key": self.task_run_key, "task_run": task_run_metadata(run)}
        if run.status in SUCCESS_STATES:
            return {"status": "success", **event}
        return {"status": "error", "message": failure_message(run), **event}

    def timeout_event(self, last: Any, message: str) -> dict[str, Any]:
        return {"status": "timeout", "task_run_key": self.task_run_key, "message": message,
                "task_run": task_run_metadata(last)}

    def stop_remote(self) -> None:
        self.log.info("Terminating OCI Data Integration task run %s", self.task_run_key)
        self.hook.terminate_task_run(self.workspace_id, self.application_key, self.task_run_key)
