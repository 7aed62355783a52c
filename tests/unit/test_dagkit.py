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


def test_every_param_of_every_dag_and_task_names_the_dialect_and_shares_the_dag_s_schema(bag):
    from multicloud.settings import SCHEMA_DIALECT, Schema

    for dag in bag.dags.values():
        assert dag.params, f"{dag.dag_id} has no Params"
        for name, param in dag.params.items():
            assert isinstance(param.schema, Schema), (dag.dag_id, name)
            assert param.schema["$schema"] == SCHEMA_DIALECT, (dag.dag_id, name)
        for task in dag.tasks:
            for name, param in task.params.items():
                # the task's own copy of the Param (its value may change), sharing the DAG's immutable schema
                assert param is not dag.params.get_param(name)
                assert param.schema is dag.params.get_param(name).schema, (dag.dag_id, task.task_id, name)


@pytest.mark.parametrize(("dag_id", "bad", "good"), [
    ("residency_sync", {"interval_start": "2026-01-01T05:30:00Z"}, {"interval_start": "2026-01-01T05:00:00Z"}),
    ("model_rollout", {"gate_success_rate": 1.5}, {"gate_success_rate": 0.9, "version": "v1.2"}),
    ("dr_rehearsal", {"max_duration_s": 0}, {"scenario": "cluster_loss"}),
])
def test_the_serialized_dag_keeps_the_schemas_and_the_trigger_check_refuses_what_the_form_does(bag, dag_id, bad,
                                                                                               good):
    """What the API server holds (the serialized DAG) validates a trigger's conf as before."""
    from airflow.exceptions import ParamValidationError
    from airflow.serialization.serialized_objects import DagSerialization

    from multicloud.settings import SCHEMA_DIALECT

    dag = bag.dags[dag_id]
    served = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    for name, param in dag.params.items():
        assert served.params.get_param(name).schema == dict(param.schema)
        assert served.params.get_param(name).schema["$schema"] == SCHEMA_DIALECT
    assert served.params.deep_merge(good).validate()
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {next(iter(bad))}"):
        served.params.deep_merge(bad).validate()
