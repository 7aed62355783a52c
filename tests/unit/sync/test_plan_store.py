"""The plan lives in files, the DAG maps one task per region: no max_map_length cliff, no large XCom."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from multicloud.sync import plan_store, runner, tasks
from multicloud.sync.planner import SyncItem

HOUR = datetime(2026, 3, 1, 14, tzinfo=UTC)


@pytest.fixture
def big_estate(estate_home):
    """The local estate plus 150 public datasets replicated everywhere: 1,350+ items (> max_map_length 1,024)."""
    from multicloud.estate import load_estate

    estate = load_estate(home=estate_home)
    (catalog,) = [d for d in estate.datasets if d.id == "product-catalog"]
    extra = [catalog.model_copy(update={"id": f"ref-{i:03d}", "path": f"ref-{i:03d}", "schedule": None,
                                        "partitioning": "hourly"}) for i in range(150)]
    return estate.model_copy(update={"datasets": [*estate.datasets, *extra]})


def test_a_plan_beyond_max_map_length_maps_one_task_per_region_and_xcom_carries_a_digest(big_estate):
    from multicloud.residency.policy import ResidencyPolicy
    from multicloud.sync.planner import plan_sync

    plan = plan_sync(big_estate, ResidencyPolicy.from_estate(big_estate), HOUR, interval_end=HOUR.replace(hour=15))
    manifest = {"data_integration": [], "denials": [d.__dict__ for d in plan.denials],
                "interval_start": HOUR.isoformat(), "interval_end": HOUR.isoformat(), "interval_source": "test"}
    written = plan_store.write_plan("manual__big", manifest, [i.as_dict() for i in plan.items])
    reference = tasks.plan_reference(written)
    assert reference["items"] > 1024  # what made the old per-item map fail
    # the map: at most one entry per region
    assert {s["region"] for s in written["shards"]} <= {r.id for r in big_estate.regions}
    assert len(json.dumps(written["shards"])) < 4096
    assert len(json.dumps(reference)) < 1024
    items = plan_store.read_items("manual__big", plan_store.read_manifest("manual__big", reference["digest"]))
    assert sorted(json.dumps(i, sort_keys=True) for i in items) == sorted(
        json.dumps(i.as_dict(), sort_keys=True) for i in plan.items)
    for shard in written["shards"]:
        assert {i["region"] for i in plan_store.read_shard("manual__big", shard["region"], shard["digest"])} == {
            shard["region"]}


def test_a_rewritten_plan_is_refused_by_a_task_holding_the_old_reference(estate_home):
    item = SyncItem("eu-claims", "aws-euw1", "copy", "dt=2026-03-01/hr=14", data_class="eu-personal").as_dict()
    first = plan_store.write_plan("run-1", {"denials": []}, [item])
    (shard,) = first["shards"]
    second = plan_store.write_plan("run-1", {"denials": []}, [item | {"partition": "dt=2026-03-01/hr=15"}])
    with pytest.raises(plan_store.PlanMismatch, match="re-run"):
        plan_store.read_shard("run-1", "aws-euw1", shard["digest"])
    with pytest.raises(plan_store.PlanMismatch, match="re-run"):
        plan_store.read_manifest("run-1", first["digest"])
    assert plan_store.read_manifest("run-1", second["digest"])["shards"] == second["shards"]
    with pytest.raises(plan_store.PlanMismatch, match="no plan"):
        plan_store.read_manifest("run-2")
    assert not list(plan_store.plan_dir("run-1").glob(".*"))  # no temporary file left behind


def test_a_region_moves_its_items_a_bounded_number_at_once_and_one_failure_hides_no_other(monkeypatch):
    running, peak, lock = [0], [0], threading.Lock()

    def fake_run_item(estate, item, run_id, dry_run=False):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        if item.dataset == "broken":
            raise FileNotFoundError("source partition missing")
        return {"rows": 1}

    monkeypatch.setattr(runner, "run_item", fake_run_item)
    items = [SyncItem(f"d{i}", "oci-fra", "copy", "p") for i in range(12)] + [SyncItem("broken", "oci-fra", "copy", "p")]
    done, failed = tasks.sync_items(None, items, "run-x", workers=3)
    assert len(done) == 12
    assert list(failed) == [items[-1]]
    assert "FileNotFoundError" in failed[items[-1]]
    assert 1 < peak[0] <= 3


def test_only_items_that_landed_in_this_plan_are_published():
    route = SyncItem("customer-events", "oci-fra", "route", "p", jurisdictions=("EU",))
    copy = SyncItem("eu-claims", "oci-fra", "copy", "p")
    quarantine = SyncItem("customer-events", "oci-fra", "quarantine", "p")
    stale = SyncItem("telemetry", "oci-fra", "copy", "p")
    outcomes = {runner.item_name(route): {"status": "ok", "item": route.as_dict(), "rows": 5},
                runner.item_name(copy): {"status": "failed", "item": copy.as_dict()},
                runner.item_name(quarantine): {"status": "ok", "item": quarantine.as_dict()},
                # an outcome left by an older plan of the run for another partition
                runner.item_name(stale): {"status": "ok", "item": SyncItem("telemetry", "oci-fra", "copy", "q").as_dict()}}
    assert [i for i, _ in tasks.landed_items([route, copy, quarantine, stale], outcomes)] == [route]
