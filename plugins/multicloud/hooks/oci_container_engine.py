"""OCI Container Engine for Kubernetes (OKE): node pools and the work requests that resize them.

One hook for the API family, as the amazon provider's ``EksHook`` is for EKS: it owns the calls
(``get_node_pool``, ``update_node_pool``, ``get_work_request``) and the waits (sync and async).
Resizing a node pool is asynchronous on OCI: ``update_node_pool`` answers 202 with an
``opc-work-request-id`` header, and the work request moves ACCEPTED -> IN_PROGRESS -> SUCCEEDED
(or FAILED / CANCELED). The SDK is synchronous; the async waiter runs each call in a thread so
an event loop (the triggerer's) never blocks.
"""

from __future__ import annotations

import time
from typing import Any

from multicloud.hooks.oci import OCIHook, OCIServiceHook, OCIWaiterTimeout

WORK_REQUEST_SUCCEEDED = "SUCCEEDED"
WORK_REQUEST_FAILED_STATES = ("FAILED", "CANCELED")


class NodePoolWorkRequestError(RuntimeError):
    """A node pool work request ended FAILED or CANCELED, or did not finish in time."""


class OCIContainerEngineHook(OCIHook):
    """Interact with OCI Container Engine for Kubernetes node pools.

    :param oci_conn_id: The Airflow connection (type ``oci``) holding the identity and region.
    :param region: The OCI region; overrides the connection's ``extra.region``.
    """

    hook_name = "Oracle Cloud Infrastructure Container Engine"

    def __init__(self, oci_conn_id: str = OCIHook.default_conn_name, region: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(oci_conn_id=oci_conn_id, region=region, **kwargs)

    @property
    def client(self):
        """The SDK's ``ContainerEngineClient`` for this connection (endpoint override honoured)."""
        import oci

        return self.get_client(oci.container_engine.ContainerEngineClient)

    # ---- node pools ------------------------------------------------------------------------------
    def get_node_pool(self, node_pool_id: str):
        """Return the node pool (``oci.container_engine.models.NodePool``).

        :param node_pool_id: The OCID of the node pool.
        """
        return self.client.get_node_pool(node_pool_id).data

    def get_node_pool_size(self, node_pool_id: str) -> int:
        """Return the node pool's configured size (``node_config_details.size``).

        :param node_pool_id: The OCID of the node pool.
        """
        pool = self.get_node_pool(node_pool_id)
        if pool.node_config_details is None or pool.node_config_details.size is None:
            raise ValueError(f"node pool {node_pool_id} has no node_config_details.size (a legacy "
                             "quantity-per-subnet pool cannot be resized here)")
        return int(pool.node_config_details.size)

    def count_active_nodes(self, node_pool_id: str) -> int:
        """Return how many of the pool's nodes are ACTIVE (what is being paid for and schedulable).

        :param node_pool_id: The OCID of the node pool.
        """
        pool = self.get_node_pool(node_pool_id)
        return sum(1 for node in pool.nodes or [] if node.lifecycle_state in ("ACTIVE", "UPDATING"))

    def update_node_pool_size(self, node_pool_id: str, size: int, *,
                              eviction_grace: str | None = None) -> str:
        """Resize the node pool; return the work request id that tracks the change.

        :param node_pool_id: The OCID of the node pool.
        :param size: The number of nodes the pool should have.
        :param eviction_grace: ISO 8601 duration OKE waits to drain a removed node (``PT60M`` max).
        """
        from oci.container_engine.models import UpdateNodePoolDetails, UpdateNodePoolNodeConfigDetails

        if size < 0:
            raise ValueError(f"node pool size must be >= 0; got {size}")
        details = UpdateNodePoolDetails(node_config_details=UpdateNodePoolNodeConfigDetails(size=int(size)))
        kwargs = {"override_eviction_grace_duration": eviction_grace} if eviction_grace else {}
        response = self.client.update_node_pool(node_pool_id, details, **kwargs)
        work_request = response.headers.get("opc-work-request-id")
        if not work_request:
            raise NodePoolWorkRequestError(f"update_node_pool {node_pool_id}: no opc-work-request-id in the answer")
        self.log.info("OKE node pool %s: resize to %d nodes, work request %s", node_pool_id, size, work_request)
        return work_request

    # ---- work requests ---------------------------------------------------------------------------
    def get_work_request_status(self, work_request_id: str) -> str:
        """Return the work request's status (ACCEPTED, IN_PROGRESS, SUCCEEDED, FAILED, CANCELING, CANCELED).

        :param work_request_id: The OCID of the work request.
        """
        return self.client.get_work_request(work_request_id).data.status

    def wait_for_work_request(self, work_request_id: str, *, poll_interval_s: float = 10.0,
                              timeout_s: float = 1800.0) -> str:
        """Block until the work request succeeds; raise if it fails, is canceled or times out.

        :param work_request_id: The OCID of the work request.
        :param poll_interval_s: Seconds between polls.
        :param timeout_s: Seconds to wait in total.
        """
        try:
            return OCIServiceHook.wait(lambda: self.get_work_request_status(work_request_id),
                                       **_work_request_wait(work_request_id, poll_interval_s, timeout_s))
        except OCIWaiterTimeout as timeout:
            raise _still_running(work_request_id, timeout, timeout_s) from None

    async def async_wait_for_work_request(self, work_request_id: str, *, poll_interval_s: float = 10.0,
                                          timeout_s: float = 1800.0) -> str:
        """The same wait for an event loop: every SDK call runs in a worker thread.

        :param work_request_id: The OCID of the work request.
        :param poll_interval_s: Seconds between polls.
        :param timeout_s: Seconds to wait in total.
        """
        try:
            return await OCIServiceHook.async_wait(lambda: self.get_work_request_status(work_request_id),
                                                   **_work_request_wait(work_request_id, poll_interval_s, timeout_s))
        except OCIWaiterTimeout as timeout:
            raise _still_running(work_request_id, timeout, timeout_s) from None


def _work_request_wait(work_request_id: str, poll_interval_s: float, timeout_s: float) -> dict[str, Any]:
    """``OCIServiceHook.wait``'s arguments for a work request: a fixed interval, a deadline."""
    return {"is_terminal": lambda status: _finished(work_request_id, status) is not None,
            "describe": f"work request {work_request_id}", "poll_interval": poll_interval_s,
            "max_poll_interval": poll_interval_s, "deadline": time.time() + timeout_s}


def _still_running(work_request_id: str, timeout: OCIWaiterTimeout, timeout_s: float) -> NodePoolWorkRequestError:
    return NodePoolWorkRequestError(f"work request {work_request_id} still {timeout.last} after {timeout_s:g}s")


def _finished(work_request_id: str, status: str) -> str | None:
    if status == WORK_REQUEST_SUCCEEDED:
        return status
    if status in WORK_REQUEST_FAILED_STATES:
        raise NodePoolWorkRequestError(f"work request {work_request_id} ended {status}")
    return None
