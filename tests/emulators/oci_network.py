"""OCI Virtual Network (FastConnect virtual circuits, DRGs) and DNS steering policy routes.

Emulated for the real ``oci`` SDK on the ``OCIEmulator`` base (no OCI endpoint is reachable
here). Tests set the objects' states in ``circuits``, ``drgs`` and ``policies``; ``PUT`` on a
steering policy replaces its answers/rules as OCI's UpdateSteeringPolicy does.
"""

from __future__ import annotations

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
        for key in ("answers", "rules", "ttl", "template", "displayName"):
            if request.body and request.body.get(key) is not None:
                policy[key] = request.body[key]
        return 200, policy
