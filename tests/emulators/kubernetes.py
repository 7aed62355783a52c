"""A loopback Kubernetes API emulator for the official client (and the cncf provider's hook).

Emulated because no kube-apiserver can run on these machines (see STACK.md), and ``kmock`` is not
faithful enough for a rollout driver. Served over real HTTP, with what the driver relies on:

- ``/version`` (and ``/version/``, which the hook's ``test_connection`` calls);
- namespaced ``apps/v1`` deployments and ``v1`` services: POST, GET, list with ``labelSelector``
  (equality and ``key`` existence), PUT (with resourceVersion conflict check), DELETE, the
  ``/status`` subresource (GET/PUT/PATCH);
- the four PATCH types: strategic merge (lists of objects merged by ``name``), JSON patch (RFC
  6902, via ``jsonpatch``), JSON merge patch (RFC 7386), and server-side apply
  (``application/apply-patch+yaml`` creates a missing object; ``fieldManager`` is required,
  ``force`` accepted). Field ownership of server-side apply is NOT modelled: an apply merges the
  applied fields like a strategic merge;
- metadata the server owns: uid, resourceVersion (one global counter), generation (bumped on spec
  changes only), creationTimestamp;
- newline-delimited JSON watch (``watch=true``) honouring ``resourceVersion`` and ``timeoutSeconds``;
- Kubernetes ``Status`` errors (404 NotFound, 409 AlreadyExists/Conflict, 400, 415, 422);
- a controller loop moving each Deployment's status forward one replica per tick like the
  deployment controller (observedGeneration, updated/ready/available replicas, the Progressing
  and Available conditions), which tests can tell to ``stall`` (progress stops and
  ``ProgressDeadlineExceeded`` follows after ``progressDeadlineSeconds``) or ``fail`` (the
  deadline is exceeded at once).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonpatch

_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[a-z0-9.-]+)/(?P<version>v[0-9a-z]+))/namespaces/(?P<ns>[^/]+)/"
    r"(?P<plural>deployments|services)(?:/(?P<name>[^/]+))?(?:/(?P<sub>status|scale))?$")
_KINDS = {"deployments": ("apps/v1", "Deployment"), "services": ("v1", "Service")}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def body(self) -> dict[str, Any]:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}


def strategic_merge(target: Any, patch: Any) -> Any:
    """Strategic merge patch: maps merge, ``null`` deletes, lists of named objects merge by name."""
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list) and isinstance(out.get(key), list) and all(
                isinstance(v, dict) and "name" in v for v in value + out[key]):
            merged = {item["name"]: item for item in out[key]}
            for item in value:
                merged[item["name"]] = strategic_merge(merged.get(item["name"], {}), item)
            out[key] = list(merged.values())
        elif isinstance(value, dict):
            out[key] = strategic_merge(out.get(key, {}), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: lists replace, ``null`` deletes."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class KubernetesEmulator:
    def __init__(self, tick_s: float = 0.02) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.events: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, plural, type, object)
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content type)
        self.stalled: set[str] = set()
        self.failing: set[str] = set()
        self.tick_s = tick_s
        self._rv = 0
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._since: dict[tuple[str, str, str], float] = {}  # when each Deployment last started progressing
        self._server: ThreadingHTTPServer | None = None

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> KubernetesEmulator:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                return

            def do_GET(self) -> None:
                emulator._dispatch(self, "GET")

            def do_POST(self) -> None:
                emulator._dispatch(self, "POST")

            def do_PUT(self) -> None:
                emulator._dispatch(self, "PUT")

            def do_PATCH(self) -> None:
                emulator._dispatch(self, "PATCH")

            def do_DELETE(self) -> None:
                emulator._dispatch(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        threading.Thread(target=self._controller, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def kubeconfig(self, namespace: str = "models") -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "emulator-token"}}],
            "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester",
                                                          "namespace": namespace}}],
        }

    # ---- switches for tests ------------------------------------------------------------------
    def stall(self, name: str) -> None:
        self.stalled.add(name)

    def fail(self, name: str) -> None:
        self.failing.add(name)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self.objects.get((plural, namespace, name))
            return copy.deepcopy(obj) if obj else None

    # ---- storage ---------------------------------------------------------------------------------
    def _store(self, plural: str, obj: dict[str, Any], event: str) -> dict[str, Any]:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = (plural, obj["metadata"]["namespace"], obj["metadata"]["name"])
        if event == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        self.events.append((self._rv, plural, event, copy.deepcopy(obj)))
        self._changed.notify_all()
        return copy.deepcopy(obj)

    def _create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        name = (body.get("metadata") or {}).get("name")
        if not name:
            raise KubeError(422, "Invalid", f"{_KINDS[plural][1]}.metadata.name: Required value")
        if (plural, namespace, name) in self.objects:
            raise KubeError(409, "AlreadyExists", f'{plural}.{_KINDS[plural][0]} "{name}" already exists')
        obj = copy.deepcopy(body)
        api_version, kind = _KINDS[plural]
        obj.update(apiVersion=api_version, kind=kind)
        meta = obj.setdefault("metadata", {})
        meta.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        if plural == "deployments":
            obj.setdefault("spec", {}).setdefault("replicas", 1)
            obj["spec"].setdefault("progressDeadlineSeconds", 600)
            obj["status"] = {"observedGeneration": 0, "replicas": 0, "updatedReplicas": 0,
                             "readyReplicas": 0, "availableReplicas": 0, "conditions": []}
        return self._store(plural, obj, "ADDED")

    def _replace(self, plural: str, current: dict[str, Any], new: dict[str, Any], subresource: str | None) -> dict:
        obj = copy.deepcopy(current)
        if subresource == "status":
            obj["status"] = new.get("status", {})
        else:
            status = obj.get("status")
            obj = copy.deepcopy(new)
            obj.update(apiVersion=current["apiVersion"], kind=current["kind"])
            meta = obj.setdefault("metadata", {})
            for owned in ("uid", "creationTimestamp", "namespace", "name", "generation"):
                meta[owned] = current["metadata"][owned]
            if status is not None:
                obj["status"] = status
            if obj.get("spec") != current.get("spec"):
                meta["generation"] = current["metadata"]["generation"] + 1
        return self._store(plural, obj, "MODIFIED")

    # ---- controller ---------------------------------------------------------------------------------
    def _controller(self) -> None:
        while not self._stop.wait(self.tick_s):
            with self._lock:
                for key, dep in list(self.objects.items()):
                    if key[0] == "deployments":
                        self._reconcile(key, dep)

    def _reconcile(self, key: tuple[str, str, str], dep: dict[str, Any]) -> None:
        spec, status, meta = dep["spec"], dep["status"], dep["metadata"]
        want = int(spec.get("replicas", 1))
        before = json.dumps(status, sort_keys=True)
        new = copy.deepcopy(status)
        started = self._since.setdefault(key, time.time())
        generation_changed = new.get("observedGeneration") != meta["generation"]
        if generation_changed:
            new["observedGeneration"] = meta["generation"]
            new["updatedReplicas"] = 0  # a new template: no replica runs it yet
            new["readyReplicas"] = new["availableReplicas"] = min(new.get("availableReplicas", 0), want)
            self._since[key] = started = time.time()
        name = meta["name"]
        deadline = float(spec.get("progressDeadlineSeconds", 600))
        if name in self.failing or (name in self.stalled and time.time() - started > deadline):
            self._condition(new, "Progressing", "False", "ProgressDeadlineExceeded",
                            f'ReplicaSet "{name}" has timed out progressing.')
        elif name not in self.stalled:
            if new["updatedReplicas"] < want:
                new["updatedReplicas"] += 1
            elif new["updatedReplicas"] > want:
                new["updatedReplicas"] = want
            new["readyReplicas"] = new["availableReplicas"] = min(new["updatedReplicas"],
                                                                  new.get("availableReplicas", 0) + 1)
            new["replicas"] = new["updatedReplicas"]
            done = new["availableReplicas"] == want and new["updatedReplicas"] == want
            self._condition(new, "Progressing", "True", "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                            f'ReplicaSet "{name}" ' + ("has successfully progressed." if done else "is progressing."))
            self._condition(new, "Available", "True" if new["availableReplicas"] >= want else "False",
                            "MinimumReplicasAvailable", "Deployment has minimum availability.")
        if json.dumps(new, sort_keys=True) != before:
            dep = copy.deepcopy(dep)
            dep["status"] = new
            self._store("deployments", dep, "MODIFIED")

    @staticmethod
    def _condition(status: dict[str, Any], kind: str, value: str, reason: str, message: str) -> None:
        conditions = [c for c in status.get("conditions", []) if c["type"] != kind]
        previous = next((c for c in status.get("conditions", []) if c["type"] == kind), None)
        if previous and (previous["status"], previous["reason"]) == (value, reason):
            conditions.append(previous)
        else:
            conditions.append({"type": kind, "status": value, "reason": reason, "message": message,
                               "lastUpdateTime": _now(), "lastTransitionTime": _now()})
        status["conditions"] = sorted(conditions, key=lambda c: c["type"])

    # ---- HTTP ---------------------------------------------------------------------------------
    def _dispatch(self, http: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(http.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        content_type = (http.headers.get("Content-Type") or "").split(";")[0].strip()
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        self.requests.append((method, split.path, content_type))
        try:
            if split.path.rstrip("/") == "/version":
                return self._reply(http, 200, {
                    "major": "1", "minor": "31", "gitVersion": "v1.31.0", "gitCommit": "emulator",
                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                    "compiler": "gc", "platform": "linux/amd64"})
            match = _PATH.match(split.path)
            if not match:
                raise KubeError(404, "NotFound", f"the server could not find the requested resource ({split.path})")
            body = json.loads(raw) if raw else None
            plural, namespace, name, sub = match["plural"], match["ns"], match["name"], match["sub"]
            if method == "GET" and name is None and query.get("watch", "").lower() == "true":
                return self._watch(http, plural, namespace, query)
            with self._lock:
                status, payload = self._handle(method, plural, namespace, name, sub, body, query, content_type)
            self._reply(http, status, payload)
        except KubeError as exc:
            self._reply(http, exc.code, exc.body())
        except (ValueError, jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            self._reply(http, 400 if isinstance(exc, json.JSONDecodeError) else 422,
                        KubeError(422, "Invalid", str(exc)).body())

    def _handle(self, method: str, plural: str, namespace: str, name: str | None, sub: str | None,
                body: Any, query: dict[str, str], content_type: str) -> tuple[int, Any]:
        key = (plural, namespace, name or "")
        current = self.objects.get(key)
        if name is None:
            if method == "GET":
                selector = query.get("labelSelector", "")
                items = [copy.deepcopy(o) for (p, ns, _n), o in sorted(self.objects.items())
                         if p == plural and ns == namespace
                         and _matches(o["metadata"].get("labels") or {}, selector)]
                return 200, {"kind": f"{_KINDS[plural][1]}List", "apiVersion": _KINDS[plural][0],
                             "metadata": {"resourceVersion": str(self._rv)}, "items": items}
            if method == "POST":
                return 201, self._create(plural, namespace, body or {})
            raise KubeError(405, "MethodNotAllowed", f"{method} is not allowed on a collection")
        if method == "PATCH" and content_type == "application/apply-patch+yaml":
            if not query.get("fieldManager"):
                raise KubeError(400, "BadRequest", "fieldManager is required for apply patch")
            if current is None:
                applied = copy.deepcopy(body or {})
                applied.setdefault("metadata", {})["name"] = name
                return 201, self._create(plural, namespace, applied)
        if current is None:
            raise KubeError(404, "NotFound", f'{plural}.{_KINDS[plural][0].split("/")[0]} "{name}" not found')
        if method == "GET":
            return 200, copy.deepcopy(current)
        if method == "DELETE":
            return 200, self._store(plural, copy.deepcopy(current), "DELETED")
        if method == "PUT":
            sent_rv = ((body or {}).get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise KubeError(409, "Conflict", f'Operation cannot be fulfilled on {plural} "{name}": '
                                "the object has been modified; please apply your changes to the latest version")
            return 200, self._replace(plural, current, body or {}, sub)
        if method == "PATCH":
            view = {"status": current.get("status", {})} if sub == "status" else current
            if content_type == "application/json-patch+json":
                patched = jsonpatch.apply_patch(copy.deepcopy(view), body or [])
            elif content_type == "application/merge-patch+json":
                patched = merge_patch(view, body or {})
            elif content_type in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
                patched = strategic_merge(view, body or {})
            else:
                raise KubeError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: "
                                f"{content_type or 'none'}")
            return 200, self._replace(plural, current, patched, sub)
        raise KubeError(405, "MethodNotAllowed", f"{method} is not allowed")

    def _watch(self, http: BaseHTTPRequestHandler, plural: str, namespace: str, query: dict[str, str]) -> None:
        since = int(query.get("resourceVersion") or 0)
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 30)
        selector = query.get("labelSelector", "")
        field = query.get("fieldSelector", "")
        only = field.split("metadata.name=", 1)[1] if "metadata.name=" in field else None
        http.send_response(200)
        http.send_header("Content-Type", "application/json")
        http.send_header("Transfer-Encoding", "chunked")
        http.end_headers()

        def chunk(data: bytes) -> None:
            http.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            http.wfile.flush()

        def visible(obj: dict[str, Any]) -> bool:
            meta = obj["metadata"]
            return (meta["namespace"] == namespace and (only is None or meta["name"] == only)
                    and _matches(meta.get("labels") or {}, selector))

        try:
            with self._lock:
                if not since:  # no resourceVersion: the current state first, as ADDED events
                    for (p, _ns, _n), obj in sorted(self.objects.items()):
                        if p == plural and visible(obj):
                            chunk(json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n")
                    since = self._rv
            while time.monotonic() < deadline:
                with self._lock:
                    fresh = [e for e in self.events if e[0] > since and e[1] == plural]
                    if not fresh:
                        self._changed.wait(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
                        continue
                since = fresh[-1][0]
                for _rv, _p, kind, obj in fresh:
                    if visible(obj):
                        chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
            chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            return

    @staticmethod
    def _reply(http: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        http.send_response(status)
        http.send_header("Content-Type", "application/json")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)
