"""The local estate's traffic steering: a small HTTP reverse proxy on loopback.

Stands in for a global DNS name / load balancer. Requests to ``/<endpoint>/<path>`` go to the
endpoint's active backends in the route table, a JSON file under the estate home::

    {"routes": {"churn-eu.global": {"region": "oci-fra", "backends": ["http://127.0.0.1:8101"],
                                    "standby": {"region": "gcp-euw4", "backends": ["http://127.0.0.1:8201"]},
                                    "health": {"path": "/healthz", "interval_s": 1, ...}, "pair": "eu-churn"}}}

The file is re-read whenever it changes, so switching traffic is one atomic file write (every
writer takes the route lock: see ``update_routes``). A route with a ``standby`` is health-checked
by the gateway itself (``dr.health.HealthMonitor``: it fails over by itself) and a request that
fails on the active region (no answer, or a 5xx) is retried once on the standby, so a client sees
no failed request while the health checks still count. Every answer carries ``X-Served-Region``,
``X-Served-Backend`` and, when the retry answered, ``X-Gateway-Retried: 1``. Run as its own
process::

    python -m multicloud.dr.gateway --routes FILE --info FILE
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from multicloud import statefile
from multicloud.dr import health
from multicloud.dr.ledger import dr_state_dir
from multicloud.statefile import atomic_write_text
from multicloud.waiting import wait_until

BACKEND_TIMEOUT_S = 2.0
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
                "proxy-authorization", "proxy-authenticate"}


def routes_file(home: Path | None = None) -> Path:
    return dr_state_dir(home) / "gateway-routes.json"


def info_file(home: Path | None = None) -> Path:
    return dr_state_dir(home) / "gateway.json"


def read_routes(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    return json.loads(path.read_text()).get("routes", {})


def write_routes(path: Path, routes: dict[str, dict[str, Any]]) -> None:
    with statefile.locked(path):
        statefile.write_json(path, {"routes": routes})


def update_routes(path: Path, change) -> dict[str, dict[str, Any]]:
    """Read, change (``change(routes)`` mutates the dict) and write the route file under one lock."""
    with statefile.update_json(path, dict) as table:
        routes = table.setdefault("routes", {})
        change(routes)
    return routes


class RouteTable:
    """The route file, re-read when its modification time or size changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._routes: dict[str, dict[str, Any]] = {}
        self._counters: dict[str, itertools.count] = {}
        self._lock = threading.Lock()

    def lookup(self, endpoint: str) -> tuple[dict[str, Any] | None, int]:
        """The endpoint's route and this request's turn (round robin over backends)."""
        with self._lock:
            try:
                stat = self.path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp != self._stamp:
                try:
                    self._routes = read_routes(self.path) if stamp else {}
                except ValueError:
                    return None, 0  # never half-written (atomic writes); a hand edit gone wrong
                self._stamp = stamp
            route = self._routes.get(endpoint)
            if not route:
                return None, 0
            return route, next(self._counters.setdefault(endpoint, itertools.count()))


def attempts(route: dict[str, Any], turn: int) -> list[tuple[str | None, str]]:
    """(region, backend) in the order a request tries them.

    With a standby: one active backend (round robin), then one retry on the standby. Without
    one (a plain route): every active backend in turn.
    """
    active = list(route.get("backends", []))
    rotated = active[turn % len(active):] + active[:turn % len(active)] if active else []
    standby = route.get("standby") or {}
    if standby.get("backends"):
        spare = standby["backends"][turn % len(standby["backends"])]
        return [(route.get("region"), b) for b in rotated[:1]] + [(standby.get("region"), spare)]
    return [(route.get("region"), b) for b in rotated]


