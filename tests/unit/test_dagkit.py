"""``dagkit.schedule_start``, and the point-in-time DAGs that keep catchup off with it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from multicloud import paths
from multicloud.dagkit import schedule_start

DEFAULT = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_start_date_from_the_environment_turns_catchup_on_unless_the_dag_says_not(monkeypatch):
    assert schedule_start("residency_sync", DEFAULT) == (DEFAULT, None)
    monkeypatch.setenv("MULTICLOUD_RESIDENCY_SYNC_START_DATE", "2026-12-01T00:00:00Z")
    assert schedule_start("residency_sync", DEFAULT) == (datetime(2026, 12, 1, tzinfo=UTC), True)
    monkeypatch.setenv("MULTICLOUD_COST_REBALANCE_START_DATE", "2026-12-01T06:00:00")  # naive: UTC
    assert schedule_start("cost_rebalance", DEFAULT, catchup=False) == (datetime(2026, 12, 1, 6, tzinfo=UTC), False)


@pytest.mark.parametrize("dag_id", ["cost_rebalance", "dr_rehearsal"])
def test_a_past_start_date_gives_a_point_in_time_dag_no_run_per_missed_interval(dag_id, monkeypatch):
    monkeypatch.setenv(f"MULTICLOUD_{dag_id.upper()}_START_DATE", "2026-01-05T00:00:00Z")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(paths.PROJECT_ROOT / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    dag = bag.dags[dag_id]
    assert dag.start_date == datetime(2026, 1, 5, tzinfo=UTC)
    assert dag.catchup is False
