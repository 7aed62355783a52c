"""Flagger-style metric checks: the canary's request success rate and p95 latency from Prometheus.

Where the estate names a Prometheus for a cluster (``cluster.prometheus``), every gate check also
asks its HTTP API (``GET {url}/api/v1/query``) for the version's numbers over the analysis window,
computed from the model server's own ``/metrics`` (``model_server_requests_total`` by code and the
``model_server_request_duration_seconds`` histogram), i.e. from ALL the traffic the version served,
not only the gate's probes:

- success rate: the share of requests answered 2xx. Stricter than Flagger's builtin (which counts
  only 5xx as failures): a version that rejects the clients' requests (a changed input schema
  answering 400) is a regression the canary must catch;
- p95 latency: ``histogram_quantile(0.95, ...)`` of the duration histogram, in milliseconds.

Fail closed: a query that errors, or returns no value (no traffic in the window, a target not
scraped), fails the check as "unverified", never passes it.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from multicloud.rollout.gates import Thresholds

Fetch = Callable[[str, "bytes | None"], tuple[int, bytes]]


@dataclass(frozen=True)
class MetricVerdict:
    values: dict[str, float]
    failures: list[str]


def _selector(model: str, version: str, extra: str = "") -> str:
    def quoted(value: str) -> str:
        return json.dumps(value)  # a PromQL string literal: double quotes, backslash escapes

    return f'{{model={quoted(model)},version={quoted(version)}{extra}}}'


def queries(model: str, version: str, window_s: float) -> dict[str, str]:
    window = f"[{max(1, math.ceil(window_s))}s]"
    requests = "model_server_requests_total"
    answered_2xx = _selector(model, version, ',code=~"2.."')
    return {
        # "or vector(0)": a window with no 2xx answer at all is a success rate of 0, not "no data".
        "success_rate": (f"(sum(rate({requests}{answered_2xx}{window})) or vector(0)) / "
                         f"sum(rate({requests}{_selector(model, version)}{window}))"),
        "p95_ms": ("histogram_quantile(0.95, sum by (le) (rate(model_server_request_duration_seconds_bucket"
                   f"{_selector(model, version)}{window}))) * 1000"),
    }


def instant_query(base_url: str, query: str, fetch: Fetch) -> float | None:
    """The single value of an instant query; None when it has none. Raises ValueError on API errors."""
    status, raw = fetch(f"{base_url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': query})}", None)
    try:
        body: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise ValueError(f"Prometheus answered HTTP {status} with no JSON") from None
    if status != 200 or body.get("status") != "success":
        raise ValueError(f"Prometheus answered HTTP {status}: {body.get('errorType')}: {body.get('error')}")
    data = body.get("data") or {}
    result = data.get("result") or []
    if data.get("resultType") == "scalar":
        value = float(result[1]) if result else math.nan
    elif len(result) == 1:
        value = float(result[0]["value"][1])
    elif not result:
        return None
    else:
        raise ValueError(f"expected one series, got {len(result)} for {query}")
    return None if math.isnan(value) else value


def check(base_url: str, model: str, version: str, window_s: float, thresholds: Thresholds,
          fetch: Fetch) -> MetricVerdict:
    values: dict[str, float] = {}
    failures: list[str] = []
    for name, query in queries(model, version, window_s).items():
        try:
            value = instant_query(base_url, query, fetch)
        except ValueError as exc:
            failures.append(f"prometheus {name} unverified: {exc}")
            continue
        if value is None:
            failures.append(f"prometheus {name} unverified: no data for {model} {version} in the last "
                            f"{window_s:g}s")
            continue
        values[name] = round(value, 4)
    rate, latency = values.get("success_rate"), values.get("p95_ms")
    if rate is not None and rate < thresholds.success_rate_min:
        failures.append(f"prometheus success rate {rate:.3f} < {thresholds.success_rate_min} over {window_s:g}s")
    if latency is not None and latency > thresholds.p95_ms_max:
        failures.append(f"prometheus p95 {latency:.1f} ms > {thresholds.p95_ms_max} ms over {window_s:g}s")
    return MetricVerdict(values, failures)
