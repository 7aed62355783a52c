"""dagkit: the parse-time estate schedule (validated once per estate content), mapped results and
deployment start dates (point-in-time DAGs keep catchup off)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest

from multicloud import dagkit, paths
from multicloud.dagkit import schedule_start


def test_the_schedule_is_checked_once_per_estate_content(estate_home, tmp_path, monkeypatch):
    estate_file = tmp_path / "estate.yaml"
    shutil.copy(paths.estate_file(), estate_file)
    monkeypatch.setenv(paths.ESTATE_FILE_ENV, str(estate_file))
    checked = []
    full_check = dagkit.parse_time_estate
    monkeypatch.setattr(dagkit, "parse_time_estate", lambda: checked.append(1) or full_check())

    first = dagkit.parse_time_schedule()
    assert (first.models, first.warning) == (("churn-eu", "churn-us"), "")
    assert "x-multicloud://customer-events/oci-fra" in first.training_inputs
    assert dagkit.parse_time_schedule() == first
    assert len(checked) == 1  # the second parse read the cache

    estate_file.write_text("name: broken\nregions:\n  - id: x\n    cloud: [oci\n")
    broken = dagkit.parse_time_schedule()
    assert len(checked) == 2  # new content: checked again
    assert (broken.models, broken.training_inputs) == ((), ())
    assert "could not be read" in broken.warning

    (estate_home / "cache" / "parse_time_estate.json").write_text('{"key": 1')  # damaged: checked again
    assert dagkit.parse_time_schedule() == broken
    assert len(checked) == 3


def test_mapped_results_are_a_list_whatever_airflow_hands_over():
    assert dagkit.mapped_results(None) == []
    assert dagkit.mapped_results({"a": 1}) == [{"a": 1}]
    assert dagkit.mapped_results([{"a": 1}, None, {"b": 2}]) == [{"a": 1}, {"b": 2}]


DEFAULT = datetime(2026, 1, 1, tzinfo=UTC)
POINT_IN_TIME = ("cost_rebalance", "dr_rehearsal")
PAST = "2026-01-05T00:00:00Z"


@pytest.fixture(scope="module")
def bag():
    """Every DAG file, parsed with a past start date set for the point-in-time DAGs."""
    from airflow.dag_processing.dagbag import DagBag

    with pytest.MonkeyPatch.context() as env:
        for dag_id in POINT_IN_TIME:
            env.setenv(f"MULTICLOUD_{dag_id.upper()}_START_DATE", PAST)
        parsed = DagBag(dag_folder=str(paths.PROJECT_ROOT / "dags"))
    assert parsed.import_errors == {}
    return parsed


def test_a_start_date_from_the_environment_turns_catchup_on_unless_the_dag_says_not(monkeypatch):
    assert schedule_start("residency_sync", DEFAULT) == (DEFAULT, None)
    monkeypatch.setenv("MULTICLOUD_RESIDENCY_SYNC_START_DATE", "2026-12-01T00:00:00Z")
    assert schedule_start("residency_sync", DEFAULT) == (datetime(2026, 12, 1, tzinfo=UTC), True)
    monkeypatch.setenv("MULTICLOUD_COST_REBALANCE_START_DATE", "2026-12-01T06:00:00")  # naive: UTC
    assert schedule_start("cost_rebalance", DEFAULT, catchup=False) == (datetime(2026, 12, 1, 6, tzinfo=UTC), False)


@pytest.mark.parametrize("dag_id", POINT_IN_TIME)
def test_a_past_start_date_gives_a_point_in_time_dag_no_run_per_missed_interval(bag, dag_id):
    dag = bag.dags[dag_id]
    assert dag.start_date == datetime(2026, 1, 5, tzinfo=UTC)
    assert dag.catchup is False
