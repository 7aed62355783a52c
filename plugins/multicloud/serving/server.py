"""A small, fast-starting model server: one process per replica on a loopback port.

    python -I -S server.py --artifact model.json --port-file FILE --cluster-dir DIR ... \
        --marker multicloud-model-server

Serves ``GET /healthz``, ``GET /version`` and ``POST /predict`` (``{"instances": [{feature: value}]}``).
Stdlib only and started with ``-I -S`` so a replica is ready in tens of milliseconds (the DR
rehearsal's RTO and the 20-cluster rollout benchmark depend on it). The model is loaded BEFORE
the socket is bound and the chosen port is published (atomically) only then, so a published port
always means "model loaded". A watchdog exits when the cluster's state directory disappears, so
a deleted estate home never leaves a server behind.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

if __package__ in (None, ""):  # run as a script under -I -S: make `multicloud` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from multicloud.serving.model import LogisticModel

MARKER = "multicloud-model-server"
MAX_BODY = 1 << 20


def runtime_facts(image: str, env_keys: list[str]) -> dict:
    """What this process actually runs, for the baseline drift check."""
    limits: dict[str, float | None] = {"memory_gb": None}
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
        limits["memory_gb"] = None if soft == resource.RLIM_INFINITY else round(soft / 2**30, 3)
    except (ImportError, ValueError):
        pass
    return {
        "image": image,
        "python": platform.python_version(),
        "env": {k: os.environ.get(k) for k in env_keys},
        "limits": limits,
    }


def make_handler(model: LogisticModel, identity: dict):
    class Handler(BaseHTTPRequestHandler):
        server_version = "multicloud-model-server/1"

        def log_message(self, *_args) -> None:  # quiet: rollout probes would flood the log
            return

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, {"status": "ok", "model": model.model, "version": model.version})
            elif self.path == "/version":
                self._send(200, identity)
            else:
                self._send(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            if self.path != "/predict":
                self._send(404, {"error": f"no route {self.path}"})
                return
            length_header = self.headers.get("Content-Length") or "0"
            length = int(length_header) if length_header.isdigit() else 0
            if length <= 0 or length > MAX_BODY:
                self._send(400, {"error": f"body must be 1..{MAX_BODY} bytes of JSON"})
                return
            try:
                body = json.loads(self.rfile.read(length))
                instances = body["instances"]
                if not isinstance(instances, list):
                    raise ValueError("'instances' must be a list")
                predictions = [model.predict(row) for row in instances]
            except (KeyError, ValueError, TypeError) as exc:
                self._send(400, {"error": f"bad request: {exc}"})
                return
            self._send(200, {"model": model.model, "version": model.version, "predictions": predictions})

    return Handler


def _watchdog(cluster_dir: Path, server: ThreadingHTTPServer) -> None:
    while True:
        time.sleep(1.0)
        if not cluster_dir.is_dir():
            server.shutdown()
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="multicloud model server (one replica)")
    parser.add_argument("--artifact", required=True, help="path of model.json")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--cluster-dir", required=True)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--replica", type=int, default=0)
    parser.add_argument("--image", default="")
    parser.add_argument("--env-keys", default="")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--marker", default=MARKER)
    parser.add_argument("--home", default="")
    parser.add_argument("--memory-limit-gb", type=float, default=0.0)
    parser.add_argument("--pid-file", default="")
    args = parser.parse_args(argv)
    if args.pid_file:  # first thing: lets the driver find a server its state never recorded
        Path(args.pid_file).write_text(str(os.getpid()))
    if args.memory_limit_gb > 0:  # the runtime baseline's memory limit, enforced by the kernel
        import resource

        limit = int(args.memory_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    model = LogisticModel.load(args.artifact)  # fails (exit 1) before any port is published
    identity = {
        "model": model.model, "version": model.version, "data_class": model.data_class,
        "cluster": args.cluster, "replica": args.replica, "pid": os.getpid(),
        "started_at": time.time(),
        "runtime": runtime_facts(args.image, [k for k in args.env_keys.split(",") if k]),
    }
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(model, identity))
    server.daemon_threads = True
    port_file = Path(args.port_file)
    tmp = port_file.with_name(f".{port_file.name}.{os.getpid()}.tmp")
    tmp.write_text(str(server.server_address[1]))
    os.replace(tmp, port_file)
    threading.Thread(target=_watchdog, args=(Path(args.cluster_dir), server), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
