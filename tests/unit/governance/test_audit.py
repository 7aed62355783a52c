"""The at-rest audit finds a planted out-of-region object and row, and nothing else."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from multicloud.estate import load_estate
from multicloud.governance.audit import audit_estate


def _events(countries: list[str]) -> pa.Table:
    return pa.table({"event_id": [f"e{i}" for i in range(len(countries))], "country": countries,
                     "spend_30d": [float(i) for i in range(len(countries))]})


def _put(home: Path, region: str, relative: str, table: pa.Table | None = None, text: str = "x") -> Path:
    path = home / "storage" / region / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if table is not None:
        pq.write_table(table, path)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def lawful_estate(estate_home):
    """Storage as the DAGs leave it: every object and row where its class allows."""
    part = "dt=2026-11-29/hr=10"
    _put(estate_home, "onprem-hq", f"customer-events/{part}/part-00000.parquet", _events(["DE", "GB", "US", "ZZ"]))
    _put(estate_home, "oci-fra", f"customer-events/{part}/part-00000.parquet", _events(["DE", "FR", "IE"] * 50))
    _put(estate_home, "oci-lon", f"customer-events/{part}/part-00000.parquet", _events(["GB"] * 10))
    _put(estate_home, "aws-use1", f"customer-events/{part}/part-00000.parquet", _events(["US"] * 10))
    _put(estate_home, "onprem-hq", f"_quarantine/customer-events/{part}/part-00000.parquet", _events(["ZZ"]))
    for region in ("oci-fra", "aws-euw1", "gcp-euw4"):
        _put(estate_home, region, f"eu-claims/{part}/part-00000.parquet", _events(["DE"]))
        _put(estate_home, region, f"eu-claims/{part}/_manifest.json", text="{}")
    for region in ("aws-use1", "oci-ash", "oci-fra", "azure-uks"):
        _put(estate_home, region, "product-catalog/dt=2026-11-29/part-00000.parquet", _events(["US"]))
    _put(estate_home, "oci-lon", f"telemetry/{part}/part-00000.parquet", _events(["GB"]))
    _put(estate_home, "oci-fra", "models/churn-eu/v1/model.json", text="{}")
    # The copier's own in-flight temporary (its marker, young) and a real copier manifest: exempt.
    _put(estate_home, "oci-fra", f"eu-claims/{part}/.part-00001.parquet.mcsync-tmp-{'0' * 32}", text="in flight")
    _put(estate_home, "aws-euw1", f"eu-claims/{part}/_manifest.json",
         text='{"objects": {"part-00000.parquet": {"sha256": "ab", "size": 1}}}')
    estate = load_estate(home=estate_home)
    for region in estate.regions:  # every region's storage exists, as after a sync
        (estate_home / "storage" / region.id).mkdir(parents=True, exist_ok=True)
    return estate


def test_lawful_storage_has_no_findings(lawful_estate):
    result = audit_estate(lawful_estate)
    assert result.findings == []
    assert result.unclassified == []
    assert result.errors == []
    assert result.unverified == []
    assert result.status == "clean"
    assert result.exempt == 2
    assert result.objects_scanned == 16  # two "{}" files named _manifest.json are no manifest: classified
    assert result.rows_scanned == 150 + 10 + 10  # the source's system of record is not row-checked


def test_an_eu_file_planted_as_a_temporary_in_a_us_region_is_a_violation(lawful_estate, estate_home):
    """Names are no hiding place: `.tmp`, `_part-...`, `.staging/` and even the copier's marker
    (when stale) are classified like any object."""
    part = "eu-claims/dt=2026-11-29/hr=10"
    planted = [_put(estate_home, "oci-ash", f"{part}/{name}", _events(["DE"])) for name in (
        ".part-00000.parquet.tmp-abc", "_part-00080.parquet", ".staging/part-00000.parquet", "_tmp/x",
        f".part-00002.parquet.mcsync-tmp-{'1' * 32}")]
    stale = planted[-1]
    os.utime(stale, (time.time() - 7 * 3600,) * 2)
    result = audit_estate(lawful_estate, regions=["oci-ash"])
    assert sorted(f.path for f in result.violations) == sorted(f"file://{p}" for p in planted)
    assert [t["path"] for t in result.stale_temporaries] == [f"file://{stale}"]


def test_planted_object_and_row_are_found_and_nothing_else(lawful_estate, estate_home):
    planted_object = _put(estate_home, "oci-ash", "eu-claims/dt=2026-11-29/hr=10/copied-by-hand.parquet",
                          _events(["DE"]))
    rows = ["DE"] * 70_000
    rows[66_000] = "US"  # one US customer's row in Frankfurt, in the second streamed batch
    planted_rows = _put(estate_home, "oci-fra", "customer-events/dt=2026-11-29/hr=11/part-00000.parquet",
                        _events(rows))

    result = audit_estate(lawful_estate, batch_rows=65_536)

    assert [(f.region, f.path, f.kind, f.data_class) for f in result.violations] == [
        ("oci-fra", f"file://{planted_rows}", "rows", "us-personal"),
        ("oci-ash", f"file://{planted_object}", "object", "eu-personal"),
    ]
    row_finding = next(f for f in result.violations if f.kind == "rows")
    assert (row_finding.rows, row_finding.row_samples, row_finding.classes) == (1, (66_000,), {"us-personal": 1})
    assert row_finding.path == f"file://{planted_rows}"
    object_finding = next(f for f in result.violations if f.kind == "object")
    assert object_finding.path == f"file://{planted_object}"
    assert object_finding.rule == "default-deny:not-allowed"
    assert result.would_deny == []
    assert result.unclassified == []
    assert result.by_region()["oci-ash"] == 1
    assert sum(result.by_region().values()) == 2


def test_unknown_country_rows_outside_the_source_fail_closed(lawful_estate, estate_home):
    _put(estate_home, "aws-euw1", "customer-events/dt=2026-11-29/hr=10/part-00000.parquet", _events(["DE", "XX"]))
    [finding] = audit_estate(lawful_estate, regions=["aws-euw1"]).violations
    assert (finding.rows, finding.row_samples, finding.rule) == (1, (1,), "default-deny:unknown-class")


def test_audit_mode_class_is_reported_as_would_deny(lawful_estate, estate_home):
    _put(estate_home, "aws-use1", "telemetry/dt=2026-11-29/hr=10/part-00000.parquet", _events(["US"]))
    result = audit_estate(lawful_estate)
    assert result.violations == []
    assert [(f.region, f.data_class, f.mode) for f in result.would_deny] == [("aws-use1", "telemetry", "audit")]


def test_unclassified_objects_are_listed_and_strict_makes_them_violations(lawful_estate, estate_home):
    stray = _put(estate_home, "gcp-usc1", "exports/customers.csv", text="id,country\n1,DE\n")
    relaxed = audit_estate(lawful_estate)
    assert [f.path for f in relaxed.unclassified] == [f"file://{stray}"]
    assert relaxed.violations == []
    strict = audit_estate(lawful_estate, strict=True)
    assert [f.path for f in strict.violations] == [f"file://{stray}"]


def test_quarantine_outside_its_source_is_a_violation(lawful_estate, estate_home):
    _put(estate_home, "oci-fra", "_quarantine/customer-events/dt=2026-11-29/hr=10/part-00000.parquet",
         _events(["ZZ"]))
    [finding] = audit_estate(lawful_estate).violations
    assert (finding.region, finding.rule) == ("oci-fra", "quarantine-outside-source")


def test_unreadable_routed_object_is_reported_not_skipped(lawful_estate, estate_home):
    _put(estate_home, "oci-lon", "customer-events/dt=2026-11-29/hr=12/part-00000.parquet", text="not parquet")
    [finding] = audit_estate(lawful_estate).violations
    assert finding.kind == "unreadable"
    assert finding.region == "oci-lon"


def test_unknown_region_is_refused(lawful_estate):
    with pytest.raises(ValueError, match="unknown region"):
        audit_estate(lawful_estate, regions=["mars-1"])


def test_dataset_paths_of_several_segments_are_classified(lawful_estate, estate_home):
    """A dataset path like ``claims/eu`` owns its objects (not "unclassified", which would fail open)."""
    datasets = [d.model_copy(update={"path": "claims/eu"}) if d.id == "eu-claims" else d
                for d in lawful_estate.datasets]
    estate = lawful_estate.model_copy(update={"datasets": datasets})
    _put(estate_home, "oci-fra", "claims/eu/dt=2026-11-29/part-00000.parquet", _events(["DE"]))
    planted = _put(estate_home, "oci-ash", "claims/eu/dt=2026-11-29/part-00000.parquet", _events(["DE"]))
    result = audit_estate(estate, regions=["oci-fra", "oci-ash"])
    assert [(f.region, f.path, f.dataset) for f in result.violations] == [
        ("oci-ash", f"file://{planted}", "eu-claims")]
    assert [f.path for f in result.unclassified if "/claims/" in f.path] == []


def test_a_region_that_cannot_be_listed_is_unverified_never_clean(lawful_estate, estate_home):
    import shutil

    shutil.rmtree(estate_home / "storage" / "gcp-usc1")  # a missing root is not "0 objects"
    (estate_home / "storage" / "azure-weu").rmdir()
    (estate_home / "storage" / "azure-weu").write_text("a file where the storage folder should be")
    result = audit_estate(lawful_estate)
    assert {u["region"] for u in result.unverified} == {"gcp-usc1", "azure-weu"}
    assert all("cannot list" in u["cause"] for u in result.unverified)
    assert result.status == "unverified"
    assert result.region_status()["gcp-usc1"] == "unverified"
    assert result.region_status()["oci-fra"] == "clean"
    assert result.as_dict()["status"] == "unverified"


def test_a_listing_error_anywhere_below_the_root_makes_the_region_unverified(lawful_estate):
    from multicloud.sync.storage import Location, location_for

    class Failing:
        def __init__(self, fs):
            self.fs = fs

        def exists(self, path):
            return True

        def find(self, path, **kwargs):
            raise PermissionError("403 AccessDenied on page 2 of the listing")

    def location(storage, url):
        loc = location_for(storage, url)
        return Location(Failing(loc.fs), loc.path, loc.url) if "oci-ash" in url else loc

    def no_credentials(storage, url):
        raise RuntimeError("no credentials for connection oci_ash")

    result = audit_estate(lawful_estate, regions=["oci-ash", "oci-fra"], location=location)
    assert [(u["region"], "AccessDenied" in u["cause"]) for u in result.unverified] == [("oci-ash", True)]
    result = audit_estate(lawful_estate, regions=["oci-ash"], location=no_credentials)
    assert result.status == "unverified"


def test_dataset_paths_are_normalised_before_classification(lawful_estate, estate_home):
    """`./eu-claims` (an estate built without the loader) still owns eu-claims/: violations, not unclassified."""
    datasets = [d.model_copy(update={"path": "./eu-claims/"}) if d.id == "eu-claims" else d
                for d in lawful_estate.datasets]
    estate = lawful_estate.model_copy(update={"datasets": datasets})
    planted = _put(estate_home, "oci-ash", "eu-claims/dt=2026-11-29/part-00000.parquet", _events(["DE"]))
    result = audit_estate(estate, regions=["oci-ash"])
    assert [f.path for f in result.violations] == [f"file://{planted}"]
    assert result.unclassified == []


def test_a_csv_among_parquet_files_is_row_checked(lawful_estate, estate_home):
    planted = _put(estate_home, "aws-use1", "customer-events/dt=2026-11-29/hr=10/_extra.csv",
                   text="event_id,country\n1,US\n2,DE\n")
    [finding] = audit_estate(lawful_estate, regions=["aws-use1"]).violations
    assert (finding.path, finding.kind, finding.rows) == (f"file://{planted}", "rows", 1)
