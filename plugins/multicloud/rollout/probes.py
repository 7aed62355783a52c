"""The probe adapter: real HTTP requests to model-server endpoints, scored by gates.py.

Requests go through a ``fetch(url, body) -> (status, bytes)`` callable: plain HTTP by default, or
a cluster driver's own (``ClusterDriver.fetch``), which reaches pods through the Kubernetes API
server's service proxy with the driver's credentials.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from multicloud import smoke
from multicloud.drivers.base import http_fetch as drivers_http_fetch
from multicloud.rollout.gates import GateVerdict, Sample, Thresholds, score_check, verdict

TIMEOUT_S = 5.0


Fetch = Callable[[str, "bytes | None"], tuple[int, bytes]]


def http_fetch(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    """Plain HTTP(S): (status, body); a connection failure is status 0 with the error as body."""
    return drivers_http_fetch(url, body, TIMEOUT_S)


def _timed(url: str, body: bytes | None, fetch: Fetch | None = None) -> tuple[int, Any, float, str]:
    started = time.perf_counter()
    status, raw = (fetch or http_fetch)(url, body)
    ms = (time.perf_counter() - started) * 1000
    if status == 0:
        return 0, None, ms, raw.decode(errors="replace")
    if status != 200:
        return status, None, ms, f"HTTP {status}"
    try:
        return status, json.loads(raw), ms, ""
    except ValueError as exc:
        return 0, None, ms, f"{type(exc).__name__}: {exc}"


def probe_endpoint(url: str, smoke_cases: Sequence[dict[str, Any]], version: str,
                   fetch: Fetch | None = None) -> list[Sample]:
    """A health probe, then every smoke case in one /predict request (one sample per case)."""
    samples = []
    status, payload, ms, error = _timed(f"{url}/healthz", None, fetch)
    served = payload.get("version") if isinstance(payload, dict) else None
    ok = status == 200 and served == version
    samples.append(Sample(url, "health", ok, ms, error or ("" if ok else f"serves {served}")))
    if not smoke_cases:
        return samples
    body = json.dumps({"instances": [case["instance"] for case in smoke_cases]}).encode()
    status, payload, ms, error = _timed(f"{url}/predict", body, fetch)
    if status != 200:
        return samples + [Sample(url, "smoke", False, ms, error or f"HTTP {status}") for _ in smoke_cases]
    if not isinstance(payload, dict) or payload.get("version") != version:
        answered = payload.get("version") if isinstance(payload, dict) else None
        return samples + [Sample(url, "smoke", False, ms, f"answered by {answered}") for _ in smoke_cases]
    predictions = payload.get("predictions")
    if smoke.malformed(predictions, list(smoke_cases)):
        # A broken server is a failed check (and a rollback), never an exception that hides the verdict.
        return samples + [Sample(url, "smoke", False, ms, "malformed answer: expected one prediction per case")
                          for _ in smoke_cases]
    for case, got in zip(smoke_cases, predictions, strict=True):
        wrong = smoke.wrong_answer(case, got)
        samples.append(Sample(url, "smoke", wrong is None, ms, wrong or ""))
    return samples


def run_gate(endpoints: Sequence[str], smoke_cases: Sequence[dict[str, Any]], version: str,
             thresholds: Thresholds, sleep: Callable[[float], None] = time.sleep,
             fetch: Fetch | None = None,
             metric_check: Callable[[], tuple[dict[str, float], list[str]]] | None = None) -> GateVerdict:
    """Flagger's analysis loop; ``metric_check`` (values, failures) joins every check (Prometheus).

    With metric checks, the first check runs after one ``interval_s`` (as Flagger's analysis does):
    a window that only just opened holds no traffic of the version yet.
    """
    checks = []
    if metric_check is not None:
        sleep(thresholds.interval_s)
    while True:
        samples = [s for url in endpoints for s in probe_endpoint(url, smoke_cases, version, fetch)]
        metrics, metric_failures = metric_check() if metric_check else ({}, [])
        checks.append(score_check(samples, thresholds, metric_failures, metrics))
        decided = verdict(checks, thresholds)
        if decided is not None:
            return decided
        sleep(thresholds.interval_s)
