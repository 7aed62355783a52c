"""Right-sizing: how many replicas a workload's observed demand needs. Pure (no Airflow).

One replica serving ``concurrency`` requests at once at the measured p95 latency sustains
``concurrency / p95`` requests a second (p95 as the service time: conservative). The workload
needs enough replicas for its requests per hour at ``target_utilisation`` of that, at least two
when critical (the HA minimum). The optimiser may choose any count from that minimum up to the
current one (or the minimum, when demand grew past the current count). Without a measurement
the count is left as it is, and while the SLO is breached it never shrinks: a reading that
cannot be trusted never removes capacity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Sizing:
    workload: str
    current: int
    min_replicas: int
    max_replicas: int
    needed: int | None
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def size_replicas(workload: str, current: int, requests_per_hour: float, *, p95_ms: float | None,  # noqa: PLR0913  pure formula; every input is a named measurement or SLO
                  success_rate: float | None, concurrency: int, slo_p95_ms: float, slo_success_rate: float,
                  target_utilisation: float, critical: bool) -> Sizing:
    floor = 2 if critical else 1
    if p95_ms is None or success_rate is None or requests_per_hour <= 0:
        return Sizing(workload, current, current, current, None, "no measured demand: count kept")
    if not 0 < target_utilisation <= 1:
        raise ValueError(f"target_utilisation must be in (0, 1]; got {target_utilisation}")
    per_replica = concurrency * 1000.0 / p95_ms * target_utilisation      # requests/s at the target load
    needed = max(floor, math.ceil(requests_per_hour / 3600.0 / per_replica - 1e-9))
    if p95_ms > slo_p95_ms or success_rate < slo_success_rate:
        low = max(needed, current)
        return Sizing(workload, current, low, low, needed,
                      f"SLO breached (p95 {p95_ms:g} ms, success {success_rate:.4f}): never shrunk")
    if needed > current:
        return Sizing(workload, current, needed, needed, needed, f"demand needs {needed}: grown")
    return Sizing(workload, current, needed, current, needed,
                  f"demand needs {needed} of {current} at {100 * target_utilisation:.0f}% utilisation")
