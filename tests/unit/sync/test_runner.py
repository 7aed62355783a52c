"""Items executed on the local estate: reruns converge, validation guards residency, summary reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from multicloud.residency.policy import ResidencyPolicy
from multicloud.sync.demo_data import customer_events, write_source_partitions
from multicloud.sync.planner import SyncItem, plan_sync
from multicloud.sync.runner import endpoints, execute_item, read_outcomes, run_item
from multicloud.sync.summary import build_summary
from multicloud.sync.validation import ValidationFailed

HOUR = datetime(2026, 3, 1, 14, tzinfo=UTC)


@pytest.fixture
def estate(estate):
    """The shared estate with an hour of source partitions."""
    write_source_partitions(estate, HOUR, rows=400, files=2)
    return estate


def _snapshot(loc) -> dict[str, bytes]:
    return {p: loc.fs.cat_file(p) for p in loc.fs.find(loc.path)}


def test_rerun_of_an_interval_changes_nothing(estate):
    plan = plan_sync(estate, ResidencyPolicy.from_estate(estate), HOUR,
                     datasets=["customer-events", "eu-claims"], regions=["oci-lon", "aws-euw1"])
    kinds = {(i.dataset, i.region, i.kind) for i in plan.items}
    assert kinds == {("customer-events", "oci-lon", "route"), ("customer-events", "aws-euw1", "route"),
                     ("customer-events", "onprem-hq", "quarantine"), ("eu-claims", "aws-euw1", "copy")}
    first = {i: execute_item(estate, i, validate=False) for i in plan.items}
    before = {i: _snapshot(endpoints(estate, i).target) for i in plan.items}
    second = {i: execute_item(estate, i, validate=False) for i in plan.items}
    after = {i: _snapshot(endpoints(estate, i).target) for i in plan.items}
    assert {i: r["rows"] for i, r in first.items()} == {i: r["rows"] for i, r in second.items()}
    copy = next(i for i in plan.items if i.kind == "copy")
    assert second[copy]["copy"]["copied"] == 0
    assert second[copy]["copy"]["skipped"] == 2
    for item in plan.items:  # same objects; routed objects rewritten with identical rows
        assert set(before[item]) == set(after[item])
        if item.kind == "copy":
            assert before[item] == after[item]


def test_validation_rejects_a_row_outside_the_region_jurisdiction(estate):
    item = SyncItem("customer-events", "oci-lon", "route", "dt=2026-03-01/hr=14", jurisdictions=("UK",))
    result = execute_item(estate, item)
    assert result["validation"]["success"]
    assert result["rows"] > 0
    target = endpoints(estate, item).target
    # a GB-only target that someone polluted with an FR row must fail the residency expectation
    intruder = customer_events(50, HOUR).filter(pa.compute.equal(customer_events(50, HOUR)["country"], "FR"))
    pq.write_table(intruder.slice(0, 1), f"{target.path}/part-99999.parquet")
    from multicloud.sync.runner import validate_item

    with pytest.raises(ValidationFailed, match=r"expect_column_values_to_be_in_set.*country"):
        validate_item(estate, item, target, expected_rows=None)


def test_run_item_records_failures_for_the_summary(estate):
    missing = SyncItem("customer-events", "oci-lon", "route", "dt=2026-03-01/hr=15", jurisdictions=("UK",))
    with pytest.raises(FileNotFoundError, match="source partition"):
        run_item(estate, missing, "run-x")
    ok = SyncItem("eu-claims", "aws-euw1", "copy", "dt=2026-03-01/hr=14", data_class="eu-personal")
    run_item(estate, ok, "run-x")
    outcomes = read_outcomes("run-x")
    assert sorted(o["status"] for o in outcomes.values()) == ["failed", "ok"]

    headline, data = build_summary({"customer-events": "dt=2026-03-01/hr=14"}, [ok.as_dict(), missing.as_dict()],
                                   [{"dataset": "eu-claims", "region": "oci-ash", "data_class": "eu-personal",
                                     "blocks": True, "rule": "r", "reason": "x"}], outcomes)
    assert len(headline) <= 8
    assert data["failed"] == ["customer-events→oci-lon"]
    assert data["landed"] == {"aws-euw1": {"eu-claims": 100}}
    assert any(line.startswith("denied (never copied): eu-claims→oci-ash(eu-personal)") for line in headline)
    assert headline[-1] == "FAILED: customer-events→oci-lon"


def test_demo_data_label_is_learnable():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from multicloud.sync.layout import CUSTOMER_EVENT_COLUMNS, CUSTOMER_EVENT_FEATURES

    table = customer_events(6000, HOUR)
    assert tuple(table.column_names) == CUSTOMER_EVENT_COLUMNS
    frame = table.to_pandas()
    majority = max(frame.churned.mean(), 1 - frame.churned.mean())
    accuracy = cross_val_score(LogisticRegression(max_iter=500), frame[list(CUSTOMER_EVENT_FEATURES)],
                               frame.churned, cv=3).mean()
    assert accuracy > majority + 0.1
    assert {"GB", "US", "CA", None} <= set(frame.country.replace({float("nan"): None}))


def test_summary_extra_lines_never_push_out_the_failed_line():
    items = [SyncItem(f"ds{i}", f"r{i}", "copy", "dt=2026-03-01/hr=14").as_dict() for i in range(7)]
    outcomes = {f"o{i}": {"item": item, "status": "failed" if i == 0 else "ok", "rows": 10 * i}
                for i, item in enumerate(items)}
    headline, _ = build_summary({"ds0": "dt=2026-03-01/hr=14"}, items, [], outcomes,
                                extra_lines=["OCI Data Integration: 0/1 task runs succeeded"])
    assert len(headline) == 8
    assert headline[1] == "OCI Data Integration: 0/1 task runs succeeded"
    assert headline[-1] == "FAILED: ds0→r0"
    assert any(line.startswith("also landed in") for line in headline)
