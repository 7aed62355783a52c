"""DR traffic steering through an OCI Load Balancer: one backend set per region.

The DR pair names the load balancer and, per region id, the backend set holding that region's
backends (``oci_load_balancer`` in the estate). Pointing the endpoint at a region:

1. brings the target region's backends online (``offline=false, drain=false``) and waits for the
   work request, so the new side can take traffic before the old side stops;
2. drains the other regions' backends (``drain=true``: no new connections, open ones finish) and
   waits; then takes them offline (``offline=true``) and waits.

Every change goes through ``OCILoadBalancerHook`` and is in effect only once its work request is
SUCCEEDED; a load balancer runs one work request at a time (a second update meanwhile gets 409),
so the steps are strictly one after another. ``snapshot`` records every backend's
``offline``/``drain``/``weight``/``backup``; ``restore`` puts back exactly what changed.
"""

from __future__ import annotations

import time
from typing import Any

from multicloud.dr.steering_base import TrafficSteering

WORK_REQUEST_TIMEOUT_S = 600.0


class OCILoadBalancerSteering(TrafficSteering):
    """Steer a DR pair's endpoint by enabling one region's backend set and draining the others.

    :param load_balancer_id: the load balancer's OCID.
    :param backend_sets: region id -> backend set name.
    :param oci_conn_id: the Airflow connection (type ``oci``).
    :param drain_first: drain the old region's backends before taking them offline.
    :param poll_interval: seconds between work-request reads (doubling up to 5x).
    """

    name = "oci-load-balancer"

    def __init__(self, load_balancer_id: str, backend_sets: dict[str, str], oci_conn_id: str = "oci_default",
                 drain_first: bool = True, poll_interval: float = 1.0) -> None:
        self.load_balancer_id = load_balancer_id
        self.backend_sets = dict(backend_sets)
        self.oci_conn_id = oci_conn_id
        self.drain_first = drain_first
        self.poll_interval = poll_interval
        self._hook = None

    @classmethod
    def for_pair(cls, pair: Any) -> OCILoadBalancerSteering:
        spec = pair.oci_load_balancer
        return cls(spec.load_balancer_id, spec.backend_sets, oci_conn_id=pair.steering_connection_id or "oci_default",
                   drain_first=spec.drain_first, poll_interval=spec.work_request_poll_s)

    @property
    def hook(self):
        if self._hook is None:
            from multicloud.hooks.oci_load_balancer import OCILoadBalancerHook

            self._hook = OCILoadBalancerHook(oci_conn_id=self.oci_conn_id)
        return self._hook

    # ---- TrafficSteering ----------------------------------------------------------------------
    def probe_root(self, endpoint: str) -> str:
        """The load balancer's own front: its public IP (else its first) and the listener whose
        default backend set is one of the pair's (https when the listener terminates TLS)."""
        balancer = self.hook.get_load_balancer(self.load_balancer_id)
        addresses = sorted(balancer.ip_addresses or [], key=lambda a: not a.is_public)
        listeners = [lst for lst in (balancer.listeners or {}).values()
                     if lst.default_backend_set_name in set(self.backend_sets.values())]
        if not addresses or not listeners:
            raise LookupError(f"load balancer {self.load_balancer_id}: no IP address or no listener in front of "
                              f"the backend sets {sorted(self.backend_sets.values())}")
        listener = min(listeners, key=lambda lst: lst.port)
        scheme = "https" if listener.ssl_configuration else "http"
        port = "" if (scheme, listener.port) in (("https", 443), ("http", 80)) else f":{listener.port}"
        return f"{scheme}://{addresses[0].ip_address}{port}"

    def snapshot(self, endpoint: str) -> dict[str, Any]:
        return {region: {b.name: {"offline": bool(b.offline), "drain": bool(b.drain)}
                         for b in self.hook.list_backends(self.load_balancer_id, backend_set)}
                for region, backend_set in self.backend_sets.items()}

    def point_to(self, endpoint: str, region: str, backends: list[str]) -> None:
        if region not in self.backend_sets:
            raise LookupError(f"load balancer {self.load_balancer_id}: no backend set for region {region!r} "
                              f"(the pair names {sorted(self.backend_sets)})")
        if not self.hook.list_backends(self.load_balancer_id, self.backend_sets[region]):
            raise ValueError(f"cannot route {endpoint!r} to {region}: backend set "
                             f"{self.backend_sets[region]!r} has no backends")
        self._set(region, offline=False, drain=False)
        for other in self.backend_sets:
            if other == region:
                continue
            if self.drain_first:
                self._set(other, offline=False, drain=True, only_online=True)
            self._set(other, offline=True, drain=False)

    def restore(self, endpoint: str, snapshot: dict[str, Any]) -> None:
        # bring back first what should serve, then take away what should not
        ordered = sorted(snapshot.items(), key=lambda kv: all(s["offline"] for s in kv[1].values()))
        for region, wanted in ordered:
            backend_set = self.backend_sets.get(region)
            if backend_set is None:
                continue
            for backend in self.hook.list_backends(self.load_balancer_id, backend_set):
                state = wanted.get(backend.name)
                if state is not None and (bool(backend.offline), bool(backend.drain)) != (state["offline"],
                                                                                          state["drain"]):
                    self._update(backend_set, backend, offline=state["offline"], drain=state["drain"])

    def serving_region(self, endpoint: str) -> str | None:
        live = [region for region, backend_set in self.backend_sets.items()
                if any(not b.offline and not b.drain for b in self.hook.list_backends(self.load_balancer_id,
                                                                                       backend_set))]
        return live[0] if len(live) == 1 else None

    # ---- steps --------------------------------------------------------------------------------
    def _set(self, region: str, *, offline: bool, drain: bool, only_online: bool = False) -> None:
        backend_set = self.backend_sets[region]
        for backend in self.hook.list_backends(self.load_balancer_id, backend_set):
            if only_online and backend.offline:
                continue
            if (bool(backend.offline), bool(backend.drain)) != (offline, drain):
                self._update(backend_set, backend, offline=offline, drain=drain)

    def _update(self, backend_set: str, backend: Any, *, offline: bool, drain: bool) -> None:
        work_request = self.hook.update_backend(self.load_balancer_id, backend_set, backend, offline=offline,
                                                drain=drain)
        self.hook.work_request_completion(work_request, poll_interval=self.poll_interval,
                                          max_poll_interval=self.poll_interval * 5,
                                          deadline=time.time() + WORK_REQUEST_TIMEOUT_S)
