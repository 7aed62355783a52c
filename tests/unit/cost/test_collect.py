"""Cost collection against AWS Cost Explorer (moto, server mode) and the OCI Usage API (emulator)."""

from __future__ import annotations

from datetime import date

import pytest
import requests

from multicloud.cost.collect import collect_aws, collect_catalog, collect_oci

START, END = date(2026, 10, 1), date(2026, 10, 31)


@pytest.fixture
def moto_ce(moto_server):
    moto_server.connection("aws_cost")
    return moto_server.url


def _group(keys: list[str], amount: str) -> dict:
    return {"Keys": keys, "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}


def test_cost_explorer_by_service_region_and_workload_tag(moto_ce):
    period = {"TimePeriod": {"Start": START.isoformat(), "End": END.isoformat()}, "Estimated": False}
    canned = [
        {"ResultsByTime": [{**period, "Groups": [_group(["Amazon Elastic Compute Cloud - Compute", "us-east-1"],
                                                        "1616.76")]}],
         "NextPageToken": "page-2"},
        {"ResultsByTime": [{**period, "Groups": [_group(["Amazon Elastic Kubernetes Service", "us-east-1"],
                                                        "73.00"),
                                                 _group(["Amazon Simple Storage Service", "eu-west-1"], "12.50")]}]},
        {"ResultsByTime": [{**period, "Groups": [_group(["workload$churn-us-serving"], "884.76"),
                                                 _group(["workload$"], "817.50")]}]},
    ]
    response = requests.post(f"{moto_ce}/moto-api/static/ce/cost-and-usage-results",
                             json={"results": canned}, timeout=5)
    assert response.status_code == 201

    cost = collect_aws("aws_cost", START, END, tag_key="workload")

    assert cost.source == "aws-cost-explorer"
    assert cost.currency == "USD"
    assert cost.total == pytest.approx(1616.76 + 73.00 + 12.50)          # both pages were read
    assert cost.by("region") == {"eu-west-1": 12.5, "us-east-1": pytest.approx(1689.76)}
    assert cost.by("workload") == {"(untagged)": 817.5, "churn-us-serving": 884.76}
    assert set(cost.by("service")) == {"Amazon Elastic Compute Cloud - Compute", "Amazon Elastic Kubernetes Service",
                                       "Amazon Simple Storage Service"}


def test_oci_usage_api_by_service_region_and_tag(oci_conn, oci_emulator):
    from tests.emulators.oci_usage import install_usage_api

    received = install_usage_api(oci_emulator, {
        "service,region": [
            {"service": "COMPUTE", "region": "eu-frankfurt-1", "computedAmount": 120.5, "currency": "USD"},
            {"service": "OKE", "region": "eu-frankfurt-1", "computedAmount": 73.0, "currency": "USD"},
            {"service": "COMPUTE", "region": "us-ashburn-1", "computedAmount": 33.58, "currency": "USD"},
        ],
        "tag": [
            {"computedAmount": 150.0, "currency": "USD",
             "tags": [{"namespace": "finops", "key": "workload", "value": "churn-eu-serving"}]},
            {"computedAmount": 77.08, "currency": "USD", "tags": []},
        ],
    })

    cost = collect_oci(oci_conn, "ocid1.tenancy.oc1..test", START, END, tag_key="workload", tag_namespace="finops")

    assert cost.total == pytest.approx(227.08)                          # three items over two pages
    assert cost.by("region") == {"eu-frankfurt-1": 193.5, "us-ashburn-1": 33.58}
    assert cost.by("workload") == {"(untagged)": 77.08, "churn-eu-serving": 150.0}
    assert all(r.signed for r in oci_emulator.requests_to("POST", r"/20200107/usage"))
    first = received[0]
    assert first["tenantId"] == "ocid1.tenancy.oc1..test"
    assert first["queryType"] == "COST"
    assert first["granularity"] == "MONTHLY"
    assert first["groupBy"] == ["service", "region"]
    assert received[-1]["groupByTag"] == [{"namespace": "finops", "key": "workload"}]


def test_oci_usage_api_error_surfaces(oci_conn, oci_emulator):
    import oci

    from tests.emulators.oci_usage import install_usage_api

    install_usage_api(oci_emulator, {})
    with pytest.raises(oci.exceptions.ServiceError):
        collect_oci(oci_conn, "ocid1.tenancy.oc1..test", END, START)  # start after end


def test_catalog_collection_prices_the_local_placement(estate_home):
    from multicloud.cost.catalog import catalog_for_estate
    from multicloud.estate import load_estate

    estate = load_estate()
    placement = {w.id: dict(w.placement) for w in estate.workloads}
    aws = collect_catalog(estate, catalog_for_estate(estate), placement, "aws", START, START.replace(day=31))
    months = 30 * 24 / 730
    # churn-us-serving: 2 vCPU / 4 GB on a g5.2xlarge (8 vCPU): a quarter of a 1.212 USD/h node.
    assert aws.by("workload") == {"churn-us-serving": pytest.approx(0.25 * 1.212 * 730 * months, rel=1e-6)}
    assert aws.total == pytest.approx(0.25 * 1.212 * 730 * months, rel=1e-6)
    oci_cost = collect_catalog(estate, catalog_for_estate(estate), placement, "oci", START, START.replace(day=31))
    assert oci_cost.total == 0.0  # churn-eu-serving's oke-fra replica runs on committed capacity
    assert oci_cost.by("workload") == {"churn-eu-serving": 0.0}  # priced there, not left out
    # Its other replica (2 vCPU / 4 GB on an 8-vCPU n2-standard-8) is paid: a workload spanning two
    # clouds shows on each cloud's bill.
    gcp = collect_catalog(estate, catalog_for_estate(estate), placement, "gcp", START, START.replace(day=31))
    assert gcp.by("workload") == {"churn-eu-serving": pytest.approx(0.25 * 0.4274 * 730 * months, rel=1e-6)}
    assert gcp.total == pytest.approx(0.25 * 0.4274 * 730 * months, rel=1e-6)
