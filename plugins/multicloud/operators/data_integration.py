"""Run a published OCI Data Integration task (bulk data movement inside OCI).

Retries recover and never double-run (see ``operators.base``): every run of one task instance is
named ``<task_run_name or task_key>-af<identity>``. Before creating a run the operator lists runs
by that name; one still in flight (a worker crashed, the triggerer lost it) is re-attached to.
Otherwise a new run starts with this attempt's retry token, so a repeated create inside one
attempt returns the same run. After a run that ended in ERROR, ``rerun_failed_on_retry`` makes the
retry re-run only its failed steps (``re_run_type=FAILED``, ``ref_task_run_id`` = the failed run).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from multicloud.hooks.oci import OCIWaiterTimeout
from multicloud.hooks.oci_data_integration import (
    FAILURE_STATES,
    RE_RUN_TYPES,
    SUCCESS_STATES,
    OCIDataIntegrationHook,
    failure_message,
    task_run_metadata,
)
from multicloud.operators.base import attempt_token, deferrable_default, instance_name
from multicloud.triggers.data_integration import OCIDataIntegrationTaskRunTrigger

TRIGGER_GRACE = timedelta(minutes=2)  # the task-level timeout lets the trigger report its own first


class OCIDataIntegrationRunTaskOperator(BaseOperator):
    """Run an OCI Data Integration published task and wait for it (deferred or on the worker).

    :param workspace_id: the Data Integration workspace OCID. (templated)
    :param application_key: the application the task is published to. (templated)
    :param task_key: the published task's key (``registryMetadata.aggregatorKey``). (templated)
    :param bindings: task parameters by name, sent as ``simpleValue`` bindings. (templated)
    :param oci_conn_id: the Airflow connection (type ``oci``). (templated)
    :param region: an OCI region id overriding the connection's region. (templated)
    :param task_run_name: the human part of the runs' deterministic name (default ``task_key``). (templated)
    :param re_run_type: BEGINNING, FAILED or STEP, to re-run an earlier run given by ``ref_task_run_id``.
    :param ref_task_run_id: the task run to re-run (with ``re_run_type``). (templated)
    :param rerun_failed_on_retry: after an ERROR run of this task instance, the retry re-runs only the
        failed steps of that run instead of starting from the beginning.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param poll_interval: seconds before the second status read; doubles up to ``max_poll_interval``.
    :param max_poll_interval: the longest wait between two status reads, in seconds.
    :param timeout_s: seconds after the start at which the wait fails (None: no limit).
    :param stop_on_kill: terminate the task run when the task is killed.
    """

    template_fields: Sequence[str] = ("workspace_id", "application_key", "task_key", "bindings", "oci_conn_id",
                                      "region", "ref_task_run_id", "task_run_name")
    template_fields_renderers = {"bindings": "json"}
    ui_color = "#f80000"

    def __init__(  # noqa: PLR0913  an operator's parameters (Airflow convention)
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
        rerun_failed_on_retry: bool = False,
        deferrable: bool | None = None,
        poll_interval: float = 30.0,
        max_poll_interval: float = 300.0,
        timeout_s: float | None = None,
        stop_on_kill: bool = True,
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
        self.rerun_failed_on_retry = rerun_failed_on_retry
        self.deferrable = deferrable_default() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout_s = timeout_s
        self.stop_on_kill = stop_on_kill
        self.task_run_key: str | None = None

    @cached_property
    def hook(self) -> OCIDataIntegrationHook:
        return OCIDataIntegrationHook(oci_conn_id=self.oci_conn_id, region=self.region)

    def execute(self, context: Any) -> dict[str, Any] | None:
        ti = context["ti"]
        run = self._attach_or_start(ti)
        self.task_run_key = run.key
        ti.xcom_push(key="task_run_key", value=run.key)
        started_at = time.time()
        if self.deferrable:
            self.defer(
                trigger=OCIDataIntegrationTaskRunTrigger(
                    task_run_key=run.key, workspace_id=self.workspace_id, application_key=self.application_key,
                    oci_conn_id=self.oci_conn_id, region=self.region, poll_interval=self.poll_interval,
                    max_poll_interval=self.max_poll_interval, timeout_s=self.timeout_s, started_at=started_at,
                    stop_on_kill=self.stop_on_kill),
                method_name="execute_complete",
                timeout=None if self.timeout_s is None else timedelta(seconds=self.timeout_s) + TRIGGER_GRACE,
            )
        deadline = None if self.timeout_s is None else started_at + self.timeout_s
        try:
            done = self.hook.task_run_completion(self.workspace_id, self.application_key, run.key,
                                                 poll_interval=self.poll_interval,
                                                 max_poll_interval=self.max_poll_interval, deadline=deadline)
        except OCIWaiterTimeout as timeout:
            raise AirflowException(f"OCI Data Integration {timeout} ({self.timeout_s:.0f}s)") from None
        if done.status in FAILURE_STATES:
            raise AirflowException(f"OCI Data Integration task run {run.key} {done.status}: {failure_message(done)}")
        return task_run_metadata(done)

    def _attach_or_start(self, ti: Any) -> Any:
        """Re-attach to this task instance's in-flight run, or start one (see module doc)."""
        name = instance_name(self.task_run_name or self.task_key, ti)
        earlier = self.hook.find_task_runs(self.workspace_id, self.application_key, name)
        in_flight = next((r for r in earlier if r.status not in SUCCESS_STATES | FAILURE_STATES), None)
        if in_flight is not None:
            self.log.info("Re-attaching to OCI Data Integration task run %s (%s), started by an earlier attempt",
                          in_flight.key, in_flight.status)
            return in_flight
        re_run_type, ref = self.re_run_type, self.ref_task_run_id
        if self.rerun_failed_on_retry and earlier and earlier[0].status == "ERROR" and re_run_type is None:
            re_run_type, ref = "FAILED", earlier[0].key
            self.log.info("Re-running only the failed steps of task run %s", ref)
        run = self.hook.create_task_run(
            self.workspace_id, self.application_key, task_key=self.task_key, bindings=self.bindings, name=name,
            re_run_type=re_run_type, ref_task_run_id=ref, retry_token=attempt_token(ti, re_run_type, ref))
        self.log.info("Started OCI Data Integration task run %s (task %s, %s; %d earlier run(s))", run.key,
                      self.task_key, run.status, len(earlier))
        return run

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
        if not self.task_run_key or not self.stop_on_kill:
            return
        self.log.info("Terminating OCI Data Integration task run %s", self.task_run_key)
        self.hook.terminate_task_run(self.workspace_id, self.application_key, self.task_run_key)
