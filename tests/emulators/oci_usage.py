"""OCI Usage API ``request_summarized_usages`` (``POST /20200107/usage``) on the OCIEmulator.

Emulated because no OCI endpoint is reachable from CI. It checks what the real service requires
(tenantId, COST/USAGE query type, DAILY/MONTHLY granularity, start/end at midnight UTC with start
before end, groupBy values the API knows) and pages its answer with ``opc-next-page`` as the real
service does; the SDK follows pages through ``page=``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.emulators.oci import OCIEmulator, OCIError, OCIRequest

GROUP_BY = {"tagNamespace", "tagKey", "tagValue", "service", "skuName", "skuPartNumber", "unit",
            "compartmentName", "compartmentPath", "compartmentId", "platform", "region", "logicalAd",
            "resourceId", "tenantId", "tenantName"}


def install_usage_api(emulator: OCIEmulator, items: dict[str, list[dict[str, Any]]], page_size: int = 2
                      ) -> list[dict[str, Any]]:
    """``items``: grouping key ("service,region" or "tag") -> UsageSummary JSON items.

    Returns the list of request bodies received.
    """
    received: list[dict[str, Any]] = []

    @emulator.route("POST", r"/20200107/usage")
    def request_summarized_usages(request: OCIRequest):
        body = request.body
        if not isinstance(body, dict):
            raise OCIError(400, "InvalidParameter", "body must be a JSON object")
        for required in ("tenantId", "timeUsageStarted", "timeUsageEnded", "granularity"):
            if not body.get(required):
                raise OCIError(400, "MissingParameter", f"{required} is required")
        if body["granularity"] not in {"HOURLY", "DAILY", "MONTHLY", "TOTAL"}:
            raise OCIError(400, "InvalidParameter", f"granularity {body['granularity']!r}")
        if body.get("queryType", "USAGE") not in {"USAGE", "COST", "CREDIT", "EXPIREDCREDIT", "ALLCREDIT"}:
            raise OCIError(400, "InvalidParameter", f"queryType {body.get('queryType')!r}")
        start, end = (datetime.fromisoformat(body[k].replace("Z", "+00:00"))
                      for k in ("timeUsageStarted", "timeUsageEnded"))
        if (start.hour, start.minute, start.second) != (0, 0, 0) or (end.hour, end.minute, end.second) != (0, 0, 0):
            raise OCIError(400, "InvalidParameter", "times must be at midnight UTC for DAILY/MONTHLY")
        if start >= end:
            raise OCIError(400, "InvalidParameter", "timeUsageStarted must be before timeUsageEnded")
        unknown = set(body.get("groupBy") or []) - GROUP_BY
        if unknown:
            raise OCIError(400, "InvalidParameter", f"unknown groupBy {sorted(unknown)}")
        with emulator.lock:
            received.append(body)
        key = "tag" if body.get("groupByTag") else ",".join(body.get("groupBy") or [])
        rows = items.get(key, [])
        offset = int((request.query.get("page") or ["0"])[0])
        page = rows[offset:offset + page_size]
        headers = {"opc-next-page": str(offset + page_size)} if offset + page_size < len(rows) else {}
        return 200, {"groupBy": body.get("groupBy") or [], "items": page}, headers

    return received