def make_server(routes_path: Path, port: int = 0) -> ThreadingHTTPServer:
    table = RouteTable(routes_path)

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY, as production proxies set: on a keep-alive connection a reply written as
        # headers then body would otherwise wait ~40 ms for the client's delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, *_args: Any) -> None:
            return

        def _proxy(self) -> None:
            if self.path == "/_gateway/healthz":
                self._answer(200, b'{"status": "ok"}', {})
                return
            endpoint, _, rest = self.path.lstrip("/").partition("/")
            route, turn = table.lookup(endpoint)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            tries = attempts(route, turn) if route else []
            if not tries:
                self._answer(404, json.dumps({"error": f"no route for endpoint {endpoint!r}"}).encode(), {})
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            last_error = "no backend tried"
            for index, (region, backend) in enumerate(tries):
                target = urlsplit(backend)
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=BACKEND_TIMEOUT_S)
                try:
                    # A backend may carry a path (an ingress route such as /{namespace}/{service}).
                    conn.request(self.command, target.path.rstrip("/") + "/" + rest, body=body, headers=headers)
                    reply = conn.getresponse()
                    data = reply.read()
                except (OSError, http.client.HTTPException) as exc:  # a dying backend: try the next one
                    last_error = f"{backend}: {type(exc).__name__}: {exc}"
                    continue
                finally:
                    conn.close()
                if reply.status >= 500 and index < len(tries) - 1:
                    last_error = f"{backend}: HTTP {reply.status}"
                    continue
                extra = {"X-Served-Region": region or "", "X-Served-Backend": backend}
                if index and route.get("standby"):
                    extra["X-Gateway-Retried"] = "1"
                passed = {k: v for k, v in reply.getheaders() if k.lower() not in _HOP_HEADERS | {"content-length"}}
                self._answer(reply.status, data, {**passed, **extra})
                return
            self._answer(502, json.dumps({"error": f"every backend of {endpoint!r} failed; last: {last_error}"}).encode(),
                         {"X-Served-Region": route.get("region") or ""})

        def _answer(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _proxy

    server = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    server.daemon_threads = True
    return server


# ---- process management ---------------------------------------------------------------------
def running_gateway(home: Path | None = None) -> dict[str, Any] | None:
    """The gateway's {pid, port, url} if its process is alive and answers, else None."""
    path = info_file(home)
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    if not _alive(info["pid"]):
        return None
    try:
        conn = http.client.HTTPConnection("127.0.0.1", info["port"], timeout=1)
        conn.request("GET", "/_gateway/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
    except OSError:
        ok = False
    return info if ok else None


def start_gateway(home: Path | None = None, timeout_s: float = 15.0) -> tuple[dict[str, Any], bool]:
    """Start the gateway unless one runs; returns (info, started_now)."""
    existing = running_gateway(home)
    if existing:
        return existing, False
    info_path = info_file(home)
    info_path.unlink(missing_ok=True)
    info_path.parent.mkdir(parents=True, exist_ok=True)
    log_path = info_path.with_suffix(".log")
    with log_path.open("ab") as log_handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "multicloud.dr.gateway", "--routes", str(routes_file(home)),
             "--info", str(info_path)],
            stdout=log_handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        )

    def answering() -> dict[str, Any] | None:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}; see {log_path}")
        return running_gateway(home)

    info = wait_until(answering, timeout_s)
    if info:
        return info, True
    process.kill()
    raise TimeoutError(f"gateway did not answer within {timeout_s}s; see {log_path}")


def stop_gateway(home: Path | None = None, timeout_s: float = 5.0) -> bool:
    path = info_file(home)
    if not path.exists():
        return False
    pid = json.loads(path.read_text())["pid"]
    stopped = terminate(pid, timeout_s) if runs_module(pid, "multicloud.dr.gateway") else False
    path.unlink(missing_ok=True)
    return stopped


def runs_module(pid: int, module: str) -> bool:
    """Whether ``pid`` still runs ``python -m <module>``: a recorded pid may belong to another process by now."""
    try:
        return module in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return True  # gone (terminate then does nothing) or no /proc here: trust the recorded pid


def terminate(pid: int, timeout_s: float = 5.0) -> bool:
    """SIGTERM, wait, then SIGKILL. False if the process was already gone."""
    if not _alive(pid):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if wait_until(lambda: not _alive(pid), timeout_s):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def _alive(pid: int) -> bool:
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", required=True, type=Path)
    parser.add_argument("--info", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = make_server(args.routes, args.port)
    monitor = health.HealthMonitor(
        args.routes, args.routes.with_name(health.HEALTH_FILE), args.routes.with_name(health.SIGNALS_FILE),
        update_routes=lambda change: update_routes(args.routes, change),
        read_routes=lambda: read_routes(args.routes))
    threading.Thread(target=monitor.run_forever, name="health-monitor", daemon=True).start()

    def _stop(*_: Any) -> None:
        monitor.stop()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    port = server.server_address[1]
    atomic_write_text(args.info, json.dumps({"pid": os.getpid(), "port": port, "url": f"http://127.0.0.1:{port}"}))
    server.serve_forever(poll_interval=0.2)
    server.server_close()


if __name__ == "__main__":
    main()
