"""OCILoadBalancerHook: backend sets and backends of an OCI Load Balancer, and their work requests.

Every change to a load balancer is asynchronous: ``update_backend`` answers 204 with an
``opc-work-request-id`` header, and the change is in effect only when that work request is
SUCCEEDED (states ACCEPTED, IN_PROGRESS, FAILED, SUCCEEDED). The hook returns the id and offers
sync and async waiters on it.
"""

from __future__ import annotations

from typing import Any

from multicloud.hooks.oci import OCIServiceHook

WORK_REQUEST_TERMINAL = frozenset({"SUCCEEDED", "FAILED"})


class LoadBalancerWorkRequestFailed(RuntimeError):
    """A work request ended FAILED; the message carries the service's error details."""


class OCILoadBalancerHook(OCIServiceHook):
    """Calls and waiters of OCI Load Balancer (``LoadBalancerClient``).

    :param oci_conn_id: the Airflow connection (type ``oci``).
    :param region: an OCI region id overriding the connection's region.
    """

    client_path = "oci.load_balancer.LoadBalancerClient"
    hook_name = "OCI Load Balancer"

    def get_load_balancer(self, load_balancer_id: str) -> Any:
        """``LoadBalancer``: its IP addresses, listeners and backend sets."""
        return self.conn.get_load_balancer(load_balancer_id).data

    def list_backends(self, load_balancer_id: str, backend_set: str) -> list[Any]:
        return self.conn.list_backends(load_balancer_id, backend_set).data

    def backend_set_health(self, load_balancer_id: str, backend_set: str) -> Any:
        """``BackendSetHealth``: status OK / WARNING / CRITICAL / UNKNOWN."""
        return self.conn.get_backend_set_health(load_balancer_id, backend_set).data

    def update_backend(self, load_balancer_id: str, backend_set: str, backend: Any, *, offline: bool,
                       drain: bool, retry_token: str | None = None) -> str:
        """Set one backend's ``offline``/``drain`` (weight, backup, max connections kept); returns the work request id."""
        from oci.load_balancer.models import UpdateBackendDetails

        details = UpdateBackendDetails(weight=backend.weight, backup=backend.backup, drain=drain, offline=offline,
                                       max_connections=backend.max_connections)
        kwargs = {"opc_retry_token": retry_token} if retry_token else {}
        response = self.conn.update_backend(details, load_balancer_id, backend_set, backend.name, **kwargs)
        return response.headers["opc-work-request-id"]

    def get_work_request(self, work_request_id: str) -> Any:
        return self.conn.get_work_request(work_request_id).data

    def work_request_completion(self, work_request_id: str, *, poll_interval: float = 2.0,
                                max_poll_interval: float = 10.0, deadline: float | None = None) -> Any:
        """Wait until the work request is terminal; raise ``LoadBalancerWorkRequestFailed`` on FAILED."""
        done = self.wait(lambda: self.get_work_request(work_request_id),
                         lambda wr: wr.lifecycle_state in WORK_REQUEST_TERMINAL,
                         describe=f"load balancer work request {work_request_id}", poll_interval=poll_interval,
                         max_poll_interval=max_poll_interval, deadline=deadline)
        return _checked(done)

    async def async_work_request_completion(self, work_request_id: str, *, poll_interval: float = 2.0,
                                            max_poll_interval: float = 10.0, deadline: float | None = None) -> Any:
        done = await self.async_wait(lambda: self.get_work_request(work_request_id),
                                     lambda wr: wr.lifecycle_state in WORK_REQUEST_TERMINAL,
                                     describe=f"load balancer work request {work_request_id}",
                                     poll_interval=poll_interval, max_poll_interval=max_poll_interval,
                                     deadline=deadline)
        return _checked(done)


def _checked(work_request: Any) -> Any:
    if work_request.lifecycle_state == "FAILED":
        errors = "; ".join(f"{e.error_code}: {e.message}" for e in (work_request.error_details or []))
        raise LoadBalancerWorkRequestFailed(
            f"load balancer work request {work_request.id} ({work_request.type}) FAILED: "
            f"{errors or work_request.message or 'no details'}")
    return work_request
