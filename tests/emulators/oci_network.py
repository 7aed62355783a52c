"""OCI Virtual Network (FastConnect virtual circuits, DRGs) and DNS steering policy routes.

Emulated for the real ``oci`` SDK on the ``OCIEmulator`` base (no OCI endpoint is reachable
here). Tests set the objects' states in ``circuits``, ``drgs`` and ``policies``; ``PUT`` on a
steering policy replaces its answers/rules/template/monitor as OCI's UpdateSteeringPolicy does.

Health Checks (``/20180501``): ``POST httpMonitors`` creates a monitor (its interval must be one
OCI allows: 10, 30, 60, 300), and ``GET httpProbeResults/{monitor}`` lists one result per target
per probe round. A round is either scripted (``probe(monitor_id, {target: healthy})``: what the
vantage points saw) or real: ``start_prober(every_s)`` probes every enabled monitor's targets for
real, ``GET http://{target}:{port}{path}`` with the monitor's timeout, healthy on a 2xx/3xx answer,
once per ``every_s`` (OCI's interval compressed to test time; the monitor keeps its real one).
Not modelled: vantage points (one, ``goo-chs``), TLS (an HTTPS monitor is probed over plain HTTP),
custom headers and methods, DNS answering (``OCIDnsSteering.resolve`` applies the policy's rules
to the policy and these results, as OCI's name servers do).
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from tests.emulators.oci import OCIEmulator, OCIError, OCIRequest


class NetworkEmulator:
    def __init__(self, emulator: OCIEmulator) -> None:
        self.circuits: dict[str, dict[str, Any]] = {}
        self.drgs: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        emulator.route("GET", "/20160918/virtualCircuits/(?P<id>[^/]+)")(self._getter(self.circuits))
        emulator.route("GET", "/20160918/drgs/(?P<id>[^/]+)")(self._getter(self.drgs))
        emulator.route("GET", "/20180115/steeringPolicies/(?P<id>[^/]+)")(self._getter(self.policies))
        emulator.route("PUT", "/20180115/steeringPolicies/(?P<id>[^/]+)")(self.update_policy)
        self.monitors: dict[str, dict[str, Any]] = {}
        self.probe_results: dict[str, list[dict[str, Any]]] = {}
        emulator.route("POST", "/20180501/httpMonitors")(self.create_monitor)
        emulator.route("GET", "/20180501/httpProbeResults/(?P<id>[^/?]+)")(self.list_results)

    def create_monitor(self, request: OCIRequest):
        body = request.body or {}
        if body.get("intervalInSeconds") not in (10, 30, 60, 300):
            raise OCIError(400, "InvalidParameter", f"intervalInSeconds {body.get('intervalInSeconds')} not allowed")
        monitor_id = f"ocid1.httpmonitor.oc1..{len(self.monitors) + 1}"
        self.monitors[monitor_id] = {**body, "id": monitor_id, "resultsUrl": f"/httpProbeResults/{monitor_id}",
                                     "timeCreated": datetime.now(UTC).isoformat()}
        self.probe_results[monitor_id] = []
        return 200, self.monitors[monitor_id]

    def probe(self, monitor_id: str, healthy_by_target: dict[str, bool]) -> None:
        at = datetime.now(UTC).timestamp() * 1000 + len(self.probe_results[monitor_id])
        for target, healthy in healthy_by_target.items():
            if target not in self.monitors[monitor_id]["targets"]:
                raise KeyError(f"{target} is not a target of {monitor_id}")
            self.probe_results[monitor_id].append({
                "key": f"{monitor_id}-{at}-{target}", "probeConfigurationId": monitor_id, "startTime": at,
                "target": target, "vantagePointName": "goo-chs", "isHealthy": healthy, "isTimedOut": False,
                "protocol": "HTTPS", "statusCode": 200 if healthy else 503})

    def start_prober(self, every_s: float = 0.2) -> None:
        """Probe every enabled monitor's targets for real, one round per ``every_s``."""
        self._stop_prober = threading.Event()

        def loop() -> None:
            while not self._stop_prober.wait(every_s):
                for monitor_id, monitor in list(self.monitors.items()):
                    if monitor.get("isEnabled", True):
                        self.probe(monitor_id, {t: _answers(monitor, t) for t in monitor["targets"]})

        self._prober = threading.Thread(target=loop, daemon=True)
        self._prober.start()

    def stop(self) -> None:
        if getattr(self, "_prober", None) is not None:
            self._stop_prober.set()
            self._prober.join(timeout=10)

    def list_results(self, request: OCIRequest):
        if request.params["id"] not in self.monitors:
            raise OCIError(404, "NotAuthorizedOrNotFound", "monitor not found")
        return 200, list(self.probe_results[request.params["id"]])

    @staticmethod
    def _getter(store: dict[str, dict[str, Any]]):
        def get(request: OCIRequest):
            found = store.get(request.params["id"])
            if found is None:
                raise OCIError(404, "NotAuthorizedOrNotFound", f"{request.params['id']} not found")
            return 200, found

        return get

    def add_circuit(self, circuit_id: str, drg_id: str, state: str = "PROVISIONED", bgp: str = "UP",
                    drg_state: str = "AVAILABLE") -> None:
        self.circuits[circuit_id] = {
            "id": circuit_id, "displayName": "fra-fastconnect", "lifecycleState": state, "bgpSessionState": bgp,
            "providerState": "ACTIVE", "gatewayId": drg_id, "type": "PRIVATE", "compartmentId": "ocid1.c",
        }
        self.drgs[drg_id] = {"id": drg_id, "displayName": "fra-drg", "lifecycleState": drg_state,
                             "compartmentId": "ocid1.c", "timeCreated": datetime.now(UTC).isoformat()}

    def add_policy(self, policy_id: str, pools: dict[str, str]) -> None:
        self.policies[policy_id] = {
            "id": policy_id, "compartmentId": "ocid1.c", "displayName": "churn-eu", "ttl": 30,
            "template": "FAILOVER", "lifecycleState": "ACTIVE", "timeCreated": datetime.now(UTC).isoformat(),
            "answers": [{"name": f"{pool}-lb", "rtype": "A", "rdata": ip, "pool": pool, "isDisabled": False}
                        for pool, ip in pools.items()],
            "rules": [{"ruleType": "FILTER", "description": "drop disabled answers",
                       "defaultAnswerData": [{"answerCondition": "answer.isDisabled != true", "shouldKeep": True}]},
                      {"ruleType": "LIMIT", "defaultCount": 1}],
        }

    def update_policy(self, request: OCIRequest):
        policy = self.policies.get(request.params["id"])
        if policy is None:
            raise OCIError(404, "NotAuthorizedOrNotFound", "steering policy not found")
        for key in ("answers", "rules", "ttl", "template", "displayName", "healthCheckMonitorId"):
            if request.body and request.body.get(key) is not None:
                policy[key] = request.body[key]
        return 200, policy


def _answers(monitor: dict[str, Any], target: str) -> bool:
    """One real probe of ``target`` as the monitor describes it (HTTP; see the module docstring)."""
    url = f"http://{target}:{monitor.get('port') or 80}{monitor.get('path') or '/'}"
    try:
        with urllib.request.urlopen(url, timeout=float(monitor.get("timeoutInSeconds") or 1)) as reply:
            return 200 <= reply.status < 400
    except (urllib.error.URLError, OSError):
        return False
