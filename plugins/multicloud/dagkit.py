"""Small things every DAG file shares: default args and the estate a run uses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from multicloud import paths
from multicloud.assets import training_inputs

OWNER = "platform-engineering"
_PACKAGE = Path(__file__).resolve().parent


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


@dataclass(frozen=True)
class EstateSchedule:
    """What the DAG files' schedules need of the estate: model ids, the synced datasets models
    train on (asset URIs), and the warning a DAG's doc shows when the estate cannot be read."""

    models: tuple[str, ...]
    training_inputs: tuple[str, ...]
    warning: str


# The code that validates an estate: a change to any of these files invalidates the cache below.
_VALIDATING_CODE = ("estate/__init__.py", "estate/loader.py", "estate/models.py", "paths.py", "assets.py",
                    "dagkit.py")
SCHEDULE_CACHE = ("cache", "parse_time_estate.json")


def parse_time_schedule() -> EstateSchedule:
    """``parse_time_estate``'s answer for the schedules, validated once per estate content.

    Every parse of a DAG file that schedules on the estate would build the estate's pydantic
    models and validate the file (about 90 ms of CPU per file and dag-processor child). The full
    check (``load_estate``) runs when the estate file, the estate home or the validating code
    changed; its outcome (the ids, or the broken estate's warning) is kept under the estate home
    (``cache/parse_time_estate.json``), keyed by the SHA-256 of those. An unreadable or unwritable
    cache only costs the full check.
    """
    key = _schedule_key()
    cache = paths.estate_home().joinpath(*SCHEDULE_CACHE)
    if key is not None:
        cached = _cached_schedule(cache, key)
        if cached is not None:
            return cached
    estate, warning = parse_time_estate()
    schedule = EstateSchedule(
        models=tuple(m.id for m in estate.models) if estate else (),
        training_inputs=tuple(sorted(training_inputs(estate))) if estate else (), warning=warning)
    if key is not None:
        _store_schedule(cache, key, schedule)
    return schedule


def _schedule_key() -> str | None:
    import hashlib

    digest = hashlib.sha256()
    try:
        with paths.estate_file().open("rb") as handle:
            digest.update(handle.read(paths.MAX_ESTATE_BYTES + 1))
        for name in _VALIDATING_CODE:
            info = (_PACKAGE / name).stat()
            digest.update(f"{name}:{info.st_mtime_ns}:{info.st_size};".encode())
    except OSError:
        return None  # the full check says what is wrong
    digest.update(str(paths.estate_file().resolve()).encode() + b"\0" + str(paths.estate_home()).encode())
    return digest.hexdigest()


def _cached_schedule(cache: Path, key: str) -> EstateSchedule | None:
    import json

    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("key") != key:
            return None
        models, inputs, warning = data["models"], data["training_inputs"], data["warning"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not (all(isinstance(v, str) for v in [*models, *inputs]) and isinstance(warning, str)):
        return None
    return EstateSchedule(tuple(models), tuple(inputs), warning)


def _store_schedule(cache: Path, key: str, schedule: EstateSchedule) -> None:
    import json

    from multicloud.statefile import atomic_write_text

    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, json.dumps({"key": key, "models": list(schedule.models),
                                             "training_inputs": list(schedule.training_inputs),
                                             "warning": schedule.warning}))
    except OSError:
        pass  # a read-only estate home: every parse runs the full check


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


def params_of(settings: type) -> dict[str, Any]:
    """A DAG's trigger form, generated from its settings class (``multicloud.settings``): one
    ``Param`` per ``form`` field, with the field's default, description and JSON schema.

    The schema is the field's own (``settings.form_schema``): it names JSON Schema draft-07 as its
    dialect, so each validation's meta-schema check is draft-07's, and it is immutable, so the
    copies of the DAG's Params Airflow makes for every task share it instead of copying it.
    """
    import copy

    from airflow.sdk import Param

    return {name: Param(copy.deepcopy(f.default), description=f.description, schema=f.schema)
            for name, f in settings.form_fields()}


def mapped_results(pulled: Any) -> list[Any]:
    """A mapped task's results as a list, whatever Airflow hands over: a lazy sequence of XComs
    (an argument), a list, or one dict when a single instance ran (an ``xcom_pull``); the results
    of instances that returned nothing (skipped, failed) are left out."""
    if pulled is None:
        return []
    if isinstance(pulled, dict):
        return [pulled]
    return [item for item in (pulled[i] for i in range(len(pulled))) if item]
