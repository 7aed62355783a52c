"""Synthetic customer-events partitions (as residency_sync would leave them) for training tests.

Churn really depends on the features (fewer sessions, more tickets, short tenure churn more), so
a trained model has measurable accuracy and its smoke cases mean something.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from multicloud.sync import layout
from multicloud.sync.storage import location_for


def events(countries: list[str], rows: int, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    sessions = rng.poisson(12, rows).astype(float)
    spend = rng.gamma(2.0, 40.0, rows)
    tickets = rng.poisson(1.2, rows).astype(float)
    tenure = rng.integers(1, 72, rows).astype(float)
    logit = 1.2 - 0.22 * sessions - 0.008 * spend + 0.9 * tickets - 0.03 * tenure
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    now = datetime(2026, 11, 29, tzinfo=UTC)
    return pa.table({
        "event_id": [f"e{seed}-{i}" for i in range(rows)],
        "customer_id": [f"c{i % 997}" for i in range(rows)],
        "country": [countries[i % len(countries)] for i in range(rows)],
        "event_time": [now] * rows,
        "channel": ["web"] * rows,
        "sessions_30d": sessions, "spend_30d": spend, "support_tickets_90d": tickets, "tenure_months": tenure,
        "churned": churned,
    })


def write_partition(estate, region_id: str, countries: list[str], rows: int = 400, seed: int = 1,
                    hour: datetime | None = None, dataset_id: str = "customer-events") -> str:
    hour = hour or datetime(2026, 11, 29, 10, tzinfo=UTC)
    url = layout.partition_url(estate, region_id, dataset_id, hour)
    loc = location_for(estate.region(region_id).storage, url)
    loc.fs.makedirs(loc.path, exist_ok=True)
    pq.write_table(events(countries, rows, seed), f"{loc.path}/part-00000.parquet", filesystem=loc.fs)
    return url


def seed_customer_events(estate, rows: int = 400) -> None:
    """EU rows in oci-fra, US rows in aws-use1."""
    write_partition(estate, "oci-fra", ["DE", "FR", "IE"], rows, seed=1)
    write_partition(estate, "aws-use1", ["US"], rows, seed=2)
