"""OCIUsageHook against the Usage API emulator through the real, signing oci SDK."""

from __future__ import annotations

from datetime import UTC, datetime

import oci
import pytest

from multicloud.hooks.oci_usage import OCIUsageHook
from tests.emulators.oci_usage import install_usage_api

TENANCY = "ocid1.tenancy.oc1..test"
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


def _row(service: str, cost: float) -> dict:
    return {"service": service, "region": "eu-frankfurt-1", "computedAmount": cost, "currency": "EUR",
            "timeUsageStarted": START.isoformat(), "timeUsageEnded": END.isoformat()}


def test_every_page_is_followed(oci_conn, oci_emulator):
    rows = [_row(f"svc-{i}", float(i)) for i in range(5)]
    received = install_usage_api(oci_emulator, {"service,region": rows}, page_size=2)
    items = list(OCIUsageHook(oci_conn).summarized_usages(TENANCY, START, END, group_by=["service", "region"]))
    assert [(i.service, i.computed_amount) for i in items] == [(f"svc-{i}", float(i)) for i in range(5)]
    assert len(received) == 3                              # 2 + 2 + 1 rows, one request per page
    assert all(r["queryType"] == "COST" and r["granularity"] == "MONTHLY" for r in received)
    assert all(r.signed for r in oci_emulator.requests_to("POST", r"/20200107/usage"))


def test_no_rows_is_an_empty_answer(oci_conn, oci_emulator):
    install_usage_api(oci_emulator, {})
    assert list(OCIUsageHook(oci_conn).summarized_usages(TENANCY, START, END, group_by=["service"])) == []


def test_an_invalid_query_is_the_service_error(oci_conn, oci_emulator):
    install_usage_api(oci_emulator, {})
    with pytest.raises(oci.exceptions.ServiceError) as err:
        list(OCIUsageHook(oci_conn).summarized_usages(TENANCY, END, START))
    assert err.value.status == 400
