"""OCIDataIntegrationHook: OCI Data Integration task runs (create, find, read, stop, wait).

Model: the amazon provider's ``GlueJobHook`` (``job_completion`` / ``async_job_completion``). The
operator's non-deferrable path and the trigger both wait through this hook.

Task-run states (SDK ``TaskRun.status``): NOT_STARTED, QUEUED, RUNNING, TERMINATING, TERMINATED,
SUCCESS, ERROR. A run is found again by its ``name``: the operator gives every run of one task
instance the same deterministic name, so a retry after a worker crash re-attaches to it.
"""

from __future__ import annotations

from typing import Any

from multicloud.hooks.oci import OCIServiceHook

SUCCESS_STATES = frozenset({"SUCCESS"})
FAILURE_STATES = frozenset({"ERROR", "TERMINATED"})
TERMINAL_STATES = SUCCESS_STATES | FAILURE_STATES
IN_FLIGHT_STATES = frozenset({"NOT_STARTED", "QUEUED", "RUNNING", "TERMINATING"})
RE_RUN_TYPES = ("BEGINNING", "FAILED", "STEP")
METADATA_FIELDS = ("key", "name", "status", "error_message", "execution_errors", "termination_errors",
                   "time_started", "time_ended", "records_written", "bytes_processed", "retry_attempt",
                   "ref_task_run_id", "re_run_type")


def task_run_metadata(run: Any) -> dict[str, Any]:
    """The JSON-safe parts of a TaskRun worth keeping in XCom and trigger events."""
    out: dict[str, Any] = {}
    for name in METADATA_FIELDS:
        value = getattr(run, name, None)
        if value is not None:
            out[name] = value if isinstance(value, str | int | float | bool | list) else str(value)
    return out


def failure_message(run: Any) -> str:
    """The service's own explanation of a failed run (error message, execution/termination errors)."""
    parts = [getattr(run, "error_message", None) or "", *list(getattr(run, "execution_errors", None) or []),
             *list(getattr(run, "termination_errors", None) or [])]
    text = "; ".join(p for p in parts if p)
    return text or f"task run ended in state {run.status} without an error message"


class OCIDataIntegrationHook(OCIServiceHook):
    """Calls and waiters of OCI Data Integration (``DataIntegrationClient``).

    :param oci_conn_id: the Airflow connection (type ``oci``) whose identity runs the task.
    :param region: an OCI region id overriding the connection's region.
    """

    client_path = "oci.data_integration.DataIntegrationClient"
    hook_name = "OCI Data Integration"

    def create_task_run(self, workspace_id: str, application_key: str, *, task_key: str,  # noqa: PLR0913  mirrors the SDK's CreateTaskRunDetails
                        bindings: dict[str, Any] | None = None, name: str | None = None,
                        re_run_type: str | None = None, ref_task_run_id: str | None = None,
                        retry_token: str | None = None) -> Any:
        """Start the published task ``task_key`` with ``simpleValue`` bindings; returns the TaskRun."""
        from oci.data_integration.models import (
            CreateConfigProvider,
            CreateTaskRunDetails,
            ParameterValue,
            RegistryMetadata,
        )

        if re_run_type is not None and re_run_type not in RE_RUN_TYPES:
            raise ValueError(f"re_run_type must be one of {RE_RUN_TYPES}; got {re_run_type!r}")
        details = CreateTaskRunDetails(
            name=name, registry_metadata=RegistryMetadata(aggregator_key=task_key),
            config_provider=CreateConfigProvider(
                bindings={k: ParameterValue(simple_value=v) for k, v in (bindings or {}).items()}),
            re_run_type=re_run_type, ref_task_run_id=ref_task_run_id,
        )
        kwargs = {"opc_retry_token": retry_token} if retry_token else {}
        return self.conn.create_task_run(workspace_id, application_key, details, **kwargs).data

    def get_task_run(self, workspace_id: str, application_key: str, task_run_key: str) -> Any:
        return self.conn.get_task_run(workspace_id, application_key, task_run_key).data

    def find_task_runs(self, workspace_id: str, application_key: str, name: str) -> list[Any]:
        """Every task run named ``name`` (all pages), newest first."""
        from oci.pagination import list_call_get_all_results

        runs = list_call_get_all_results(self.conn.list_task_runs, workspace_id, application_key, name=name,
                                         sort_by="TIME_CREATED", sort_order="DESC").data
        return [r for r in runs if r.name == name]

    def in_flight_task_run(self, workspace_id: str, application_key: str, name: str) -> Any | None:
        """The run named ``name`` that is still going (the one to re-attach to), else None."""
        return next((r for r in self.find_task_runs(workspace_id, application_key, name)
                     if r.status in IN_FLIGHT_STATES), None)

    def terminate_task_run(self, workspace_id: str, application_key: str, task_run_key: str) -> None:
        """Ask the service to stop the run (status TERMINATING; it ends TERMINATED)."""
        from oci.data_integration.models import UpdateTaskRunDetails

        self.conn.update_task_run(workspace_id, application_key, task_run_key,
                                  UpdateTaskRunDetails(key=task_run_key, status="TERMINATING"))

    def task_run_completion(self, workspace_id: str, application_key: str, task_run_key: str, *,
                            poll_interval: float = 30.0, max_poll_interval: float = 300.0,
                            deadline: float | None = None) -> Any:
        """Wait (blocking) until the run is terminal; returns it. ``OCIWaiterTimeout`` at ``deadline``."""
        return self.wait(lambda: self.get_task_run(workspace_id, application_key, task_run_key),
                         lambda run: run.status in TERMINAL_STATES, describe=f"task run {task_run_key}",
                         poll_interval=poll_interval, max_poll_interval=max_poll_interval, deadline=deadline,
                         log=self.log)

    async def async_task_run_completion(self, workspace_id: str, application_key: str, task_run_key: str, *,
                                        poll_interval: float = 30.0, max_poll_interval: float = 300.0,
                                        deadline: float | None = None) -> Any:
        """``task_run_completion`` for the triggerer (SDK calls in worker threads)."""
        return await self.async_wait(lambda: self.get_task_run(workspace_id, application_key, task_run_key),
                                     lambda run: run.status in TERMINAL_STATES,
                                     describe=f"task run {task_run_key}", poll_interval=poll_interval,
                                     max_poll_interval=max_poll_interval, deadline=deadline, log=self.log)
