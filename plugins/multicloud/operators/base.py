"""What the OCI operators share: the task instance's identity and a retry token per attempt.

OCI honours an ``opc-retry-token`` for 24 hours. A token per task instance would make every retry
(and every Clear within a day) get the failed run back; a token per *attempt* (try number) makes a
repeated create inside one attempt idempotent while a new attempt can start a new run. Finding the
run an earlier attempt left running is the other half: every run of one task instance carries the
same deterministic name (``instance_name``), so a retry after a worker crash lists runs by that
name and re-attaches to the one still in flight instead of starting a second one.
"""

from __future__ import annotations

import hashlib
from typing import Any

INSTANCE_TAG = "airflow-task-instance"


def deferrable_default() -> bool:
    """``[operators] default_deferrable`` (False when unset), as the amazon/google providers do."""
    from airflow.sdk.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


def instance_identity(ti: Any) -> str:
    """24 hex characters naming this task instance (dag, run, task, map index), stable across tries."""
    material = "|".join([ti.dag_id, ti.run_id, ti.task_id, str(getattr(ti, "map_index", -1))])
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def instance_name(prefix: str, ti: Any, limit: int = 255) -> str:
    """``<prefix>-<identity>``: the deterministic name of every run of this task instance."""
    suffix = f"-af{instance_identity(ti)}"
    return prefix[: limit - len(suffix)] + suffix


def attempt_token(ti: Any, *extra: str | None) -> str:
    """The retry token of this attempt (try number included); OCI accepts at most 64 characters."""
    material = "|".join([instance_identity(ti), str(getattr(ti, "try_number", 1) or 1), *(e or "" for e in extra)])
    return hashlib.sha256(material.encode()).hexdigest()
