"""DR steering through an OCI Load Balancer (emulated, real oci SDK, signed requests).

A rehearsal's traffic path on its own: two regions' servers behind the emulator's listener, the
fault ledger recording the snapshot before the switch (as ``rehearsal.failover`` does), the
switch waiting on every work request, and fail back through the rehearsal's own undo handler.
A probe hits the listener throughout: no request may fail (enable first, then drain, then offline).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from multicloud.dr import rehearsal
from multicloud.dr.ledger import FaultLedger
from multicloud.dr.steering import steering_for
from multicloud.dr.steering_lb import OCILoadBalancerSteering
from multicloud.estate import load_estate
from multicloud.estate.models import OciLoadBalancerSteering
from multicloud.hooks.oci_load_balancer import LoadBalancerWorkRequestFailed
from multicloud.waiting import wait_until
from tests.emulators.oci_load_balancer import LoadBalancerEmulator

LB_ID = "ocid1.loadbalancer.oc1.eu-frankfurt-1.dr"


def _region_server(region: str) -> ThreadingHTTPServer:
    class Answer(BaseHTTPRequestHandler):
        def log_message(self, *_args):
            return

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.do_GET()

        def do_GET(self):
            data = json.dumps({"region": region}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def lb(oci_emulator):
    servers = {r: _region_server(r) for r in ("primary", "secondary")}
    emulator = LoadBalancerEmulator(oci_emulator)
    yield emulator, servers
    emulator.stop()
    for server in servers.values():
        server.shutdown()
        server.server_close()


def _pair(oci_conn, primary: str, secondary: str):
    pair = load_estate().dr_pairs[0]
    spec = OciLoadBalancerSteering(load_balancer_id=LB_ID, backend_sets={pair.primary: primary,
                                                                         pair.secondary: secondary},
                                   work_request_poll_s=0.02)
    return pair.model_copy(update={"oci_load_balancer": spec, "steering_connection_id": oci_conn})


class Probe(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.answers, self.errors, self.stopped = url, [], [], threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as reply:
                    self.answers.append(json.loads(reply.read())["region"])
            except (urllib.error.URLError, OSError) as exc:
                self.errors.append(str(exc))
            time.sleep(0.02)

    def answered(self, count: int, after: int = 0, timeout_s: float = 30.0) -> None:
        """Wait for ``count`` answers after the first ``after`` (never a fixed sleep and a hope)."""
        assert wait_until(lambda: len(self.answers) >= after + count or self.errors, timeout_s), (
            f"{count} answers after {after} within {timeout_s:g}s; got {len(self.answers) - after}")


def test_rehearsal_fails_over_and_back_through_the_load_balancer(oci_conn, oci_emulator, lb, estate_home):
    emulator, servers = lb
    emulator.add_backend_set(LB_ID, "fra-set", [("127.0.0.1", servers["primary"].server_address[1])])
    emulator.add_backend_set(LB_ID, "ams-set", [("127.0.0.1", servers["secondary"].server_address[1])],
                             offline=True)
    pair = _pair(oci_conn, "fra-set", "ams-set")
    steering = steering_for(pair, estate_home)
    assert isinstance(steering, OCILoadBalancerSteering)
    assert steering.serving_region(pair.endpoint) == pair.primary
    probe = Probe(emulator.start_listener(LB_ID) + "/predict")
    probe.start()
    probe.answered(3)

    # failover, as rehearsal.failover does it: snapshot into the ledger, then switch
    ledger = FaultLedger(pair.id, estate_home)
    entry = ledger.record("traffic_switched", pair.endpoint, {"snapshot": steering.snapshot(pair.endpoint)}, "rh-1")
    steering.point_to(pair.endpoint, pair.secondary, [])
    ledger.mark(entry, "applied")
    assert steering.serving_region(pair.endpoint) == pair.secondary
    switched_at = len(probe.answers)
    probe.answered(3, after=switched_at)
    assert set(probe.answers[switched_at:]) == {"secondary"}

    # fail back through the rehearsal's own undo handler for traffic
    outcome = ledger.undo_all(rehearsal.undo_handlers(load_estate(), pair, estate_home),
                              only_kinds=frozenset({"traffic_switched"}))
    assert [o["state"] for o in outcome] == ["undone"]
    assert steering.serving_region(pair.endpoint) == pair.primary
    back_at = len(probe.answers)
    probe.answered(3, after=back_at)
    probe.stopped.set()
    probe.join()
    assert set(probe.answers[back_at:]) == {"primary"}
    assert probe.errors == []  # no request failed during either switch
    assert "secondary" in probe.answers

    # every change waited for its work request: never a 409 from a concurrent update
    assert emulator.conflicts == 0
    puts = oci_emulator.requests_to("PUT", "/backends/")
    # failover: enable ams, drain fra, take fra offline; fail back: enable fra, take ams offline
    assert [(r.path.split("/")[-3], r.body["offline"], r.body["drain"]) for r in puts] == [
        ("ams-set", False, False), ("fra-set", False, True), ("fra-set", True, False),
        ("fra-set", False, False), ("ams-set", True, False)]
    assert all(wr["lifecycleState"] == "SUCCEEDED" for wr in emulator.work_requests.values())
    assert all(r.signed for r in oci_emulator.requests)


def test_a_failed_work_request_stops_the_switch_with_the_service_error(oci_conn, oci_emulator, lb, estate_home):
    emulator, servers = lb
    emulator.add_backend_set(LB_ID, "fra-set", [("127.0.0.1", servers["primary"].server_address[1])])
    emulator.add_backend_set(LB_ID, "ams-set", [("127.0.0.1", servers["secondary"].server_address[1])],
                             offline=True)
    pair = _pair(oci_conn, "fra-set", "ams-set")
    emulator.fail_next_work_request = True
    with pytest.raises(LoadBalancerWorkRequestFailed, match="BAD_INPUT: backend update rejected"):
        steering_for(pair, estate_home).point_to(pair.endpoint, pair.secondary, [])
    # the primary was never touched: traffic still flows there
    assert steering_for(pair, estate_home).serving_region(pair.endpoint) == pair.primary


def test_the_probe_reaches_the_endpoint_through_the_load_balancers_own_listener(oci_conn, oci_emulator, lb):
    emulator, servers = lb
    emulator.add_backend_set(LB_ID, "fra-set", [("127.0.0.1", servers["primary"].server_address[1])])
    emulator.add_backend_set(LB_ID, "ams-set", [("127.0.0.1", servers["secondary"].server_address[1])],
                             offline=True)
    steering = steering_for(_pair(oci_conn, "fra-set", "ams-set"))
    with pytest.raises(LookupError, match="no IP address or no listener"):
        steering.probe_root("churn-eu.global")
    listener = emulator.start_listener(LB_ID, "fra-set")
    assert steering.probe_root("churn-eu.global") == listener
    with urllib.request.urlopen(urllib.request.Request(listener + "/predict", data=b"{}", method="POST"),
                                timeout=5) as reply:
        assert json.loads(reply.read())["region"] == "primary"  # POST is forwarded too


def test_an_unknown_region_or_an_empty_backend_set_is_refused(oci_conn, oci_emulator, lb, estate_home):
    emulator, _servers = lb
    emulator.add_backend_set(LB_ID, "fra-set", [("127.0.0.1", 1)])
    emulator.add_backend_set(LB_ID, "ams-set", [])
    pair = _pair(oci_conn, "fra-set", "ams-set")
    steering = steering_for(pair, estate_home)
    with pytest.raises(LookupError, match="no backend set for region 'nowhere'"):
        steering.point_to(pair.endpoint, "nowhere", [])
    with pytest.raises(ValueError, match="has no backends"):
        steering.point_to(pair.endpoint, pair.secondary, [])
