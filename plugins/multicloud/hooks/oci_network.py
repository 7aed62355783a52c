"""OCI networking hooks: FastConnect / virtual network (``VirtualNetworkClient``) and DNS traffic
management (``DnsClient`` steering policies)."""

from __future__ import annotations

from typing import Any

from multicloud.hooks.oci import OCIServiceHook


class OCIVirtualNetworkHook(OCIServiceHook):
    """FastConnect virtual circuits and DRGs (``core.VirtualNetworkClient``).

    :param oci_conn_id: the Airflow connection (type ``oci``).
    :param region: an OCI region id overriding the connection's region.
    """

    client_path = "oci.core.VirtualNetworkClient"
    hook_name = "OCI Virtual Network"

    def get_virtual_circuit(self, circuit_id: str) -> Any:
        return self.conn.get_virtual_circuit(circuit_id).data

    def get_drg(self, drg_id: str) -> Any:
        return self.conn.get_drg(drg_id).data

    def circuit_is_up(self, circuit: Any) -> bool:
        """PROVISIONED, BGP UP and (when reported) the provider ACTIVE."""
        return (circuit.lifecycle_state == "PROVISIONED" and circuit.bgp_session_state == "UP"
                and circuit.provider_state in (None, "ACTIVE"))

    def circuit_completion(self, circuit_id: str, *, poll_interval: float = 10.0, max_poll_interval: float = 60.0,
                           deadline: float | None = None) -> Any:
        """Wait until the circuit is up or FAILED/TERMINATED (e.g. after provisioning)."""
        return self.wait(lambda: self.get_virtual_circuit(circuit_id),
                         lambda c: self.circuit_is_up(c) or c.lifecycle_state in ("FAILED", "TERMINATED"),
                         describe=f"virtual circuit {circuit_id}", poll_interval=poll_interval,
                         max_poll_interval=max_poll_interval, deadline=deadline)


class OCIDnsHook(OCIServiceHook):
    """DNS traffic-management steering policies (``dns.DnsClient``).

    :param oci_conn_id: the Airflow connection (type ``oci``).
    :param region: an OCI region id overriding the connection's region.
    """

    client_path = "oci.dns.DnsClient"
    hook_name = "OCI DNS"

    def get_steering_policy(self, policy_id: str) -> Any:
        return self.conn.get_steering_policy(policy_id).data

    def update_steering_policy(self, policy_id: str, details: Any) -> Any:
        return self.conn.update_steering_policy(policy_id, details).data

    def steering_policy_completion(self, policy_id: str, *, poll_interval: float = 2.0,
                                   max_poll_interval: float = 10.0, deadline: float | None = None) -> Any:
        """Wait until the policy is ACTIVE again after an update (or FAILED/DELETED)."""
        return self.wait(lambda: self.get_steering_policy(policy_id),
                         lambda p: p.lifecycle_state in ("ACTIVE", "FAILED", "DELETED"),
                         describe=f"steering policy {policy_id}", poll_interval=poll_interval,
                         max_poll_interval=max_poll_interval, deadline=deadline)


class OCIHealthChecksHook(OCIServiceHook):
    """HTTP monitors and their probe results (``healthchecks.HealthChecksClient``), the monitors an
    OCI DNS FAILOVER steering policy reads its answers' health from.

    :param oci_conn_id: the Airflow connection (type ``oci``).
    :param region: an OCI region id overriding the connection's region.
    """

    client_path = "oci.healthchecks.HealthChecksClient"
    hook_name = "OCI Health Checks"

    def create_http_monitor(self, details: Any) -> Any:
        """``CreateHttpMonitorDetails`` -> the ``HttpMonitor``."""
        return self.conn.create_http_monitor(details).data

    def list_http_probe_results(self, monitor_id: str) -> list[Any]:
        """Every ``HttpProbeResultSummary`` of the monitor (all pages)."""
        import oci

        return oci.pagination.list_call_get_all_results(self.conn.list_http_probe_results, monitor_id).data
