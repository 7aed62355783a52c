"""Deferrable wait for an OCI Container Engine work request (a node pool resize) to finish.

The trigger names its hook (``OCIContainerEngineHook``) and serializes every argument; the hook's
async waiter runs each SDK call in a thread so the triggerer's loop never blocks. A resize cannot
be cancelled half-way on OKE, so ``on_kill`` leaves the work request alone (the pool settles at
one size or the other, both valid).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class OKEWorkRequestTrigger(BaseTrigger):
    """Poll a Container Engine work request until SUCCEEDED, FAILED or CANCELED.

    :param work_request_id: The OCID of the work request.
    :param oci_conn_id: The ``oci`` connection.
    :param poll_interval_s: Seconds between polls.
    :param timeout_s: Seconds to wait in total.
    """

    hook_class = "multicloud.hooks.oci_container_engine.OCIContainerEngineHook"

    def __init__(self, work_request_id: str, oci_conn_id: str, poll_interval_s: float = 10.0,
                 timeout_s: float = 1800.0) -> None:
        super().__init__()
        self.work_request_id = work_request_id
        self.oci_conn_id = oci_conn_id
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {
            "work_request_id": self.work_request_id, "oci_conn_id": self.oci_conn_id,
            "poll_interval_s": self.poll_interval_s, "timeout_s": self.timeout_s,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from multicloud.hooks.oci_container_engine import NodePoolWorkRequestError, OCIContainerEngineHook

        hook = OCIContainerEngineHook(self.oci_conn_id)
        try:
            status = await hook.async_wait_for_work_request(
                self.work_request_id, poll_interval_s=self.poll_interval_s, timeout_s=self.timeout_s)
            yield TriggerEvent({"status": status, "work_request_id": self.work_request_id, "message": ""})
        except NodePoolWorkRequestError as exc:
            yield TriggerEvent({"status": "error", "work_request_id": self.work_request_id, "message": str(exc)})
