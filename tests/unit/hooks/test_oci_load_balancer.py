"""OCILoadBalancerHook against the load-balancer emulator through the real, signing oci SDK: a backend
change takes effect only when its work request SUCCEEDS; a FAILED one raises with the service's reason."""

from __future__ import annotations

import asyncio
import time

import oci
import pytest

from multicloud.hooks.oci import OCIWaiterTimeout
from multicloud.hooks.oci_load_balancer import LoadBalancerWorkRequestFailed, OCILoadBalancerHook
from tests.emulators.oci_load_balancer import LoadBalancerEmulator

LB, SET = "ocid1.loadbalancer.oc1..dr", "fra"


@pytest.fixture
def lb(oci_emulator):
    emulated = LoadBalancerEmulator(oci_emulator, work_request_steps=2)
    emulated.add_backend_set(LB, SET, [("10.0.0.1", 8080), ("10.0.0.2", 8080)])
    yield emulated
    emulated.stop()


def test_taking_a_backend_offline_waits_for_its_work_request(oci_conn, lb, oci_emulator):
    hook = OCILoadBalancerHook(oci_conn)
    backend = hook.list_backends(LB, SET)[0]
    work_request = hook.update_backend(LB, SET, backend, offline=True, drain=True, retry_token="t-1")
    assert lb.sets[LB][SET][backend.name]["offline"] is False          # not in effect yet
    done = hook.work_request_completion(work_request, poll_interval=0.01)
    assert done.lifecycle_state == "SUCCEEDED"
    assert {b.name: (b.offline, b.drain) for b in hook.list_backends(LB, SET)}[backend.name] == (True, True)
    assert hook.backend_set_health(LB, SET).status == "WARNING"        # one of two backends is down
    put = oci_emulator.requests_to("PUT", r"/backends/")[0]
    assert put.signed
    assert put.retry_token == "t-1"
    assert put.body["weight"] == backend.weight                        # the rest of the backend is kept


def test_a_failed_work_request_raises_with_the_services_reason(oci_conn, lb):
    hook = OCILoadBalancerHook(oci_conn)
    lb.fail_next_work_request = True
    work_request = hook.update_backend(LB, SET, hook.list_backends(LB, SET)[0], offline=True, drain=False)
    with pytest.raises(LoadBalancerWorkRequestFailed, match="BAD_INPUT: backend update rejected"):
        asyncio.run(hook.async_work_request_completion(work_request, poll_interval=0.01))
    assert not any(b.offline for b in hook.list_backends(LB, SET))


def test_a_second_change_while_one_is_in_progress_is_a_conflict(oci_conn, lb):
    hook = OCILoadBalancerHook(oci_conn)
    first, second = hook.list_backends(LB, SET)
    hook.update_backend(LB, SET, first, offline=True, drain=False)
    with pytest.raises(oci.exceptions.ServiceError) as err:
        hook.update_backend(LB, SET, second, offline=True, drain=False)
    assert err.value.status == 409


def test_a_work_request_not_done_by_the_deadline_times_out(oci_conn, oci_emulator):
    slow = LoadBalancerEmulator(oci_emulator, work_request_steps=10_000)
    slow.add_backend_set(LB, SET, [("10.0.0.1", 8080)])
    hook = OCILoadBalancerHook(oci_conn)
    work_request = hook.update_backend(LB, SET, hook.list_backends(LB, SET)[0], offline=True, drain=False)
    with pytest.raises(OCIWaiterTimeout):
        hook.work_request_completion(work_request, poll_interval=0.05, deadline=time.time() + 0.3)
    assert hook.get_load_balancer(LB).ip_addresses[0].ip_address == "127.0.0.1"
