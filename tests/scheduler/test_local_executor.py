"""Every DAG the way users run it, under the real scheduler (LocalExecutor, one shared deployment).

Through the public REST API of a real api-server + scheduler + dag-processor + triggerer (see
tests/harness/airflow.py): the UI's Trigger (``logical_date: null``) for all six DAGs in the
demo's order, a dated manual trigger, the scheduler's own catch-up runs, trigger-time Param
refusals, and an outage followed by ``airflow backfill create`` (exactly once, then a
reprocessing backfill that changes no object and duplicates no audit line). A failed run fails
the test with its failed tasks' logs.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

RUN_TIMEOUT = 900
SIX_DAGS = ("residency_sync", "model_training", "model_rollout", "cost_rebalance", "dr_rehearsal",
            "estate_governance")
SYNC_CONF = {"datasets": ["customer-events", "eu-claims"], "regions": ["oci-fra", "aws-use1", "oci-ash"]}
# (the trimmed local estate, see tests.harness.airflow.TRIMMED_TARGETS: eu-claims -> oci-ash is denied)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _partition(af, region: str, dataset: str, start: datetime) -> Path:
    return af.estate_home / "storage" / region / dataset / start.strftime("dt=%Y-%m-%d/hr=%H")


def _rows(folder: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in folder.glob("*.parquet"))


def _summary(af, dag_id: str, run_id: str) -> dict:
    from multicloud.reports import safe_run_id

    path = af.estate_home / "reports" / dag_id / f"{safe_run_id(run_id)}.json"
    assert path.exists(), f"no summary for {dag_id} {run_id} under {path.parent}"
    return json.loads(path.read_text())


# ---- trigger-time refusals: the API creates no run ----------------------------------------------
@pytest.mark.parametrize(("dag_id", "conf", "named"), [
    ("residency_sync", {"interval_start": "2026-01-01T05:30:00Z"}, "interval_start"),
    ("residency_sync", {"residency_mode": "audit"}, "residency_mode"),
    ("model_rollout", {"gate_success_rate": 1.5}, "gate_success_rate"),
    ("model_rollout", {"gate_p95_ms": 0}, "gate_p95_ms"),
    ("model_rollout", {"version": "../v1"}, "version"),
    ("model_training", {"version": "a/b"}, "version"),
    ("cost_rebalance", {"clouds": ["ibm"]}, "clouds"),
    ("dr_rehearsal", {"max_duration_s": 0}, "max_duration_s"),
])
def test_a_bad_param_is_refused_at_trigger_time_and_creates_no_run(airflow_local, dag_id, conf, named):
    before = len(airflow_local.runs(dag_id))
    status, body = airflow_local.trigger_error(dag_id, conf=conf)
    assert status == 400, (status, body)
    assert named in body, body
    assert len(airflow_local.runs(dag_id)) == before


# ---- the story: every DAG from the Trigger button, overlapped ---------------------------------
EXPECTED_FAILURES = {"dr_rehearsal": {"typo"}, "residency_sync": {"unknown_ids"}}


@pytest.fixture(scope="module")
def story(airflow_local) -> dict[str, str]:
    """The first wave, triggered at once (the UI's Trigger button, ``logical_date: null``).

    Like a fresh ``make airflow``: the event-driven dr_failover is unpaused, and unpausing
    residency_sync lets the scheduler catch up its 3 intervals (the deployment's start date) beside
    the manual runs. Training, rollout and the rehearsal follow in their tests (each needs the one
    before). Unpausing a time-scheduled DAG also makes the scheduler create its latest interval
    (cost_rebalance, dr_rehearsal, estate_governance): those runs must end green too (a fresh
    estate serves nothing yet, see test_no_run_of_the_fresh_deployment_is_red). model_rollout is
    unpaused here for the same reason: its nightly run finds no trained model and does nothing."""
    af = airflow_local
    af.unpause("dr_failover")
    runs = {"before_dr": _dr_published(af)}
    runs["typo"] = af.trigger("dr_rehearsal", conf={"pair": "eu-chrun"})
    af.unpause("residency_sync")
    af.unpause("model_rollout")  # its nightly interval runs now, with no model trained yet: nothing to do
    runs["sync"] = af.trigger("residency_sync", conf=SYNC_CONF)
    runs["unknown_ids"] = af.trigger("residency_sync",
                                     conf={"datasets": ["customer-evnets"], "regions": ["oci-fra", "mars-1"]})
    runs["cost"] = af.trigger("cost_rebalance")  # the defaults, not a dry run: nothing is served yet
    runs["governance"] = af.trigger("estate_governance")
    return runs


def _dr_published(af) -> tuple[str | None, str | None]:
    folder = af.estate_home / "reports" / "dr_rehearsal"
    return tuple((folder / name).read_text() if (folder / name).exists() else None
                 for name in ("latest.json", "history.jsonl"))


def test_residency_sync_manual_run_without_logical_date_syncs_the_last_complete_hour(airflow_local, story):
    af = airflow_local
    run = af.wait_for_run("residency_sync", story["sync"], timeout=RUN_TIMEOUT)
    assert run["logical_date"] is None
    expected = _hour(datetime.fromisoformat(run["run_after"])) - timedelta(hours=1)
    assert _rows(_partition(af, "oci-fra", "customer-events", expected)) > 0
    assert _rows(_partition(af, "aws-use1", "customer-events", expected)) > 0
    assert not _partition(af, "oci-ash", "eu-claims", expected).exists()  # residency: denied


def test_unknown_ids_fail_the_first_task_naming_them(airflow_local, story):
    af = airflow_local
    run_id = story["unknown_ids"]
    af.wait_for_run("residency_sync", run_id, timeout=RUN_TIMEOUT, state="failed")
    tries = {(t["task_id"], t["try_number"]) for t in af.task_instances("residency_sync", run_id)}
    assert ("plan", 1) in tries  # refused once, never retried
    report = af.failure_report("residency_sync", run_id)
    assert "customer-evnets" in report
    assert "mars-1" in report
    assert "XComNotFound" not in report


def test_a_typo_in_the_dr_pair_fails_fast_and_does_not_become_the_last_rehearsal(airflow_local, story):
    af = airflow_local
    af.wait_for_run("dr_rehearsal", story["typo"], timeout=RUN_TIMEOUT, state="failed")
    assert "eu-chrun" in af.failure_report("dr_rehearsal", story["typo"])
    assert _dr_published(af) == story["before_dr"]


def test_cost_rebalance_without_logical_date(airflow_local, story):
    """On a fresh estate (nothing rolled out yet) the defaults -- not a dry run -- give a green run
    whose summary says there is nothing to do."""
    af = airflow_local
    run_id = story["cost"]
    assert af.wait_for_run("cost_rebalance", run_id, timeout=RUN_TIMEOUT)["logical_date"] is None
    summary = _summary(af, "cost_rebalance", run_id)
    assert summary["data"]["status"] == "nothing_to_do", summary["headline"]
    assert summary["headline"][0] == "Nothing to do: no workload is served yet", summary["headline"]
    assert summary["data"]["not_served"] == ["churn-eu-serving", "churn-us-serving"]
    assert summary["data"]["applied"] == []


def test_estate_governance_without_logical_date(airflow_local, story):
    af = airflow_local
    assert af.wait_for_run("estate_governance", story["governance"], timeout=RUN_TIMEOUT)["logical_date"] is None


def test_the_scheduler_runs_three_catch_up_intervals_and_each_lands_data(airflow_local, story):
    """The deployment starts residency_sync 3 intervals back with catchup on (unpaused by the story)."""
    af = airflow_local
    start = af.scheduled_start
    wanted = {start + timedelta(hours=h) for h in range(3)}

    def three_done(runs):
        scheduled = {datetime.fromisoformat(r["logical_date"]): r for r in runs if r["run_type"] == "scheduled"}
        mine = [scheduled[w] for w in wanted if w in scheduled]
        failed = [r for r in mine if r["state"] == "failed"]
        if failed:
            raise AssertionError(af.failure_report("residency_sync", failed[0]["dag_run_id"]))
        return mine if len(mine) == 3 and all(r["state"] == "success" for r in mine) else None

    runs = af.wait_for_runs("residency_sync", three_done, RUN_TIMEOUT, "3 scheduled residency_sync runs")
    assert len(runs) == 3
    for moment in wanted:  # a scheduled run with logical date X covers [X, X+1h)
        for region in ("oci-fra", "gcp-euw4", "aws-use1"):
            assert _rows(_partition(af, region, "customer-events", moment)) > 0, (region, moment)
        assert _rows(_partition(af, "oci-lon", "telemetry", moment)) > 0


def test_model_training_and_rollout_without_logical_date(airflow_local, story):
    af = airflow_local
    # every sync of the first wave has landed: training (asset-scheduled, paused until now) sees
    # no event queued behind this run, so this is the only training
    af.wait_until_idle(["residency_sync", "model_rollout"], timeout=RUN_TIMEOUT)
    # paused while training runs: the model's asset event then queues no second rollout behind ours
    af.pause("model_rollout")
    trained = af.trigger("model_training")
    af.wait_for_run("model_training", trained, timeout=RUN_TIMEOUT)
    versions = {r["model"]: r["version"] for r in _summary(af, "model_training", trained)["data"]["trained"]}
    assert set(versions) == {"churn-eu", "churn-us"}
    rolled = af.trigger("model_rollout", conf={"gate_checks": 1, "gate_interval_s": 0.2})
    af.wait_for_run("model_rollout", rolled, timeout=RUN_TIMEOUT)


def test_dr_rehearsal_without_logical_date(airflow_local, story):
    """The automated path under the scheduler: the gateway's health checks fail over by themselves,
    dr_failover (started by its asset watcher) promotes and scales, and after the primary's repair
    it fails back once the estate's fail-back window passed (3 s in this deployment, see the
    airflow_local fixture); the rehearsal only observes."""
    af = airflow_local
    af.wait_until_idle(["model_rollout", "dr_rehearsal"], timeout=RUN_TIMEOUT)
    run_id = af.trigger("dr_rehearsal", conf={"hold_s": 0.5})
    af.wait_for_run("dr_rehearsal", run_id, timeout=RUN_TIMEOUT)
    latest = json.loads((af.estate_home / "reports" / "dr_rehearsal" / "latest.json").read_text())
    assert latest["run_id"] == run_id, latest
    report = latest["data"]
    assert report["outcome"] == "passed", latest["headline"]
    assert report["path"] == "automated"
    incident = report["dr_failover"]
    assert incident["run_id"] in {r["dag_run_id"] for r in af.runs("dr_failover")}, incident
    assert {"write_target_promoted", "pilot_light_scaled", "failed_back"} <= set(incident["events"]), incident
    assert report["events"]["primary_restored"] < report["events"]["failback"], report["events"]


def test_no_run_of_the_fresh_deployment_is_red(airflow_local, story):
    """Besides the two refusals the story asks for, every run (manual, scheduled, asset-triggered,
    dr_failover's) ends successful: a fresh deployment starts green."""
    af = airflow_local
    dag_ids = [*SIX_DAGS, "dr_failover"]
    af.wait_until_idle(dag_ids, timeout=RUN_TIMEOUT)
    expected = {story[key] for keys in EXPECTED_FAILURES.values() for key in keys}
    red = {(d, r["dag_run_id"]): r["state"] for d in dag_ids for r in af.runs(d)
           if r["state"] != "success" and r["dag_run_id"] not in expected}
    assert not red, "\n".join(f"{d} {run} {state}:\n{af.failure_report(d, run)}" for (d, run), state in red.items())


# ---- a dated manual run -------------------------------------------------------------------------
@pytest.mark.e2e
def test_residency_sync_manual_run_with_a_logical_date_syncs_the_hour_before_it(airflow_local):
    """Logical date X (here the current hour) -> Airflow infers [X-1h, X) for a manual run.

    X must not precede the DAG's start date (the session moves it 3 hours back): Airflow creates no
    task instance for a run dated before the start date and marks such a run successful at once.
    """
    af = airflow_local
    logical = _hour(datetime.now(UTC))
    run_id = af.trigger("residency_sync", conf={**SYNC_CONF, "regions": ["oci-fra"]}, logical_date=logical)
    run = af.wait_for_run("residency_sync", run_id, timeout=RUN_TIMEOUT)
    assert datetime.fromisoformat(run["logical_date"]) == logical, run
    assert datetime.fromisoformat(run["data_interval_start"]) == logical - timedelta(hours=1), run
    plan = af.api("GET", f"/api/v2/dags/residency_sync/dagRuns/{run_id}/taskInstances/plan/xcomEntries/plan",
                  params={"deserialize": "true"})["value"]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert plan["interval_start"] == (logical - timedelta(hours=1)).isoformat(), plan
    # this run's own outcomes (the hour before X also lands through the scheduled and undated runs,
    # so the partition's existence alone would not tell which run wrote it)
    outcomes = _summary(af, "residency_sync", run_id)["data"]["outcomes"].values()
    hour_before = (logical - timedelta(hours=1)).strftime("dt=%Y-%m-%d/hr=%H")
    assert {o["item"]["partition"] for o in outcomes} == {hour_before}, outcomes
    assert _summary(af, "residency_sync", run_id)["data"]["landed"]["oci-fra"]["customer-events"] > 0
    assert _rows(_partition(af, "oci-fra", "customer-events", logical - timedelta(hours=1))) > 0
    if datetime.now(UTC) < logical + timedelta(hours=1):  # [X, X+1h) is not over: no run may have synced it
        assert not _partition(af, "oci-fra", "customer-events", logical).exists()



# ---- outage, then backfill -----------------------------------------------------------------------
def _target_files(af, starts) -> dict[str, str]:
    digests = {}
    for start in starts:
        for region, dataset in (("oci-fra", "customer-events"), ("gcp-euw4", "customer-events"),
                                ("aws-use1", "customer-events"), ("oci-lon", "telemetry")):
            for file in sorted(_partition(af, region, dataset, start).glob("*")):
                digests[str(file.relative_to(af.estate_home))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return digests


def _expected_rows(af, estate, dataset: str, region: str, start: datetime) -> int:
    """Rows of the source partition that the region may hold (record routing by country)."""
    source = _partition(af, estate.dataset(dataset).source, dataset, start)
    table = pq.read_table(source)
    routing = estate.dataset(dataset).routing
    if routing is None:
        return table.num_rows
    jurisdiction = estate.region(region).jurisdiction
    countries = [c for j in estate.jurisdictions if j.id == jurisdiction for c in j.countries]
    return pc.sum(pc.is_in(table["country"], value_set=__import__("pyarrow").array(countries))).as_py() or 0


@pytest.mark.e2e
def test_outage_then_backfill_runs_each_missed_interval_once_and_a_reprocess_changes_nothing(airflow_local):
    """Three hours the scheduler never ran, their source data arriving while it is stopped, then backfills.

    The missed hours are the three before the session's catch-up start (6 to 4 hours before it): like
    the hours of an outage on a deployment without catchup (the DAG's default), the scheduler never
    creates runs for them by itself, so only ``airflow backfill create`` can, and a test need not
    wait three wall-clock hours. Checked: one backfill run per hour and no other run for them, each
    target holding exactly the rows of its source partition that its jurisdiction may hold (never
    zero), the denied eu-claims -> oci-ash audited per hour; then a ``--reprocess-behavior
    completed`` backfill re-runs all three and leaves every target object's SHA-256 and the audit
    lines of those hours exactly as they were.
    """
    from multicloud.estate import load_estate
    from multicloud.sync.audit import read_audit
    from multicloud.sync.sources import produce_local_sources

    af = airflow_local
    af.unpause("residency_sync")  # the scheduler catches up its 3 intervals first; a paused DAG runs no backfill
    first = af.scheduled_start - timedelta(hours=6)
    missed = [first + timedelta(hours=h) for h in range(3)]
    af.wait_until_idle(["residency_sync"], timeout=RUN_TIMEOUT)
    af.stop_component("scheduler")  # the outage: nothing is scheduled while source data keeps arriving
    estate = load_estate(af.env["MULTICLOUD_ESTATE"], home=af.estate_home)
    for start in missed:
        assert produce_local_sources(estate, start), start
    af.start_component("scheduler")
    window = ["--from-date", missed[0].isoformat(), "--to-date", missed[-1].isoformat()]
    af.backfill("residency_sync", *window)

    def all_backfilled(runs, after: str = ""):
        mine = [r for r in runs if r["run_type"] == "backfill" and datetime.fromisoformat(r["logical_date"]) in missed]
        if failed := [r for r in mine if r["state"] == "failed"]:
            raise AssertionError(af.failure_report("residency_sync", failed[0]["dag_run_id"]))
        done = [r for r in mine if r["state"] == "success" and (r["end_date"] or "") > after]
        return mine if len(done) == len(missed) else None

    runs = af.wait_for_runs("residency_sync", all_backfilled, RUN_TIMEOUT, "the backfill of 3 missed intervals")
    assert sorted(datetime.fromisoformat(r["logical_date"]) for r in runs) == missed  # each exactly once
    others = [r for r in af.runs("residency_sync") if r["run_type"] != "backfill"
              and r["logical_date"] and datetime.fromisoformat(r["logical_date"]) in missed]
    assert not others, f"the missed intervals also ran outside the backfill: {others}"
    for start in missed:
        for dataset, region in (("customer-events", "oci-fra"), ("customer-events", "aws-use1"),
                                ("customer-events", "gcp-euw4"), ("telemetry", "oci-lon")):
            expected = _expected_rows(af, estate, dataset, region, start)
            assert expected > 0, (dataset, region, start)  # an empty partition would make the check vacuous
            assert _rows(_partition(af, region, dataset, start)) == expected, (dataset, region, start)
        assert not _partition(af, "oci-ash", "eu-claims", start).exists()
    before = _target_files(af, missed)
    assert len(before) >= 4 * len(missed), before  # every target partition of every interval has objects
    audit_before = read_audit(af.estate_home)
    partitions = {start.strftime("dt=%Y-%m-%d/hr=%H") for start in missed}
    denied = {(a["partition"], a["dataset"], a["region"]) for a in audit_before if a["partition"] in partitions}
    for start in partitions:  # the backfill audited its denials (so "appends nothing" below is not vacuous)
        assert (start, "eu-claims", "oci-ash") in denied, (start, sorted(denied))
    finished = max(r["end_date"] for r in runs)
    af.wait_for_backfills("residency_sync")

    af.backfill("residency_sync", *window, "--reprocess-behavior", "completed")
    rerun = af.wait_for_runs("residency_sync", lambda runs: all_backfilled(runs, after=finished), RUN_TIMEOUT,
                             "the reprocessing backfill")
    assert len(rerun) == len(missed)
    assert _target_files(af, missed) == before  # same objects, same checksums
    audit_after = read_audit(af.estate_home)
    keys = [tuple(a.get(k) for k in ("partition", "dataset", "region", "class", "rule", "outcome")) for a in audit_after]
    assert len(keys) == len(set(keys)), "the reprocessing backfill appended audit lines again"
    # (other runs may audit other hours meanwhile: the scheduler keeps running)
    assert [a for a in audit_after if a["partition"] in partitions] == \
        [a for a in audit_before if a["partition"] in partitions], "the reprocessing backfill changed the audit log"
