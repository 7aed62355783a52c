"""Run an OCI Resource Manager stack job (PLAN or APPLY), deferring while it runs.

Provisions a DR pair's standby ("pilot light") before a rehearsal. ``create_job`` carries an
``opc-retry-token`` derived from the task instance (dag, task, run, map index), so a retried task
never starts a second job: OCI answers the first one again. A failed job fails the task with the
last lines of the job's log. ``on_kill`` cancels the job while the task still runs on a worker;
the trigger's ``on_kill`` does it while deferred.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from airflow.sdk import BaseOperator

from multicloud.triggers.resource_manager import ResourceManagerJobTrigger, cancel_job, job_client, job_log_tail


class ResourceManagerJobError(RuntimeError):
    pass


def retry_token(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """Stable per task instance (not per try): OCI retry tokens are at most 64 characters."""
    return hashlib.sha256(f"{dag_id}/{task_id}/{run_id}/{map_index}".encode()).hexdigest()[:64]


class ResourceManagerJobOperator(BaseOperator):
    template_fields: Sequence[str] = ("stack_id", "operation", "oci_conn_id")

    def __init__(self, *, stack_id: str, operation: Literal["PLAN", "APPLY"] = "APPLY",
                 oci_conn_id: str = "oci_default", poll_interval_s: float = 10.0, timeout_s: float = 3600.0,
                 skip_without_stack: bool = False, deferrable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stack_id = stack_id
        self.operation = operation
        self.oci_conn_id = oci_conn_id
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self.skip_without_stack = skip_without_stack
        self.deferrable = deferrable
        self.job_id: str | None = None

    def execute(self, context: Any) -> dict[str, Any] | None:
        from airflow.sdk.exceptions import AirflowSkipException

        if not self.stack_id:
            if self.skip_without_stack:
                raise AirflowSkipException("no Resource Manager stack to run (the estate names none)")
            raise ValueError("stack_id is required")
        if self.operation not in ("PLAN", "APPLY"):
            raise ValueError(f"operation must be PLAN or APPLY, got {self.operation!r}")
        from oci.resource_manager.models import (
            CreateApplyJobOperationDetails,
            CreateJobDetails,
            CreatePlanJobOperationDetails,
        )

        ti = context["ti"]
        token = retry_token(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
        details = (CreateApplyJobOperationDetails(execution_plan_strategy="AUTO_APPROVED")
                   if self.operation == "APPLY" else CreatePlanJobOperationDetails())
        client = job_client(self.oci_conn_id)
        job = client.create_job(
            CreateJobDetails(stack_id=self.stack_id, operation=self.operation, job_operation_details=details,
                             display_name=f"{ti.dag_id}-{ti.task_id}-{self.operation.lower()}"),
            opc_retry_token=token,
        ).data
        self.job_id = job.id
        self.log.info("Resource Manager %s job %s on stack %s: %s", self.operation, job.id, self.stack_id,
                      job.lifecycle_state)
        trigger = ResourceManagerJobTrigger(job.id, self.oci_conn_id, self.poll_interval_s, self.timeout_s)
        if self.deferrable:
            self.defer(trigger=trigger, method_name="execute_complete",
                       timeout=timedelta(seconds=self.timeout_s + 60))
        import asyncio

        async def _wait() -> dict[str, Any]:
            async for event in trigger.run():
                return event.payload
            raise ResourceManagerJobError("trigger ended without an event")

        return self.execute_complete(context, asyncio.run(_wait()))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "SUCCEEDED":
            tail = "\n".join(event.get("log_tail") or [])
            raise ResourceManagerJobError(
                f"Resource Manager job {event.get('job_id')} {event.get('status')}: {event.get('message')}\n"
                f"last lines of the job log:\n{tail}")
        self.log.info("Resource Manager job %s succeeded", event["job_id"])
        return {"job_id": event["job_id"], "status": event["status"], "stack_id": self.stack_id}

    def on_kill(self) -> None:
        if self.job_id:
            cancel_job(job_client(self.oci_conn_id), self.job_id)


__all__ = ["ResourceManagerJobOperator", "job_log_tail", "retry_token"]
