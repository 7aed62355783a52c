"""The probe adapter: real HTTP requests to model-server endpoints, scored by gates.py."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from multicloud.rollout.gates import GateVerdict, Sample, Thresholds, score_check, verdict

TIMEOUT_S = 5.0
PROBABILITY_TOLERANCE = 1e-4


def _timed(url: str, body: bytes | None) -> tuple[int, Any, float, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            payload = json.loads(response.read())
            return response.status, payload, (time.perf_counter() - started) * 1000, ""
    except urllib.error.HTTPError as exc:
        return exc.code, None, (time.perf_counter() - started) * 1000, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return 0, None, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"


def probe_endpoint(url: str, smoke_cases: Sequence[dict[str, Any]], version: str) -> list[Sample]:
    """A health probe, then every smoke case in one /predict request (one sample per case)."""
    samples = []
    status, payload, ms, error = _timed(f"{url}/healthz", None)
    served = payload.get("version") if isinstance(payload, dict) else None
    ok = status == 200 and served == version
    samples.append(Sample(url, "health", ok, ms, error or ("" if ok else f"serves {served}")))
    if not smoke_cases:
        return samples
    body = json.dumps({"instances": [case["instance"] for case in smoke_cases]}).encode()
    status, payload, ms, error = _timed(f"{url}/predict", body)
    if status != 200:
        return samples + [Sample(url, "smoke", False, ms, error or f"HTTP {status}") for _ in smoke_cases]
    if not isinstance(payload, dict) or payload.get("version") != version:
        answered = payload.get("version") if isinstance(payload, dict) else None
        return samples + [Sample(url, "smoke", False, ms, f"answered by {answered}") for _ in smoke_cases]
    predictions = payload.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != len(smoke_cases):
        # A broken server is a failed check (and a rollback), never an exception that hides the verdict.
        return samples + [Sample(url, "smoke", False, ms, "malformed answer: expected one prediction per case")
                          for _ in smoke_cases]
    for case, got in zip(smoke_cases, predictions, strict=True):
        expected = case["expected"]
        try:
            right = (got["label"] == expected["label"]
                     and abs(got["probability"] - expected["probability"]) <= PROBABILITY_TOLERANCE)
        except (KeyError, TypeError):
            right = False
        samples.append(Sample(url, "smoke", right, ms, "" if right else f"wrong answer {got} != {expected}"))
    return samples


def run_gate(endpoints: Sequence[str], smoke_cases: Sequence[dict[str, Any]], version: str,
             thresholds: Thresholds, sleep: Callable[[float], None] = time.sleep) -> GateVerdict:
    checks = []
    while True:
        samples = [s for url in endpoints for s in probe_endpoint(url, smoke_cases, version)]
        checks.append(score_check(samples, thresholds))
        decided = verdict(checks, thresholds)
        if decided is not None:
            return decided
        sleep(thresholds.interval_s)
