"""Real-cloud steering and network preflight through the real SDKs on loopback.

Route 53: the amazon provider's AwsBaseHook (boto3) against moto in server mode (real HTTP).
OCI DNS steering policy and FastConnect/DRG preflight: the oci SDK, signed, against our OCI
emulator (no OCI endpoint is reachable from here).
"""

from __future__ import annotations

import json

import pytest

from multicloud.dr.preflight import check_oci_network
from multicloud.dr.steering import OCIDnsSteering, Route53Steering, steering_for
from multicloud.estate import load_estate
from tests.emulators.oci_network import NetworkEmulator

NAME = "churn-eu.global.example.com"


@pytest.fixture
def moto_route53(moto_server):
    moto_server.connection("aws_dr")
    client = moto_server.client("route53")
    zone = client.create_hosted_zone(Name="example.com", CallerReference="dr-test")["HostedZone"]["Id"]
    # UPSERT, not CREATE: moto refuses a later batch that DELETEs and re-CREATEs an identical record
    # (a restore) when that CREATE is in its change journal; Route 53 applies a batch as one change
    client.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": NAME, "Type": "A", "SetIdentifier": region, "Weight": weight,
                                                   "TTL": 30, "ResourceRecords": [{"Value": ip}]}}
        for region, weight, ip in (("oci-fra", 100, "10.0.0.1"), ("gcp-euw4", 0, "10.1.0.1"))]})
    return client, zone


def _weights(client, zone) -> dict[str, int]:
    records = client.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {r["SetIdentifier"]: r["Weight"] for r in records if r["Name"] == NAME + "."}


def test_route53_failover_and_restore_change_the_weighted_records(moto_route53):
    client, zone = moto_route53
    steering = Route53Steering(zone, aws_conn_id="aws_dr")
    snapshot = steering.snapshot(NAME)
    assert steering.serving_region(NAME) == "oci-fra"

    steering.point_to(NAME, "gcp-euw4", [])
    assert _weights(client, zone) == {"oci-fra": 0, "gcp-euw4": 100}
    assert steering.serving_region(NAME) == "gcp-euw4"

    steering.restore(NAME, json.loads(json.dumps(snapshot, default=str)))  # as stored in the ledger
    assert _weights(client, zone) == {"oci-fra": 100, "gcp-euw4": 0}


def test_route53_refuses_a_region_without_a_record(moto_route53):
    _client, zone = moto_route53
    with pytest.raises(LookupError, match="SetIdentifier 'aws-euw1'"):
        Route53Steering(zone, aws_conn_id="aws_dr").point_to(NAME, "aws-euw1", [])


def test_oci_dns_steering_disables_the_primary_pool_and_restores_it(oci_conn, oci_emulator):
    network = NetworkEmulator(oci_emulator)
    network.add_policy("ocid1.dnspolicy.oc1..churn", {"oci-fra": "10.0.0.1", "gcp-euw4": "10.1.0.1"})
    steering = OCIDnsSteering("ocid1.dnspolicy.oc1..churn", oci_conn_id=oci_conn)
    snapshot = json.loads(json.dumps(steering.snapshot("churn-eu.global"), default=str))

    steering.point_to("churn-eu.global", "gcp-euw4", [])
    (update,) = oci_emulator.requests_to("PUT", "/steeringPolicies/")
    assert update.signed
    assert {a["pool"]: a["isDisabled"] for a in update.body["answers"]} == {"oci-fra": True, "gcp-euw4": False}
    assert [r["ruleType"] for r in update.body["rules"]] == ["FILTER", "LIMIT"]  # rules kept as they were
    assert steering.serving_region("churn-eu.global") == "gcp-euw4"

    steering.restore("churn-eu.global", snapshot)
    assert {a["pool"]: a["isDisabled"] for a in network.policies["ocid1.dnspolicy.oc1..churn"]["answers"]} == {
        "oci-fra": False, "gcp-euw4": False}


def _estate_with_fastconnect(estate_home, circuit: str):
    from multicloud.estate import parse_estate
    from multicloud.paths import DEFAULT_ESTATE_FILE

    text = DEFAULT_ESTATE_FILE.read_text().replace(
        "    region: eu-frankfurt-1\n", f"    region: eu-frankfurt-1\n    fastconnect: {circuit}\n", 1)
    return parse_estate(text, home=str(estate_home))


