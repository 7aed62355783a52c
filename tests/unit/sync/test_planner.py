"""The sync planner on the local estate: who gets what, what is denied, what is audited."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from multicloud.residency.policy import ResidencyPolicy
from multicloud.sync.audit import read_audit, record_denials
from multicloud.sync.planner import SyncItem, countries_of, plan_sync

HOUR = datetime(2026, 3, 1, 14, tzinfo=UTC)


def _items(plan, dataset):
    return {i.region: i for i in plan.items_for(dataset)}


def test_record_level_sends_each_region_only_its_jurisdictions(estate):
    plan = plan_sync(estate, ResidencyPolicy.from_estate(estate), HOUR, datasets=["customer-events"])
    items = _items(plan, "customer-events")
    assert items["oci-fra"].jurisdictions == ("EU",)
    assert items["oci-lon"].jurisdictions == ("UK",)
    assert items["aws-use1"].jurisdictions == ("US",)
    assert items["onprem-hq"].kind == "quarantine"  # the source keeps the quarantine, nothing else
    assert all(i.partition == "dt=2026-03-01/hr=14" for i in items.values())
    # every (region, class) pair that is not allowed is a recorded denial
    denied = {(d.region, d.data_class) for d in plan.denials}
    assert ("oci-fra", "us-personal") in denied
    assert ("oci-ash", "eu-personal") in denied
    assert all(d.blocks for d in plan.denials)


def test_object_level_denial_is_never_an_item(estate):
    plan = plan_sync(estate, ResidencyPolicy.from_estate(estate), HOUR, datasets=["eu-claims"])
    assert set(_items(plan, "eu-claims")) == {"aws-euw1", "gcp-euw4"}
    (denial,) = plan.denials
    assert (denial.region, denial.data_class, denial.rule) == ("oci-ash", "eu-personal", "default-deny:not-allowed")


def test_audit_mode_copies_and_records_would_deny_unless_tightened(estate):
    policy = ResidencyPolicy.from_estate(estate)
    plan = plan_sync(estate, policy, HOUR, datasets=["telemetry"])
    assert _items(plan, "telemetry")["aws-use1"].would_deny == ("telemetry",)
    assert [d.blocks for d in plan.denials] == [False]
    strict = plan_sync(estate, policy.tightened("enforce"), HOUR, datasets=["telemetry"])
    assert set(_items(strict, "telemetry")) == {"oci-lon"}
    assert [d.blocks for d in strict.denials] == [True]


def test_region_filter_and_unknown_names(estate):
    plan = plan_sync(estate, ResidencyPolicy.from_estate(estate), HOUR, regions=["oci-lon"])
    assert {i.region for i in plan.items if i.kind != "quarantine"} == {"oci-lon"}
    with pytest.raises(ValueError, match="unknown target region"):
        plan_sync(estate, ResidencyPolicy.from_estate(estate), HOUR, regions=["mars-1"])
    with pytest.raises(KeyError, match="no-such"):
        plan_sync(estate, ResidencyPolicy.from_estate(estate), HOUR, datasets=["no-such"])


def test_daily_partition_and_item_round_trip(estate):
    plan = plan_sync(estate, ResidencyPolicy.from_estate(estate), HOUR, datasets=["product-catalog"])
    item = plan.items[0]
    assert item.partition == "dt=2026-03-01"
    assert SyncItem.from_dict(item.as_dict()) == item


def test_audit_log_lines(estate, estate_home):
    plan = plan_sync(estate, ResidencyPolicy.from_estate(estate), HOUR, datasets=["eu-claims", "telemetry"])
    assert record_denials(plan.denials, "run-1", "dt=2026-03-01/hr=14") == 2
    lines = read_audit(estate_home)
    assert {(x["dataset"], x["region"], x["outcome"]) for x in lines} == {
        ("eu-claims", "oci-ash", "denied"), ("telemetry", "aws-use1", "would-deny")}
    assert all(x["run_id"] == "run-1" and x["rule"] and x["class"] for x in lines)


def test_countries_of(estate):
    assert countries_of(estate, ["UK"]) == {"GB": "UK"}
    assert "DE" in countries_of(estate, ["EU"])
    assert "US" not in countries_of(estate, ["EU"])


def test_a_dataset_with_its_own_schedule_is_synced_only_when_due(estate):
    from datetime import timedelta

    from multicloud.sync.planner import dataset_interval

    daily = estate.dataset("product-catalog").model_copy(update={"schedule": "@daily"})
    midnight = datetime(2026, 3, 2, 0, tzinfo=UTC)
    # The hourly run holding 00:00 moves the day that just ended; the other hourly runs skip it.
    assert dataset_interval(daily, midnight, midnight + timedelta(hours=1)) == datetime(2026, 3, 1, tzinfo=UTC)
    assert dataset_interval(daily, HOUR, HOUR + timedelta(hours=1)) is None
    # Without its own schedule a dataset follows every run.
    hourly = estate.dataset("eu-claims")
    assert dataset_interval(hourly, HOUR, HOUR + timedelta(hours=1)) == HOUR

    scheduled = estate.model_copy(update={"datasets": [daily if d.id == "product-catalog" else d
                                                       for d in estate.datasets]})
    policy = ResidencyPolicy.from_estate(scheduled)
    not_due = plan_sync(scheduled, policy, HOUR, interval_end=HOUR + timedelta(hours=1))
    assert not not_due.items_for("product-catalog")
    assert not_due.items_for("eu-claims")
    due = plan_sync(scheduled, policy, midnight, interval_end=midnight + timedelta(hours=1))
    assert {i.partition for i in due.items_for("product-catalog")} == {"dt=2026-03-01"}
    # Named explicitly (a manual trigger), it is planned whatever its schedule.
    manual = plan_sync(scheduled, policy, HOUR, datasets=["product-catalog"], interval_end=HOUR + timedelta(hours=1))
    assert manual.items_for("product-catalog")


def test_an_invalid_dataset_schedule_is_an_estate_error(tmp_path):
    from multicloud.estate import EstateError, parse_estate
    from multicloud.paths import DEFAULT_ESTATE_FILE

    text = DEFAULT_ESTATE_FILE.read_text().replace("    partitioning: daily\n",
                                                   "    partitioning: daily\n    schedule: every day\n", 1)
    with pytest.raises(EstateError) as error:
        parse_estate(text, source="bad.yaml", home=str(tmp_path))
    assert "datasets[1].schedule" in str(error.value)
    assert "not a cron expression" in str(error.value)


def test_each_denial_is_audited_with_its_own_dataset_partition(estate, estate_home):
    daily_claims = estate.dataset("eu-claims").model_copy(update={"partitioning": "daily"})
    mixed = estate.model_copy(update={"datasets": [daily_claims if d.id == "eu-claims" else d
                                                   for d in estate.datasets]})
    plan = plan_sync(mixed, ResidencyPolicy.from_estate(mixed), HOUR, datasets=["telemetry", "eu-claims"])
    record_denials(plan.denials, "run-2", "fallback")
    assert {(x["dataset"], x["partition"]) for x in read_audit(estate_home)} == {
        ("telemetry", "dt=2026-03-01/hr=14"), ("eu-claims", "dt=2026-03-01")}


def test_jurisdictions_sharing_a_class_give_one_denial_per_region(estate):
    events = estate.dataset("customer-events")
    shared = events.model_copy(update={"routing": events.routing.model_copy(update={
        "class_by_jurisdiction": {"EU": "eu-personal", "UK": "eu-personal"}})})
    merged = estate.model_copy(update={"datasets": [shared if d.id == "customer-events" else d
                                                    for d in estate.datasets]})
    plan = plan_sync(merged, ResidencyPolicy.from_estate(merged), HOUR, datasets=["customer-events"])
    pairs = [(d.region, d.data_class) for d in plan.denials]
    assert pairs
    assert len(pairs) == len(set(pairs))
    assert _items(plan, "customer-events")["oci-fra"].jurisdictions == ("EU", "UK")


def test_a_dry_run_starts_no_data_integration_task_run(estate_home, tmp_path, monkeypatch):
    import yaml

    from multicloud.paths import DEFAULT_ESTATE_FILE
    from multicloud.sync.settings import SyncSettings
    from multicloud.sync.tasks import plan_run

    raw = yaml.safe_load(DEFAULT_ESTATE_FILE.read_text())
    raw["datasets"].append({
        "id": "claims-di", "source": "oci-fra", "path": "claims-di", "data_class": "eu-personal",
        "replicate_to": ["aws-euw1", "oci-ash"], "engine": "oci-data-integration",
        "data_integration": {"connection_id": "oci_default", "workspace_id": "ocid1.disworkspace.oc1..ws",
                             "application_key": "app-1", "task_key": "copy-claims"},
    })
    estate_file = tmp_path / "estate-di.yaml"
    estate_file.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("MULTICLOUD_ESTATE_FILES_ALLOWED", str(estate_file))  # the deployment's allowlist
    params = {"datasets": ["claims-di"], "estate_file": str(estate_file)}
    wet = plan_run(SyncSettings.from_params(params), "run-wet", HOUR)
    assert [k["bindings"]["TARGET_REGION"] for k in wet["data_integration"]] == ["aws-euw1"]
    dry = plan_run(SyncSettings.from_params({**params, "dry_run": True}), "run-dry", HOUR)
    assert dry["data_integration"] == []
    assert {x["run_id"] for x in read_audit(estate_home)} == {"run-wet"}  # a dry run audits nothing


def test_an_estate_file_outside_the_deployments_allowlist_is_refused(tmp_path, monkeypatch):
    from multicloud.dagkit import EstateFileRefused, estate_for
    from multicloud.paths import DEFAULT_ESTATE_FILE

    looser = tmp_path / "looser.yaml"
    looser.write_text(DEFAULT_ESTATE_FILE.read_text())
    monkeypatch.delenv("MULTICLOUD_ESTATE_FILES_ALLOWED", raising=False)
    with pytest.raises(EstateFileRefused, match="not allowed"):
        estate_for({"estate_file": str(looser)})
    with pytest.raises(EstateFileRefused):  # a path that only resolves to an allowed one is compared resolved
        estate_for({"estate_file": str(tmp_path / "x" / ".." / "looser.yaml")})
    assert estate_for({"estate_file": str(DEFAULT_ESTATE_FILE)}).name == "local"  # the configured estate
    monkeypatch.setenv("MULTICLOUD_ESTATE_FILES_ALLOWED", str(looser))
    assert estate_for({"estate_file": str(tmp_path / "x" / ".." / "looser.yaml")}).name == "local"


def test_a_reprocessed_interval_appends_no_audit_line_twice(estate_home):
    from multicloud.sync.planner import Denial

    denial = Denial("eu-claims", "oci-ash", "eu-personal", "allow", "not in EU", True, "dt=2026-03-01/hr=14")
    assert record_denials([denial], "run-1", "dt=2026-03-01/hr=14") == 1
    assert record_denials([denial], "backfill-rerun", "dt=2026-03-01/hr=14") == 0
    other = Denial("eu-claims", "oci-ash", "eu-personal", "allow", "not in EU", True, "dt=2026-03-01/hr=15")
    assert record_denials([denial, other], "run-3", "x") == 1
    assert len(read_audit()) == 2
