"""Pure DR scoring: RTO and RPO from probe samples and watermarks, stop conditions, stability.

No Airflow, no I/O: every function takes plain values so the rules are tested in milliseconds.
Times are epoch seconds (float).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One probe of the pair's global endpoint."""

    t: float
    status: int | None = None
    region: str | None = None
    version: str | None = None
    latency_ms: float | None = None
    error: str | None = None
    retried: bool = False  # the client's single retry was needed (the first attempt failed)
    first_error: str | None = None

    @property
    def answered(self) -> bool:
        return self.status == 200 and self.error is None

    def correct(self, expected_version: str | None) -> bool:
        """A correct answer: HTTP 200 from the model, serving the version served before the fault."""
        return self.answered and (expected_version is None or self.version == expected_version)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Sample:
        fields = ("t", "status", "region", "version", "latency_ms", "error", "first_error")
        return cls(**{k: raw.get(k) for k in fields}, retried=bool(raw.get("retried")))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def first_correct_from(samples: Iterable[Sample], region: str, after: float,
                       expected_version: str | None) -> Sample | None:
    for sample in sorted(samples, key=lambda s: s.t):
        if sample.t >= after and sample.region == region and sample.correct(expected_version):
            return sample
    return None


def rto_s(fault_at: float, samples: Iterable[Sample], secondary_region: str,
          expected_version: str | None) -> float | None:
    """Fault injection -> first correct answer served from the secondary; None if never."""
    first = first_correct_from(samples, secondary_region, fault_at, expected_version)
    return None if first is None else round(first.t - fault_at, 3)


def rpo_s(primary_watermark: float | None, secondary_watermark: float | None) -> float | None:
    """Newest data at the primary at fault time minus newest data replicated to the secondary.

    None when either side is unknown (no data): an unknown RPO never counts as met.
    """
    if primary_watermark is None or secondary_watermark is None:
        return None
    return round(max(0.0, primary_watermark - secondary_watermark), 3)


def worst_rpo_s(per_dataset: dict[str, float | None]) -> float | None:
    if not per_dataset or any(v is None for v in per_dataset.values()):
        return None
    return max(v for v in per_dataset.values() if v is not None)


@dataclass(frozen=True)
class StopConditions:
    """Like AWS FIS stop conditions: abort the experiment when a limit is crossed."""

    max_errors: int
    max_duration_s: float

    def __post_init__(self) -> None:
        if self.max_errors < 0:
            raise ValueError(f"max_errors must be >= 0, got {self.max_errors}")
        if self.max_duration_s <= 0:
            raise ValueError(f"max_duration_s must be > 0, got {self.max_duration_s}")


@dataclass(frozen=True)
class StopVerdict:
    tripped: bool
    reason: str = ""
    errors: int = 0
    elapsed_s: float = 0.0


def evaluate_stop(samples: Iterable[Sample], *, fault_at: float, now: float, count_errors_after: float,
                  conditions: StopConditions) -> StopVerdict:
    """Errors count only after traffic was switched (the outage before failover is the experiment)."""
    errors = sum(1 for s in samples if s.t >= count_errors_after and not s.answered)
    elapsed = now - fault_at
    if errors > conditions.max_errors:
        return StopVerdict(True, f"{errors} failed probes after failover > max_errors {conditions.max_errors}",
                           errors, elapsed)
    if elapsed > conditions.max_duration_s:
        return StopVerdict(True, f"rehearsal ran {elapsed:.1f}s > max_duration_s {conditions.max_duration_s:g}",
                           errors, elapsed)
    return StopVerdict(False, "", errors, elapsed)


def consecutive_healthy(checks: Sequence[bool]) -> int:
    """How many checks at the end of ``checks`` were healthy in a row."""
    count = 0
    for healthy in reversed(checks):
        if not healthy:
            break
        count += 1
    return count


@dataclass(frozen=True)
class Score:
    rto_s: float | None
    rpo_s: float | None
    rto_target_s: float
    rpo_target_s: float

    @property
    def rto_met(self) -> bool:
        return self.rto_s is not None and self.rto_s <= self.rto_target_s

    @property
    def rpo_met(self) -> bool:
        return self.rpo_s is not None and self.rpo_s <= self.rpo_target_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rto_met": self.rto_met, "rpo_met": self.rpo_met}


def availability(samples: Sequence[Sample]) -> float | None:
    """Share of requests a client with one retry got a correct answer for (any region)."""
    if not samples:
        return None
    return round(sum(1 for s in samples if s.answered) / len(samples), 6)


def first_try_availability(samples: Sequence[Sample]) -> float | None:
    """Share answered at the first attempt (no retry): what a client without a retry sees."""
    if not samples:
        return None
    return round(sum(1 for s in samples if s.answered and not s.retried) / len(samples), 6)


MONTH_S = 30 * 24 * 3600.0


def error_budget_s(slo: float, period_s: float = MONTH_S) -> float:
    """Downtime the SLO allows per period: 99.9% of a 30-day month is 43.2 minutes."""
    if not 0 < slo < 1:
        raise ValueError(f"an availability SLO is a fraction in (0, 1); got {slo}")
    return round((1 - slo) * period_s, 3)


def downtime_s(samples: Sequence[Sample]) -> float:
    """Time clients had no answer: each failed request (after its retry) until the next good one."""
    ordered = sorted(samples, key=lambda s: s.t)
    down, since = 0.0, None
    for sample in ordered:
        if not sample.answered and since is None:
            since = sample.t
        elif sample.answered and since is not None:
            down += sample.t - since
            since = None
    if since is not None and ordered:
        down += ordered[-1].t - since
    return round(down, 3)


def budget_used(downtime: float, slo: float, period_s: float = MONTH_S) -> float:
    """Share of the period's error budget one incident's downtime used."""
    return round(downtime / error_budget_s(slo, period_s), 6)


def mttr_ratio(automated_s: float | None, orchestrated_s: float | None) -> float | None:
    """Automated / orchestrated time to recovery (the seed's goal: <= 0.5); None when either is unknown."""
    if automated_s is None or orchestrated_s is None or orchestrated_s <= 0:
        return None
    return round(automated_s / orchestrated_s, 3)
