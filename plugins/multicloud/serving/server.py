"""The model server: one process per replica, the same code in a container and on the local estate.

Two ways to start it, one HTTP surface:

    python -m multicloud.serving serve --artifact s3://bucket/models/churn-eu/v3 --host 0.0.0.0 --port 8080
        The container's CMD (images/model-server/Dockerfile) and what a Kubernetes pod runs. The
        artifact (a version folder holding model.json and card.json, or model.json itself) is read
        through fsspec (s3://, oci://, gs://, file://, with credentials from the environment or
        workload identity), and the SHA-256 of model.json is checked against the model card's
        ``artifact_sha256`` BEFORE the port opens: a server that listens serves the trained bytes.

    python -I -S server.py --artifact model.json --port-file FILE --cluster-dir DIR --cluster C ...
        The local driver's fast-start path (stdlib only, ready in tens of milliseconds; the DR
        rehearsal's RTO and the rollout benchmark depend on it). The chosen loopback port is
        published atomically once the model is loaded; a watchdog exits when the cluster's state
        directory disappears.

Endpoints: ``GET /healthz`` (liveness), ``GET /readyz`` (readiness), ``GET /version``,
``POST /predict`` (``{"instances": [{feature: value}]}``), ``GET /metrics`` (Prometheus text:
requests by code and a latency histogram, what Flagger-style checks query), and the Open Inference
Protocol V2 REST API (KServe): ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``,
``/v2/models/{name}``, ``/v2/models/{name}/ready`` and ``POST /v2/models/{name}/infer`` (also under
``/versions/{version}``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script under -I -S: make `multicloud` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from multicloud.serving.model import LogisticModel

MARKER = "multicloud-model-server"
MAX_BODY = 1 << 20
DEFAULT_PORT = 8080
# Latency histogram buckets (seconds), Prometheus' default set cut to what a model server sees.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_V2_MODEL = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<rest>/ready|/infer)?$")


class ArtifactError(RuntimeError):
    """The artifact cannot be served: unreadable, no model card, or a checksum mismatch."""


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


class Metrics:
    """Request counters and a latency histogram in Prometheus' text format (thread-safe)."""

    def __init__(self, model: str, version: str) -> None:
        self.labels = f'model="{model}",version="{version}"'
        self.codes: dict[int, int] = {}
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.total_s = 0.0
        self._lock = threading.Lock()

    def observe(self, code: int, seconds: float) -> None:
        with self._lock:
            self.codes[code] = self.codes.get(code, 0) + 1
            self.count += 1
            self.total_s += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1

    def text(self) -> str:
        with self._lock:
            lines = ["# TYPE model_server_requests_total counter"]
            lines += [f'model_server_requests_total{{{self.labels},code="{c}"}} {n}' for c, n in sorted(self.codes.items())]
            lines.append("# TYPE model_server_request_duration_seconds histogram")
            lines += [f'model_server_request_duration_seconds_bucket{{{self.labels},le="{b}"}} {n}'
                      for b, n in zip(BUCKETS, self.buckets, strict=True)]
            lines.append(f'model_server_request_duration_seconds_bucket{{{self.labels},le="+Inf"}} {self.count}')
            lines.append(f"model_server_request_duration_seconds_sum{{{self.labels}}} {self.total_s:.6f}")
            lines.append(f"model_server_request_duration_seconds_count{{{self.labels}}} {self.count}")
        return "\n".join(lines) + "\n"


def v2_metadata(model: LogisticModel) -> dict[str, Any]:
    return {"name": model.model, "versions": [model.version], "platform": "multicloud-logreg",
            "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, len(model.features)],
                        "parameters": {"features": list(model.features)}}],
            "outputs": [{"name": "probability", "datatype": "FP64", "shape": [-1]},
                        {"name": "label", "datatype": "INT64", "shape": [-1]}]}


