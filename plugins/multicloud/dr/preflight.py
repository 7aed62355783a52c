"""Preflight: is the pair fit for a rehearsal? A failed check stops it before any fault.

Checks (each a ``Check`` with a one-line detail):
- the secondary serves the pair's workloads healthily (same version as the primary), or, when it
  runs none (pilot light), has the capacity to take them;
- residency: each workload's model (its training data's class) may be served in the secondary;
- the secondary's cluster capacity holds the primary's replicas on top of what it runs already;
- each pair dataset's replica at the secondary lags the primary by less than the RPO target;
- network: on the local estate both clusters' endpoints answer; on OCI, the FastConnect virtual
  circuit of either region is PROVISIONED with BGP up and its DRG is AVAILABLE (OCIHook);
- automated path (``check_failover_watcher``): ``dr_failover``'s AssetWatcher runs (its heartbeat
  is fresh), so the health checks' failover signal will start it. Airflow runs an asset's
  watchers only while the DAG is unpaused and a triggerer is up; without it traffic would still
  move but nothing would promote the write target, and the rehearsal would prove nothing.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

from multicloud.dr.pair import cluster_driver, cluster_of, served_version
from multicloud.dr.watermarks import dataset_watermarks
from multicloud.placement import current_placement


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    # a failed check that only says "not ready yet" (the primary serves nothing to fail over)
    not_ready: bool = False
    # "not ready" only beside a check that says the primary serves nothing (no data and no endpoint
    # at a primary that does serve is a real failure, never a skipped rehearsal)
    not_ready_if_unserved: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PreflightFailed(RuntimeError):
    def __init__(self, checks: list[Check]) -> None:
        self.checks = checks
        # nothing to rehearse yet (e.g. a fresh estate before the first rollout): not a failure
        failed = [c for c in checks if not c.ok]
        unserved = any(c.not_ready for c in failed)
        self.not_ready = unserved and all(c.not_ready or c.not_ready_if_unserved for c in failed)
        failed = "; ".join(f"{c.name}: {c.detail}" for c in checks if not c.ok)
        super().__init__(f"preflight failed, nothing injected: {failed}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as reply:
            return reply.status == 200 and bool(json.loads(reply.read()))
    except (OSError, ValueError):
        return False


def check_secondary_serving(estate, pair) -> list[Check]:
    primary, secondary = cluster_of(estate, pair.primary), cluster_of(estate, pair.secondary)
    p_served, s_served = cluster_driver(estate, primary).served(), cluster_driver(estate, secondary).served()
    s_driver = cluster_driver(estate, secondary)
    checks = []
    for workload_id in pair.workloads:
        model = estate.workload(workload_id).model
        p_version, s_version = served_version(p_served, model), served_version(s_served, model)
        name = f"secondary serves {workload_id}"
        if p_version is None:
            checks.append(Check(name, False, f"the primary {primary} does not serve {model}: nothing to fail over",
                                not_ready=True))
        elif s_version is None:
            how = ("scales its deployment up from 0" if (s_served.get(model) or {}).get("versions")
                   else f"deploys {p_version}")
            checks.append(Check(name, True, f"pilot light: {secondary} runs no {model}; failover {how}"))
        elif s_version != p_version:
            checks.append(Check(name, False, f"{secondary} serves {model} {s_version} but the primary serves "
                                             f"{p_version}: failover would serve a different model"))
        else:
            urls = s_driver.endpoints(model, s_version)
            healthy = [u for u in urls if _answers(u)]
            ok = bool(healthy) and s_driver.status(model, s_version).state == "complete"
            checks.append(Check(name, ok, f"{len(healthy)}/{len(urls)} replica(s) of {model} {s_version} answer"
                                          f" on {secondary}" if urls else f"{secondary}: no replica of {model} runs"))
    return checks


def check_residency(estate, pair) -> list[Check]:
    """Failing over must not move a model where its data class may not go (fails closed)."""
    from multicloud.residency.policy import ResidencyPolicy

    policy = ResidencyPolicy.from_estate(estate)
    checks = []
    for workload_id in pair.workloads:
        model = estate.model(estate.workload(workload_id).model)
        decision = policy.decide(model.data_class, pair.secondary)
        checks.append(Check(f"residency {model.id}", decision.permitted,
                            f"{model.data_class} in {pair.secondary}: {decision.reason}"))
    return checks


def check_capacity(estate, pair) -> Check:
    """The secondary has room (vCPU, memory and GPUs of the right type) for the primary's workloads."""
    primary, secondary = cluster_of(estate, pair.primary), cluster_of(estate, pair.secondary)
    placement = current_placement(estate)
    _region, spec = estate.cluster(secondary)
    used = [0.0, 0.0, 0]
    need = [0.0, 0.0, 0]
    wrong_gpu: list[str] = []
    for workload in estate.workloads:
        res = workload.resources
        replicas_here = placement.get(workload.id, {}).get(secondary, 0)
        used[0] += replicas_here * res.cpu
        used[1] += replicas_here * res.memory_gb
        used[2] += replicas_here * res.gpu
        if workload.id in pair.workloads:
            moving = placement.get(workload.id, {}).get(primary, 0)
            need[0] += moving * res.cpu
            need[1] += moving * res.memory_gb
            need[2] += moving * res.gpu
            if moving and res.gpu and res.gpu_type and res.gpu_type != spec.capacity.gpu_type:
                wrong_gpu.append(f"{workload.id} needs {res.gpu_type}")
    free_cpu, free_mem = spec.capacity.cpu - used[0], spec.capacity.memory_gb - used[1]
    free_gpu = spec.capacity.gpu - used[2]
    ok = need[0] <= free_cpu and need[1] <= free_mem and need[2] <= free_gpu and not wrong_gpu
    detail = (f"{secondary} has {free_cpu:g} vCPU / {free_mem:g} GB / {free_gpu} GPU free; the primary's "
              f"workloads need {need[0]:g} vCPU / {need[1]:g} GB / {need[2]} GPU")
    if wrong_gpu:
        detail += f"; {secondary} has {spec.capacity.gpu_type or 'no'} GPUs but " + ", ".join(wrong_gpu)
    return Check("secondary capacity", ok, detail)


