"""Node pool operators: OKE (emulator, real SDK; worker and deferred paths) and EKS (moto)."""

from __future__ import annotations

import asyncio

import pytest

from multicloud.operators.container_engine import EKSNodegroupScaleOperator, OKENodePoolScaleOperator
from multicloud.triggers.container_engine import OKEWorkRequestTrigger
from tests.emulators.oci_container_engine import ContainerEngineEmulator

POOL = "ocid1.nodepool.oc1..standby"


@pytest.fixture
def oke(oci_emulator):
    engine = ContainerEngineEmulator(oci_emulator, steps_to_finish=1)
    engine.add_pool(POOL, 0)
    return engine


def test_oke_operator_scales_on_a_worker_and_a_retry_is_a_no_op(oci_conn, oke, oci_emulator):
    op = OKENodePoolScaleOperator(task_id="up", node_pool_id=POOL, size=2, oci_conn_id=oci_conn, poll_interval_s=0.01)
    assert op.execute({})["status"] == "SUCCEEDED"
    assert oke.active_nodes(POOL) == 2
    again = op.execute({})
    assert again["status"] == "unchanged"
    assert len(oci_emulator.requests_to("PUT", r"/nodePools/")) == 1


def test_oke_operator_deferred_path_round_trips_its_trigger(oci_conn, oke):
    from airflow.sdk.exceptions import TaskDeferred

    op = OKENodePoolScaleOperator(task_id="down", node_pool_id=POOL, size=3, oci_conn_id=oci_conn,
                                  poll_interval_s=0.01, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    trigger = deferred.value.trigger
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("OKEWorkRequestTrigger")
    rebuilt = OKEWorkRequestTrigger(**kwargs)

    async def first():
        async for event in rebuilt.run():
            return event.payload

    event = asyncio.run(first())
    assert op.execute_complete({}, event, **deferred.value.kwargs)["status"] == "SUCCEEDED"
    assert oke.size(POOL) == 3


def test_eks_operator_sets_desired_size_widening_bounds(moto_server):
    moto_server.connection("aws_ng")
    client = moto_server.client("eks")
    client.create_cluster(name="dr", roleArn="arn:aws:iam::123456789012:role/eks",
                          resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    client.create_nodegroup(clusterName="dr", nodegroupName="standby", nodeRole="arn:aws:iam::123456789012:role/n",
                            subnets=["subnet-1"], scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 1})
    op = EKSNodegroupScaleOperator(task_id="up", cluster_name="dr", nodegroup_name="standby", size=4,
                                   aws_conn_id="aws_ng", poll_interval_s=1)
    assert op.execute({})["status"] == "ACTIVE"
    scaling = client.describe_nodegroup(clusterName="dr", nodegroupName="standby")["nodegroup"]["scalingConfig"]
    assert scaling == {"minSize": 1, "maxSize": 4, "desiredSize": 4}
