"""SourcePartitionsTrigger: wait in the triggerer for a run's late source partitions, all in one deferral.

A live estate's source systems publish each interval's partition on their own clock; a
residency_sync run that starts before one has landed must wait for it, not crash. The operator
(``multicloud.operators.source_partitions.AwaitSourcePartitionsOperator``) checks every source
partition of the run once on the worker and defers only when some are missing, handing this
trigger the missing ones, each with its own deadline (the dataset's ``arrival_timeout_s`` in the
estate). The trigger polls their existence through the same fsspec locations the copier reads
(``multicloud.sync.storage.location``; a region's ``connection_id`` is read in a worker thread,
never on the event loop) until every one has arrived or passed its deadline, and fires one event:
``{"arrived": [...], "late": [...]}``. Partitions are plain dicts (dataset, region, partition,
url, connection_id, s3_compat, deadline), so the trigger serializes completely; the deadlines are
wall-clock epochs fixed when the operator deferred, so a triggerer restart keeps them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from multicloud.sync.sources import AwaitedPartition, SourcePartition


def wall_clock() -> float:
    return time.time()


def partition_exists(partition: SourcePartition) -> bool:
    """Whether a source partition (a folder or object under the region's storage) exists now (blocking)."""
    from multicloud.sync.storage import location

    loc = location(partition["url"], partition.get("connection_id"), partition.get("s3_compat"))
    return bool(loc.fs.exists(loc.path))


class SourcePartitionsTrigger(BaseTrigger):
    """Poll missing source partitions until each arrives or its own deadline passes; one event.

    :param partitions: the missing partitions, each ``{dataset, region, partition, url,
        connection_id, s3_compat, deadline}`` (``deadline``: epoch seconds).
    :param poll_interval: seconds between two rounds of existence checks.
    """

    def __init__(self, *, partitions: list[AwaitedPartition], poll_interval: float = 30.0) -> None:
        super().__init__()
        self.partitions = [p.copy() for p in partitions]
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"partitions": self.partitions, "poll_interval": self.poll_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        pending = list(self.partitions)
        arrived: list[AwaitedPartition] = []
        late: list[AwaitedPartition] = []
        while True:
            still: list[AwaitedPartition] = []
            for partition in pending:
                if await asyncio.to_thread(partition_exists, partition):
                    arrived.append(partition)
                elif wall_clock() >= float(partition["deadline"]):
                    late.append(partition)
                else:
                    still.append(partition)
            pending = still
            if not pending:
                self.log.info("source partitions: %d arrived, %d late", len(arrived), len(late))
                yield TriggerEvent({"arrived": arrived, "late": late})
                return
            next_deadline = min(float(p["deadline"]) for p in pending)
            await asyncio.sleep(max(0.0, min(self.poll_interval, next_deadline - wall_clock())))
