"""Health-gate scoring with Flagger's analysis semantics. Pure, no I/O.

Every ``interval`` one check runs: smoke inferences with known answers plus health probes. A
check fails when the request success rate is below ``success_rate_min``, the p95 latency is above
``p95_ms_max``, or any smoke case answers wrongly. The gate fails (rollback) as soon as
``max_failed_checks`` checks failed (Flagger's ``threshold``) and passes after ``checks``
iterations (Flagger's ``iterations``) with fewer failures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Thresholds:
    success_rate_min: float = 0.99
    p95_ms_max: float = 250.0
    max_failed_checks: int = 1
    checks: int = 2
    interval_s: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.success_rate_min <= 1:
            raise ValueError(f"success_rate_min must be in (0, 1]; got {self.success_rate_min}")
        if self.p95_ms_max <= 0 or self.checks < 1 or self.max_failed_checks < 1 or self.interval_s < 0:
            raise ValueError("p95_ms_max > 0, checks >= 1, max_failed_checks >= 1 and interval_s >= 0 are required")


@dataclass(frozen=True)
class Sample:
    """One request: to which endpoint, what kind, did it succeed, how long, why not."""

    url: str
    kind: str  # "smoke" | "health"
    ok: bool
    latency_ms: float
    error: str = ""


@dataclass(frozen=True)
class CheckResult:
    requests: int
    success_rate: float
    p95_ms: float
    wrong_answers: int
    passed: bool
    failures: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # from Prometheus, when the cluster has one


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    checks: list[CheckResult]
    failed_checks: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile (what a histogram quantile approximates)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def score_check(samples: Sequence[Sample], thresholds: Thresholds, metric_failures: Sequence[str] = (),
                metrics: dict[str, float] | None = None) -> CheckResult:
    """One check from the probes' samples, plus (optionally) the metric checks' failures and values."""
    if not samples:
        return CheckResult(0, 0.0, 0.0, 0, False, ["no endpoint answered: nothing to measure", *metric_failures],
                           dict(metrics or {}))
    successes = sum(s.ok for s in samples)
    rate = successes / len(samples)
    latency = p95([s.latency_ms for s in samples if s.ok] or [s.latency_ms for s in samples])
    wrong = sum(1 for s in samples if s.kind == "smoke" and not s.ok and s.error.startswith("wrong answer"))
    failures = []
    if rate < thresholds.success_rate_min:
        first = next((s for s in samples if not s.ok), None)
        failures.append(f"success rate {rate:.3f} < {thresholds.success_rate_min}"
                        + (f" (e.g. {first.url}: {first.error})" if first else ""))
    if latency > thresholds.p95_ms_max:
        failures.append(f"p95 {latency:.1f} ms > {thresholds.p95_ms_max} ms")
    if wrong:
        failures.append(f"{wrong} smoke inference(s) answered wrongly")
    failures += list(metric_failures)
    return CheckResult(len(samples), round(rate, 4), round(latency, 2), wrong, not failures, failures,
                       dict(metrics or {}))


def verdict(checks: Sequence[CheckResult], thresholds: Thresholds) -> GateVerdict | None:
    """The gate's decision so far, or None while more checks are needed."""
    failed = [c for c in checks if not c.passed]
    if len(failed) >= thresholds.max_failed_checks:
        return GateVerdict(False, list(checks), len(failed),
                           f"{len(failed)} failed check(s) (threshold {thresholds.max_failed_checks}): "
                           + "; ".join(failed[-1].failures))
    if len(checks) >= thresholds.checks:
        return GateVerdict(True, list(checks), len(failed),
                           f"{len(checks)} checks, {len(failed)} failed (threshold {thresholds.max_failed_checks})")
    return None
