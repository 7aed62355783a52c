"""Run an OCI Resource Manager stack job (PLAN or APPLY), e.g. a DR pair's standby ("pilot light").

Retries recover and never double-run (see ``operators.base``): every job of one task instance is
named ``<dag>-<task>-<operation>-af<identity>`` and tagged with the identity. Before creating a job
the operator lists the stack's jobs by that name; one still in flight is re-attached to, otherwise
a new job starts with this attempt's retry token. A failed job fails the task with the last lines
of its log. ``on_kill`` cancels the job on the worker; the trigger's ``on_kill`` does it deferred.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any, Literal

from airflow.sdk import BaseOperator

from multicloud.hooks.oci import OCIWaiterTimeout
from multicloud.hooks.oci_resource_manager import OCIResourceManagerHook
from multicloud.operators.base import INSTANCE_TAG, attempt_token, deferrable_default, instance_identity, instance_name
from multicloud.triggers.resource_manager import ResourceManagerJobTrigger, job_event

TRIGGER_GRACE = timedelta(minutes=1)


class ResourceManagerJobError(RuntimeError):
    """The job ended FAILED / CANCELED or timed out; the message carries the log tail."""


class ResourceManagerJobOperator(BaseOperator):
    """Run a Resource Manager job on a stack and wait for it (deferred or on the worker).

    :param stack_id: the stack's OCID; empty with ``skip_without_stack`` skips the task. (templated)
    :param operation: PLAN or APPLY (auto-approved). (templated)
    :param oci_conn_id: the Airflow connection (type ``oci``). (templated)
    :param region: an OCI region id overriding the connection's region. (templated)
    :param poll_interval: seconds before the second status read; doubles up to ``max_poll_interval``.
    :param max_poll_interval: the longest wait between two status reads, in seconds.
    :param timeout_s: seconds after the start at which the wait fails.
    :param skip_without_stack: skip instead of failing when ``stack_id`` is empty.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param stop_on_kill: cancel the job when the task is killed.
    """

    template_fields: Sequence[str] = ("stack_id", "operation", "oci_conn_id", "region")
    ui_color = "#c74634"

    def __init__(self, *, stack_id: str, operation: Literal["PLAN", "APPLY"] = "APPLY",  # noqa: PLR0913  an operator's parameters (Airflow convention)
                 oci_conn_id: str = "oci_default", region: str | None = None, poll_interval: float = 10.0,
                 max_poll_interval: float = 60.0, timeout_s: float = 3600.0, skip_without_stack: bool = False,
                 deferrable: bool | None = None, stop_on_kill: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stack_id = stack_id
        self.operation = operation
        self.oci_conn_id = oci_conn_id
        self.region = region
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout_s = timeout_s
        self.skip_without_stack = skip_without_stack
        self.deferrable = deferrable_default() if deferrable is None else deferrable
        self.stop_on_kill = stop_on_kill
        self.job_id: str | None = None

    @cached_property
    def hook(self) -> OCIResourceManagerHook:
        return OCIResourceManagerHook(oci_conn_id=self.oci_conn_id, region=self.region)

    def execute(self, context: Any) -> dict[str, Any] | None:
        from airflow.sdk.exceptions import AirflowSkipException

        if not self.stack_id:
            if self.skip_without_stack:
                raise AirflowSkipException("no Resource Manager stack to run (the estate names none)")
            raise ValueError("stack_id is required")
        if self.operation not in ("PLAN", "APPLY"):
            raise ValueError(f"operation must be PLAN or APPLY, got {self.operation!r}")
        job = self._attach_or_start(context["ti"])
        self.job_id = job.id
        started_at = time.time()
        if self.deferrable:
            self.defer(
                trigger=ResourceManagerJobTrigger(
                    job_id=job.id, oci_conn_id=self.oci_conn_id, region=self.region,
                    poll_interval=self.poll_interval, max_poll_interval=self.max_poll_interval,
                    timeout_s=self.timeout_s, started_at=started_at, stop_on_kill=self.stop_on_kill),
                method_name="execute_complete", timeout=timedelta(seconds=self.timeout_s) + TRIGGER_GRACE)
        try:
            done = self.hook.job_completion(job.id, poll_interval=self.poll_interval,
                                            max_poll_interval=self.max_poll_interval,
                                            deadline=started_at + self.timeout_s)
        except OCIWaiterTimeout as timeout:
            event = {"status": "timeout", "job_id": job.id, "message": str(timeout),
                     "log_tail": self.hook.job_log_tail(job.id)}
        else:
            event = job_event(self.hook, done)
        return self.execute_complete(context, event)

    def _attach_or_start(self, ti: Any) -> Any:
        name = instance_name(f"{ti.dag_id}-{ti.task_id}-{self.operation.lower()}", ti)
        in_flight = self.hook.in_flight_job(self.stack_id, name)
        if in_flight is not None:
            self.log.info("Re-attaching to Resource Manager job %s (%s), started by an earlier attempt",
                          in_flight.id, in_flight.lifecycle_state)
            return in_flight
        job = self.hook.create_job(self.stack_id, self.operation, display_name=name,
                                   freeform_tags={INSTANCE_TAG: instance_identity(ti)},
                                   retry_token=attempt_token(ti, self.operation))
        self.log.info("Resource Manager %s job %s on stack %s: %s", self.operation, job.id, self.stack_id,
                      job.lifecycle_state)
        return job

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "SUCCEEDED":
            tail = "\n".join(event.get("log_tail") or [])
            raise ResourceManagerJobError(
                f"Resource Manager job {event.get('job_id')} {event.get('status')}: {event.get('message')}\n"
                f"last lines of the job log:\n{tail}")
        self.log.info("Resource Manager job %s succeeded", event["job_id"])
        return {"job_id": event["job_id"], "status": event["status"], "stack_id": self.stack_id}

    def on_kill(self) -> None:
        if self.job_id and self.stop_on_kill:
            self.hook.cancel_job(self.job_id)


__all__ = ["ResourceManagerJobError", "ResourceManagerJobOperator"]
