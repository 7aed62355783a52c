"""Resize a Kubernetes node pool: OKE through ``OCIContainerEngineHook``, EKS through ``EksHook``.

cost_rebalance grows a target's pool before a move and shrinks the source's after it; the DR
pilot light scales its standby up for a rehearsal and back down. Both operators are idempotent:
a pool already at the requested size is left alone, so a retried task never resizes twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator

from multicloud.hooks.oci_container_engine import NodePoolWorkRequestError, OCIContainerEngineHook
from multicloud.triggers.container_engine import OKEWorkRequestTrigger


class OKENodePoolScaleOperator(BaseOperator):
    """Set an OKE node pool's size and wait for the work request (deferrable or not).

    :param node_pool_id: The OCID of the node pool. (templated)
    :param size: The number of nodes the pool should have. (templated)
    :param oci_conn_id: The ``oci`` connection. (templated)
    :param wait_for_completion: Wait for the work request to finish; else return once accepted.
    :param poll_interval_s: Seconds between work-request polls.
    :param timeout_s: Seconds to wait for the work request.
    :param deferrable: Wait in the triggerer (``OKEWorkRequestTrigger``) instead of on a worker.
    """

    template_fields: Sequence[str] = ("node_pool_id", "size", "oci_conn_id")

    def __init__(self, *, node_pool_id: str, size: int | str, oci_conn_id: str = "oci_default",
                 wait_for_completion: bool = True, poll_interval_s: float = 10.0, timeout_s: float = 1800.0,
                 deferrable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.node_pool_id = node_pool_id
        self.size = size
        self.oci_conn_id = oci_conn_id
        self.wait_for_completion = wait_for_completion
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self.deferrable = deferrable

    def execute(self, context: Any) -> dict[str, Any]:
        size = int(self.size)
        hook = OCIContainerEngineHook(self.oci_conn_id)
        before = hook.get_node_pool_size(self.node_pool_id)
        result = {"node_pool_id": self.node_pool_id, "before": before, "size": size}
        if before == size:
            self.log.info("OKE node pool %s already has %d nodes", self.node_pool_id, size)
            return {**result, "status": "unchanged", "work_request_id": None}
        work_request = hook.update_node_pool_size(self.node_pool_id, size)
        result["work_request_id"] = work_request
        if not self.wait_for_completion:
            return {**result, "status": "ACCEPTED"}
        if self.deferrable:
            self.defer(trigger=OKEWorkRequestTrigger(work_request, self.oci_conn_id, self.poll_interval_s,
                                                     self.timeout_s),
                       method_name="execute_complete", kwargs={"result": result},
                       timeout=timedelta(seconds=self.timeout_s + 60))
        status = hook.wait_for_work_request(work_request, poll_interval_s=self.poll_interval_s,
                                            timeout_s=self.timeout_s)
        return {**result, "status": status}

    def execute_complete(self, context: Any, event: dict[str, Any], result: dict[str, Any] | None = None
                         ) -> dict[str, Any]:
        if event.get("status") != "SUCCEEDED":
            raise NodePoolWorkRequestError(f"node pool {self.node_pool_id}: {event.get('message') or event}")
        return {**(result or {}), "status": event["status"]}


class EKSNodegroupScaleOperator(BaseOperator):
    """Set an EKS managed node group's desired size (bounds widened when needed) and wait for ACTIVE.

    :param cluster_name: The EKS cluster. (templated)
    :param nodegroup_name: The managed node group. (templated)
    :param size: The desired number of nodes. (templated)
    :param aws_conn_id: The ``aws`` connection. (templated)
    :param region_name: The AWS region; default: the connection's.
    :param poll_interval_s: Seconds between ``nodegroup_active`` waiter polls.
    :param timeout_s: Seconds to wait.
    """

    template_fields: Sequence[str] = ("cluster_name", "nodegroup_name", "size", "aws_conn_id")

    def __init__(self, *, cluster_name: str, nodegroup_name: str, size: int | str, aws_conn_id: str = "aws_default",
                 region_name: str | None = None, poll_interval_s: float = 15.0, timeout_s: float = 1800.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.nodegroup_name = nodegroup_name
        self.size = size
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s

    def execute(self, context: Any) -> dict[str, Any]:
        from multicloud.cost.pools import EKSNodeGroup

        group = EKSNodeGroup(self.nodegroup_name, self.cluster_name, self.aws_conn_id, self.region_name,
                             self.poll_interval_s, self.timeout_s)
        size = int(self.size)
        before = group.size()
        if before != size:
            group.resize(size)
        return {"nodegroup": self.nodegroup_name, "before": before, "size": size,
                "status": "unchanged" if before == size else "ACTIVE"}