def v2_rows(model: LogisticModel, body: dict[str, Any]) -> list[list[float]]:
    """Rows from a V2 inference request: one [N, F] tensor, or one [N] tensor per feature by name."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ValueError("'inputs' must be a non-empty list of tensors")
    width = len(model.features)

    def flat(tensor: dict[str, Any]) -> list[Any]:
        data = tensor.get("data")
        if not isinstance(data, list):
            raise ValueError(f"input {tensor.get('name')!r}: 'data' must be a list")
        return [v for row in data for v in row] if data and isinstance(data[0], list) else data

    if len(inputs) == 1 and inputs[0].get("name") not in model.features:
        tensor = inputs[0]
        values, shape = flat(tensor), tensor.get("shape") or []
        if len(shape) != 2 or shape[1] != width or shape[0] * width != len(values):
            raise ValueError(f"input {tensor.get('name')!r}: shape must be [N, {width}] and match its data; got "
                             f"shape {shape} with {len(values)} values")
        return [values[i * width:(i + 1) * width] for i in range(shape[0])]
    by_name = {t.get("name"): flat(t) for t in inputs}
    missing = [f for f in model.features if f not in by_name]
    if missing:
        raise ValueError(f"named inputs are missing feature(s) {missing}")
    lengths = {len(by_name[f]) for f in model.features}
    if len(lengths) != 1:
        raise ValueError("every named input must hold the same number of values")
    return [list(row) for row in zip(*(by_name[f] for f in model.features), strict=True)]


def make_handler(model: LogisticModel, identity: dict, metrics: Metrics | None = None):  # noqa: C901  mccabe counts the handler class's routes as one function
    metrics = metrics or Metrics(model.model, model.version)

    class Handler(BaseHTTPRequestHandler):
        server_version = "multicloud-model-server/1"

        def log_message(self, *_args) -> None:  # quiet: rollout probes would flood the log
            return

        def _send(self, code: int, body: dict | str) -> None:
            text = body if isinstance(body, str) else json.dumps(body)
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; version=0.0.4" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json_body(self) -> Any:
            length_header = self.headers.get("Content-Length") or "0"
            length = int(length_header) if length_header.isdigit() else 0
            if length <= 0 or length > MAX_BODY:
                raise ValueError(f"body must be 1..{MAX_BODY} bytes of JSON")
            return json.loads(self.rfile.read(length))

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            live = {"status": "ok", "model": model.model, "version": model.version}
            if path in ("/healthz", "/readyz"):
                self._send(200, live)
            elif path == "/version":
                self._send(200, identity)
            elif path == "/metrics":
                self._send(200, metrics.text())
            elif path in ("/v2/health/live", "/v2/health/ready"):
                self._send(200, {"live": True} if path.endswith("live") else {"ready": True})
            elif path == "/v2":
                self._send(200, {"name": "multicloud-model-server", "version": "1", "extensions": []})
            elif (match := _V2_MODEL.match(path)) and match["rest"] != "/infer":
                if not self._v2_known(match):
                    return
                self._send(200, {"name": model.model, "ready": True} if match["rest"] else v2_metadata(model))
            else:
                self._send(404, {"error": f"no route {path}"})

        def do_POST(self) -> None:
            started = time.perf_counter()
            code = self._post()
            metrics.observe(code, time.perf_counter() - started)

        def _v2_known(self, match: re.Match) -> bool:
            if match["name"] != model.model or (match["version"] and match["version"] != model.version):
                self._send(404, {"error": f"model {match['name']} version {match['version'] or 'any'} is not "
                                          f"served here (serving {model.model} {model.version})"})
                return False
            return True

        def _post(self) -> int:
            path = self.path.split("?", 1)[0]
            match = _V2_MODEL.match(path)
            if path != "/predict" and not (match and match["rest"] == "/infer"):
                self._send(404, {"error": f"no route {path}"})
                return 404
            if match and not self._v2_known(match):
                return 404
            try:
                body = self._json_body()
                if match:
                    rows = v2_rows(model, body)
                    predictions = [model.predict(row) for row in rows]
                    answer = {"model_name": model.model, "model_version": model.version, "id": body.get("id", ""),
                              "outputs": [
                                  {"name": "probability", "datatype": "FP64", "shape": [len(rows)],
                                   "data": [p["probability"] for p in predictions]},
                                  {"name": "label", "datatype": "INT64", "shape": [len(rows)],
                                   "data": [p["label"] for p in predictions]}]}
                else:
                    instances = body["instances"]
                    if not isinstance(instances, list):
                        raise ValueError("'instances' must be a list")
                    answer = {"model": model.model, "version": model.version,
                              "predictions": [model.predict(row) for row in instances]}
            except (KeyError, ValueError, TypeError) as exc:
                self._send(400, {"error": f"bad request: {exc}"})
                return 400
            self._send(200, answer)
            return 200

    return Handler


def _watchdog(cluster_dir: Path, server: ThreadingHTTPServer) -> None:
    while True:
        time.sleep(1.0)
        if not cluster_dir.is_dir():
            server.shutdown()
            return


# ---- the container entrypoint -----------------------------------------------------------------
def _artifact_files(uri: str) -> tuple[str, str]:
    """(model.json URL, card.json URL) of an artifact URI: a version folder or its model.json."""
    uri = uri.rstrip("/")
    root = uri.rsplit("/", 1)[0] if uri.endswith(".json") else uri
    return (uri if uri.endswith(".json") else f"{root}/model.json"), f"{root}/card.json"


def load_verified(uri: str) -> tuple[LogisticModel, dict[str, Any]]:
    """Read the model and its card through fsspec; the model's SHA-256 must be the card's."""
    import fsspec

    model_url, card_url = _artifact_files(uri)
    try:
        with fsspec.open(model_url, "rb") as handle:
            raw = handle.read()
        with fsspec.open(card_url, "rb") as handle:
            card = json.loads(handle.read())
    except FileNotFoundError as exc:
        raise ArtifactError(f"{uri}: {exc.filename or exc} does not exist (no model, or no model card)") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{uri}: cannot read the artifact: {type(exc).__name__}: {exc}") from None
    expected = card.get("artifact_sha256")
    if not expected:
        raise ArtifactError(f"{card_url}: the model card has no artifact_sha256; refusing an unverifiable model")
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise ArtifactError(f"{model_url}: SHA-256 {actual} does not match the model card's {expected}")
    model = LogisticModel.from_dict(json.loads(raw))
    if (model.model, model.version) != (card.get("model"), card.get("version")):
        raise ArtifactError(f"{uri}: model.json holds {model.model} {model.version}, the card "
                            f"{card.get('model')} {card.get('version')}")
    return model, card


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m multicloud.serving serve",
                                     description="serve one model artifact over HTTP (container entrypoint)")
    parser.add_argument("--artifact", default=os.environ.get("MODEL_ARTIFACT_URI", ""),
                        help="artifact URI (version folder or model.json); default $MODEL_ARTIFACT_URI")
    parser.add_argument("--host", default=os.environ.get("MODEL_SERVER_HOST", "0.0.0.0"),
                        help="bind address; default $MODEL_SERVER_HOST, else 0.0.0.0")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MODEL_SERVER_PORT", DEFAULT_PORT)),
                        help=f"default $MODEL_SERVER_PORT, else {DEFAULT_PORT}")
    args = parser.parse_args(argv)
    if not args.artifact:
        parser.error("--artifact (or MODEL_ARTIFACT_URI) is required")
    try:
        model, card = load_verified(args.artifact)  # before the port opens: a listener serves verified bytes
    except (ArtifactError, ValueError) as exc:
        print(f"model server: {exc}", file=sys.stderr)
        return 1
    env_keys = sorted(k for k in os.environ if k.startswith(("OMP_", "MODEL_SERVER_")))
    identity = {
        "model": model.model, "version": model.version, "data_class": model.data_class,
        "cluster": os.environ.get("MULTICLOUD_CLUSTER", ""), "replica": os.environ.get("HOSTNAME", ""),
        "pid": os.getpid(), "started_at": time.time(), "artifact": args.artifact,
        "artifact_sha256": card["artifact_sha256"],
        "runtime": runtime_facts(os.environ.get("MODEL_SERVER_IMAGE", ""), env_keys),
    }
    server = ThreadingHTTPServer((args.host, args.port), make_handler(model, identity))
    server.daemon_threads = True
    print(f"model server: {model.model} {model.version} on {args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


# ---- the local driver's fast-start path -------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    parser = argparse.ArgumentParser(description="multicloud model server (one local replica)")
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
