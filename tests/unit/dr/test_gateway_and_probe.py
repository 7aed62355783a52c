"""The local gateway (a real process) proxies to real HTTP backends and follows route-file switches."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from multicloud.dr import gateway
from multicloud.dr.probe import probe_once, read_samples, start_probe, stop_probe
from multicloud.dr.steering import LocalGatewaySteering
from multicloud.waiting import wait_until


class _Backend:
    def __init__(self, cluster: str, version: str) -> None:
        identity = {"version": version, "cluster": cluster}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a):
                return

            def _send(self, body):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send(identity)

            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                self._send({"predictions": [{"label": 1}], **identity})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def waited(predicate, timeout_s: float, what: str, interval_s: float = 0.02):
    """``predicate``'s value once it is true; fails naming ``what`` after the deadline."""
    value = wait_until(predicate, timeout_s, interval_s=interval_s)
    assert value, f"timed out after {timeout_s:g}s waiting for {what}"
    return value


@pytest.fixture
def backends():
    made = [_Backend("oke-fra", "v1"), _Backend("gke-euw4", "v1")]
    yield made
    for backend in made:
        backend.close()


def test_gateway_switches_on_route_file_change_and_probe_sees_the_region(estate_home, backends):
    fra, euw4 = backends
    steering = LocalGatewaySteering(estate_home)
    info, started = gateway.start_gateway(estate_home)
    try:
        assert started
        assert gateway.start_gateway(estate_home) == (info, False)
        root = f"{info['url']}/churn.global"
        assert probe_once(root, {"instances": []}).status == 404  # no route yet
        steering.point_to("churn.global", "oci-fra", [fra.url])
        sample = probe_once(root, {"instances": []})
        assert (sample.status, sample.region, sample.version) == (200, "oci-fra", "v1")
        snapshot = steering.snapshot("churn.global")
        steering.point_to("churn.global", "gcp-euw4", [euw4.url])
        assert probe_once(root, {"instances": []}).region == "gcp-euw4"
        steering.restore("churn.global", snapshot)
        assert steering.serving_region("churn.global") == "oci-fra"
        steering.restore("churn.global", None)
        assert gateway.read_routes(gateway.routes_file(estate_home)) == {}

        steering.point_to("churn.global", "gcp-euw4", ["http://127.0.0.1:9"])  # nothing listens there
        failed = probe_once(root, {"instances": []})
        assert failed.status == 502
        assert not failed.answered
    finally:
        assert gateway.stop_gateway(estate_home)
    assert gateway.running_gateway(estate_home) is None


def test_routing_to_no_backend_is_refused(estate_home):
    with pytest.raises(ValueError, match="no backend"):
        LocalGatewaySteering(estate_home).point_to("e", "r", [])


def test_probe_process_samples_continuously_and_maps_clusters_to_regions(tmp_path, backends):
    fra, _ = backends
    out = tmp_path / "probe.jsonl"
    pid = start_probe(fra.url, out, {"instances": []}, interval_s=0.05, cluster_regions={"oke-fra": "oci-fra"})
    try:
        waited(lambda: len(read_samples(out)) >= 3, 30, "three probe samples")
    finally:
        assert stop_probe(None, out)  # found through the pid file beside its samples
    assert out.with_suffix(".pid").read_text() == str(pid)
    assert not stop_probe(pid)  # already gone
    samples = read_samples(out)
    assert len(samples) >= 3
    assert {(s.status, s.region, s.version) for s in samples} == {(200, "oci-fra", "v1")}
    assert samples == sorted(samples, key=lambda s: s.t)


def test_a_recorded_pid_now_used_by_another_process_is_not_killed(tmp_path):
    import subprocess
    import sys

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        out = tmp_path / "probe.jsonl"
        out.with_suffix(".pid").write_text(str(other.pid))  # a stale pid file, the pid reused since
        assert not stop_probe(None, out)
        assert not stop_probe(other.pid)
        assert other.poll() is None  # still running: only a probe is ever stopped
    finally:
        other.kill()
        other.wait()


def test_gateway_replies_are_not_held_back_by_nagle(tmp_path):
    """A keep-alive reply is written as headers then body; without TCP_NODELAY the body waits for
    the client's delayed ACK (about 40 ms a request, which every probe sample and health check paid)."""
    server = gateway.make_server(tmp_path / "routes.json")
    try:
        assert server.RequestHandlerClass.protocol_version == "HTTP/1.1"
        assert server.RequestHandlerClass.disable_nagle_algorithm is True
    finally:
        server.server_close()
