"""Savings that reach the bill: a move on an estate with node pools grows the target's pool
first (OKE, through the OCI Container Engine emulator and the real signing SDK) and shrinks the
source's after (EKS node group in moto, through the amazon provider's EksHook); the report's
achieved saving counts the released nodes, not the moved replica's share of one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from multicloud.cost.apply import apply_move
from multicloud.cost.run import plan, report
from multicloud.drivers.local import LocalClusterDriver, stop_all_servers
from multicloud.estate import load_estate
from tests.dags.cost_fixtures import serve_declared_placement
from tests.emulators.oci_container_engine import ContainerEngineEmulator

LOCAL = Path(__file__).resolve().parents[3] / "include" / "estate" / "local.yaml"
OKE_POOL = "ocid1.nodepool.oc1.iad..ash"
POOL_OPTIONS = {"poll_interval_s": 0.01, "timeout_s": 10}


def pooled_estate(home: Path) -> str:
    raw = yaml.safe_load(LOCAL.read_text())
    for region in raw["regions"]:
        cluster = region.get("cluster") or {}
        if cluster.get("id") == "oke-ash":
            cluster["node_pools"] = [{"id": OKE_POOL, "connection_id": "oci_test"}]
        if cluster.get("id") == "eks-use1":
            cluster["eks_cluster_name"] = "use1"
            cluster["node_pools"] = [{"id": "use1-gpu", "connection_id": "aws_pools"}]
    path = home / "pooled.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


@pytest.fixture
def eks(moto_server):
    moto_server.connection("aws_pools")
    client = moto_server.client("eks")
    client.create_cluster(name="use1", roleArn="arn:aws:iam::123456789012:role/eks",
                          resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    client.create_nodegroup(clusterName="use1", nodegroupName="use1-gpu", nodeRole="arn:aws:iam::123456789012:role/n",
                            subnets=["subnet-1"], instanceTypes=["g5.2xlarge"],
                            scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 1})
    return client


@pytest.fixture
def oke(oci_emulator, oci_conn, estate_home):
    engine = ContainerEngineEmulator(oci_emulator, steps_to_finish=1)
    engine.add_pool(OKE_POOL, 0)
    seen: list[dict] = []

    @oci_emulator.route("PUT", r"/20180222/nodePools/(?P<pool>[^/]+)")
    def watched(request):   # what the target and the source served when the pool was resized
        seen.append({"target": "churn-us" in LocalClusterDriver("oke-ash", estate_home).served(),
                     "source": "churn-us" in LocalClusterDriver("eks-use1", estate_home).served()})
        return engine.update_node_pool(request)

    oci_emulator.routes.insert(0, oci_emulator.routes.pop())   # ahead of the plain route
    engine.seen = seen
    return engine


@pytest.fixture
def served(estate_home, eks, oke):
    estate = load_estate(pooled_estate(estate_home), home=estate_home)
    serve_declared_placement(estate, estate_home)
    yield estate
    stop_all_servers(home=estate_home)


def test_target_pool_grows_first_source_pool_shrinks_after_and_the_report_counts_nodes(served, eks, oke, estate_home):
    estate = served
    result = plan(estate, ["aws", "azure", "gcp", "oci"], max_moves=5)
    moves = [{k: m[k] for k in ("workload", "source", "target", "replicas")} for m in result["moves"]]
    assert moves == [{"workload": "churn-us-serving", "source": "eks-use1", "target": "oke-ash", "replicas": 1}]

    applied = apply_move(estate, moves[0], "manual__pools", home=estate_home, pool_options=POOL_OPTIONS)

    assert applied["status"] == "applied", applied
    # Make-before-break at node level: the OKE pool grew while the source still served and before
    # anything was deployed at the target ...
    assert oke.seen == [{"target": False, "source": True}]
    assert oke.history == [(OKE_POOL, 1)]
    assert oke.active_nodes(OKE_POOL) == 1
    steps = applied["steps"]
    grew = next(i for i, s in enumerate(steps) if "grew" in s)
    shrank = next(i for i, s in enumerate(steps) if "shrank" in s)
    deployed = next(i for i, s in enumerate(steps) if s.startswith("deployed"))
    left = next(i for i, s in enumerate(steps) if "replica(s) left" in s)
    assert grew < deployed < left < shrank
    # ... and the EKS node group shrank once the replica had left it.
    group = eks.describe_nodegroup(clusterName="use1", nodegroupName="use1-gpu")["nodegroup"]
    assert group["scalingConfig"]["desiredSize"] == 0
    assert "churn-us" not in LocalClusterDriver("eks-use1", estate_home).served()

    lines, data = report(estate, "manual__pools", result, [applied], [], "applying", home=estate_home)
    released = data["released_nodes"]
    assert data["achieved_basis"] == "released nodes"
    assert {(p["cluster"], p["released"]) for p in released["pools"]} == {("eks-use1", 1), ("oke-ash", -1)}
    # One g5.2xlarge node released, one E5 node added: 730 x (1.212 - 0.184) a month, not the
    # replica's quarter-node share 0.25 x 730 x (1.212 - 0.184) the placement model would claim.
    assert data["achieved_savings_monthly"] == pytest.approx(730 * (1.212 - 0.184), abs=0.02)
    assert data["achieved_savings_monthly"] != pytest.approx(result["savings_monthly"], abs=1)
    assert any("1 node(s) released" in line or "node(s) released" in line for line in lines)


def test_an_autoscaled_pool_is_waited_for_not_resized(estate_home, oke):
    from multicloud.cost.pools import release_for

    raw = yaml.safe_load(LOCAL.read_text())
    for region in raw["regions"]:
        if (region.get("cluster") or {}).get("id") == "oke-ash":
            region["cluster"].update(node_pools=[{"id": OKE_POOL, "connection_id": "oci_test"}], autoscaler=True)
    path = estate_home / "autoscaled.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    estate = load_estate(str(path), home=estate_home)
    oke.pools[OKE_POOL]["nodeConfigDetails"]["size"] = 2
    oke._set_nodes(OKE_POOL, 2)
    oke.autoscale(OKE_POOL, 0, after_polls=3)   # the autoscaler removes the idle nodes a little later

    change = release_for(estate, "oke-ash", {}, autoscaler_wait_s=10, poll_interval_s=0.01)

    assert change["action"] == "autoscaler released"
    assert (change["before"], change["after"]) == (2, 0)
    assert oke.seen == []                       # we never resized a pool the autoscaler owns
