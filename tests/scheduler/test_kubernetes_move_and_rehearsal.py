"""cost_rebalance and dr_rehearsal through the real scheduler on a kubernetes-driver estate whose pods run.

The same two runs as tests/dags/test_kubernetes_estate.py (whose ``dag.test()`` variants are now
``e2e``), here each in its own Airflow deployment (tests/harness/airflow.py: api-server,
scheduler, dag-processor, triggerer, LocalExecutor; its DAG folder holds the one DAG), every task
in its own task process, reaching the emulated API servers (tests/emulators/kubernetes.py, one per
cluster; no kube-apiserver can run here) through the deployment's ``kubernetes`` connections.
Real: the scheduler, the driver and the official client over HTTP, and every pod (a process of
the model-server image's entrypoint, Ready only when its readiness probe answers). In ``make test``:
41 s and 53 s on an idle 2-core machine, deployment start included.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from multicloud.drivers import ModelDeployment, driver_for
from multicloud.drivers.local import stop_all_servers
from multicloud.estate import load_estate
from multicloud.placement import current_placement
from multicloud.reports import latest_summary
from tests.dags.test_kubernetes_estate import serve_declared_placement_with_cards, versions_of_running_pods
from tests.kube_estate import conn_id, estate_yaml, start_clusters, stop_all, use_estate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
RUN_TIMEOUT = 420


@contextmanager
def kubernetes_deployment(template, root: Path, dag_id: str, clusters: tuple[str, ...], *,
                          external: bool = False) -> Iterator[tuple]:
    """A deployment running ``dag_id`` alone, its estate with ``clusters`` on emulated Kubernetes."""
    from tests.harness.airflow import ROOT, AirflowInstance

    dags = root / "dags"
    dags.mkdir(parents=True)
    (dags / f"{dag_id}.py").symlink_to(ROOT / "dags" / f"{dag_id}.py")
    with pytest.MonkeyPatch.context() as patch:
        emulators = start_clusters(clusters, patch, root / "pods")
        try:
            estate_file = use_estate(estate_yaml(emulators, external=external), root / "estate.yaml", patch)
            connections = {f"AIRFLOW_CONN_{conn_id(c).upper()}": json.dumps(
                {"conn_type": "kubernetes", "extra": {"kube_config": json.dumps(e.kubeconfig())}})
                for c, e in emulators.items()}
            tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()  # no scheduled run of its own
            instance = AirflowInstance(root, db_template=template, extra_env={
                "MULTICLOUD_ESTATE": str(estate_file), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                f"MULTICLOUD_{dag_id.upper()}_START_DATE": tomorrow, **connections})
            patch.setenv("MULTICLOUD_ESTATE_HOME", str(instance.estate_home))
            try:
                with instance:
                    instance.wait_for_dags([dag_id])
                    yield instance, load_estate(home=instance.estate_home), emulators
            finally:
                stop_all_servers(home=instance.estate_home)
        finally:
            errors = [e for emulator in emulators.values() for e in emulator.errors]
            stop_all(emulators)
    assert not errors


def test_a_cost_move_between_kubernetes_clusters_through_the_scheduler(airflow_db_template, tmp_path):
    """eks-use1 -> oke-ash, make before break: the target's pod is in its Endpoints before the source's
    Deployment goes; the move's health gate reaches the target's pod through its service proxy."""
    with kubernetes_deployment(airflow_db_template, tmp_path, "cost_rebalance", ("eks-use1", "oke-ash")) as (
            af, estate, clusters):
        serve_declared_placement_with_cards(estate, af.estate_home)
        source, target = clusters["eks-use1"], clusters["oke-ash"]
        assert versions_of_running_pods(source) == {"v1"}

        run_id = af.trigger("cost_rebalance", conf={"dry_run": False, "max_moves": 5, "min_savings_pct": 10})
        af.wait_for_run("cost_rebalance", run_id, timeout=RUN_TIMEOUT)

        assert current_placement(estate, af.estate_home)["churn-us-serving"] == {"oke-ash": 1}
        summary = latest_summary("cost_rebalance", af.estate_home)
        assert summary["run_id"] == run_id
        [applied] = summary["data"]["applied"]
        assert (applied["source"], applied["target"], applied["status"]) == ("eks-use1", "oke-ash", "applied")
        assert versions_of_running_pods(target) == {"v1"}
        assert target.proxied
        assert source.get("deployments", "models", "churn-us-v1") is None
        serving_on_target = target.first_time("endpoints", "churn-us-v1", when=lambda o: bool(o.get("subsets")))
        source_gone = source.first_time("deployments", "churn-us-v1", kind="DELETED")
        assert serving_on_target is not None
        assert source_gone is not None
        assert serving_on_target < source_gone


def test_a_dr_rehearsal_on_kubernetes_through_the_scheduler(airflow_db_template, tmp_path):
    """oke-fra fails (its Deployment scaled to zero), gke-euw4 answers, fail back brings new pods, every
    fault is undone; the rehearsal's tasks run in their own processes, the gateway outlives them."""
    from multicloud.dr.ledger import FaultLedger
    from tests.dags.dr_fixtures import NEWEST_EVENT, REPLICA_LAG, teardown, write_events
    from tests.dags.dr_fixtures import write_model as write_dr_model

    with kubernetes_deployment(airflow_db_template, tmp_path, "dr_rehearsal", ("oke-fra", "gke-euw4"),
                               external=True) as (af, estate, clusters):
        uri = write_dr_model(estate)
        root = Path(uri.removeprefix("file://"))
        (root / "card.json").write_text(json.dumps({
            "model": "churn-eu", "version": "v1", "smoke_cases": [],
            "artifact_sha256": hashlib.sha256((root / "model.json").read_bytes()).hexdigest()}))
        write_events(estate, "oci-fra", NEWEST_EVENT)
        write_events(estate, "gcp-euw4", NEWEST_EVENT - REPLICA_LAG)
        for cluster in clusters:
            driver = driver_for(estate, cluster, af.estate_home)
            driver.deploy(ModelDeployment("churn-eu", "v1", 1, uri, runtime=estate.runtime.model_dump(mode="json")))
            assert driver.wait_ready("churn-eu", "v1", 60).state == "complete", cluster
        primary = clusters["oke-fra"]
        first_pods = {p["metadata"]["name"] for p in primary.list("pods")}
        try:
            run_id = af.trigger("dr_rehearsal", conf={"scenario": "region_outage", "hold_s": 1,
                                                      "stabilisation_checks": 2, "max_duration_s": 90,
                                                      "path": "orchestrated"})
            af.wait_for_run("dr_rehearsal", run_id, timeout=RUN_TIMEOUT)
        finally:
            teardown(af.estate_home)
        report = latest_summary("dr_rehearsal", af.estate_home)["data"]
        assert report["outcome"] == "passed"
        assert 0 < report["score"]["rto_s"] <= 30
        assert report["probe"]["regions"] == ["gcp-euw4", "oci-fra"]
        assert all(report["as_before"].values()), report["as_before"]
        assert primary.first_time("deployments", "churn-eu-v1", when=lambda o: o["spec"]["replicas"] == 0)
        assert versions_of_running_pods(primary) == {"v1"}
        assert not first_pods & {p["metadata"]["name"] for p in primary.list("pods")}
        assert all(e["state"] in ("undone", "kept") for e in FaultLedger("eu-churn", af.estate_home).entries())
