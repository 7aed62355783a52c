"""Where a residency_sync run keeps its plan: files under the estate's state home, not XCom.

A plan of 1,000 datasets x 20 regions is 20,000 items (megabytes of JSON): far more than XCom is
for, and more than Airflow maps (``max_map_length``). ``plan`` writes it here instead, keyed by
the run id, and the DAG maps one task per *region* over a short list of shard references:

    state/residency_sync/<run>/plan/shard-<region>.json   items whose target (or, for quarantine,
                                                          source) is that region
    state/residency_sync/<run>/plan/plan.json             the manifest: interval, partitions,
                                                          denials, Data Integration hand-offs and
                                                          every shard's SHA-256

Every file is written atomically (temporary file, then rename), shards first and the manifest
last, so a reader sees a whole plan or none. XCom carries only references: the manifest's digest
(key ``plan``) and, per shard, its region, item count and digest (the map). A reader recomputes
the digest of what it reads and refuses a file that differs from the reference it was given
(``PlanMismatch``): a plan rewritten by a re-run ``plan`` is never mixed with an older map.

No Airflow import: the DAG's tasks, the bench and the tests call these functions.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from multicloud import paths
from multicloud.statefile import atomic_write_text
from multicloud.sync import runner

if TYPE_CHECKING:
    from multicloud.sync.sources import AwaitedPartition

MANIFEST = "plan.json"


class PlanMismatch(RuntimeError):
    """A plan file is missing or differs from the reference the task was given."""


class ShardRef(TypedDict):
    """One region's shard of a written plan: what a mapped ``sync`` task gets (never the items)."""

    region: str
    items: int
    digest: str


class PlanManifest(TypedDict, total=False):
    """A run's plan manifest: what ``sync.tasks.plan_run`` decided, plus what ``write_plan`` adds
    (``run_id``, ``shards``; ``digest`` only in what ``write_plan`` returns)."""

    data_integration: list[dict[str, Any]]  # one OCI Data Integration operator's kwargs per hand-off
    data_integration_items: list[dict[str, Any]]  # SyncItem.as_dict() of those hand-offs, same order
    denials: list[dict[str, Any]]  # planner.Denial fields
    partitions: dict[str, str]  # dataset -> partition
    interval_start: str
    interval_end: str
    interval_source: str
    dry_run: bool
    late: list[AwaitedPartition]
    run_id: str
    shards: list[ShardRef]
    digest: str


def plan_dir(run_id: str, home: Path | None = None) -> Path:
    return runner.state_dir(run_id, home) / "plan"


def _shard_file(run_id: str, region: str, home: Path | None) -> Path:
    name = paths.clean_name(f"shard-{region}.json", "plan shard")
    return Path(paths.join_within(str(plan_dir(run_id, home)), name))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _dump(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


def shard_items(items: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Items by the region whose task moves them: the target region (the source's for quarantine)."""
    shards: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        shards[item["region"]].append(item)
    return dict(sorted(shards.items()))


def write_plan(run_id: str, manifest: PlanManifest, items: list[dict[str, Any]],
               home: Path | None = None) -> PlanManifest:
    """Write the shards of ``items`` and then the manifest; returns the manifest as written.

    The manifest gains ``shards`` (region, items, digest per shard) and ``digest`` is not part of
    it: ``manifest_digest`` of the written text is the reference XCom carries."""
    refs: list[ShardRef] = []
    folder = plan_dir(run_id, home)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("shard-*.json"):  # a re-run plan replaces the whole plan, never mixes
        stale.unlink(missing_ok=True)
    for region, shard in shard_items(items).items():
        text = _dump({"run_id": run_id, "region": region, "items": shard})
        atomic_write_text(_shard_file(run_id, region, home), text)
        refs.append({"region": region, "items": len(shard), "digest": _digest(text)})
    body = {**manifest, "run_id": run_id, "shards": refs}
    text = _dump(body)
    atomic_write_text(folder / MANIFEST, text)
    return body | {"digest": _digest(text)}


def read_manifest(run_id: str, digest: str | None = None, home: Path | None = None) -> PlanManifest:
    """The run's manifest; with ``digest``, only if it is exactly the manifest that digest names."""
    path = plan_dir(run_id, home) / MANIFEST
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PlanMismatch(f"run {run_id}: no plan at {path} (did plan succeed?)") from None
    if digest is not None and _digest(text) != digest:
        raise PlanMismatch(f"run {run_id}: the plan at {path} is not the one this task was given "
                           f"(digest {_digest(text)[:12]}, expected {digest[:12]}); was plan re-run?")
    return json.loads(text)


def read_shard(run_id: str, region: str, digest: str, home: Path | None = None) -> list[dict[str, Any]]:
    """The items of one region's shard, checked against its digest."""
    path = _shard_file(run_id, region, home)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PlanMismatch(f"run {run_id}: no plan shard for region {region} at {path}") from None
    if _digest(text) != digest:
        raise PlanMismatch(f"run {run_id}: plan shard {path} is not the one this task was given; was plan re-run?")
    body = json.loads(text)
    if body.get("run_id") != run_id or body.get("region") != region:
        raise PlanMismatch(f"plan shard {path} belongs to {body.get('run_id')}/{body.get('region')}")
    return body["items"]


def read_items(run_id: str, manifest: PlanManifest, home: Path | None = None) -> list[dict[str, Any]]:
    """Every fsspec item of the plan, shard by shard (each checked against the manifest's digest)."""
    return [item for ref in manifest["shards"] for item in read_shard(run_id, ref["region"], ref["digest"], home)]
