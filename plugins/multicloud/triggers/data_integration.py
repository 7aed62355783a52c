"""Deferrable wait for an OCI Data Integration task run (model: the amazon provider's Glue trigger).

Polls ``get_task_run`` with exponential backoff until SUCCESS (event ``success`` with the run's
metadata) or ERROR / TERMINATED (event ``error`` with the service's message). The SDK is
synchronous, so each call runs in a worker thread and never blocks the triggerer's loop.

Kill semantics on Airflow 3.3: ``on_kill()`` runs only when a user kills the deferred task
(mark failed / clear / mark success) and terminates the remote task run (``update_task_run``
status TERMINATING). ``cleanup()`` runs on every exit, triggerer restarts included, so it never
touches the remote run: a restart must not cancel work that is still wanted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

SUCCESS_STATES = frozenset({"SUCCESS"})
FAILURE_STATES = frozenset({"ERROR", "TERMINATED"})


def task_run_metadata(run: Any) -> dict[str, Any]:
    """The JSON-safe parts of a TaskRun worth keeping in XCom."""
    fields = ("key", "name", "status", "error_message", "execution_errors", "termination_errors",
              "time_started", "time_ended", "records_written", "bytes_processed", "retry_attempt",
              "ref_task_run_id", "re_run_type")
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(run, name, None)
        if value is not None:
            out[name] = value if isinstance(value, str | int | float | bool | list) else str(value)
    return out


def failure_message(run: Any) -> str:
    parts = [run.error_message or "", *list(run.execution_errors or []), *list(run.termination_errors or [])]
    text = "; ".join(p for p in parts if p)
    return text or f"task run ended in state {run.status} without an error message"


def data_integration_client(oci_conn_id: str, region: str | None) -> Any:
    """A DataIntegrationClient for the connection (reads the connection: build once, reuse)."""
    from oci.data_integration import DataIntegrationClient

    from multicloud.hooks.oci import OCIHook

    return OCIHook(oci_conn_id, region=region).get_client(DataIntegrationClient)


def terminate_task_run(client: Any, workspace_id: str, application_key: str, task_run_key: str) -> None:
    from oci.data_integration.models import UpdateTaskRunDetails

    client.update_task_run(workspace_id, application_key, task_run_key,
                           UpdateTaskRunDetails(key=task_run_key, status="TERMINATING"))


class OCIDataIntegrationTaskRunTrigger(BaseTrigger):
    def __init__(
        self,
        *,
        task_run_key: str,
        workspace_id: str,
        application_key: str,
        oci_conn_id: str = "oci_default",
        region: str | None = None,
        poll_interval: float = 30.0,
        max_poll_interval: float = 300.0,
        timeout_s: float | None = None,
        terminate_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.task_run_key = task_run_key
        self.workspace_id = workspace_id
        self.application_key = application_key
        self.oci_conn_id = oci_conn_id
        self.region = region
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout_s = timeout_s
        self.terminate_on_kill = terminate_on_kill
        self._fired = False

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "task_run_key": self.task_run_key, "workspace_id": self.workspace_id,
                "application_key": self.application_key, "oci_conn_id": self.oci_conn_id,
                "region": self.region, "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval, "timeout_s": self.timeout_s,
                "terminate_on_kill": self.terminate_on_kill,
            },
        )

    @cached_property
    def _client(self) -> Any:
        """Built on first use, in a worker thread (it reads the connection), then reused by every poll."""
        return data_integration_client(self.oci_conn_id, self.region)

    def _get_run(self) -> Any:
        return self._client.get_task_run(self.workspace_id, self.application_key, self.task_run_key).data

    def _terminate(self) -> None:
        terminate_task_run(self._client, self.workspace_id, self.application_key, self.task_run_key)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = self.poll_interval
        while True:
            run = await asyncio.to_thread(self._get_run)
            self.log.info("OCI Data Integration task run %s is %s", self.task_run_key, run.status)
            if run.status in SUCCESS_STATES:
                self._fired = True
                yield TriggerEvent({"status": "success", "task_run_key": self.task_run_key,
                                    "task_run": task_run_metadata(run)})
                return
            if run.status in FAILURE_STATES:
                self._fired = True
                yield TriggerEvent({"status": "error", "task_run_key": self.task_run_key,
                                    "message": failure_message(run), "task_run": task_run_metadata(run)})
                return
            if self.timeout_s is not None and loop.time() - started + delay > self.timeout_s:
                self._fired = True
                yield TriggerEvent({"status": "timeout", "task_run_key": self.task_run_key,
                                    "message": f"task run {self.task_run_key} still {run.status} after "
                                               f"{self.timeout_s:.0f}s", "task_run": task_run_metadata(run)})
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_poll_interval)

    async def on_kill(self) -> None:
        """A user killed the deferred task: stop the remote run (not on restarts, see module doc)."""
        if self._fired or not self.terminate_on_kill:
            return
        self.log.info("Terminating OCI Data Integration task run %s", self.task_run_key)
        try:
            await asyncio.wait_for(asyncio.to_thread(self._terminate), timeout=30)
        except Exception:
            self.log.exception("Could not terminate task run %s", self.task_run_key)

    async def cleanup(self) -> None:
        """Runs on every exit, triggerer restarts included: never stops the remote run."""
        return
