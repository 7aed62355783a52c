"""Which clusters get a model version, how many replicas, in which wave. Pure, no Airflow.

1. Candidates: the clusters asked for, or every cluster of the estate.
2. The residency engine decides each candidate against the model's data class; denied ones are
   reported with the rule and reason and are never deployed to (fail closed).
3. Targets: allowed candidates hosting the model's workloads in the placement store (replicas
   from there); clusters named explicitly without placement get one replica.
4. Clusters already serving exactly this version (all traffic, same replicas) are left alone, so
   rerunning a finished rollout changes nothing.
5. Waves: one canary cluster (preferably in the training region), then waves of 2, 4, then the
   rest; each wave is split into at most ``max_parallel`` lanes (one mapped task per lane).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from multicloud.residency.policy import ResidencyPolicy
from multicloud.rollout.settings import STAGES, STRATEGIES

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

Strategy = Literal["canary", "rolling", "blue_green"]
GROWTH = (1, 2, 4)  # sizes of the canary and the next waves; the last stage takes the rest


def plan_rollout(estate: Estate, placement: Mapping[str, Mapping[str, int]], model_id: str, version: str,  # noqa: PLR0913  the model version, then the run's rollout settings as keywords
                 artifact_uri: str, *, clusters: list[str] | None = None, strategy: str = "canary",
                 max_parallel: int = 4, serving: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The plan for one model version. ``serving``: cluster -> driver.served() entry of this model."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {strategy!r}")
    if max_parallel < 1:
        raise ValueError(f"max_parallel must be >= 1; got {max_parallel}")
    model = estate.model(model_id)
    known = {c.id for _, c in estate.clusters()}
    explicit = clusters is not None and len(clusters) > 0
    candidates = list(dict.fromkeys(clusters)) if explicit else sorted(known)
    unknown = [c for c in candidates if c not in known]
    if unknown:
        raise ValueError(f"unknown cluster(s) {unknown}; the estate has {sorted(known)}")

    policy = ResidencyPolicy.from_estate(estate)
    replicas_by_cluster: dict[str, int] = {}
    for workload in estate.workloads:
        if workload.model == model_id:
            for cluster, n in placement.get(workload.id, {}).items():
                replicas_by_cluster[cluster] = replicas_by_cluster.get(cluster, 0) + n

    excluded, skipped, unchanged, targets = [], [], [], []
    for cluster_id in candidates:
        region = estate.region_of_cluster(cluster_id)
        decision = policy.decide(model.data_class, region.id)
        if decision.blocks:
            excluded.append({"cluster": cluster_id, "region": region.id, "jurisdiction": region.jurisdiction,
                             "rule": decision.rule, "reason": decision.reason})
            continue
        replicas = replicas_by_cluster.get(cluster_id, 0) or (1 if explicit else 0)
        if replicas == 0:
            skipped.append({"cluster": cluster_id, "reason": f"no placement of a {model_id} workload here"})
            continue
        current = (serving or {}).get(cluster_id) or {}
        if current.get("versions") == {version: replicas} and current.get("weights") == {version: 100}:
            unchanged.append(cluster_id)
            continue
        targets.append({"cluster": cluster_id, "model": model_id, "version": version, "replicas": replicas,
                        "artifact_uri": artifact_uri, "region": region.id})

    # The canary runs where the model was trained when possible: same jurisdiction as its data.
    targets.sort(key=lambda t: (t["region"] != model.train_in, t["cluster"]))
    return {
        "model": model_id, "version": version, "data_class": model.data_class, "artifact_uri": artifact_uri,
        "strategy": strategy, "max_parallel": max_parallel, "candidates": candidates,
        "excluded": excluded, "skipped": skipped, "unchanged": unchanged, "targets": targets,
        "stages": _stages(targets, max_parallel),
    }


def _stages(targets: list[dict[str, Any]], max_parallel: int) -> list[list[list[dict[str, Any]]]]:
    """STAGES entries, each a list of lanes (a lane: items run one after another)."""
    stages: list[list[list[dict[str, Any]]]] = []
    start = 0
    for index in range(len(STAGES)):
        size = GROWTH[index] if index < len(GROWTH) else len(targets)
        wave = targets[start:start + size] if index < len(STAGES) - 1 else targets[start:]
        start += len(wave)
        lanes_n = min(max_parallel, len(wave))
        stages.append([wave[i::lanes_n] for i in range(lanes_n)] if lanes_n else [])
    return stages


def merge_plans(plans: list[dict[str, Any]]) -> list[list[list[dict[str, Any]]]]:
    """Stage k of a multi-model rollout runs stage k of every model's plan."""
    return [[lane for plan in plans for lane in plan["stages"][k]] for k in range(len(STAGES))]
