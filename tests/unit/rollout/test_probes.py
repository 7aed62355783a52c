"""The gate's probes over real HTTP: a server answering badly is a failed check, never an exception."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from multicloud.rollout.gates import Thresholds
from multicloud.rollout.probes import probe_endpoint, run_gate

CASES = [{"instance": {"x": 1.0}, "expected": {"label": 1, "probability": 0.9}},
         {"instance": {"x": -1.0}, "expected": {"label": 0, "probability": 0.1}}]


@pytest.fixture
def server():
    answers = {"predict": {}}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:
            return

        def _send(self, body) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send({"status": "ok", "version": "v1"})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self._send(answers["predict"])

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", answers
    httpd.shutdown()
    httpd.server_close()


def test_right_answers_pass_and_malformed_ones_fail_the_check(server):
    url, answers = server
    answers["predict"] = {"version": "v1", "predictions": [c["expected"] for c in CASES]}
    assert all(s.ok for s in probe_endpoint(url, CASES, "v1"))
    for broken in ({"version": "v1", "predictions": [CASES[0]["expected"]]},  # one answer short
                   {"version": "v1", "predictions": [{"label": 1}, None]},
                   {"version": "v1"}, ["not", "an", "object"]):
        answers["predict"] = broken
        samples = probe_endpoint(url, CASES, "v1")
        assert [s.kind for s in samples] == ["health", "smoke", "smoke"]
        assert not any(s.ok for s in samples[1:])
    verdict = run_gate([url], CASES, "v1", Thresholds(checks=1, interval_s=0))
    assert not verdict.passed