def check_replica_lag(estate, pair) -> tuple[list[Check], dict[str, dict[str, float | None]]]:
    primary = dataset_watermarks(estate, pair.primary, pair.datasets)
    secondary = dataset_watermarks(estate, pair.secondary, pair.datasets)
    checks = []
    for dataset in pair.datasets:
        p, s = primary[dataset], secondary[dataset]
        name = f"replica lag {dataset}"
        if p is None:
            # a fresh estate before its first sync: nothing to rehearse yet (skipped, not failed)
            checks.append(Check(name, False, f"no data for {dataset} at the primary {pair.primary}: RPO unmeasurable",
                                not_ready_if_unserved=True))
        elif s is None:
            checks.append(Check(name, False, f"no replica of {dataset} at the secondary {pair.secondary}"))
        else:
            lag = max(0.0, p - s)
            checks.append(Check(name, lag <= pair.rpo_target_s,
                                f"{pair.secondary} lags {lag:.0f}s behind {pair.primary} (RPO target {pair.rpo_target_s:g}s)"))
    return checks, {"primary": primary, "secondary": secondary}


def check_local_reachability(estate, pair) -> list[Check]:
    checks = []
    for role, region_id in (("primary", pair.primary), ("secondary", pair.secondary)):
        cluster = cluster_of(estate, region_id)
        driver = cluster_driver(estate, cluster)
        urls = [u for w in pair.workloads for u in driver.endpoints(estate.workload(w).model)]
        if role == "secondary" and not urls:
            continue  # pilot light: nothing to reach yet (capacity is checked instead)
        answering = [u for u in urls if _answers(u)]
        # a primary with no endpoint serves nothing yet (its own check says so): not ready, not failed
        checks.append(Check(f"{role} endpoints answer", bool(answering),
                            f"{len(answering)}/{len(urls)} endpoint(s) of {cluster} answer /healthz",
                            not_ready_if_unserved=not urls))
    return checks


def check_oci_network(estate, pair, oci_conn_id: str) -> list[Check]:
    """FastConnect virtual circuits named by either region, and the DRG each terminates on."""
    circuits = [(r, estate.region(r).fastconnect) for r in (pair.primary, pair.secondary)
                if estate.region(r).fastconnect]
    if not circuits:
        return []
    import oci

    from multicloud.hooks.oci_network import OCIVirtualNetworkHook

    hook = OCIVirtualNetworkHook(oci_conn_id=oci_conn_id)
    checks = []
    for region_id, circuit_id in circuits:
        try:
            circuit = hook.get_virtual_circuit(circuit_id)
        except oci.exceptions.ServiceError as err:
            checks.append(Check(f"FastConnect {region_id}", False, f"{circuit_id}: {err.status} {err.code}"))
            continue
        ok = hook.circuit_is_up(circuit)
        checks.append(Check(f"FastConnect {region_id}", ok,
                            f"{circuit.display_name or circuit_id}: {circuit.lifecycle_state}, BGP "
                            f"{circuit.bgp_session_state}, provider {circuit.provider_state}"))
        if circuit.gateway_id:
            try:
                drg = hook.get_drg(circuit.gateway_id)
                checks.append(Check(f"DRG {region_id}", drg.lifecycle_state == "AVAILABLE",
                                    f"{drg.display_name or drg.id}: {drg.lifecycle_state}"))
            except oci.exceptions.ServiceError as err:
                checks.append(Check(f"DRG {region_id}", False, f"{circuit.gateway_id}: {err.status} {err.code}"))
    return checks


WATCHER_FRESH_S = 120.0


def check_failover_watcher(home=None, fresh_s: float = WATCHER_FRESH_S) -> Check:
    from multicloud.dr.health import watcher_age_s

    age = watcher_age_s(home)
    if age is not None and age <= fresh_s:
        return Check("dr_failover watcher", True, f"dr_failover's AssetWatcher beat {age:.0f}s ago")
    seen = "never beat" if age is None else f"last beat {age:.0f}s ago (> {fresh_s:g}s)"
    return Check("dr_failover watcher", False,
                 f"dr_failover's AssetWatcher {seen}: unpause dr_failover and run a triggerer, or rehearse with "
                 "path=orchestrated (or dr_failover_wait_s=0 to observe the steering alone)")


def run_preflight(estate, pair, oci_conn_id: str = "oci_default") -> tuple[list[Check], dict[str, Any]]:
    """Every check (none short-circuits, so one run shows everything wrong) and the watermarks seen."""
    checks: list[Check] = []
    checks += check_residency(estate, pair)
    checks += check_secondary_serving(estate, pair)
    checks.append(check_capacity(estate, pair))
    lag_checks, watermarks = check_replica_lag(estate, pair)
    checks += lag_checks
    checks += check_local_reachability(estate, pair)
    checks += check_oci_network(estate, pair, oci_conn_id)
    return checks, {"watermarks": watermarks}
