"""Run a published OCI Data Integration task (bulk data movement inside OCI), deferrably.

``create_task_run`` starts the task with config bindings (``simpleValue`` parameters); the
``opc_retry_token`` is derived from the dag, run, task and map index (and the re-run reference),
so an Airflow retry of the same task instance gets the same task run back instead of starting a
second one. The operator then defers to ``OCIDataIntegrationTaskRunTrigger``; the run's metadata
goes to XCom on SUCCESS, and the service's error message fails the task on ERROR / TERMINATED.

``re_run_type="FAILED"`` with ``ref_task_run_id`` re-runs only the failed steps of an earlier run.
Killing the task while it runs on the worker (``on_kill``) or while deferred (the trigger's
``on_kill``) sends ``update_task_run`` status TERMINATING.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from multicloud.triggers.data_integration import (
    FAILURE_STATES,
    SUCCESS_STATES,
    OCIDataIntegrationTaskRunTrigger,
    data_integration_client,
    failure_message,
    task_run_metadata,
    terminate_task_run,
)

RE_RUN_TYPES = ("BEGINNING", "FAILED", "STEP")


def retry_token(dag_id: str, run_id: str, task_id: str, map_index: int, *extra: str | None) -> str:
    """Stable per task instance (not per try); OCI accepts at most 64 characters."""
    material = "|".join([dag_id, run_id, task_id, str(map_index), *(e or "" for e in extra)])
    return hashlib.sha256(material.encode()).hexdigest()


class OCIDataIntegrationRunTaskOperator(BaseOperator):
    template_fields: Sequence[str] = ("workspace_id", "application_key", "task_key", "bindings",
                                      "ref_task_run_id", "task_run_name")
    ui_color = "#f80000"

    def __init__(
        self,
        *,
        workspace_id: str,
        application_key: str,
        task_key: str,
        bindings: Mapping[str, Any] | None = None,
        oci_conn_id: str = "oci_default",
        region: str | None = None,
        task_run_name: str | None = None,
        re_run_type: str | None = None,
        ref_task_run_id: str | None = None,
        deferrable: bool = True,
        poll_interval: float = 30.0,
        max_poll_interval: float = 300.0,
        timeout_s: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if re_run_type is not None and re_run_type not in RE_RUN_TYPES:
            raise ValueError(f"re_run_type must be one of {RE_RUN_TYPES}; got {re_run_type!r}")
        if re_run_type in ("FAILED", "STEP") and not ref_task_run_id:
            raise ValueError(f"re_run_type {re_run_type!r} needs ref_task_run_id (the task run to re-run)")
        self.workspace_id = workspace_id
        self.application_key = application_key
        self.task_key = task_key
        self.bindings = dict(bindings or {})
        self.oci_conn_id = oci_conn_id
        self.region = region
        self.task_run_name = task_run_name
        self.re_run_type = re_run_type
        self.ref_task_run_id = ref_task_run_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout_s = timeout_s
        self.task_run_key: str | None = None

    @cached_property
    def client(self):
        return data_integration_client(self.oci_conn_id, self.region)

    def build_details(self):
        from oci.data_integration.models import (
            CreateConfigProvider,
            CreateTaskRunDetails,
            ParameterValue,
            RegistryMetadata,
        )

        return CreateTaskRunDetails(
            name=self.task_run_name,
            registry_metadata=RegistryMetadata(aggregator_key=self.task_key),
            config_provider=CreateConfigProvider(
                bindings={name: ParameterValue(simple_value=value) for name, value in self.bindings.items()}),
            re_run_type=self.re_run_type,
            ref_task_run_id=self.ref_task_run_id,
        )

    def execute(self, context: Any) -> dict[str, Any] | None:
        ti = context["ti"]
        token = retry_token(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1),
                            self.re_run_type, self.ref_task_run_id)
        run = self.client.create_task_run(self.workspace_id, self.application_key, self.build_details(),
                                          opc_retry_token=token).data
        self.task_run_key = run.key
        self.log.info("Started OCI Data Integration task run %s (task %s, status %s)", run.key, self.task_key,
                      run.status)
        ti.xcom_push(key="task_run_key", value=run.key)
        if self.deferrable:
            self.defer(
                trigger=OCIDataIntegrationTaskRunTrigger(
                    task_run_key=run.key, workspace_id=self.workspace_id, application_key=self.application_key,
                    oci_conn_id=self.oci_conn_id, region=self.region, poll_interval=self.poll_interval,
                    max_poll_interval=self.max_poll_interval, timeout_s=self.timeout_s),
                method_name="execute_complete",
            )
        return self._wait(run.key)

    def _wait(self, key: str) -> dict[str, Any]:
        delay, started = self.poll_interval, time.monotonic()
        while True:
            run = self.client.get_task_run(self.workspace_id, self.application_key, key).data
            if run.status in SUCCESS_STATES:
                return task_run_metadata(run)
            if run.status in FAILURE_STATES:
                raise AirflowException(f"OCI Data Integration task run {key} {run.status}: {failure_message(run)}")
            if self.timeout_s is not None and time.monotonic() - started > self.timeout_s:
                raise AirflowException(f"OCI Data Integration task run {key} still {run.status} "
                                       f"after {self.timeout_s:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, self.max_poll_interval)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event:
            raise AirflowException("OCI Data Integration trigger returned no event")
        self.task_run_key = event.get("task_run_key")
        if event.get("status") != "success":
            raise AirflowException(
                f"OCI Data Integration task run {event.get('task_run_key')} failed: {event.get('message')}")
        return event["task_run"]

    def on_kill(self) -> None:
        """Killed while running on the worker (before deferring or in non-deferrable mode)."""
        if not self.task_run_key:
            return
        self.log.info("Terminating OCI Data Integration task run %s", self.task_run_key)
        terminate_task_run(self.client, self.workspace_id, self.application_key, self.task_run_key)
