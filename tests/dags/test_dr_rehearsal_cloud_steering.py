"""dr_rehearsal runs (the whole DAG, dag.test) on DR pairs steered by cloud services.

The pair's model servers are real processes (local driver); each region has a stable front
(``tests.dags.dr_cloud.RegionIngress``, what a cluster's ingress address is in a cloud). What
steers traffic between the fronts is the cloud service, through its real SDK over HTTP:

- an OCI Load Balancer (our emulator): the rehearsal's probe goes through the load balancer's own
  listener (its address read from ``GetLoadBalancer``); failover enables the secondary's backend
  set, drains and then disables the primary's, each step waiting on its work request; fail back
  reverses it.
- Route 53 failover records (moto) and an OCI DNS FAILOVER steering policy (our emulator): the
  rehearsal (path ``automated``) arms the health-checked failover and then only observes; the
  probe reaches the endpoint through ``ResolvingClient``, which asks the steering for its answer
  as a resolver would (the steering's records/rules and health state; no name server runs here).
  moto's health checkers always report Success, so for Route 53 the rehearsal inverts the
  primary's health check (``Inverted=True``, AWS's documented way to test failover) as part of
  the fault; the OCI emulator's monitor really probes each answer's address, so it sees the
  primary's outage by itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from multicloud.estate import load_estate
from multicloud.reports import latest_summary
from tests.dags.dag_files import load_dag
from tests.dags.dr_cloud import RegionIngress, ResolvingClient, cloud_estate, ingresses_on_one_port
from tests.dags.dr_fixtures import PAIR_CLUSTERS, serve_pair, teardown

# a whole rehearsal each, several minutes on a loaded 2-core machine: make test-e2e (the steering
# steps alone are in make test: tests/unit/dr/test_steering_lb.py, test_steering.py)
pytestmark = pytest.mark.e2e

FAST = {"hold_s": 1, "stabilisation_checks": 2, "max_duration_s": 90}
AUTOMATED = {"path": "automated", "dr_failover_wait_s": 0}  # no dr_failover DAG runs under dag.test
NAME = "churn-eu.dr.example.com"
IPS = {"oci-fra": "127.0.0.2", "gcp-euw4": "127.0.0.3"}
LB_ID = "ocid1.loadbalancer.oc1.eu-frankfurt-1.dr"


@pytest.fixture
def served(airflow_db, estate_home):
    estate = load_estate(home=estate_home)
    serve_pair(estate, estate_home)
    ingresses = {region: RegionIngress(cluster, estate_home) for region, cluster in PAIR_CLUSTERS.items()}
    yield ingresses
    for ingress in ingresses.values():
        ingress.stop()
    teardown(estate_home)


def _run_state(home: Path) -> dict:
    import json

    (path,) = (home / "state" / "dr" / "runs").glob("eu-churn-*.json")
    return json.loads(path.read_text())


def _run(estate_file: Path, monkeypatch, **conf):
    monkeypatch.setenv("MULTICLOUD_ESTATE_FILES_ALLOWED", str(estate_file))
    run = load_dag("dr_rehearsal").test(run_conf={"scenario": "region_outage", **FAST, "estate_file": str(estate_file), **conf})
    return run


@pytest.mark.timeout(400)
def test_a_rehearsal_fails_over_and_back_through_the_oci_load_balancer(served, estate_home, tmp_path, oci_conn,
                                                                       oci_emulator, monkeypatch):
    from tests.emulators.oci_load_balancer import LoadBalancerEmulator

    lb = LoadBalancerEmulator(oci_emulator)
    lb.add_backend_set(LB_ID, "fra-set", [served["oci-fra"].address])
    lb.add_backend_set(LB_ID, "euw4-set", [served["gcp-euw4"].address], offline=True)
    listener = lb.start_listener(LB_ID, "fra-set")
    estate_file = cloud_estate(tmp_path / "estate-lb.yaml", steering_connection_id=oci_conn, oci_load_balancer={
        "load_balancer_id": LB_ID, "backend_sets": {"oci-fra": "fra-set", "gcp-euw4": "euw4-set"},
        "work_request_poll_s": 0.05})
    try:
        run = _run(estate_file, monkeypatch, path="orchestrated")
    finally:
        lb.stop()
    assert run.state == "success"
    report = latest_summary("dr_rehearsal", estate_home)["data"]
    assert report["outcome"] == "passed", report
    state = _run_state(estate_home)
    assert state["probe_root"] == listener  # the probe went through the load balancer's own listener
    assert report["probe"]["regions"] == ["gcp-euw4", "oci-fra"]  # answers from both sides, via the LB
    assert 0 < report["score"]["rto_s"] <= 30
    assert report["as_before"]["served"]
    assert report["as_before"]["storage"]
    # failover: enable the secondary, drain then disable the primary; fail back: the reverse
    puts = oci_emulator.requests_to("PUT", "/backends/")
    assert [(r.path.split("/")[-3], r.body["offline"], r.body["drain"]) for r in puts] == [
        ("euw4-set", False, False), ("fra-set", False, True), ("fra-set", True, False),
        ("fra-set", False, False), ("euw4-set", True, False)]
    assert lb.conflicts == 0  # every step waited for the previous work request
    assert all(wr["lifecycleState"] == "SUCCEEDED" for wr in lb.work_requests.values())
    assert len(oci_emulator.requests_to("GET", "/loadBalancerWorkRequests/")) >= 2 * len(puts)
    assert all(r.signed for r in oci_emulator.requests)
    # the estate is as before: the primary's backends serve, the secondary's are offline again
    sets = lb.sets[LB_ID]
    assert [b["offline"] for b in sets["fra-set"].values()] == [False]
    assert [b["offline"] for b in sets["euw4-set"].values()] == [True]


@pytest.fixture
def fronts(airflow_db, estate_home):
    """The pair served, each region's ingress on its own loopback IP, one shared port."""
    estate = load_estate(home=estate_home)
    serve_pair(estate, estate_home)
    ingresses = ingresses_on_one_port(PAIR_CLUSTERS, estate_home)
    assert {r: i.address[0] for r, i in ingresses.items()} == IPS
    yield ingresses, next(iter(ingresses.values())).address[1]
    for ingress in ingresses.values():
        ingress.stop()
    teardown(estate_home)


