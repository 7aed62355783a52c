"""Real HTTP model backends and a deadline wait, shared by the gateway, probe and failover tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from multicloud.waiting import wait_until


class Backend:
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
