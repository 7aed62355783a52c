"""OCIResourceManagerHook: Resource Manager stack jobs (create, find, read, cancel, logs, wait).

Job states (SDK ``Job.lifecycle_state``): ACCEPTED, IN_PROGRESS, FAILED, SUCCEEDED, CANCELING,
CANCELED. A job is found again by its stack and ``display_name``: the operator gives every job of
one task instance the same deterministic name, so a retry after a worker crash re-attaches.
"""

from __future__ import annotations

from typing import Any

from multicloud.hooks.oci import OCIServiceHook

SUCCESS_STATES = frozenset({"SUCCEEDED"})
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELED"})
IN_FLIGHT_STATES = frozenset({"ACCEPTED", "IN_PROGRESS", "CANCELING"})
LOG_TAIL_LINES = 20


class OCIResourceManagerHook(OCIServiceHook):
    """Calls and waiters of OCI Resource Manager (``ResourceManagerClient``).

    :param oci_conn_id: the Airflow connection (type ``oci``).
    :param region: an OCI region id overriding the connection's region.
    """

    client_path = "oci.resource_manager.ResourceManagerClient"
    hook_name = "OCI Resource Manager"

    def create_job(self, stack_id: str, operation: str, *, display_name: str,
                   freeform_tags: dict[str, str] | None = None, retry_token: str | None = None) -> Any:
        """Start a PLAN or APPLY (auto-approved) job on the stack; returns the Job."""
        from oci.resource_manager.models import (
            CreateApplyJobOperationDetails,
            CreateJobDetails,
            CreatePlanJobOperationDetails,
        )

        if operation not in ("PLAN", "APPLY"):
            raise ValueError(f"operation must be PLAN or APPLY, got {operation!r}")
        details = (CreateApplyJobOperationDetails(execution_plan_strategy="AUTO_APPROVED")
                   if operation == "APPLY" else CreatePlanJobOperationDetails())
        kwargs = {"opc_retry_token": retry_token} if retry_token else {}
        return self.conn.create_job(
            CreateJobDetails(stack_id=stack_id, operation=operation, job_operation_details=details,
                             display_name=display_name, freeform_tags=freeform_tags or None),
            **kwargs).data

    def get_job(self, job_id: str) -> Any:
        return self.conn.get_job(job_id).data

    def find_jobs(self, stack_id: str, display_name: str) -> list[Any]:
        """Every job of the stack named ``display_name`` (all pages), newest first."""
        from oci.pagination import list_call_get_all_results

        jobs = list_call_get_all_results(self.conn.list_jobs, stack_id=stack_id, display_name=display_name,
                                         sort_by="TIMECREATED", sort_order="DESC").data
        return [j for j in jobs if j.display_name == display_name]

    def in_flight_job(self, stack_id: str, display_name: str) -> Any | None:
        return next((j for j in self.find_jobs(stack_id, display_name) if j.lifecycle_state in IN_FLIGHT_STATES),
                    None)

    def cancel_job(self, job_id: str) -> bool:
        """Cancel unless already terminal or gone; True when a cancel was sent."""
        import oci

        try:
            if self.get_job(job_id).lifecycle_state in TERMINAL_STATES:
                return False
            self.conn.cancel_job(job_id)
            return True
        except oci.exceptions.ServiceError as err:
            if err.status == 404:
                return False
            raise

    def job_log_tail(self, job_id: str, lines: int = LOG_TAIL_LINES) -> list[str]:
        """The last ``lines`` lines of the job's log, oldest first (what explains a failure)."""
        import oci

        try:
            entries = self.conn.get_job_logs(job_id, sort_order="DESC", limit=lines).data
        except oci.exceptions.ServiceError as err:
            return [f"(job log unavailable: {err.status} {err.code})"]
        return [entry.message for entry in reversed(entries) if entry.message]

    def job_completion(self, job_id: str, *, poll_interval: float = 10.0, max_poll_interval: float = 60.0,
                       deadline: float | None = None) -> Any:
        """Wait (blocking) until the job is terminal; returns it. ``OCIWaiterTimeout`` at ``deadline``."""
        return self.wait(lambda: self.get_job(job_id), lambda job: job.lifecycle_state in TERMINAL_STATES,
                         describe=f"Resource Manager job {job_id}", poll_interval=poll_interval,
                         max_poll_interval=max_poll_interval, deadline=deadline, log=self.log)

    async def async_job_completion(self, job_id: str, *, poll_interval: float = 10.0,
                                   max_poll_interval: float = 60.0, deadline: float | None = None) -> Any:
        """``job_completion`` for the triggerer (SDK calls in worker threads)."""
        return await self.async_wait(lambda: self.get_job(job_id),
                                     lambda job: job.lifecycle_state in TERMINAL_STATES,
                                     describe=f"Resource Manager job {job_id}", poll_interval=poll_interval,
                                     max_poll_interval=max_poll_interval, deadline=deadline, log=self.log)