def _health_check(port: int) -> dict:
    return {"path": "/healthz", "port": port, "interval_s": 10, "timeout_s": 1, "unhealthy_threshold": 2,
            "healthy_threshold": 2}


def _ledger_kinds(home: Path) -> dict[str, str]:
    import json

    (path,) = (home / "state" / "dr").glob("ledger-*.json")
    return {e["kind"]: e["state"] for e in json.loads(path.read_text())["entries"]}


@pytest.mark.timeout(400)
def test_a_rehearsal_fails_over_and_back_through_route53_failover_records(fronts, estate_home, tmp_path,
                                                                           moto_server, monkeypatch):
    from multicloud.dr.steering import Route53Steering

    _ingresses, port = fronts
    conn = moto_server.connection("aws_dr")
    client = moto_server.client("route53")
    zone = client.create_hosted_zone(Name="example.com", CallerReference="dr-rehearsal")["HostedZone"]["Id"]
    weighted = [{"Name": NAME + ".", "Type": "A", "SetIdentifier": region, "Weight": 100 if region == "oci-fra" else 0,
                 "TTL": 1, "ResourceRecords": [{"Value": ip}]} for region, ip in IPS.items()]
    # UPSERT: see tests/unit/dr/test_steering.py (moto's journal refuses the restore's re-CREATE)
    client.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": r} for r in weighted]})
    checks_before = {c["Id"] for c in client.list_health_checks()["HealthChecks"]}  # moto's state is per process
    resolving = ResolvingClient(Route53Steering(zone, aws_conn_id=conn), NAME, port, ttl_s=1.0)
    estate_file = cloud_estate(tmp_path / "estate-r53.yaml", endpoint=NAME, route53_zone_id=zone,
                               steering_connection_id=conn, probe_url=resolving.url, health_check=_health_check(port))
    try:
        run = _run(estate_file, monkeypatch, **AUTOMATED)
    finally:
        resolving.stop()
    # Route 53 answered the secondary while the primary's check was inverted, then the primary again
    _assert_passed_through_the_secondary_and_back(run, estate_home, resolving)
    first_secondary = resolving.answers.index(IPS["gcp-euw4"])
    assert set(resolving.answers[:first_secondary]) == {IPS["oci-fra"]}
    kinds = _ledger_kinds(estate_home)
    assert kinds["health_check_inverted"] == "undone"
    assert kinds["route_set"] == "undone"
    # as before: the weighted records are back, the failover records' health checks are gone
    records = client.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    assert sorted((r for r in records if r["Name"] == NAME + "."), key=lambda r: r["SetIdentifier"]) == sorted(
        weighted, key=lambda r: r["SetIdentifier"])
    assert not {c["Id"] for c in client.list_health_checks()["HealthChecks"]} - checks_before


def _assert_passed_through_the_secondary_and_back(run, estate_home, resolving: ResolvingClient) -> None:
    """The run passed, the probe reached both regions, RTO in target, and the resolving client was
    answered the secondary during the outage and the primary at the end."""
    assert run.state == "success"
    report = latest_summary("dr_rehearsal", estate_home)["data"]
    assert report["outcome"] == "passed", report
    assert report["probe"]["regions"] == ["gcp-euw4", "oci-fra"]
    assert 0 < report["score"]["rto_s"] <= 30
    assert IPS["gcp-euw4"] in resolving.answers
    assert resolving.answers[-1] == IPS["oci-fra"]


@pytest.mark.timeout(400)
def test_a_rehearsal_fails_over_and_back_through_an_oci_dns_failover_policy(fronts, estate_home, tmp_path, oci_conn,
                                                                            oci_emulator, monkeypatch):
    from multicloud.dr.steering import OCIDnsSteering
    from tests.emulators.oci_network import NetworkEmulator

    _ingresses, port = fronts
    policy_id = "ocid1.dnspolicy.oc1..churn-eu"
    network = NetworkEmulator(oci_emulator)
    network.add_policy(policy_id, IPS)
    network.start_prober(every_s=0.2)
    resolving = ResolvingClient(OCIDnsSteering(policy_id, oci_conn_id=oci_conn), NAME, port, ttl_s=0.5)
    estate_file = cloud_estate(tmp_path / "estate-oci-dns.yaml", endpoint=NAME, oci_steering_policy_id=policy_id,
                               steering_connection_id=oci_conn, probe_url=resolving.url,
                               health_check=_health_check(port))
    try:
        run = _run(estate_file, monkeypatch, **AUTOMATED)
    finally:
        resolving.stop()
        network.stop()
    _assert_passed_through_the_secondary_and_back(run, estate_home, resolving)
    # the monitor really saw the primary fail (no inverted check, nothing scripted)
    (monitor_id,) = network.monitors
    primary_results = [r["isHealthy"] for r in network.probe_results[monitor_id] if r["target"] == IPS["oci-fra"]]
    assert False in primary_results
    assert primary_results[-1] is True
    assert "health_check_inverted" not in _ledger_kinds(estate_home)
    policy = network.policies[policy_id]
    assert [r["ruleType"] for r in policy["rules"]] == ["FILTER", "LIMIT"]  # the rules from before the rehearsal
    assert all(r.signed for r in oci_emulator.requests)