def test_fastconnect_and_drg_state_decide_the_network_preflight(oci_conn, oci_emulator, estate_home):
    network = NetworkEmulator(oci_emulator)
    network.add_circuit("ocid1.virtualcircuit.oc1..fra", "ocid1.drg.oc1..fra")
    estate = _estate_with_fastconnect(estate_home, "ocid1.virtualcircuit.oc1..fra")
    pair = estate.dr_pair("eu-churn")
    checks = check_oci_network(estate, pair, oci_conn)
    assert [(c.name, c.ok) for c in checks] == [("FastConnect oci-fra", True), ("DRG oci-fra", True)]
    assert all(r.signed for r in oci_emulator.requests)

    network.circuits["ocid1.virtualcircuit.oc1..fra"]["bgpSessionState"] = "DOWN"
    network.drgs["ocid1.drg.oc1..fra"]["lifecycleState"] = "TERMINATING"
    checks = check_oci_network(estate, pair, oci_conn)
    assert [(c.name, c.ok) for c in checks] == [("FastConnect oci-fra", False), ("DRG oci-fra", False)]
    assert "BGP DOWN" in checks[0].detail

    del network.circuits["ocid1.virtualcircuit.oc1..fra"]
    (missing,) = check_oci_network(estate, pair, oci_conn)
    assert not missing.ok
    assert "404" in missing.detail


def test_steering_is_chosen_by_what_the_pair_names(estate_home):
    pair = load_estate(home=estate_home).dr_pair("eu-churn")
    assert steering_for(pair, estate_home).name == "local-gateway"
    assert steering_for(pair.model_copy(update={"route53_zone_id": "Z1"})).name == "route53"
    assert steering_for(pair.model_copy(update={"oci_steering_policy_id": "ocid1.x"})).name == "oci-dns"


# ---- health-checked failover steering (fails over by itself; the project only arms and reads it) ----
def test_route53_arm_turns_region_records_into_primary_secondary_failover_records_with_health_checks(
        moto_route53, estate_home):
    client, zone = moto_route53
    pair = load_estate(home=estate_home).dr_pair("eu-churn").model_copy(update={"endpoint": NAME})
    steering = Route53Steering(zone, aws_conn_id="aws_dr")

    steering.arm_failover(pair, [], [])

    records = {r["SetIdentifier"]: r for r in client.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
               if r["Name"] == NAME + "."}
    assert {region: r["Failover"] for region, r in records.items()} == {"oci-fra": "PRIMARY", "gcp-euw4": "SECONDARY"}
    assert all("Weight" not in r for r in records.values())
    checks = {c["Id"]: c["HealthCheckConfig"] for c in client.list_health_checks()["HealthChecks"]}
    primary_check = checks[records["oci-fra"]["HealthCheckId"]]
    assert (primary_check["IPAddress"], primary_check["ResourcePath"], primary_check["Port"]) == (
        "10.0.0.1", "/healthz", 443)
    assert (primary_check["RequestInterval"], primary_check["FailureThreshold"]) == (10, 2)  # from the estate
    # moto's checkers always report Success: healthy, so Route 53 answers with the PRIMARY
    assert steering.region_health(NAME)["oci-fra"]["healthy"] is True
    assert steering.failed_over(NAME) is None
    assert steering.serving_region(NAME) == "oci-fra"
    assert steering.resolve(NAME) == ["10.0.0.1"]


