"""A loopback HTTP front that forwards each GET/POST to an upstream its owner picks per request:
a region's ingress (``tests/dags/dr_cloud.py``) and an OCI load balancer's listener
(``tests/emulators/oci_load_balancer.py``) both stand on it.

Emulated, and what it leaves out: plain HTTP/1.1 over loopback, one upstream per request (no retry
on another), no TLS, no header forwarding beyond content-type, a 5 s upstream timeout."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Called once per request: the upstream's base URL, or the (status, body) to answer instead.
PickUpstream = Callable[[], "str | tuple[int, bytes]"]


def start_forwarder(pick: PickUpstream, address: tuple[str, int] = ("127.0.0.1", 0)) -> ThreadingHTTPServer:
    """A started server forwarding each request to ``pick()``'s upstream (see ``PickUpstream``).
    Stop it with ``shutdown()`` and ``server_close()``."""

    class Forward(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            return

        def _reply(self, status: int, data: bytes = b"", content_type: str | None = None) -> None:
            self.send_response(status)
            if content_type:
                self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _forward(self, body: bytes | None) -> None:
            upstream_url = pick()
            if not isinstance(upstream_url, str):
                self._reply(*upstream_url)
                return
            request = urllib.request.Request(upstream_url.rstrip("/") + self.path, data=body, method=self.command)
            if self.headers.get("content-type"):
                request.add_header("content-type", self.headers["content-type"])
            try:
                with urllib.request.urlopen(request, timeout=5) as upstream:
                    self._reply(upstream.status, upstream.read(), upstream.headers.get("content-type"))
            except urllib.error.HTTPError as exc:
                self._reply(exc.code, exc.read(), exc.headers.get("content-type"))
            except OSError:
                self._reply(502, b"upstream unreachable")

        def do_GET(self) -> None:
            self._forward(None)

        def do_POST(self) -> None:
            self._forward(self.rfile.read(int(self.headers.get("content-length") or 0)))

    server = ThreadingHTTPServer(address, Forward)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
