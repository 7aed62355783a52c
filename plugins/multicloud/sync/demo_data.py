"""Realistic demo data for the local estate's datasets, written as source partitions.

customer-events (record-routed by ``country``): customers in EU countries, GB and the US, some
in CA (a jurisdiction with no data class: quarantined) and some with a null or unknown country
(quarantined). The ``churned`` label (int8, 0/1) really depends on the features: low recent
activity, many support tickets and a short tenure raise the churn log-odds, so a model can learn
it well above chance (a logistic model reaches about 0.8 accuracy against a 0.5-0.6 base rate).

product-catalog (public, daily), eu-claims (eu-personal) and telemetry (audited class) get
small plausible tables. Everything is deterministic for a seed and a partition.
"""

from __future__ import annotations

import os
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from multicloud.sync.layout import CUSTOMER_EVENT_COLUMNS, partition_key

# Country mix of the customer base: mostly EU and US, some UK, a few CA and unknowns.
COUNTRIES = ("DE", "FR", "NL", "IE", "ES", "IT", "PL", "SE", "GB", "US", "CA", "XX", None)
COUNTRY_WEIGHTS = (0.12, 0.10, 0.06, 0.04, 0.05, 0.05, 0.03, 0.03, 0.14, 0.30, 0.04, 0.02, 0.02)
CHANNELS = ("web", "ios", "android", "store", "call-centre")


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def customer_events(rows: int, interval_start: datetime, seed: int = 7) -> pa.Table:
    rng = _rng(seed, interval_start.isoformat())
    customer = rng.integers(0, max(rows // 3, 1), rows)
    # a customer's country is stable: derive it from the customer id
    country_idx = _rng(seed, "country").choice(len(COUNTRIES), size=max(rows // 3, 1), p=COUNTRY_WEIGHTS)[customer]
    country = [COUNTRIES[i] for i in country_idx]
    tenure = rng.gamma(2.0, 12.0, rows).round().astype(np.int32) + 1
    sessions = rng.poisson(np.where(rng.random(rows) < 0.35, 3, 18)).astype(np.int32)
    spend = np.round(rng.gamma(2.0, 25.0, rows) * (1 + sessions / 10), 2)
    tickets = rng.poisson(1.2, rows).astype(np.int32)
    logit = 3.2 - 0.18 * sessions - 0.012 * spend + 0.55 * tickets - 0.035 * tenure
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    seconds = rng.integers(0, 3600, rows)
    times = pa.array([interval_start + timedelta(seconds=int(s)) for s in seconds], pa.timestamp("us", tz="UTC"))
    stamp = interval_start.strftime("%Y%m%d%H")
    columns = {
        "event_id": pa.array([f"ev-{stamp}-{i:07d}" for i in range(rows)], pa.string()),
        "customer_id": pa.array([f"cu-{c:06d}" for c in customer], pa.string()),
        "country": pa.array(country, pa.string()),
        "event_time": times,
        "channel": pa.array(rng.choice(CHANNELS, rows), pa.string()),
        "sessions_30d": pa.array(sessions),
        "spend_30d": pa.array(spend),
        "support_tickets_90d": pa.array(tickets),
        "tenure_months": pa.array(tenure),
        "churned": pa.array(churned),
    }
    return pa.table({name: columns[name] for name in CUSTOMER_EVENT_COLUMNS})


def product_catalog(rows: int, seed: int = 7) -> pa.Table:
    rng = _rng(seed, "catalog")
    return pa.table({
        "sku": [f"SKU-{i:05d}" for i in range(rows)],
        "name": [f"Product {i}" for i in range(rows)],
        "category": rng.choice(["storage", "compute", "network", "support"], rows),
        "price_usd": np.round(rng.gamma(2.0, 40.0, rows), 2),
    })


def eu_claims(rows: int, interval_start: datetime, seed: int = 7) -> pa.Table:
    rng = _rng(seed, "claims" + interval_start.isoformat())
    stamp = interval_start.strftime("%Y%m%d%H")
    return pa.table({
        "claim_id": [f"cl-{stamp}-{i:05d}" for i in range(rows)],
        "customer_id": [f"cu-{c:06d}" for c in rng.integers(0, 5000, rows)],
        "country": rng.choice(["DE", "FR", "NL", "IE", "ES", "IT"], rows),
        "amount_eur": np.round(rng.gamma(2.0, 400.0, rows), 2),
        "status": rng.choice(["open", "approved", "rejected"], rows, p=[0.5, 0.4, 0.1]),
    })


def telemetry(rows: int, interval_start: datetime, seed: int = 7) -> pa.Table:
    rng = _rng(seed, "telemetry" + interval_start.isoformat())
    return pa.table({
        "service": rng.choice(["checkout", "search", "auth", "recommend"], rows),
        "latency_ms": np.round(rng.lognormal(4.0, 0.5, rows), 1),
        "status": rng.choice([200, 200, 200, 500, 404], rows),
        "host_hash": [f"h{h:08x}" for h in rng.integers(0, 2**32, rows)],
    })


def source_table(dataset_id: str, interval_start: datetime, rows: int = 2000, seed: int = 7) -> pa.Table | None:
    """The demo table of one dataset's partition for one interval (None: no demo data for it)."""
    if dataset_id == "customer-events":
        return customer_events(rows, interval_start, seed)
    if dataset_id == "product-catalog":
        return product_catalog(max(rows // 10, 10), seed)
    if dataset_id == "eu-claims":
        return eu_claims(max(rows // 4, 10), interval_start, seed)
    if dataset_id == "telemetry":
        return telemetry(max(rows // 2, 10), interval_start, seed)
    return None


def write_partition_files(table: pa.Table, folder: Path, files: int = 2) -> list[Path]:
    """``table`` as ``files`` parquet parts in ``folder``, each written aside and renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-table.num_rows // files)
    written: list[Path] = []
    for index in range(files):
        part = table.slice(index * step, step)
        target = folder / f"part-{index:05d}.parquet"
        tmp = folder / f".{target.name}.{os.getpid()}.tmp"
        pq.write_table(part, tmp)
        tmp.replace(target)
        written.append(target)
    return written


def write_source_partitions(estate, interval_start: datetime, rows: int = 2000, files: int = 2,
                            seed: int = 7) -> list[Path]:
    """Write every local dataset's source partition for one interval. Returns the files written."""
    written: list[Path] = []
    for dataset in estate.datasets:
        storage = estate.region(dataset.source).storage.url
        if not storage.startswith("file://"):
            continue
        table = source_table(dataset.id, interval_start, rows, seed)
        if table is None:
            continue
        folder = Path(storage.removeprefix("file://")) / dataset.path.strip("/") / partition_key(
            interval_start, dataset.partitioning)
        written += write_partition_files(table, folder, files)
    return written


def prepare_demo(estate_home: Path, hours: int = 4, rows: int = 4000) -> list[Path]:
    """Source partitions for the last ``hours`` hours (the demo runs the last three)."""
    from multicloud.estate import load_estate

    estate = load_estate(home=estate_home)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    written: list[Path] = []
    for back in range(hours, 0, -1):
        written += write_source_partitions(estate, now - timedelta(hours=back), rows=rows)
    return written
