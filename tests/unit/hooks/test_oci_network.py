"""OCI networking hooks (virtual network, DNS steering, health checks) against the network emulator
through the real, signing oci SDK."""

from __future__ import annotations

import time

import oci
import pytest
from oci.dns.models import UpdateSteeringPolicyDetails
from oci.healthchecks.models import CreateHttpMonitorDetails

from multicloud.hooks.oci import OCIWaiterTimeout
from multicloud.hooks.oci_network import OCIDnsHook, OCIHealthChecksHook, OCIVirtualNetworkHook
from tests.emulators.oci_network import NetworkEmulator

CIRCUIT, DRG, POLICY = "ocid1.virtualcircuit.oc1..fra", "ocid1.drg.oc1..fra", "ocid1.steeringpolicy.oc1..eu"


@pytest.fixture
def network(oci_emulator):
    emulated = NetworkEmulator(oci_emulator)
    yield emulated
    emulated.stop()


def test_a_circuit_is_up_only_when_provisioned_with_bgp_up(oci_conn, network):
    network.add_circuit(CIRCUIT, DRG)
    hook = OCIVirtualNetworkHook(oci_conn)
    circuit = hook.get_virtual_circuit(CIRCUIT)
    assert circuit.gateway_id == DRG
    assert hook.circuit_is_up(circuit)
    assert hook.get_drg(DRG).lifecycle_state == "AVAILABLE"
    network.circuits[CIRCUIT]["bgpSessionState"] = "DOWN"
    assert not hook.circuit_is_up(hook.get_virtual_circuit(CIRCUIT))
    network.circuits[CIRCUIT].update(bgpSessionState="UP", providerState="INACTIVE")
    assert not hook.circuit_is_up(hook.get_virtual_circuit(CIRCUIT))


def test_circuit_completion_returns_a_failed_circuit_and_times_out_on_a_stuck_one(oci_conn, network):
    network.add_circuit(CIRCUIT, DRG, state="FAILED", bgp="DOWN")
    hook = OCIVirtualNetworkHook(oci_conn)
    assert hook.circuit_completion(CIRCUIT, poll_interval=0.01).lifecycle_state == "FAILED"
    network.circuits[CIRCUIT]["lifecycleState"] = "PROVISIONING"
    with pytest.raises(OCIWaiterTimeout) as err:
        hook.circuit_completion(CIRCUIT, poll_interval=0.05, deadline=time.time() + 0.3)
    assert err.value.last.lifecycle_state == "PROVISIONING"


def test_an_unknown_circuit_is_a_404(oci_conn, network):
    with pytest.raises(oci.exceptions.ServiceError) as err:
        OCIVirtualNetworkHook(oci_conn).get_virtual_circuit("ocid1.virtualcircuit.oc1..none")
    assert err.value.status == 404


def test_a_steering_policy_update_is_sent_and_waited_for(oci_conn, network, oci_emulator):
    network.add_policy(POLICY, {"fra": "10.0.0.1", "ams": "10.0.0.2"})
    hook = OCIDnsHook(oci_conn)
    policy = hook.get_steering_policy(POLICY)
    answers = [{**a, "isDisabled": a["pool"] == "fra"} for a in network.policies[POLICY]["answers"]]
    hook.update_steering_policy(POLICY, UpdateSteeringPolicyDetails(
        display_name=policy.display_name, answers=answers, rules=network.policies[POLICY]["rules"]))
    done = hook.steering_policy_completion(POLICY, poll_interval=0.01)
    assert done.lifecycle_state == "ACTIVE"
    assert {a.pool: a.is_disabled for a in done.answers} == {"fra": True, "ams": False}
    assert oci_emulator.requests_to("PUT", r"/steeringPolicies/")[0].signed


def test_health_check_monitors_and_their_results(oci_conn, network):
    hook = OCIHealthChecksHook(oci_conn)
    monitor = hook.create_http_monitor(CreateHttpMonitorDetails(
        compartment_id="ocid1.compartment.oc1..mc", display_name="churn", targets=["10.0.0.1"],
        protocol="HTTP", interval_in_seconds=10, port=80, path="/healthz"))
    assert hook.list_http_probe_results(monitor.id) == []
    network.probe(monitor.id, {"10.0.0.1": False})
    network.probe(monitor.id, {"10.0.0.1": True})
    assert [r.is_healthy for r in hook.list_http_probe_results(monitor.id)] == [False, True]
    with pytest.raises(oci.exceptions.ServiceError) as err:
        hook.create_http_monitor(CreateHttpMonitorDetails(
            compartment_id="ocid1.compartment.oc1..mc", display_name="bad", targets=["10.0.0.1"],
            protocol="HTTP", interval_in_seconds=7))
    assert err.value.status == 400
