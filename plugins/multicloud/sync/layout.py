"""Where a dataset's objects live in a region's storage: one convention for every capability.

    {region storage url}/{dataset.path}/dt=YYYY-MM-DD/hr=HH/part-NNNNN.parquet   (hourly)
    {region storage url}/{dataset.path}/dt=YYYY-MM-DD/part-NNNNN.parquet         (daily)
    {source storage url}/_quarantine/{dataset.path}/dt=.../                      (record routing)

Training reads a region's dataset root; DR reads watermarks from partition keys; the
governance audit scans every region's roots.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from multicloud import paths

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

QUARANTINE = "_quarantine"

# Columns of the demo customer-events dataset (record-routed by `country`). `churned` is the label.
CUSTOMER_EVENT_FEATURES = ("sessions_30d", "spend_30d", "support_tickets_90d", "tenure_months")
CUSTOMER_EVENT_COLUMNS = ("event_id", "customer_id", "country", "event_time", "channel",
                          *CUSTOMER_EVENT_FEATURES, "churned")


def dataset_url(estate: Estate, region_id: str, dataset_id: str) -> str:
    region = estate.region(region_id)
    return paths.join_within(region.storage.url, estate.dataset(dataset_id).path, what=f"datasets.{dataset_id}.path")


def quarantine_url(estate: Estate, dataset_id: str) -> str:
    dataset = estate.dataset(dataset_id)
    source = estate.region(dataset.source)
    return paths.join_within(source.storage.url, QUARANTINE, dataset.path, what=f"datasets.{dataset_id}.path")


def partition_key(interval_start: datetime, partitioning: str) -> str:
    if partitioning == "hourly":
        return interval_start.strftime("dt=%Y-%m-%d/hr=%H")
    if partitioning == "daily":
        return interval_start.strftime("dt=%Y-%m-%d")
    return "all"


def partition_url(estate: Estate, region_id: str, dataset_id: str, interval_start: datetime) -> str:
    dataset = estate.dataset(dataset_id)
    return paths.join_within(dataset_url(estate, region_id, dataset_id),
                             partition_key(interval_start, dataset.partitioning), what="partition")
