"""The shipped price catalog covers every shape the estates use; bad rows fail with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from multicloud.cost.catalog import CatalogError, load_catalog
from multicloud.estate import load_estate

ESTATES = Path(__file__).resolve().parents[3] / "include" / "estate"


@pytest.mark.parametrize("estate_file", ["local.yaml", "example-cloud.yaml"])
def test_every_cluster_shape_has_a_price_with_source_and_date(estate_file):
    estate = load_estate(ESTATES / estate_file)
    catalog = load_catalog()
    for region, cluster in estate.clusters():
        price = catalog.shape(region.cloud.value, region.region, cluster.shape)
        assert price.on_demand_hourly > 0
        assert price.source
        assert price.as_of
        if cluster.capacity.gpu:
            assert price.accelerator == cluster.capacity.gpu_type
            assert price.accelerator_count >= 1


def test_egress_scopes():
    catalog = load_catalog()
    assert catalog.egress_per_gb("aws", "us-east-1", "aws", "us-east-1") == 0.0
    assert catalog.egress_per_gb("aws", "us-east-1", "aws", "eu-west-1") == 0.02
    assert catalog.egress_per_gb("aws", "us-east-1", "oci", "us-ashburn-1") == 0.09
    assert catalog.egress_per_gb("gcp", "us-central1", "gcp", "europe-west4") == 0.05  # cross-geography
    assert catalog.egress_per_gb("gcp", "europe-west4", "gcp", "europe-west4") == 0.0


def test_bad_catalog_rows_name_file_line_and_column(tmp_path):
    bad = tmp_path / "catalog.csv"
    bad.write_text("cloud,region,shape,accelerator,accelerator_count,vcpu,memory_gb,on_demand_hourly,spot_hourly,"
                   "source,as_of\naws,us-east-1,m7i.2xlarge,,0,8,32,cheap,,list,2025-06-01\n")
    with pytest.raises(CatalogError, match=r"catalog.csv:2: column 'on_demand_hourly' must be a number"):
        load_catalog(bad)
    missing = tmp_path / "short.csv"
    missing.write_text("cloud,region\naws,us-east-1\n")
    with pytest.raises(CatalogError, match="missing column"):
        load_catalog(missing)
    with pytest.raises(CatalogError, match="no price for shape 'x1' in aws/us-east-1"):
        load_catalog().shape("aws", "us-east-1", "x1")
    twice = tmp_path / "egress.csv"
    twice.write_text("from_cloud,scope,usd_per_gb\naws,inter_cloud,0.09\naws,inter_cloud,0.05\n")
    with pytest.raises(CatalogError, match=r"egress.csv:3: duplicate row for \('aws', 'inter_cloud'\)"):
        load_catalog(egress_file=twice)
