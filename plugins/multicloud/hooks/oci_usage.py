"""OCIUsageHook: cost and usage summaries from the OCI Usage API (``request_summarized_usages``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from multicloud.hooks.oci import OCIServiceHook


class OCIUsageHook(OCIServiceHook):
    """Calls of the OCI Usage API (``usage_api.UsageapiClient``).

    :param oci_conn_id: the Airflow connection (type ``oci``).
    :param region: an OCI region id overriding the connection's region.
    """

    client_path = "oci.usage_api.UsageapiClient"
    hook_name = "OCI Usage API"

    def summarized_usages(self, tenancy: str, started: datetime, ended: datetime, *, granularity: str = "MONTHLY",
                          query_type: str = "COST", **grouping: Any) -> Iterator[Any]:
        """Every ``UsageSummary`` of the query, following ``opc-next-page`` across pages."""
        from oci.usage_api.models import RequestSummarizedUsagesDetails

        details = RequestSummarizedUsagesDetails(tenant_id=tenancy, time_usage_started=started,
                                                 time_usage_ended=ended, granularity=granularity,
                                                 query_type=query_type, **grouping)
        page = None
        while True:
            response = self.conn.request_summarized_usages(details, **({"page": page} if page else {}))
            yield from response.data.items or []
            page = response.next_page
            if not page:
                return
