"""residency_sync's task adapters (``sync.tasks``) with what Airflow hands a task: Params, the run's
``ti`` and ``dag_run``. No task context is read behind the arguments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from multicloud.reports import latest_summary
from multicloud.sync import plan_store, tasks
from multicloud.sync.planner import SyncItem

HOUR = datetime(2026, 3, 1, 14, tzinfo=UTC)
PARAMS = {"datasets": ["eu-claims", "customer-events"], "regions": ["oci-fra", "oci-ash"]}


class FakeTI:
    """The ``ti`` of a task: XComs pushed and pulled by (task id, key), task states by map index."""

    def __init__(
        self,
        xcoms: dict[tuple[str, str], object] | None = None,
        states: dict[str, str] | None = None,
        map_index: int = -1,
    ) -> None:
        self.xcoms = dict(xcoms or {})
        self.states = states or {}
        self.map_index = map_index
        self.dag_id = "residency_sync"

    def xcom_push(self, key: str, value: object) -> None:
        self.xcoms[("self", key)] = value

    def xcom_pull(self, task_ids: str, key: str = "return_value", default: object = None, **_: object) -> object:
        return self.xcoms.get((task_ids, key), default)

    def get_task_states(self, dag_id: str, task_ids: list[str], run_ids: list[str]) -> dict[str, dict[str, str]]:
        return {run_ids[0]: self.states}


class FakeOutletEvents(dict):
    """``outlet_events[AssetAlias(...)].add(asset, extra=...)``: records what would be published."""

    def __missing__(self, alias):
        accessor = SimpleNamespace(added=[])
        accessor.add = lambda asset, extra: accessor.added.append((asset.uri, extra))
        self[alias] = accessor
        return accessor


def _dag_run(run_type: str = "manual") -> SimpleNamespace:
    return SimpleNamespace(run_after=HOUR + timedelta(minutes=20), run_type=run_type)


def test_plan_returns_one_shard_per_region_and_pushes_only_a_reference(estate_home):
    ti = FakeTI()
    shards = tasks.plan_task(PARAMS, "manual__t1", HOUR, HOUR + timedelta(hours=1), _dag_run(), ti)
    reference = ti.xcoms[("self", "plan")]
    assert {s["region"] for s in shards} <= {"oci-fra", "oci-ash", "onprem-hq"}
    assert reference["regions"] == len(shards)
    assert reference["items"] == sum(s["items"] for s in shards) > 0
    assert (reference["interval_start"], reference["interval_source"]) == (HOUR.isoformat(), "data interval")
    manifest = plan_store.read_manifest("manual__t1", reference["digest"])
    assert ("eu-claims", "oci-ash") in {(d["dataset"], d["region"]) for d in manifest["denials"]}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"datasets": ["customer-evnets"], "regions": ["mars-1"]}, ["customer-evnets", "mars-1"]),
        ({"residency_mode": "audit"}, ["residency_mode"]),  # a Param the trigger form would have refused
    ],
)
def test_a_refused_plan_fails_without_retry_and_pushes_nothing(estate_home, params, named):
    ti = FakeTI()
    with pytest.raises(AirflowFailException, match="plan refused") as refused:
        tasks.plan_task(params, "manual__t2", HOUR, None, _dag_run(), ti)
    assert all(name in str(refused.value) for name in named)
    assert ti.xcoms == {}


def test_late_partitions_are_left_out_of_the_plan_and_kept_for_the_summary(estate_home):
    def planned(run_id: str, arrivals: dict | None) -> dict:
        ti = FakeTI()
        tasks.plan_task(PARAMS, run_id, HOUR, None, _dag_run(), ti, arrivals)
        manifest = plan_store.read_manifest(run_id, ti.xcoms[("self", "plan")]["digest"])
        return manifest | {"items": plan_store.read_items(run_id, manifest)}

    on_time = planned("manual__t3a", None)
    [partition] = {i["partition"] for i in on_time["items"] if i["dataset"] == "customer-events"}
    late = {
        "dataset": "customer-events",
        "region": "onprem-hq",
        "partition": partition,
        "url": "file:///x",
        "timeout_s": 60.0,
    }
    waited = planned("manual__t3b", {"late": [late], "arrived": []})
    assert waited["late"] == [late]
    assert not [i for i in waited["items"] if i["dataset"] == "customer-events"]
    assert [i for i in on_time["items"] if i["dataset"] != "customer-events"] == waited["items"]


def test_summary_of_a_run_whose_plan_failed_says_so_and_fails(estate_home):
    with pytest.raises(AirflowFailException, match="plan failed"):
        tasks.summarize_run({}, "manual__t4", FakeTI())
    assert latest_summary("residency_sync", estate_home)["data"]["failed"] == ["plan"]


def test_publish_partial_publishes_nothing_when_every_region_succeeded_or_on_a_dry_run(estate_home):
    shards = [{"region": "oci-fra", "digest": "d", "items": 1}]
    events = FakeOutletEvents()
    done = FakeTI({("plan", "return_value"): shards}, states={"sync_0": "success"})
    assert tasks.publish_partial_regions({}, "manual__t5", done, _dag_run(), events, "alias") == 0
    failed = FakeTI({("plan", "return_value"): shards}, states={"sync_0": "failed"})
    assert tasks.publish_partial_regions({"dry_run": True}, "manual__t5", failed, _dag_run(), events, "alias") == 0
    assert events == {}


def test_publish_names_the_run_type_from_the_dag_run(estate_home):
    item = SyncItem("customer-events", "oci-fra", "route", "dt=2026-03-01/hr=14", jurisdictions=("EU",))
    events = FakeOutletEvents()
    assert (
        tasks.publish(events, "alias", [(item, {"rows": 7})], "backfill__x", tasks._run_type(_dag_run("backfill"))) == 1
    )
    [(uri, extra)] = next(iter(events.values())).added
    assert uri == "x-multicloud://customer-events/oci-fra"
    assert extra == {"partition": "dt=2026-03-01/hr=14", "rows": 7, "run_id": "backfill__x", "run_type": "backfill"}


def test_landing_a_hand_off_whose_task_run_did_not_succeed_is_skipped(estate_home):
    item = SyncItem("customer-events", "oci-fra", "route", "dt=2026-03-01/hr=14", jurisdictions=("EU",))
    with pytest.raises(AirflowSkipException, match="did not succeed"):
        tasks.land_item(item.as_dict(), {}, "manual__t6", FakeTI(map_index=0), FakeOutletEvents(), "alias")
