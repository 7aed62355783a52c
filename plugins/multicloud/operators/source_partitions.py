"""AwaitSourcePartitionsOperator: residency_sync's wait for late source data, before it plans.

On a live estate a source partition that is not there yet is late data, not a crash. This task
runs first: it takes the run's interval (the same rules as ``plan``, ``multicloud.sync.interval``),
lists the source partition of every dataset due (``multicloud.sync.sources.source_partitions``)
and checks them once. When all are there it returns at once (no deferral, the common case). Else
it defers ONE ``SourcePartitionsTrigger`` for all the missing ones, each with its dataset's
``arrival_timeout_s`` from the estate (datasets without one are late at once, nothing waits for
them), and frees its worker slot while the triggerer polls. The result, ``{"late": [...],
"arrived": [...]}``, goes to ``plan``: items of a late partition are not planned, every other
dataset of the run still syncs, and ``summarize`` fails the run naming each late dataset, source
region and partition.

On the embedded local estate the demo source producer writes the interval's partitions first
(``multicloud.sync.sources``), so nothing is ever late there. Ids or an ``interval_start`` the
estate refuses are left to ``plan``, the one place that refuses them (at once, without retry).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from multicloud.sync.sources import Arrivals, AwaitedPartition, SourcePartition

log = logging.getLogger(__name__)


class AwaitSourcePartitionsOperator(BaseOperator):
    """Wait (deferred) for the run's missing source partitions; return which arrived and which are late.

    :param poll_interval: longest pause between two existence checks in the triggerer (seconds);
        shorter when a dataset's timeout is short (a tenth of it, at least 1 s).
    """

    def __init__(self, *, poll_interval: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.poll_interval = poll_interval

    def execute(self, context: Any) -> Arrivals:
        expected = self._expected(context)
        from multicloud.triggers.source_partitions import partition_exists

        missing = [p for p in expected if not partition_exists(p)]
        if not missing:
            log.info("all %d source partitions of the run are there", len(expected))
            return {"late": [], "arrived": []}
        now = time.time()
        waiting = [{**p, "deadline": now + p["timeout_s"]} for p in missing if p["timeout_s"] > 0]
        late_now = [p for p in missing if p["timeout_s"] <= 0]
        for p in late_now:
            log.warning("%s: source partition %s in %s is missing and the estate sets no arrival_timeout_s: late",
                        p["dataset"], p["partition"], p["region"])
        if not waiting:
            return {"late": late_now, "arrived": []}
        from multicloud.triggers.source_partitions import SourcePartitionsTrigger

        shortest = min(p["timeout_s"] for p in waiting)
        for p in waiting:
            log.info("%s: waiting up to %gs for source partition %s in %s (%s)", p["dataset"], p["timeout_s"],
                     p["partition"], p["region"], p["url"])
        self.defer(trigger=SourcePartitionsTrigger(partitions=waiting,
                                                   poll_interval=min(self.poll_interval, max(1.0, shortest / 10))),
                   method_name="execute_complete", kwargs={"late_now": late_now})

    def execute_complete(self, context: Any, event: Arrivals,
                         late_now: list[AwaitedPartition] | None = None) -> Arrivals:
        late = [*(late_now or []), *event.get("late", [])]
        for p in event.get("arrived", []):
            log.info("%s: source partition %s in %s arrived", p["dataset"], p["partition"], p["region"])
        for p in event.get("late", []):
            log.warning("%s: source partition %s in %s still missing after %gs: late", p["dataset"], p["partition"],
                        p["region"], p["timeout_s"])
        return {"late": late, "arrived": event.get("arrived", [])}

    @staticmethod
    def _expected(context: Any) -> list[SourcePartition]:
        """The run's source partitions (after the local estate's producer wrote its own)."""
        from multicloud.estate import EstateError
        from multicloud.sync import interval, sources
        from multicloud.sync.settings import SyncSettings
        from multicloud.sync.tasks import estate_of

        try:
            settings = SyncSettings.from_params(context["params"])
            estate = estate_of(settings)
            chosen = interval.run_interval(interval_start_param=settings.interval_start,
                                           data_interval_start=context.get("data_interval_start"),
                                           data_interval_end=context.get("data_interval_end"),
                                           run_after=context["dag_run"].run_after)
            datasets = settings.datasets or None
            if sources.produces_sources() and not settings.dry_run:
                sources.produce_local_sources(estate, chosen.start, datasets)
            return sources.source_partitions(estate, chosen.start, chosen.end, datasets, settings.regions or None)
        except (ValueError, KeyError, EstateError) as exc:
            log.warning("not waiting for source data: plan will refuse this run (%s)", exc)
            return []
