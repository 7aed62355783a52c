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
    if not explicit:
        try:
            from airflow.sdk import Variable

            explicit = Variable.get("multicloud_estate", default=None)
        except Exception:  # outside a task context (tests, CLI): fall back to env/default
            explicit = None
    return load_estate(explicit)
