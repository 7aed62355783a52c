"""Small things every DAG file shares: default args and the estate a run uses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

OWNER = "platform-engineering"


def default_args(retries: int = 2, retry_delay_s: int = 30, **extra: Any) -> dict[str, Any]:
    return {"owner": OWNER, "retries": retries, "retry_delay": timedelta(seconds=retry_delay_s), **extra}


ESTATE_ALLOWLIST_ENV = "MULTICLOUD_ESTATE_FILES_ALLOWED"


class EstateFileRefused(ValueError):
    """A trigger named an estate file the deployment does not allow."""


def allowed_estate_file(requested: str) -> str:
    """``requested`` if the deployment allows it, else EstateFileRefused.

    Whoever can trigger a DAG can set its ``estate_file`` Param, so the Param alone must never
    choose the residency policy: only the configured estate (``MULTICLOUD_ESTATE`` or the default)
    and the files the deployment lists in ``MULTICLOUD_ESTATE_FILES_ALLOWED`` (paths separated by
    ``os.pathsep``, set in the environment of the workers, which no trigger can change) are
    accepted. Paths are compared after resolving symlinks and ``..``.
    """
    import os

    from multicloud import paths

    wanted = paths.estate_file(requested).resolve()
    listed = [p for p in os.environ.get(ESTATE_ALLOWLIST_ENV, "").split(os.pathsep) if p.strip()]
    allowed = {paths.estate_file().resolve(), *(paths.estate_file(p).resolve() for p in listed)}
    if wanted not in allowed:
        raise EstateFileRefused(
            f"estate_file {requested!r} is not allowed by this deployment (allowed: the configured estate and "
            f"{ESTATE_ALLOWLIST_ENV}); leave it empty to use the configured estate")
    return str(wanted)


def estate_for(params: Mapping[str, Any] | None = None):
    """The estate for this run: params['estate_file'] (allowlisted, see ``allowed_estate_file``),
    the Variable ``multicloud_estate``, the env, the default.

    Call inside tasks only (it reads a Variable and a file).
    """
    from multicloud.estate import load_estate

    requested = (params or {}).get("estate_file") or None
    try:
        explicit = allowed_estate_file(requested) if requested else None
    except EstateFileRefused as exc:
        if _in_task():
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(str(exc)) from exc
        raise
    if not explicit and _in_task():
        from airflow.sdk import Variable

        # Inside a task a failing Variable read must fail the task, never quietly pick another estate.
        explicit = Variable.get("multicloud_estate", default=None)
    return load_estate(explicit)


def running_task_context() -> Mapping[str, Any]:
    """The running task's context; empty outside a task (tests, CLI, the demo runner)."""
    from airflow.sdk import get_current_context

    try:
        return get_current_context()
    except Exception:
        return {}


def _in_task() -> bool:
    return bool(running_task_context())


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


PARAM_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"


def form(params: dict[str, Any]) -> dict[str, Any]:
    """A DAG's Params, each schema declaring JSON Schema draft-07 (``$schema``); returns ``params``.

    Airflow validates a Param's value with ``jsonschema.validate`` on every resolve, which first
    checks the schema itself against its dialect's meta-schema: Airflow resolves every Param when it
    serializes each task (every parse, in the dag-processor and in each ``dags test``) and when it
    builds each task's context. Against draft 2020-12 (jsonschema's default) that check is most of
    the cost; against draft-07 it is about a third (measured on this project's seven DAGs:
    serializing them all 689 ms -> 254 ms, validating their Params 29 ms -> 9 ms). Every keyword
    the DAGs use (type, enum, items, pattern, minimum, maximum, exclusiveMinimum, maxLength)
    means the same in both drafts; a schema that names its own ``$schema`` keeps it.
    """
    from airflow.sdk import Param

    for param in params.values():
        if isinstance(param, Param) and "$schema" not in param.schema:
            param.schema = {"$schema": PARAM_SCHEMA_DIALECT, **param.schema}
    return params


def schedule_start(dag_id: str, default: datetime, *, catchup: bool = True) -> tuple[datetime, bool | None]:
    """A deployment's start date and catchup for a DAG: ``MULTICLOUD_<DAG_ID>_START_DATE`` (ISO).

    A new deployment that wants the scheduler itself to run the intervals since a date sets it
    (catchup is then on: every interval from that date runs once); without it the DAG keeps its
    own start date and catchup. A point-in-time DAG (a rebalance, a rehearsal: only its latest
    interval means anything) passes ``catchup=False``: the date then only moves the start, and a
    past date creates no run per missed interval. Read at parse time from the environment of the
    dag-processor and scheduler (not a Variable: parse time must not reach the metadata DB).
    Returns (start_date, catchup or None for the DAG's default).
    """
    import os

    raw = os.environ.get(f"MULTICLOUD_{dag_id.upper()}_START_DATE", "").strip()
    if not raw:
        return default, None
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), catchup


def refuse_unknown(kind: str, requested: Iterable[str] | None, known: Iterable[str]) -> None:
    """Fail the task at once (no retry) when a trigger named ids the estate does not have.

    The trigger API validates Params against their JSON schema only; ids depend on the estate
    (read inside tasks), so the first task of a DAG calls this before anything changes."""
    known = list(known)
    unknown = sorted(set(requested or ()) - set(known))
    if unknown:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"unknown {kind}(s) {unknown}; the estate has {sorted(known)}")
