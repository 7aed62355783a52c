"""A rehearsal run's journal: one file per pair and run, events timed, the probe's samples beside it."""

from __future__ import annotations

import json

import pytest

from multicloud.dr.journal import event, load_run, probe_file, run_file, samples, save_run
from multicloud.paths import UnsafePath


def test_a_run_not_saved_yet_starts_empty(estate_home):
    assert load_run("eu-churn", "r1", estate_home) == {"pair": "eu-churn", "run_id": "r1", "events": {}}
    assert not run_file("eu-churn", "r1", estate_home).exists()  # loading writes nothing


def test_a_saved_run_loads_back_and_other_runs_and_pairs_stay_apart(estate_home):
    state = load_run("eu-churn", "manual__2026-11-29T14:25:29+00:00", estate_home)
    state["expected_version"] = "v3"
    assert event(state, "fault", 12.5) == 12.5
    save_run(state, estate_home)
    again = load_run("eu-churn", "manual__2026-11-29T14:25:29+00:00", estate_home)
    assert again == state
    assert load_run("eu-churn", "other", estate_home)["events"] == {}
    assert load_run("us-churn", "manual__2026-11-29T14:25:29+00:00", estate_home)["events"] == {}
    path = run_file("eu-churn", "manual__2026-11-29T14:25:29+00:00", estate_home)
    assert path.parent == estate_home / "state" / "dr" / "runs"
    assert set(path.name).isdisjoint(":+")
    assert json.loads(path.read_text())["events"] == {"fault": 12.5}


def test_an_event_without_a_time_is_now_and_a_repeat_overwrites_it(estate_home):
    import time

    state = load_run("eu-churn", "r1", estate_home)
    before = time.time()
    at = event(state, "baseline")
    assert before <= at <= time.time()
    assert event(state, "baseline", 1.0) == 1.0
    assert state["events"] == {"baseline": 1.0}


@pytest.mark.parametrize("pair_id", ["../etc", "a/b", ""])
def test_a_pair_id_that_is_a_path_is_refused(estate_home, pair_id):
    with pytest.raises(UnsafePath):
        run_file(pair_id, "r1", estate_home)


def test_a_run_id_cannot_leave_the_runs_folder(estate_home):
    path = run_file("eu-churn", "../../../outside", estate_home)
    assert path.parent == estate_home / "state" / "dr" / "runs"


def test_the_probe_file_sits_beside_the_journal_and_samples_are_read_from_it(estate_home):
    out = probe_file("eu-churn", "r1", estate_home)
    assert out.parent == run_file("eu-churn", "r1", estate_home).parent
    assert out.name == "eu-churn-r1.probe.jsonl"
    state = load_run("eu-churn", "r1", estate_home)
    assert samples(state) == []  # no probe started: no samples
    out.parent.mkdir(parents=True, exist_ok=True)
    line = {"t": 1.0, "status": 200, "latency_ms": 3.0, "region": "oci-fra", "version": "v1"}
    out.write_text(json.dumps(line) + "\n")
    state["probe_file"] = str(out)
    [sample] = samples(state)
    assert (sample.t, sample.status, sample.region, sample.version) == (1.0, 200, "oci-fra", "v1")
