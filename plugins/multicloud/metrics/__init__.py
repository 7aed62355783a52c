"""One metrics interface for every DAG: ``emit(name, value, dimensions=...)``.

Sinks are chosen in the estate (``metrics:``): ``file`` (JSON lines under the estate home, what
the demo, the governance report and the UI read), ``statsd`` (Airflow's own Stats: StatsD or
OpenTelemetry as [metrics] configures), ``oci`` (OCI Monitoring) and ``cloudwatch``. A failing
sink never fails the business task: it logs and counts the failure.
"""

from multicloud.metrics.core import SINK_FAILURES, MetricPoint, emit, emit_points, read_points
from multicloud.metrics.sinks import metrics_file, reset_clients

__all__ = ["SINK_FAILURES", "MetricPoint", "emit", "emit_points", "metrics_file", "read_points", "reset_clients"]
