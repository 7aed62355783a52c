"""What the OCI operators share: a task instance's stable identity and name (what a retry
re-attaches by) and a retry token per attempt (OCI: at most 64 characters)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from multicloud.operators.base import attempt_token, deferrable_default, instance_identity, instance_name


def _ti(map_index: int = 0, try_number: int = 1, run_id: str = "manual__1") -> SimpleNamespace:
    return SimpleNamespace(dag_id="residency_sync", run_id=run_id, task_id="copy", map_index=map_index,
                           try_number=try_number)


def test_the_identity_is_stable_across_tries_and_distinct_per_instance():
    assert instance_identity(_ti(try_number=1)) == instance_identity(_ti(try_number=3))
    identities = {instance_identity(_ti(map_index=i)) for i in range(-1, 50)}
    identities.add(instance_identity(_ti(run_id="manual__2")))
    assert len(identities) == 52
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in identities)


def test_the_name_keeps_the_identity_within_the_limit():
    assert instance_name("task-copy", _ti()) == f"task-copy-af{instance_identity(_ti())}"
    long = instance_name("x" * 300, _ti(), limit=100)
    assert len(long) == 100
    assert long.endswith(instance_identity(_ti()))


def test_a_new_attempt_gets_a_new_token_and_a_repeat_within_it_the_same():
    first, again, retry = attempt_token(_ti(try_number=1)), attempt_token(_ti(try_number=1)), attempt_token(_ti(try_number=2))
    assert first == again
    assert retry != first
    assert attempt_token(_ti(), "APPLY") != attempt_token(_ti(), "PLAN")
    assert attempt_token(_ti(), None) == attempt_token(_ti(), "")
    assert len(first) <= 64


@pytest.mark.parametrize(("setting", "expected"), [("True", True), ("False", False), (None, False)])
def test_deferrable_follows_the_airflow_setting(monkeypatch, setting, expected):
    if setting is None:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", setting)
    assert deferrable_default() is expected
