"""Structured log entries beside the metrics: residency decisions, audit findings, rollout and
rollback steps, cost moves, the DR rehearsal timeline.

``record(kind, fields, estate=...)`` sends one entry to every log sink of the estate (``logs:``):

- ``file``: JSON lines under the estate home (``metrics/events.jsonl``), what tests and the demo read;
- ``oci``: an OCI Logging custom log through ``OCILoggingIngestionHook.put_logs`` (``log_id``);
- ``cloudwatch``: a CloudWatch Logs group/stream through the amazon provider's ``AwsLogsHook``
  connection (``put_log_events``; the stream is created when missing).

Like the metric sinks, a failing log sink never fails the business task: the failure is logged
and counted in ``LOG_SINK_FAILURES``. Entries carry ``kind``, ``time`` and the caller's fields;
they must never carry secrets (callers pass ids, decisions and counts only).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud import paths
from multicloud.statefile import read_json_lines

if TYPE_CHECKING:
    from multicloud.estate.models import Estate, LogSink

log = logging.getLogger(__name__)
KINDS = ("residency_decision", "audit_finding", "rollout_step", "rollback_step", "cost_move", "rehearsal_step")
SOURCE = "multicloud"
LOG_SINK_FAILURES: dict[str, int] = {}
_lock = threading.Lock()
_hooks: dict[tuple[str, str | None, str | None], Any] = {}


def events_file(home: Path | None = None) -> Path:
    return (home or paths.estate_home()) / "metrics" / "events.jsonl"


def reset_clients() -> None:
    with _lock:
        _hooks.clear()


def record(kind: str, fields: dict[str, Any], *, estate: Estate | None = None, home: Path | None = None) -> dict:
    """Send one entry to every log sink of the estate (the file sink alone without an estate)."""
    return record_many(kind, [fields], estate=estate, home=home)[0]


def record_many(kind: str, entries: list[dict[str, Any]], *, estate: Estate | None = None,
                home: Path | None = None) -> list[dict[str, Any]]:
    """``record`` for a batch (one request per sink)."""
    if kind not in KINDS:
        raise ValueError(f"log entry kind {kind!r} is not one of {KINDS}")
    now = datetime.now(UTC).isoformat()
    full = [{"kind": kind, "time": now, **entry} for entry in entries]
    if not full:
        return full
    specs = list(estate.logs) if estate is not None else [None]
    for spec in specs:
        sink_type = spec.type if spec is not None else "file"
        try:
            SINKS[sink_type](kind, full, spec, home)
        except Exception as exc:  # a log sink must never fail the business task
            with _lock:
                LOG_SINK_FAILURES[sink_type] = LOG_SINK_FAILURES.get(sink_type, 0) + 1
            log.warning("log sink %s failed for %d %s entr%s: %s: %s", sink_type, len(full), kind,
                        "y" if len(full) == 1 else "ies", type(exc).__name__, exc)
    return full


def read_entries(home: Path | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    return [e for e in read_json_lines(events_file(home)) if kind is None or e.get("kind") == kind]


# ---- sinks ------------------------------------------------------------------------------------
def file_sink(kind: str, entries: list[dict[str, Any]], _sink: LogSink | None, home: Path | None) -> None:
    path = events_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock, path.open("a", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(entry, sort_keys=True, default=str) + "\n")


def oci_sink(kind: str, entries: list[dict[str, Any]], sink: LogSink | None, _home: Path | None) -> None:
    from multicloud.hooks.oci_logging import OCILoggingIngestionHook

    if sink is None or not sink.log_id:
        raise ValueError("the oci log sink needs log_id (the custom log's OCID)")
    conn_id = sink.connection_id or OCILoggingIngestionHook.default_conn_name
    hook = _cached(("oci", conn_id, sink.region), lambda: OCILoggingIngestionHook(oci_conn_id=conn_id,
                                                                                    region=sink.region))
    hook.put_logs(sink.log_id, entries, source=SOURCE, log_type=f"multicloud.{kind}", subject=kind)


def cloudwatch_sink(kind: str, entries: list[dict[str, Any]], sink: LogSink | None, _home: Path | None) -> None:
    from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook

    if sink is None or not sink.log_group:
        raise ValueError("the cloudwatch log sink needs log_group")
    conn_id = sink.connection_id or "aws_default"
    client = _cached(("cloudwatch", conn_id, sink.region),
                     lambda: AwsLogsHook(aws_conn_id=conn_id, region_name=sink.region).conn)
    stamp = int(time.time() * 1000)
    events = [{"timestamp": stamp, "message": json.dumps(e, sort_keys=True, default=str)} for e in entries]
    try:
        client.put_log_events(logGroupName=sink.log_group, logStreamName=sink.log_stream, logEvents=events)
    except client.exceptions.ResourceNotFoundException:
        _create_stream(client, sink.log_group, sink.log_stream)
        client.put_log_events(logGroupName=sink.log_group, logStreamName=sink.log_stream, logEvents=events)


def _create_stream(client: Any, group: str, stream: str) -> None:
    with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
        client.create_log_group(logGroupName=group)
    with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
        client.create_log_stream(logGroupName=group, logStreamName=stream)


def _cached(key: tuple[str, str | None, str | None], build: Any) -> Any:
    with _lock:
        if key not in _hooks:
            _hooks[key] = build()
        return _hooks[key]


SINKS = {"file": file_sink, "oci": oci_sink, "cloudwatch": cloudwatch_sink}
