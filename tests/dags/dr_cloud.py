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
from pathlib import Path
from typing import Any

import yaml

from multicloud.paths import DEFAULT_ESTATE_FILE
from tests.emulators.forwarding import start_forwarder


class RegionIngress:
    """A cluster's stable front on ``ip:port`` (loopback), forwarding to its current model servers."""

    def __init__(self, cluster: str, home: Path, model: str = "churn-eu", ip: str = "127.0.0.1",
                 port: int = 0) -> None:
        from multicloud.drivers.local import LocalClusterDriver

        driver, self.requests = LocalClusterDriver(cluster, home), 0

        def pick() -> str | tuple[int, bytes]:
            self.requests += 1
            urls = driver.endpoints(model)
            return urls[self.requests % len(urls)] if urls else (502, b"no ready endpoint")

        self.server = start_forwarder(pick, (ip, port))
        self.address = self.server.server_address[:2]

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

        def pick() -> str | tuple[int, bytes]:
            values = answer()
            if not values:
                return 503, b""
            client.answers.append(values[0])
            return f"http://{values[0]}:{port}"

        self.server = start_forwarder(pick)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
