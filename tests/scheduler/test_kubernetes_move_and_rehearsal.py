"""cost_rebalance and dr_rehearsal through the real scheduler on a kubernetes-driver estate whose pods run.

The same two runs as tests/dags/test_kubernetes_estate.py (``dag.test()``), here each in its own
Airflow deployment (tests/harness/airflow.py: api-server,
scheduler, dag-processor, triggerer, LocalExecutor; its DAG folder holds the one DAG), every task
in its own task process, reaching the emulated API servers (tests/emulators/kubernetes.py, one per
cluster; no kube-apiserver can run here) through the deployment's ``kubernetes`` connections.
Real: the scheduler, the driver and the official client over HTTP, and every pod (a process of
the model-server image's entrypoint, Ready only when its readiness probe answers). The rehearsal is in ``make test``
(47-54 s), the move (41-55 s) in ``e2e`` for the budget, its ``dag.test()`` variant in ``make test``.
"""

from __future__ import annotations

import pytest

from multicloud.reports import latest_summary
from tests.dags.cost_fixtures import serve_declared_placement
from tests.dags.test_kubernetes_estate import (
    MOVE_CONF,
    REHEARSAL_CONF,
    assert_failed_over_and_back,
    assert_moved_make_before_break,
    serve_churn_eu_on_the_pair,
    versions_of_running_pods,
)
from tests.kube_estate import kubernetes_deployment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
RUN_TIMEOUT = 420


@pytest.mark.e2e  # make test's budget: its dag.test variant (tests/dags/test_kubernetes_estate.py) runs there
def test_a_cost_move_between_kubernetes_clusters_through_the_scheduler(airflow_db_template, tmp_path):
    """eks-use1 -> oke-ash, make before break: the target's pod is in its Endpoints before the source's
    Deployment goes; the move's health gate reaches the target's pod through its service proxy."""
    with kubernetes_deployment(airflow_db_template, tmp_path, "cost_rebalance", ("eks-use1", "oke-ash")) as (
            af, estate, clusters):
        serve_declared_placement(estate, af.estate_home, every_driver=True)
        assert versions_of_running_pods(clusters["eks-use1"]) == {"v1"}

        run_id = af.trigger("cost_rebalance", conf=MOVE_CONF)
        af.wait_for_run("cost_rebalance", run_id, timeout=RUN_TIMEOUT)

        assert latest_summary("cost_rebalance", af.estate_home)["run_id"] == run_id
        assert_moved_make_before_break(estate, clusters, af.estate_home)


def test_a_dr_rehearsal_on_kubernetes_through_the_scheduler(airflow_db_template, tmp_path):
    """oke-fra fails (its Deployment scaled to zero), gke-euw4 answers, fail back brings new pods, every
    fault is undone; the rehearsal's tasks run in their own processes, the gateway outlives them."""
    from tests.dags.dr_fixtures import teardown

    with kubernetes_deployment(airflow_db_template, tmp_path, "dr_rehearsal", ("oke-fra", "gke-euw4"),
                               external=True) as (af, estate, clusters):
        first_pods = serve_churn_eu_on_the_pair(estate, clusters, af.estate_home)
        try:
            run_id = af.trigger("dr_rehearsal", conf=REHEARSAL_CONF)
            af.wait_for_run("dr_rehearsal", run_id, timeout=RUN_TIMEOUT)
        finally:
            teardown(af.estate_home)
        assert latest_summary("dr_rehearsal", af.estate_home)["run_id"] == run_id
        assert_failed_over_and_back(clusters, first_pods, af.estate_home)
