"""Small things every DAG file shares: default args and the estate a run uses."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

OWNER = "platform-engineering"


def default_args(retries: int = 2, retry_delay_s: int = 30, **extra: Any) -> dict[str, Any]:
    return {"owner": OWNER, "retries": retries, "retry_delay": timedelta(seconds=retry_delay_s), **extra}


def estate_for(params: Mapping[str, Any] | None = None):
    """The estate for this run: params['estate_file'], the Variable ``multicloud_estate``, the env, the default.

    Call inside tasks only (it reads a Variable and a file).
    """
    from multicloud.estate import load_estate

    explicit = (params or {}).get("estate_file") or None
    if not explicit and _in_task():
        from airflow.sdk import Variable

        # Inside a task a failing Variable read must fail the task, never quietly pick another estate.
        explicit = Variable.get("multicloud_estate", default=None)
    return load_estate(explicit)


def _in_task() -> bool:
    from airflow.sdk import get_current_context

    try:
        get_current_context()
    except Exception:  # no running task (tests, CLI, the demo runner): env/default estate
        return False
    return True


def parse_time_estate() -> tuple[Any, str]:
    """The estate for a DAG file's schedule, or None when it cannot be read.

    A DAG file may need the estate to declare what it is scheduled on (asset URIs). A broken
    estate must not take the DAG off the UI with an import error: the DAG parses with no
    asset schedule, its doc says why, and its first task fails with the estate's own errors.
    Reads a local file only (cached per process): no network, no credentials.
    """
    from multicloud.estate import EstateError, load_estate

    try:
        return load_estate(), ""
    except EstateError as exc:
        return None, (
            "\n\n> **The estate could not be read, so this DAG has no asset schedule.** "
            f"Run `make validate` for details. First problem: {exc.problems[0]}\n"
        )
