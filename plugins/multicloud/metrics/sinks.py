"""Metric sinks: file (JSON lines), Airflow's StatsD/OTel ``Stats``, OCI Monitoring, CloudWatch.

Each sink is ``send(point, sink_spec, home)``; ``core.emit`` calls every sink of the estate and
turns any exception into a logged, counted failure. Clients are cached per (sink, connection,
region) for the life of the process; ``reset_clients()`` drops them (tests, connection changes).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud import paths

if TYPE_CHECKING:
    from multicloud.estate.models import MetricsSink
    from multicloud.metrics.points import MetricPoint

_file_lock = threading.Lock()
_clients: dict[tuple[str, str | None, str | None, str | None], Any] = {}
_clients_lock = threading.Lock()
_stats_initialised = False  # whether this process set up Airflow's Stats from [metrics] (once)

# Our units -> CloudWatch StandardUnit (anything else is sent as "None").
_CLOUDWATCH_UNITS = {
    "count": "Count", "seconds": "Seconds", "s": "Seconds", "ms": "Milliseconds",
    "milliseconds": "Milliseconds", "bytes": "Bytes", "percent": "Percent", "ratio": "None",
}
_OCI_NAME_RE = re.compile(r"[^A-Za-z0-9._-]")


def metrics_file(home: Path | None = None) -> Path:
    return (home or paths.estate_home()) / "metrics" / "metrics.jsonl"


def reset_clients() -> None:
    """Drop the cached clients, and set Airflow's Stats up again from [metrics] on the next point."""
    global _stats_initialised
    with _clients_lock:
        _clients.clear()
        _stats_initialised = False


def _cached(key: tuple[str, str | None, str | None, str | None], build: Any) -> Any:
    with _clients_lock:
        if key not in _clients:
            _clients[key] = build()
        return _clients[key]


# ---- file -------------------------------------------------------------------------------------
def file_sink(point: MetricPoint, _sink: MetricsSink | None, home: Path | None) -> None:
    path = metrics_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock, path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(point), sort_keys=True) + "\n")


def file_sink_many(points: list[MetricPoint], home: Path | None) -> None:
    """Every point as one JSON line, appended in one write."""
    path = metrics_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(asdict(point), sort_keys=True) + "\n" for point in points)
    with _file_lock, path.open("a", encoding="utf-8") as handle:
        handle.write(text)


# ---- Airflow Stats (StatsD / OpenTelemetry, as configured in [metrics]) -------------------------
def statsd_sink(point: MetricPoint, sink: MetricsSink | None, _home: Path | None) -> None:
    """A gauge through Airflow's own Stats, so it goes wherever [metrics] sends Airflow's metrics.

    Task processes have Stats initialised by the task runner; elsewhere (CLI, tests, the
    api-server) nothing has. Stats has no public "is it set up" question, so each process sets it
    up once, on its first point, from the same [metrics] configuration the task runner reads
    (in a task process that replaces the factory with an identical one).
    """
    from airflow.sdk.observability import stats

    _initialise_stats()
    prefix = (sink.namespace if sink else "multicloud") or "multicloud"
    name = stats.normalize_name_for_stats(f"{prefix}.{point.name}", log_warning=False)
    stats.gauge(name, point.value, tags=dict(point.dimensions) or None)


def _initialise_stats() -> None:
    global _stats_initialised
    from airflow.sdk.configuration import conf
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    with _clients_lock:
        if _stats_initialised:
            return
        if conf.getboolean("metrics", "statsd_on", fallback=False):
            try:
                import statsd  # noqa: F401 - Airflow would silently fall back to a no-op logger without it
            except ImportError:
                raise RuntimeError("[metrics] statsd_on is set but the 'statsd' package is not installed") from None
        stats.initialize(factory=stats_utils.get_stats_factory(),
                         export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True))
        _stats_initialised = True


# ---- OCI Monitoring -----------------------------------------------------------------------------
def oci_endpoint(region: str) -> str:
    """Posting needs the telemetry-ingestion endpoint, not the client's default telemetry one."""
    from multicloud.hooks.oci_monitoring import ingestion_endpoint

    return ingestion_endpoint(region)


def oci_sink(point: MetricPoint, sink: MetricsSink | None, _home: Path | None) -> None:
    import oci

    from multicloud.hooks.oci_monitoring import OCIMonitoringHook

    if sink is None or not sink.compartment_id:
        raise ValueError("the oci metrics sink needs compartment_id (the compartment OCID to post into)")
    conn_id = sink.connection_id or OCIMonitoringHook.default_conn_name
    hook = _cached(("oci", conn_id, sink.region, sink.compartment_id),
                   lambda: OCIMonitoringHook(oci_conn_id=conn_id, region=sink.region))
    models = oci.monitoring.models
    # OCI needs at least one dimension per metric; the estate's own name is always meaningful.
    dimensions = dict(point.dimensions) or {"source": "multicloud"}
    hook.post_metric_data([models.MetricDataDetails(
        namespace=_oci_namespace(sink.namespace), compartment_id=sink.compartment_id,
        name=_OCI_NAME_RE.sub("_", point.name), dimensions=dimensions,
        metadata={"unit": point.unit},
        datapoints=[models.Datapoint(timestamp=datetime.fromisoformat(point.timestamp), value=point.value)],
    )])


def _oci_namespace(namespace: str) -> str:
    """OCI custom namespaces: lower-case letters, digits, underscores; must not start with oci_."""
    cleaned = re.sub(r"[^a-z0-9_]", "_", namespace.lower())
    if not cleaned or not cleaned[0].isalpha() or cleaned.startswith("oci_"):
        raise ValueError(f"OCI Monitoring namespace {namespace!r} must start with a letter and not with 'oci_'")
    return cleaned


# ---- CloudWatch -----------------------------------------------------------------------------------
def cloudwatch_sink(point: MetricPoint, sink: MetricsSink | None, _home: Path | None) -> None:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    conn_id = (sink.connection_id if sink else None) or "aws_default"
    region = sink.region if sink else None

    def build() -> Any:
        return AwsBaseHook(aws_conn_id=conn_id, client_type="cloudwatch", region_name=region).conn

    client = _cached(("cloudwatch", conn_id, region, None), build)
    datum: dict[str, Any] = {
        "MetricName": point.name, "Value": point.value, "Timestamp": datetime.fromisoformat(point.timestamp),
        "Unit": _CLOUDWATCH_UNITS.get(point.unit.lower(), "None"),
        "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(point.dimensions.items())][:30],
    }
    client.put_metric_data(Namespace=(sink.namespace if sink else "multicloud"), MetricData=[datum])


SINKS = {"file": file_sink, "statsd": statsd_sink, "oci": oci_sink, "cloudwatch": cloudwatch_sink}