def test_route53_an_inverted_primary_check_fails_over_and_restore_puts_the_weighted_records_back(
        moto_route53, estate_home):
    client, zone = moto_route53
    pair = load_estate(home=estate_home).dr_pair("eu-churn").model_copy(update={"endpoint": NAME})
    steering = Route53Steering(zone, aws_conn_id="aws_dr")
    before = json.loads(json.dumps(steering.snapshot(NAME), default=str))
    steering.arm_failover(pair, [], [])
    armed_checks = {r["HealthCheckId"] for r in client.list_resource_record_sets(HostedZoneId=zone)[
        "ResourceRecordSets"] if r.get("HealthCheckId")}
    assert len(armed_checks) == 2

    undo = steering.health_fault(NAME, "oci-fra")
    assert undo["inverted"] is False
    steering.inject_health_fault(undo)  # AWS's documented way to test failover: invert the check
    health = steering.region_health(NAME)
    assert (health["oci-fra"]["healthy"], health["oci-fra"]["inverted"]) == (False, True)
    assert {k: steering.failed_over(NAME)[k] for k in ("from", "to")} == {"from": "oci-fra", "to": "gcp-euw4"}
    assert steering.resolve(NAME) == ["10.1.0.1"]
    assert steering.serving_region(NAME) == "gcp-euw4"

    steering.undo_health_fault(undo)
    assert steering.failed_over(NAME) is None
    assert steering.resolve(NAME) == ["10.0.0.1"]
    steering.restore(NAME, before)
    assert _weights(client, zone) == {"oci-fra": 100, "gcp-euw4": 0}
    # the failover records' checks are deleted (moto's state is per process: other tests' checks may remain)
    assert not armed_checks & {c["Id"] for c in client.list_health_checks()["HealthChecks"]}
    assert steering.health_fault(NAME, "oci-fra") is None  # weighted records have no health check


def test_oci_failover_policy_with_a_health_check_monitor_moves_by_itself_when_the_primary_fails(
        oci_conn, oci_emulator, estate_home):
    from multicloud.dr import failover
    from multicloud.dr.write_targets import write_target

    network = NetworkEmulator(oci_emulator)
    network.add_policy("ocid1.dnspolicy.oc1..churn", {"oci-fra": "10.0.0.1", "gcp-euw4": "10.1.0.1"})
    estate = load_estate(home=estate_home)
    pair = estate.dr_pair("eu-churn").model_copy(update={"oci_steering_policy_id": "ocid1.dnspolicy.oc1..churn"})
    steering = OCIDnsSteering("ocid1.dnspolicy.oc1..churn", oci_conn_id=oci_conn)

    steering.arm_failover(pair, [], [])

    policy = network.policies["ocid1.dnspolicy.oc1..churn"]
    assert policy["template"] == "FAILOVER"
    assert [r["ruleType"] for r in policy["rules"]] == ["FILTER", "HEALTH", "PRIORITY", "LIMIT"]
    [monitor] = network.monitors.values()
    assert policy["healthCheckMonitorId"] == monitor["id"]
    assert (monitor["targets"], monitor["path"], monitor["intervalInSeconds"]) == (
        ["10.0.0.1", "10.1.0.1"], "/healthz", 10)
    assert all(r.signed for r in oci_emulator.requests)

    network.probe(monitor["id"], {"10.0.0.1": True, "10.1.0.1": True})
    assert steering.failed_over("churn-eu.global") is None
    assert steering.resolve("churn-eu.global") == ["10.0.0.1"]
    network.probe(monitor["id"], {"10.0.0.1": False, "10.1.0.1": True})  # the primary's vantage points fail
    moved = steering.failed_over("churn-eu.global")
    assert {k: moved[k] for k in ("from", "to")} == {"from": "oci-fra", "to": "gcp-euw4"}
    assert steering.resolve("churn-eu.global") == ["10.1.0.1"]  # FILTER, HEALTH, PRIORITY, LIMIT 1
    # dr_failover's steps act on what the steering did by itself
    incident = failover.open_incident(estate, {**moved, "pair": pair.id, "incident": "oci:1"}, estate_home)
    failover.promote_write_target(estate, incident, estate_home)
    assert write_target(pair, "customer-events", estate_home) == "gcp-euw4"
    network.probe(monitor["id"], {"10.0.0.1": True, "10.1.0.1": True})
    assert steering.failed_over("churn-eu.global") is None  # the policy answers the primary again
    assert steering.resolve("churn-eu.global") == ["10.0.0.1"]
    # every call went through the DNS and Health Checks hooks' clients, signed
    assert oci_emulator.requests_to("PUT", "/steeringPolicies/")
    assert all(r.signed for r in oci_emulator.requests)
