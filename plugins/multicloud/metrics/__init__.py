"""One metrics interface for every DAG: ``emit(name, value, dimensions=...)``.

Sinks are chosen in the estate (``metrics:``). A failing sink never fails the business task:
it logs and counts the failure. The ``file`` sink (JSON lines under the estate home) is what
the demo, the governance report and the UI read.
"""

from multicloud.metrics.core import MetricPoint, emit, read_points

__all__ = ["MetricPoint", "emit", "read_points"]
