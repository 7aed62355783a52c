"""OCIMonitoringHook: custom metrics into OCI Monitoring (``post_metric_data``).

Posting needs the ``telemetry-ingestion.{region}`` endpoint, not the client's default
``telemetry.{region}`` one; the hook picks it unless the connection overrides the endpoint.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from multicloud.hooks.oci import OCIServiceHook


def ingestion_endpoint(region: str) -> str:
    return f"https://telemetry-ingestion.{region}.oraclecloud.com"


class OCIMonitoringHook(OCIServiceHook):
    """Calls of OCI Monitoring's ingestion API (``MonitoringClient``).

    :param oci_conn_id: the Airflow connection (type ``oci``).
    :param region: an OCI region id overriding the connection's region.
    """

    client_path = "oci.monitoring.MonitoringClient"
    hook_name = "OCI Monitoring"

    @cached_property
    def conn(self) -> Any:
        from oci.monitoring import MonitoringClient

        endpoint = self.service_endpoint_for(MonitoringClient) or ingestion_endpoint(self.region)
        return self.get_client(MonitoringClient, service_endpoint=endpoint)

    def post_metric_data(self, metric_data: list[Any]) -> None:
        """Post ``MetricDataDetails``; raises when the service rejects any of them."""
        from oci.monitoring.models import PostMetricDataDetails

        response = self.conn.post_metric_data(PostMetricDataDetails(metric_data=metric_data))
        failed = getattr(response.data, "failed_metrics_count", 0) or 0
        if failed:
            raise RuntimeError(f"OCI Monitoring rejected {failed} metric(s): {response.data.failed_metrics}")
