"""``dagkit``: deployment start dates (point-in-time DAGs keep catchup off) and the Params' schema dialect."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamValidationError

from multicloud import paths
from multicloud.dagkit import PARAM_SCHEMA_DIALECT, form, schedule_start

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


def test_form_params_validate_the_same_under_draft_07():
    params = form({"mode": Param("estate", enum=["estate", "enforce"]),
                   "hour": Param(None, type=["null", "string"], pattern=r"^\d\dZ$"),
                   "share": Param(5, type="integer", minimum=0, maximum=100, exclusiveMinimum=0),
                   "own": Param(1, schema={"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "integer"})})
    assert params["mode"].schema["$schema"] == PARAM_SCHEMA_DIALECT
    assert params["own"].schema["$schema"].endswith("2020-12/schema")  # a schema's own dialect is kept
    assert params["hour"].resolve("05Z") == "05Z"
    assert params["hour"].resolve(None) is None
    for name, bad in (("mode", "loose"), ("hour", "5 o'clock"), ("share", 0), ("share", 101), ("share", "5")):
        with pytest.raises(ParamValidationError):
            params[name].resolve(bad)


def test_every_dag_declares_its_params_in_draft_07_down_to_its_tasks(bag):
    assert len(bag.dags) >= 7
    for dag in bag.dags.values():
        for owner in (dag, *dag.tasks):
            dialects = {owner.params.get_param(name).schema.get("$schema") for name in owner.params}
            assert dialects <= {PARAM_SCHEMA_DIALECT}, (dag.dag_id, getattr(owner, "task_id", None), dialects)
        assert dag.params, dag.dag_id
