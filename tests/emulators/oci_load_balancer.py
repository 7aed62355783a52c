"""OCI Load Balancer backends, work requests and a forwarding listener, on the OCIEmulator.

Emulated for the real ``oci`` SDK (no OCI endpoint is reachable here), with the service's
behaviour that makes steering hard:
  GET  /20170115/loadBalancers/{lb}/backendSets/{set}/backends          list ``Backend``
  PUT  /20170115/loadBalancers/{lb}/backendSets/{set}/backends/{name}   ``UpdateBackendDetails`` (weight,
       backup, drain, offline all required, as the API reference says) -> 204 with
       ``opc-work-request-id``; the change takes effect only when the work request SUCCEEDS
       (ACCEPTED -> IN_PROGRESS -> SUCCEEDED, one step per read). While a work request of the same
       load balancer is not finished, another update gets 409 Conflict, as OCI answers.
  GET  /20170115/loadBalancerWorkRequests/{id}                            ``WorkRequest``
  GET  /20170115/loadBalancers/{lb}/backendSets/{set}/health              ``BackendSetHealth``
  GET  /20170115/loadBalancers/{lb}                                      ``LoadBalancer``: its IP address
       (127.0.0.1, public) and a ``Listener`` per ``start_listener`` (HTTP, its port, no SSL)
``fail_next_work_request`` makes the next work request end FAILED (with ``errorDetails``).
``start_listener(lb, backend_set)`` serves HTTP (GET and POST, body and content type passed on) on
a loopback port and forwards every request to a backend that is online and not draining, across
the load balancer's backend sets (in OCI: a listener whose routing policy falls through the
regions' backend sets); 502 when none is, or when the backend does not answer.
Not modelled: health-checker probing (health is what the test sets in ``unhealthy``), sessions,
SSL, certificates, listener/routing-policy objects themselves.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any

from tests.emulators.forwarding import start_forwarder
from tests.emulators.oci import OCIEmulator, OCIError, OCIRequest

BASE = "/20170115"
LB = BASE + r"/loadBalancers/(?P<lb>[^/]+)/backendSets/(?P<set>[^/]+)"


class LoadBalancerEmulator:
    def __init__(self, emulator: OCIEmulator, work_request_steps: int = 2) -> None:
        self.emulator = emulator
        self.work_request_steps = work_request_steps
        self.sets: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}  # lb -> set -> name -> Backend
        self.work_requests: dict[str, dict[str, Any]] = {}
        self.unhealthy: set[str] = set()
        self.conflicts = 0
        self.fail_next_work_request = False
        self.forwarded: list[str] = []
        self._ids = itertools.count(1)
        self._listeners: list[ThreadingHTTPServer] = []
        emulator.route("GET", LB + "/backends")(self._list)
        emulator.route("PUT", LB + r"/backends/(?P<name>[^/]+)")(self._update)
        emulator.route("GET", LB + "/health")(self._health)
        emulator.route("GET", BASE + r"/loadBalancers/(?P<lb>[^/]+)")(self._load_balancer)
        self.listeners: dict[str, dict[str, dict[str, Any]]] = {}  # lb -> name -> Listener
        emulator.route("GET", BASE + r"/loadBalancerWorkRequests/(?P<id>[^/]+)")(self._work_request)

    def add_backend_set(self, lb: str, backend_set: str, addresses: list[tuple[str, int]], offline: bool = False) -> None:
        self.sets.setdefault(lb, {})[backend_set] = {
            f"{ip}:{port}": {"name": f"{ip}:{port}", "ipAddress": ip, "port": port, "weight": 1, "maxConnections": None,
                             "backup": False, "drain": False, "offline": offline}
            for ip, port in addresses}

    def _backends(self, request: OCIRequest) -> dict[str, dict[str, Any]]:
        found = self.sets.get(request.params["lb"], {}).get(request.params["set"])
        if found is None:
            raise OCIError(404, "NotAuthorizedOrNotFound", f"backend set {request.params['set']} not found")
        return found

    def _list(self, request: OCIRequest):
        with self.emulator.lock:
            return 200, [dict(b) for b in self._backends(request).values()]

    def _update(self, request: OCIRequest):
        body = request.body or {}
        missing = [k for k in ("weight", "backup", "drain", "offline") if k not in body or body[k] is None]
        if missing:
            raise OCIError(400, "InvalidParameter", f"UpdateBackendDetails needs {', '.join(missing)}")
        with self.emulator.lock:
            backend = self._backends(request).get(request.params["name"])
            if backend is None:
                raise OCIError(404, "NotAuthorizedOrNotFound", f"backend {request.params['name']} not found")
            lb = request.params["lb"]
            if any(w["loadBalancerId"] == lb and w["lifecycleState"] in ("ACCEPTED", "IN_PROGRESS")
                   for w in self.work_requests.values()):
                self.conflicts += 1
                raise OCIError(409, "Conflict", "Invalid State Transition of the load balancer: a work request "
                                                "is in progress")
            wr_id = f"ocid1.loadbalancerworkrequest.oc1..{next(self._ids)}"
            self.work_requests[wr_id] = {
                "id": wr_id, "loadBalancerId": lb, "type": "UpdateBackend", "compartmentId": "ocid1.compartment.oc1..dr",
                "lifecycleState": "ACCEPTED", "message": "accepted", "timeAccepted": datetime.now(UTC).isoformat(),
                "errorDetails": [], "_reads": 0, "_apply": (backend, {k: body[k] for k in ("weight", "backup", "drain",
                                                                                        "offline", "maxConnections")
                                                                     if k in body}),
                "_fail": self.fail_next_work_request,
            }
            self.fail_next_work_request = False
        return 204, None, {"opc-work-request-id": wr_id}

    def _work_request(self, request: OCIRequest):
        with self.emulator.lock:
            wr = self.work_requests.get(request.params["id"])
            if wr is None:
                raise OCIError(404, "NotAuthorizedOrNotFound", "work request not found")
            wr["_reads"] += 1
            if wr["lifecycleState"] == "ACCEPTED":
                wr["lifecycleState"] = "IN_PROGRESS"
            elif wr["lifecycleState"] == "IN_PROGRESS" and wr["_reads"] >= self.work_request_steps:
                if wr["_fail"]:
                    wr.update(lifecycleState="FAILED", message="failed",
                              errorDetails=[{"errorCode": "BAD_INPUT", "message": "backend update rejected"}])
                else:
                    backend, changes = wr["_apply"]
                    backend.update(changes)
                    wr.update(lifecycleState="SUCCEEDED", message="done")
                wr["timeFinished"] = datetime.now(UTC).isoformat()
            return 200, {k: v for k, v in wr.items() if not k.startswith("_")}

    def _load_balancer(self, request: OCIRequest):
        lb = request.params["lb"]
        with self.emulator.lock:
            if lb not in self.sets:
                raise OCIError(404, "NotAuthorizedOrNotFound", f"load balancer {lb} not found")
            return 200, {
                "id": lb, "compartmentId": "ocid1.compartment.oc1..dr", "displayName": "dr", "lifecycleState": "ACTIVE",
                "shapeName": "flexible", "isPrivate": False, "timeCreated": datetime.now(UTC).isoformat(),
                "ipAddresses": [{"ipAddress": "127.0.0.1", "isPublic": True}],
                "listeners": dict(self.listeners.get(lb, {})),
                "backendSets": {name: {"name": name, "policy": "ROUND_ROBIN",
                                       "backends": list(backends.values())}
                                for name, backends in self.sets[lb].items()}}

    def _health(self, request: OCIRequest):
        with self.emulator.lock:
            backends = self._backends(request)
            critical = [n for n, b in backends.items() if n in self.unhealthy or b["offline"]]
        status = "OK" if not critical else "CRITICAL" if len(critical) == len(backends) else "WARNING"
        return 200, {"status": status, "warningStateBackendNames": [], "criticalStateBackendNames": critical,
                     "unknownStateBackendNames": [], "totalBackendCount": len(backends)}

    # ---- the data plane -------------------------------------------------------------------------
    def start_listener(self, lb: str, backend_set: str | None = None) -> str:
        def pick() -> str | tuple[int, bytes]:
            with self.emulator.lock:
                live = [b for s in self.sets.get(lb, {}).values() for b in s.values()
                        if not b["offline"] and not b["drain"] and b["name"] not in self.unhealthy]
                if not live:
                    return 502, b""
                backend = live[len(self.forwarded) % len(live)]
                self.forwarded.append(backend["name"])
            return f"http://{backend['name']}"

        server = start_forwarder(pick)
        self._listeners.append(server)
        port = server.server_address[1]
        default_set = backend_set or next(iter(self.sets.get(lb, {})), None)
        with self.emulator.lock:
            self.listeners.setdefault(lb, {})[f"listener-{port}"] = {
                "name": f"listener-{port}", "defaultBackendSetName": default_set, "port": port, "protocol": "HTTP",
                "sslConfiguration": None, "routingPolicyName": None, "ruleSetNames": []}
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for server in self._listeners:
            server.shutdown()
            server.server_close()
