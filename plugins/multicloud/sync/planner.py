"""Plan a sync: for every dataset and target region, what the residency policy lets move. Pure.

Object-level datasets (one data class) are decided once per (dataset, region). Record-level
datasets are decided per jurisdiction: a region receives the rows of every jurisdiction whose
class the policy permits there; a region that may hold none of them is denied outright. Rows
whose jurisdiction is missing or unknown always go to the quarantine item at the source.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from multicloud.sync.layout import partition_key

if TYPE_CHECKING:
    from multicloud.estate.models import Dataset, Estate
    from multicloud.residency.policy import Decision, ResidencyPolicy

Kind = Literal["copy", "route", "quarantine"]


@dataclass(frozen=True)
class SyncItem:
    """One unit of movement: a mapped task of the DAG. JSON-safe through ``as_dict``."""

    dataset: str
    region: str
    kind: Kind
    partition: str
    engine: str = "fsspec"
    data_class: str | None = None
    # record-level: jurisdictions whose rows this region may hold (empty for quarantine)
    jurisdictions: tuple[str, ...] = ()
    would_deny: tuple[str, ...] = field(default=())  # audit-mode classes copied anyway

    def as_dict(self) -> dict[str, object]:
        # by hand, not dataclasses.asdict (a deep copy): a plan holds tens of thousands of items
        return {"dataset": self.dataset, "region": self.region, "kind": self.kind, "partition": self.partition,
                "engine": self.engine, "data_class": self.data_class, "jurisdictions": list(self.jurisdictions),
                "would_deny": list(self.would_deny)}

    @classmethod
    def from_dict(cls, data: dict) -> SyncItem:
        return cls(**{**data, "jurisdictions": tuple(data.get("jurisdictions", ())),
                      "would_deny": tuple(data.get("would_deny", ()))})


@dataclass(frozen=True)
class Denial:
    dataset: str
    region: str
    data_class: str
    rule: str
    reason: str
    blocks: bool  # False: audit mode, copied and recorded as would-deny
    partition: str = ""  # the dataset's partition in this run (datasets' schedules differ)


@dataclass(frozen=True)
class SyncPlan:
    items: tuple[SyncItem, ...]
    denials: tuple[Denial, ...]

    def items_for(self, dataset: str) -> list[SyncItem]:
        return [i for i in self.items if i.dataset == dataset]


def dataset_interval(dataset: Dataset, run_start: datetime, run_end: datetime | None) -> datetime | None:
    """Start of the dataset's own data interval that a DAG run over [run_start, run_end) covers.

    Without its own ``schedule`` a dataset follows the DAG: its interval is the run's. With one, it
    is due only in the run whose interval holds one of its fire times, and that run moves the
    interval ending there (a daily dataset synced by the 00:00 run moves the day before). None: not
    due in this run.
    """
    if not dataset.schedule or run_end is None:
        return run_start
    from croniter import croniter

    fire = croniter(dataset.schedule, run_start - timedelta(microseconds=1)).get_next(datetime)
    if fire >= run_end:
        return None
    return croniter(dataset.schedule, fire).get_prev(datetime)


def plan_sync(
    estate: Estate,
    policy: ResidencyPolicy,
    interval_start: datetime,
    datasets: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    interval_end: datetime | None = None,
) -> SyncPlan:
    """Every (dataset, region) item for the interval, and every denial. Unknown names raise.

    Datasets named explicitly are planned whatever their own schedule; the others only when due
    (see ``dataset_interval``).
    """
    explicit = bool(datasets)
    chosen = list(datasets) if datasets else [d.id for d in estate.datasets]
    wanted_regions = set(regions) if regions else None
    known_regions = {r.id for r in estate.regions}
    if wanted_regions and (unknown := sorted(wanted_regions - known_regions)):
        raise ValueError(f"unknown target region(s) {unknown}; the estate has {sorted(known_regions)}")
    items: list[SyncItem] = []
    denials: list[Denial] = []
    for dataset_id in chosen:
        dataset = estate.dataset(dataset_id)  # KeyError names an unknown dataset
        own_start = interval_start if explicit else dataset_interval(dataset, interval_start, interval_end)
        if own_start is None:
            continue
        partition = partition_key(own_start, dataset.partitioning)
        targets = [r for r in estate.targets_of(dataset) if wanted_regions is None or r in wanted_regions]
        if dataset.routing is None:
            _plan_object_level(dataset, targets, partition, policy, items, denials)
        else:
            _plan_record_level(dataset, targets, partition, policy, items, denials)
    return SyncPlan(tuple(items), tuple(denials))


def _plan_object_level(dataset: Dataset, targets: list[str], partition: str, policy: ResidencyPolicy,
                       items: list[SyncItem], denials: list[Denial]) -> None:
    for region in targets:
        decision = policy.decide(dataset.data_class, region)
        if not decision.allowed:
            denials.append(_denial(dataset.id, decision, partition))
        if decision.permitted:
            items.append(SyncItem(
                dataset.id, region, "copy", partition, dataset.engine, dataset.data_class,
                would_deny=() if decision.allowed else (decision.data_class,),
            ))


def _plan_record_level(dataset: Dataset, targets: list[str], partition: str, policy: ResidencyPolicy,
                       items: list[SyncItem], denials: list[Denial]) -> None:
    assert dataset.routing is not None
    for region in targets:
        allowed: list[str] = []
        would_deny: list[str] = []
        decisions: dict[str, Decision] = {}  # by class: jurisdictions sharing a class give one denial
        for jurisdiction, data_class in sorted(dataset.routing.class_by_jurisdiction.items()):
            decision = decisions.setdefault(data_class, policy.decide(data_class, region))
            if decision.permitted:
                allowed.append(jurisdiction)
                if not decision.allowed and data_class not in would_deny:
                    would_deny.append(data_class)
        for decision in decisions.values():
            if not decision.allowed:
                denials.append(_denial(dataset.id, decision, partition))
        if allowed:
            items.append(SyncItem(dataset.id, region, "route", partition, dataset.engine,
                                  jurisdictions=tuple(allowed), would_deny=tuple(would_deny)))
    items.append(SyncItem(dataset.id, dataset.source, "quarantine", partition, dataset.engine))


def _denial(dataset_id: str, decision: Decision, partition: str) -> Denial:
    return Denial(dataset_id, decision.region, decision.data_class, decision.rule, decision.reason,
                  decision.blocks, partition)


def countries_of(estate: Estate, jurisdictions: Iterable[str]) -> dict[str, str]:
    """country -> jurisdiction for the given jurisdictions (the residency expectation's value set)."""
    wanted = set(jurisdictions)
    return {c: j.id for j in estate.jurisdictions if j.id in wanted for c in j.countries}
