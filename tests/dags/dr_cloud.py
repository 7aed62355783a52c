"""Cloud-steered DR pairs for dr_rehearsal runs: region ingresses and an estate naming the steering.

In a cloud, a load balancer's backends and a DNS answer point at a region's stable front (the
cluster's ingress or node-port address), not at pods: pods restart on new addresses, the front
stays. ``RegionIngress`` is that front for a local cluster: a fixed loopback address that
forwards every request to the cluster's model servers as they are now (through the local
driver's own endpoint list), and answers 502 while the cluster serves nothing (a region outage).
"""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from multicloud.paths import DEFAULT_ESTATE_FILE


class RegionIngress:
    """A cluster's stable front on ``ip:port`` (loopback), forwarding to its current model servers."""

    def __init__(self, cluster: str, home: Path, model: str = "churn-eu", ip: str = "127.0.0.1",
                 port: int = 0) -> None:
        from multicloud.drivers.local import LocalClusterDriver

        driver, ingress = LocalClusterDriver(cluster, home), self
        self.requests = 0

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
                ingress.requests += 1
                urls = driver.endpoints(model)
                if not urls:
                    self._reply(502, b"no ready endpoint")
                    return
                request = urllib.request.Request(urls[ingress.requests % len(urls)].rstrip("/") + self.path,
                                                 data=body, method=self.command)
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

        self.server = ThreadingHTTPServer((ip, port), Forward)
        self.server.daemon_threads = True
        self.address = self.server.server_address[:2]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def ingresses_on_one_port(clusters: dict[str, str], home: Path, attempts: int = 20) -> dict[str, RegionIngress]:
    """One ingress per region on its own loopback IP (127.0.0.2, .3, ...) and one shared port, as a
    DNS health-check monitor probes every answer's IP on the same port."""
    for _ in range(attempts):
        with socket.socket() as sock:
            sock.bind(("127.0.0.2", 0))
            port = sock.getsockname()[1]
        started: dict[str, RegionIngress] = {}
        try:
            for n, (region, cluster) in enumerate(clusters.items(), start=2):
                started[region] = RegionIngress(cluster, home, ip=f"127.0.0.{n}", port=port)
            return started
        except OSError:
            for ingress in started.values():
                ingress.stop()
    raise RuntimeError("no port free on every loopback address")


def cloud_estate(path: Path, **pair: Any) -> Path:
    """The local estate whose DR pair (eu-churn) also carries ``pair``'s fields (steering, probe_url...)."""
    raw = yaml.safe_load(DEFAULT_ESTATE_FILE.read_text())
    raw["dr_pairs"][0].update(pair)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


class ResolvingClient:
    """What a client of a DNS-steered endpoint does, as a local HTTP front for the rehearsal's probe.

    Every request resolves the endpoint through the steering's ``resolve`` (the answer the steering
    service gives now, from its records and health state), keeps the answer for ``ttl_s`` as a
    resolver caches it, and sends the request to ``http://{answer}:{port}``. Not modelled: real DNS
    (no name server runs; the steering's own answer rules stand in for it), resolvers that keep an
    answer longer than its TTL, clients that try a second answer.
    """

    def __init__(self, steering: Any, endpoint: str, port: int, ttl_s: float = 1.0) -> None:
        import time

        client = self
        self.answers: list[str] = []
        self._cached: tuple[float, list[str]] = (0.0, [])
        self._lock = threading.Lock()

        def answer() -> list[str]:
            with client._lock:
                at, values = client._cached
                if time.monotonic() - at >= ttl_s:
                    values = steering.resolve(endpoint)
                    client._cached = (time.monotonic(), values)
                return values

        class Forward(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return

            def _forward(self, body: bytes | None) -> None:
                values = answer()
                if not values:
                    self.send_response(503)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                client.answers.append(values[0])
                request = urllib.request.Request(f"http://{values[0]}:{port}{self.path}", data=body,
                                                 method=self.command)
                if self.headers.get("content-type"):
                    request.add_header("content-type", self.headers["content-type"])
                try:
                    with urllib.request.urlopen(request, timeout=5) as upstream:
                        status, data = upstream.status, upstream.read()
                except urllib.error.HTTPError as exc:
                    status, data = exc.code, exc.read()
                except OSError:
                    status, data = 502, b""
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers.get("content-length") or 0)))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
