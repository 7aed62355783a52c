"""OCI Monitoring's ingestion API (``POST /20180401/metrics``) on the signature-checking OCIEmulator.

Emulated because no OCI endpoint is reachable from CI. It applies the service's documented
rules that our sink could get wrong: at least one dimension per metric, a custom namespace that
is lower-case, starts with a letter and not with ``oci_``, a compartment OCID, datapoints with
timestamp and value. Invalid items come back in ``failedMetrics`` as the real service does.
"""

from __future__ import annotations

import re
from typing import Any

from tests.emulators.oci import OCIEmulator, OCIError, OCIRequest

_NAMESPACE_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def install_monitoring(emulator: OCIEmulator) -> list[dict[str, Any]]:
    """Register the route; returns the list every accepted metric is appended to."""
    accepted: list[dict[str, Any]] = []

    @emulator.route("POST", r"/20180401/metrics")
    def post_metric_data(request: OCIRequest):
        body = request.body
        if not isinstance(body, dict) or not isinstance(body.get("metricData"), list) or not body["metricData"]:
            raise OCIError(400, "InvalidParameter", "metricData must be a non-empty list")
        failed = []
        for item in body["metricData"]:
            problem = _problem(item)
            if problem:
                failed.append({"message": problem, "metricData": item})
            else:
                with emulator.lock:
                    accepted.append(item)
        return 200, {"failedMetricsCount": len(failed), "failedMetrics": failed}

    return accepted


def _problem(item: dict[str, Any]) -> str | None:
    namespace = item.get("namespace") or ""
    if not _NAMESPACE_RE.match(namespace) or namespace.startswith("oci_"):
        return f"invalid namespace {namespace!r}"
    if not str(item.get("compartmentId", "")).startswith("ocid1.compartment."):
        return "compartmentId must be a compartment OCID"
    if not item.get("name"):
        return "name is required"
    if not item.get("dimensions"):
        return "at least one dimension is required"
    points = item.get("datapoints") or []
    if not points or any("timestamp" not in p or "value" not in p for p in points):
        return "datapoints need timestamp and value"
    return None
