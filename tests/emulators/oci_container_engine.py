"""OCI Container Engine node pools and work requests on the ``OCIEmulator``, for the real ``oci`` SDK.

Emulated because no OCI endpoint is reachable here. Written from the SDK's models and the API
reference (containerengine 20180222):
- ``GET /nodePools/{id}``: a ``NodePool`` with ``nodeConfigDetails.size``, ``nodes[]`` (each with
  ``lifecycleState``) and an ``etag`` header;
- ``PUT /nodePools/{id}``: ``UpdateNodePoolDetails``; only ``nodeConfigDetails.size`` is acted on
  (a non-negative integer, else 400 InvalidParameter); ``if-match`` must equal the current etag
  when sent (409 IfMatchFailed otherwise); answers 202 with ``opc-work-request-id``; a second
  resize while one runs is 409 Conflict, as OKE refuses concurrent node pool updates;
- ``GET /workRequests/{id}``: a ``WorkRequest`` whose ``status`` moves one step per poll,
  ACCEPTED -> IN_PROGRESS -> SUCCEEDED (FAILED for pools in ``failing_pools``); on success the
  pool's nodes really change: new nodes ACTIVE, removed ones gone.
- an autoscaler (``autoscale(pool, size, after_polls)``): the pool's size changes by itself
  after some ``GET /nodePools`` polls, as the cluster autoscaler does.

Not modelled: node cycling, placement configs, NSGs, kubernetes versions, eviction settings
(the query parameters are recorded, not enforced), compartment checks, pagination.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from tests.emulators.oci import OCIEmulator, OCIError, OCIRequest

BASE = "/20180222"


class ContainerEngineEmulator:
    def __init__(self, emulator: OCIEmulator, *, steps_to_finish: int = 2,
                 failing_pools: set[str] | None = None) -> None:
        self.emulator = emulator
        self.steps_to_finish = steps_to_finish
        self.failing_pools = failing_pools or set()
        self.pools: dict[str, dict[str, Any]] = {}
        self.work_requests: dict[str, dict[str, Any]] = {}
        self.history: list[tuple[str, int]] = []       # (pool id, size) per completed resize, in order
        self._autoscale: dict[str, tuple[int, int]] = {}
        self._ids = itertools.count(1)
        emulator.route("GET", f"{BASE}/nodePools/(?P<pool>[^/]+)")(self.get_node_pool)
        emulator.route("PUT", f"{BASE}/nodePools/(?P<pool>[^/]+)")(self.update_node_pool)
        emulator.route("GET", f"{BASE}/workRequests/(?P<wr>[^/]+)")(self.get_work_request)

    # ---- setup --------------------------------------------------------------------------------
    def add_pool(self, pool_id: str, size: int, *, name: str = "pool", cluster_id: str = "ocid1.cluster.oc1..x",
                 shape: str = "VM.Standard.E5.Flex") -> None:
        self.pools[pool_id] = {
            "id": pool_id, "name": name, "clusterId": cluster_id, "compartmentId": "ocid1.compartment.oc1..x",
            "nodeShape": shape, "kubernetesVersion": "v1.31.1", "lifecycleState": "ACTIVE",
            "nodeConfigDetails": {"size": size, "placementConfigs": []}, "nodes": [], "_etag": 1, "_busy": None,
            "_polls": 0,
        }
        self._set_nodes(pool_id, size)

    def autoscale(self, pool_id: str, size: int, after_polls: int = 2) -> None:
        self._autoscale[pool_id] = (size, after_polls)

    def size(self, pool_id: str) -> int:
        return self.pools[pool_id]["nodeConfigDetails"]["size"]

    def active_nodes(self, pool_id: str) -> int:
        return sum(1 for n in self.pools[pool_id]["nodes"] if n["lifecycleState"] == "ACTIVE")

    def _set_nodes(self, pool_id: str, size: int) -> None:
        pool = self.pools[pool_id]
        nodes = [n for n in pool["nodes"] if n["lifecycleState"] == "ACTIVE"][:size]
        while len(nodes) < size:
            k = next(self._ids)
            nodes.append({"id": f"ocid1.instance.oc1..node{k}", "name": f"{pool['name']}-{k}",
                          "nodePoolId": pool_id, "lifecycleState": "ACTIVE"})
        pool["nodes"] = nodes
        pool["nodeConfigDetails"]["size"] = size
        pool["_etag"] += 1

    def _public(self, pool_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.pools[pool_id].items() if not k.startswith("_")}

    # ---- routes -------------------------------------------------------------------------------
    def _pool(self, request: OCIRequest) -> dict[str, Any]:
        pool = self.pools.get(request.params["pool"])
        if pool is None:
            raise OCIError(404, "NotAuthorizedOrNotFound", "node pool not found")
        return pool

    def get_node_pool(self, request: OCIRequest):
        pool = self._pool(request)
        pool["_polls"] += 1
        if pool["id"] in self._autoscale:
            size, after = self._autoscale[pool["id"]]
            if pool["_polls"] >= after:
                del self._autoscale[pool["id"]]
                self._set_nodes(pool["id"], size)
                self.history.append((pool["id"], size))
        return 200, self._public(pool["id"]), {"etag": str(pool["_etag"])}

    def update_node_pool(self, request: OCIRequest):
        pool = self._pool(request)
        body = request.body if isinstance(request.body, dict) else {}
        size = (body.get("nodeConfigDetails") or {}).get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise OCIError(400, "InvalidParameter", "nodeConfigDetails.size must be a non-negative integer")
        match = request.headers.get("if-match")
        if match is not None and match != str(pool["_etag"]):
            raise OCIError(409, "IfMatchFailed", "the etag does not match the node pool's")
        if pool["_busy"]:
            raise OCIError(409, "Conflict", f"node pool has a work request in progress: {pool['_busy']}")
        wr_id = f"ocid1.clustersworkrequest.oc1..{next(self._ids)}"
        self.work_requests[wr_id] = {
            "id": wr_id, "operationType": "NODEPOOL_UPDATE", "status": "ACCEPTED",
            "compartmentId": pool["compartmentId"], "timeAccepted": datetime.now(UTC).isoformat(),
            "resources": [{"actionType": "UPDATED", "entityType": "nodepool", "identifier": pool["id"]}],
            "_pool": pool["id"], "_size": size, "_polls": 0,
        }
        pool["_busy"] = wr_id
        pool["lifecycleState"] = "UPDATING"
        return 202, None, {"opc-work-request-id": wr_id}

    def get_work_request(self, request: OCIRequest):
        wr = self.work_requests.get(request.params["wr"])
        if wr is None:
            raise OCIError(404, "NotAuthorizedOrNotFound", "work request not found")
        wr["_polls"] += 1
        pool = self.pools[wr["_pool"]]
        if wr["status"] == "ACCEPTED":
            wr["status"] = "IN_PROGRESS"
            wr["timeStarted"] = datetime.now(UTC).isoformat()
        elif wr["status"] == "IN_PROGRESS" and wr["_polls"] > self.steps_to_finish:
            pool["_busy"] = None
            pool["lifecycleState"] = "ACTIVE"
            wr["timeFinished"] = datetime.now(UTC).isoformat()
            if wr["_pool"] in self.failing_pools:
                wr["status"] = "FAILED"
            else:
                wr["status"] = "SUCCEEDED"
                self._set_nodes(wr["_pool"], wr["_size"])
                self.history.append((wr["_pool"], wr["_size"]))
        return 200, {k: v for k, v in wr.items() if not k.startswith("_")}
