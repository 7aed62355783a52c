"""A DAG parsed from its own file in ``dags/``, as the DAG's bundle parses it."""

from __future__ import annotations

from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def load_dag(dag_id: str, *, retries: int | None = None):
    """``dags/<dag_id>.py`` parsed with Airflow's ``DagBag`` (no import error allowed); ``retries``
    overrides every task's (0: a test sees a failure at once instead of after the retry delay)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"{dag_id} is not defined in dags/{dag_id}.py"
    if retries is not None:
        for task in dag.tasks:
            task.retries = retries
    return dag
