"""A loopback Kubernetes API emulator whose pods run, for the official client and the cncf provider.

Emulated because no kube-apiserver can run on these machines (see STACK.md), and ``kmock`` is not
faithful enough for a rollout driver. Written from the Kubernetes API reference and the client's
models; served over real HTTP. What is modelled:

- ``/version`` (and ``/version/``, which the hook's ``test_connection`` calls);
- authentication: every request needs ``Authorization: Bearer <token>`` with a static token of
  the kubeconfig, or an OKE token verified like OKE verifies it: the token is the base64url of a
  presigned ``GET https://containerengine.{region}.oraclecloud.com/cluster_request/{cluster}``
  whose ``authorization`` query parameter is an OCI HTTP signature (rsa-sha256 over ``date``,
  ``(request-target)`` and ``host``) by a registered API key, for THIS cluster, dated within 5
  minutes. Anything else is 401 ``Unauthorized``;
- namespaced ``apps/v1`` deployments, ``v1`` services, pods, endpoints and secrets, and
  ``gateway.networking.k8s.io/v1`` httproutes: POST, GET, list with ``labelSelector`` (equality
  and ``key`` existence), PUT (with resourceVersion conflict check), DELETE, ``/status``;
- the four PATCH types: strategic merge (lists of objects merged by ``name``), JSON patch (RFC
  6902, via ``jsonpatch``), JSON merge patch (RFC 7386), and server-side apply
  (``application/apply-patch+yaml`` creates a missing object; ``fieldManager`` is required,
  ``force`` accepted). Field ownership of server-side apply is NOT modelled: an apply merges the
  applied fields like a strategic merge (so an env var dropped from an applied template survives,
  as a strategic merge would keep it);
- metadata the server owns: uid, resourceVersion (one global counter), generation (bumped on spec
  changes only), creationTimestamp;
- newline-delimited JSON watch (``watch=true``) honouring ``resourceVersion`` and ``timeoutSeconds``;
- Kubernetes ``Status`` errors (401, 404 NotFound, 409 AlreadyExists/Conflict, 400, 415, 422, 503);
- a deployment controller + kubelet whose pods RUN: for every Deployment it keeps
  ``spec.replicas`` pods of the current template (``pod-template-hash`` label), starts each pod's
  container as a local process (``command`` + ``args`` + ``env``, ``valueFrom.secretKeyRef`` and
  ``envFrom.secretRef`` resolved from Secrets; a missing Secret is ``CreateContainerConfigError``),
  marks a pod Ready only when its ``readinessProbe`` (httpGet) answers 2xx, restarts a container
  that exits (``restartCount``), replaces old-template pods once the new ones are Ready, and moves
  the Deployment status forward (observedGeneration, replicas/updated/ready/available, the
  Progressing and Available conditions, ``ProgressDeadlineExceeded`` after
  ``progressDeadlineSeconds`` without progress). Tests can tell a Deployment to ``stall`` (no pods
  are created) or ``fail`` (the deadline is exceeded at once);
- Endpoints per Service from its selector's Ready pods, and the API server's service proxy
  (``/api/v1/namespaces/{ns}/services/[http:]{name}[:{port}]/proxy/{path}``) forwarding to them
  (round robin; 503 when none is Ready);
- an ingress (``ingress_url``): ``{ingress_url}/{service}/{path}`` forwards like the proxy, for an
  estate's per-cluster ``external_url``.

Images: ``images`` maps an image name to how its container runs here: ``python`` (the interpreter
that stands for the image's ``python``) and ``env`` (e.g. PYTHONPATH to the serving package),
``cmd`` (the image's CMD when the container gives no command), or ``SIMULATED`` (no process: the
pod is Ready one tick after it is scheduled, for control-plane-only tests). An unknown image is
``ErrImagePull``: the pod never runs.

NOT modelled: network namespaces (each pod gets its own loopback address 127.77.x.y, and its
container ports are remapped to free ports there: ``--port``/``--host`` arguments and ``PORT`` are
rewritten, the rest of the command line is the pod's own); RBAC (any authenticated caller may do
anything); the scheduler, nodes, resources and quotas (``resources`` are stored, never enforced;
``securityContext`` is stored, not applied: processes run as the test's user); liveness probes;
ReplicaSet objects (revisions live in the Deployment driver's annotation); the Gateway API data
plane (HTTPRoutes are stored and validated for weights, traffic is not split by them: the proxy
and the ingress spread requests over every Ready pod of the Service); maxSurge/maxUnavailable
(a new template's pods start all at once).
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import copy
import hashlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonpatch

from tests.emulators.http_json import reply_json

_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[a-z0-9.-]+)/(?P<version>v[0-9a-z]+))/namespaces/(?P<ns>[^/]+)/"
    r"(?P<plural>deployments|services|pods|endpoints|secrets|httproutes)(?:/(?P<name>[^/]+))?"
    r"(?:/(?P<sub>status|scale))?$")
_PROXY = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/services/(?:https?:)?(?P<name>[^/:]+)(?::(?P<port>[^/]+))?"
                    r"/proxy(?P<rest>/.*)?$")
_KINDS = {"deployments": ("apps/v1", "Deployment"), "services": ("v1", "Service"), "pods": ("v1", "Pod"),
          "endpoints": ("v1", "Endpoints"), "secrets": ("v1", "Secret"),
          "httproutes": ("gateway.networking.k8s.io/v1", "HTTPRoute")}
SIMULATED = "simulated"
OKE_TOKEN_MAX_AGE_S = 300
IDLE_TICK_S = 0.25  # how often a settled controller looks for exited containers
_SIG_RE = re.compile(r'(\w+)="([^"]*)"')
_POD_ADDRESSES = itertools.count(1)


def _rv_of(event: tuple[int, str, str, dict[str, Any]]) -> int:
    return event[0]


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


def _die_with_controller() -> None:
    """In the child: SIGKILL when the spawning thread (the controller) ends, so no pod outlives a crashed test."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def template_hash(template: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class PodRuntime:
    """The kubelet's view of one pod: its process, address and probe state."""

    name: str
    namespace: str
    ip: str
    ports: dict[int, int] = field(default_factory=dict)  # containerPort -> port on the pod address
    process: subprocess.Popen | None = None
    log: Any = None
    restarts: int = 0
    ready: bool = False
    waiting: str = ""  # ErrImagePull, CreateContainerConfigError, CrashLoopBackOff, ...
    message: str = ""
    next_start: float = 0.0
    simulated: bool = False


class OKEVerifier:
    """Verifies OKE tokens: a presigned, OCI-signed ``GET /cluster_request/{cluster}`` for one cluster."""

    def __init__(self, cluster_id: str, region: str, public_keys: dict[str, bytes]) -> None:
        from cryptography.hazmat.primitives import serialization

        self.cluster_id, self.region = cluster_id, region
        self.keys = {key_id: serialization.load_pem_public_key(pem) for key_id, pem in public_keys.items()}

    def verify(self, token: str) -> str:
        """The keyId that signed a valid token; raises ValueError saying why not."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            raise ValueError("not an OKE token (not base64url)") from None
        split = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        host = f"containerengine.{self.region}.oraclecloud.com"
        if split.scheme != "https" or split.netloc != host:
            raise ValueError(f"token is for {split.netloc}, not {host}")
        if split.path != f"/cluster_request/{self.cluster_id}":
            raise ValueError(f"token is for {split.path}, not this cluster")
        fields = dict(_SIG_RE.findall(query.get("authorization", "")))
        if fields.get("algorithm") != "rsa-sha256" or fields.get("keyId") not in self.keys:
            raise ValueError(f"unknown key {fields.get('keyId')!r} or algorithm {fields.get('algorithm')!r}")
        signed_date = query.get("date", "")
        lines = []
        for name in fields.get("headers", "").split():
            if name == "date":
                lines.append(f"date: {signed_date}")
            elif name == "(request-target)":
                lines.append(f"(request-target): get {split.path}")
            elif name == "host":
                lines.append(f"host: {host}")
            else:
                raise ValueError(f"signed header {name!r} cannot be checked from a token")
        if not {"date", "(request-target)", "host"} <= set(fields.get("headers", "").split()):
            raise ValueError("the signature must cover date, (request-target) and host")
        try:
            self.keys[fields["keyId"]].verify(base64.b64decode(fields.get("signature", "")), "\n".join(lines).encode(),
                                              padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            raise ValueError("signature does not verify") from None
        age = abs(time.time() - parsedate_to_datetime(signed_date).timestamp())
        if age > OKE_TOKEN_MAX_AGE_S:
            raise ValueError(f"token expired (signed {age:.0f}s ago)")
        return fields["keyId"]


class KubernetesEmulator:
    def __init__(self, tick_s: float = 0.02, images: dict[str, Any] | None = None,
                 tokens: set[str] | None = None, oke: OKEVerifier | None = None) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.events: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, plural, type, object)
        self.event_times: list[float] = []  # wall-clock time of each event (tests order cross-cluster steps)
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content type)
        self.proxied: list[tuple[str, str, str]] = []  # (service, pod, path) the proxy or ingress forwarded
        self.rejected: list[str] = []  # why each unauthenticated request was refused
        self.errors: list[str] = []  # exceptions in the controller loop (tests assert there are none)
        self.stalled: set[str] = set()
        self.failing: set[str] = set()
        self.images = dict(images or {})
        self.tokens = set(tokens or {"emulator-token"})
        self.oke = oke
        self.tick_s = tick_s
        self.pods: dict[tuple[str, str], PodRuntime] = {}
        self._rv = 0
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._poke = threading.Event()  # an API write: the controller reconciles at once
        self._since: dict[tuple[str, str, str], float] = {}  # when each Deployment last made progress
        self._progress: dict[tuple[str, str, str], tuple[int, ...]] = {}
        self._round_robin = itertools.count()
        self._server: ThreadingHTTPServer | None = None
        self._ingress: ThreadingHTTPServer | None = None
        self._controller_thread: threading.Thread | None = None
        self._log_dir: str | None = None

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self, log_dir: str | None = None) -> KubernetesEmulator:
        """Serve; ``log_dir`` keeps each pod's output (``<pod>.log``), else it is discarded."""
        self._log_dir = log_dir
        if log_dir:
            os.makedirs(log_dir, exist_ok=True)
        self._server = self._serve(self._dispatch)
        self._ingress = self._serve(self._ingress_dispatch)
        self._controller_thread = threading.Thread(target=self._controller, daemon=True)
        self._controller_thread.start()
        return self

    def _serve(self, dispatch: Any) -> ThreadingHTTPServer:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY, as Go's net/http (kube-apiserver) sets on every connection: without it a
            # keep-alive reply written as headers then body waits ~40 ms for the client's delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, *_args: Any) -> None:
                return

            def do_GET(self) -> None:
                dispatch(self, "GET")

            def do_POST(self) -> None:
                dispatch(self, "POST")

            def do_PUT(self) -> None:
                dispatch(self, "PUT")

            def do_PATCH(self) -> None:
                dispatch(self, "PATCH")

            def do_DELETE(self) -> None:
                dispatch(self, "DELETE")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()
        if self._controller_thread:
            self._controller_thread.join(timeout=5)
        with self._lock:
            for pod in list(self.pods.values()):
                self._kill(pod)
            self.pods.clear()
        for server in (self._server, self._ingress):
            if server:
                server.shutdown()
                server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def ingress_url(self) -> str:
        assert self._ingress is not None
        return f"http://127.0.0.1:{self._ingress.server_address[1]}"

    def kubeconfig(self, namespace: str = "models", token: str = "emulator-token") -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": token}}],
            "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester",
                                                          "namespace": namespace}}],
        }

    # ---- switches and views for tests ----------------------------------------------------------
    def stall(self, name: str) -> None:
        self.stalled.add(name)
        self._poke.set()

    def fail(self, name: str) -> None:
        self.failing.add(name)
        self._poke.set()

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self.objects.get((plural, namespace, name))
            return copy.deepcopy(obj) if obj else None

    def list(self, plural: str, namespace: str = "models", selector: str = "") -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(o) for (p, ns, _n), o in sorted(self.objects.items())
                    if p == plural and ns == namespace and _matches(o["metadata"].get("labels") or {}, selector)]

    def put_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        with self._lock:
            body = {"metadata": {"name": name}, "type": "Opaque",
                    "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
            self._create("secrets", namespace, body)
        self._poke.set()

    def first_time(self, plural: str, name: str, kind: str | None = None, when: Any = None) -> float | None:
        """When ``name`` first had an event of ``kind`` (any) whose object satisfies ``when`` (any)."""
        with self._lock:
            for (_rv, p, event, obj), at in zip(self.events, self.event_times, strict=True):
                if p == plural and obj["metadata"]["name"] == name and kind in (None, event) \
                        and (when is None or when(obj)):
                    return at
        return None

    def running_pids(self) -> list[int]:
        with self._lock:
            return [p.process.pid for p in self.pods.values() if p.process and p.process.poll() is None]

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
        self.event_times.append(time.time())
        self._changed.notify_all()
        return copy.deepcopy(obj)

    def _create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        name = (body.get("metadata") or {}).get("name")
        if not name:
            raise KubeError(422, "Invalid", f"{_KINDS[plural][1]}.metadata.name: Required value")
        if (plural, namespace, name) in self.objects:
            raise KubeError(409, "AlreadyExists", f'{plural}.{_KINDS[plural][0]} "{name}" already exists')
        obj = copy.deepcopy(body)
        self._validate(plural, obj)
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

    @staticmethod
    def _validate(plural: str, obj: dict[str, Any]) -> None:
        if plural == "httproutes":
            for rule in (obj.get("spec") or {}).get("rules") or []:
                for ref in rule.get("backendRefs") or []:
                    weight = ref.get("weight", 1)
                    if not isinstance(weight, int) or not 0 <= weight <= 1_000_000:
                        raise KubeError(422, "Invalid", f"spec.rules.backendRefs.weight: Invalid value: {weight}")
        if plural == "deployments":
            containers = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")
            if not containers:
                raise KubeError(422, "Invalid", "spec.template.spec.containers: Required value")

    def _replace(self, plural: str, current: dict[str, Any], new: dict[str, Any], subresource: str | None) -> dict:
        obj = copy.deepcopy(current)
        if subresource == "status":
            obj["status"] = new.get("status", {})
        else:
            status = obj.get("status")
            obj = copy.deepcopy(new)
            self._validate(plural, obj)
            obj.update(apiVersion=current["apiVersion"], kind=current["kind"])
            meta = obj.setdefault("metadata", {})
            for owned in ("uid", "creationTimestamp", "namespace", "name", "generation"):
                meta[owned] = current["metadata"][owned]
            if status is not None:
                obj["status"] = status
            if obj.get("spec") != current.get("spec"):
                meta["generation"] = current["metadata"]["generation"] + 1
        return self._store(plural, obj, "MODIFIED")

    # ---- controller: deployments, pods (the kubelet), endpoints -----------------------------------
    def _controller(self) -> None:
        """Reconcile every ``tick_s`` while something is converging; when all is settled, sleep until
        an API write (or ``IDLE_TICK_S``, to notice a container that exited). Readiness probes run
        outside the lock, so API requests never wait for a pod's HTTP answer."""
        busy = True
        while not self._stop.is_set():
            self._poke.wait(self.tick_s if busy else IDLE_TICK_S)
            self._poke.clear()
            if self._stop.is_set():
                return
            try:
                with self._lock:
                    before = self._rv
                    for key, dep in list(self.objects.items()):
                        if key[0] == "deployments":
                            self._reconcile(key, dep)
                    to_probe = []
                    for (plural, ns, name), pod in list(self.objects.items()):
                        if plural == "pods":
                            to_probe += self._kubelet(ns, name, pod)
                    for key, svc in list(self.objects.items()):
                        if key[0] == "services":
                            self._endpoints(key[1], svc)
                    self._reap_orphan_pods()
                    waiting = any(not p.ready for p in self.pods.values())
                    changed = self._rv != before
                answered = [(runtime, process) for runtime, process, container in to_probe
                            if self._probe(runtime, container)]
                with self._lock:
                    for runtime, process in answered:
                        if runtime.process is process and process.poll() is None:  # still that container
                            runtime.ready = True
                busy = waiting or changed or bool(answered)
                if answered:
                    self._poke.set()  # publish the Ready pods at once (pod status, endpoints, deployment)
            except Exception as exc:  # a controller bug must show in the test, not silently stop the loop
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def _pods_of(self, namespace: str, deployment: str) -> list[dict[str, Any]]:
        return [o for (p, ns, _n), o in sorted(self.objects.items()) if p == "pods" and ns == namespace
                and (o["metadata"].get("labels") or {}).get("emulator.multicloud.io/deployment") == deployment]

    def _reconcile(self, key: tuple[str, str, str], dep: dict[str, Any]) -> None:
        spec, status, meta = dep["spec"], dep["status"], dep["metadata"]
        namespace, name = key[1], key[2]
        want = int(spec.get("replicas", 1))
        digest = template_hash(spec["template"])
        pods = self._pods_of(namespace, name)
        current = [p for p in pods if p["metadata"]["labels"].get("pod-template-hash") == digest]
        old = [p for p in pods if p not in current]
        if name not in self.stalled and name not in self.failing:
            for _ in range(want - len(current)):
                current.append(self._create_pod(namespace, name, spec["template"], digest))
        for extra in current[want:] if len(current) > want else []:
            self._delete_pod(extra)
        current = current[:want]
        ready = [p for p in current if self._pod_ready(p)]
        if len(ready) == want:
            for stale in old:  # the new revision serves: the old one goes (a rolling update's end)
                self._delete_pod(stale)
            old = []
        old_ready = [p for p in old if self._pod_ready(p)]
        new = copy.deepcopy(status)
        before = json.dumps(status, sort_keys=True)
        new["observedGeneration"] = meta["generation"]
        new["replicas"] = len(current) + len(old)
        new["updatedReplicas"] = len(current)
        new["readyReplicas"] = new["availableReplicas"] = len(ready) + len(old_ready)
        progress = (new["observedGeneration"], new["updatedReplicas"], new["readyReplicas"], new["replicas"])
        last = self._since.get(key)
        if last is None or self._progress.get(key) != progress:
            self._since[key] = last = time.time()
        self._progress[key] = progress
        done = len(ready) == want and not old
        deadline = float(spec.get("progressDeadlineSeconds", 600))
        if name in self.failing or (not done and time.time() - last > deadline):
            self._condition(new, "Progressing", "False", "ProgressDeadlineExceeded",
                            f'ReplicaSet "{name}-{digest}" has timed out progressing.')
        else:
            self._condition(new, "Progressing", "True", "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                            f'ReplicaSet "{name}-{digest}" ' + ("has successfully progressed." if done
                                                               else "is progressing."))
        self._condition(new, "Available", "True" if new["availableReplicas"] >= want else "False",
                        "MinimumReplicasAvailable", "Deployment has minimum availability.")
        if json.dumps(new, sort_keys=True) != before:
            dep = copy.deepcopy(dep)
            dep["status"] = new
            self._store("deployments", dep, "MODIFIED")

    def _create_pod(self, namespace: str, deployment: str, template: dict[str, Any], digest: str) -> dict[str, Any]:
        suffix = uuid.uuid4().hex[:5]
        labels = {**((template.get("metadata") or {}).get("labels") or {}), "pod-template-hash": digest,
                  "emulator.multicloud.io/deployment": deployment}
        n = next(_POD_ADDRESSES)
        ip = f"127.77.{(n // 250) % 250}.{n % 250 + 1}"
        body = {"metadata": {"name": f"{deployment}-{digest}-{suffix}", "labels": labels,
                             "annotations": (template.get("metadata") or {}).get("annotations") or {}},
                "spec": copy.deepcopy(template.get("spec") or {}),
                "status": {"phase": "Pending", "podIP": ip, "conditions": [
                    {"type": "Ready", "status": "False"}]}}
        pod = self._create("pods", namespace, body)
        self.pods[(namespace, pod["metadata"]["name"])] = PodRuntime(pod["metadata"]["name"], namespace, ip)
        return pod

    def _delete_pod(self, pod: dict[str, Any]) -> None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        runtime = self.pods.pop(key, None)
        if runtime:
            self._kill(runtime)
        if ("pods", *key) in self.objects:
            self._store("pods", copy.deepcopy(self.objects[("pods", *key)]), "DELETED")

    def _reap_orphan_pods(self) -> None:
        """Pods whose Deployment is gone are deleted (garbage collection of owned objects)."""
        deployments = {(ns, n) for (p, ns, n) in self.objects if p == "deployments"}
        for (p, ns, _n), pod in list(self.objects.items()):
            owner = (pod["metadata"].get("labels") or {}).get("emulator.multicloud.io/deployment")
            if p == "pods" and owner and (ns, owner) not in deployments:
                self._delete_pod(pod)

    def _pod_ready(self, pod: dict[str, Any]) -> bool:
        runtime = self.pods.get((pod["metadata"]["namespace"], pod["metadata"]["name"]))
        return bool(runtime and runtime.ready)

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

    # ---- the kubelet -------------------------------------------------------------------------------
    def _kubelet(self, namespace: str, name: str, pod: dict[str, Any]) -> list[tuple[PodRuntime, Any, dict]]:
        """Start, restart and report one pod's container; returns the readiness probes still to run."""
        runtime = self.pods.get((namespace, name))
        if runtime is None:
            return []
        container = pod["spec"]["containers"][0]
        alive = runtime.process is not None and runtime.process.poll() is None
        if runtime.process is not None and not alive:  # the container exited: back off, restart
            runtime.ready = False
            runtime.restarts += 1
            runtime.waiting, runtime.message = "CrashLoopBackOff", f"exit code {runtime.process.returncode}"
            runtime.process = None
            runtime.next_start = time.time() + min(0.5 * runtime.restarts, 5.0)
        if runtime.process is None and not runtime.simulated and time.time() >= runtime.next_start:
            self._start_container(runtime, pod, container)
        self._pod_status(pod, runtime, container)
        if runtime.process is not None and not runtime.ready:
            return [(runtime, runtime.process, container)]  # probed by the controller, outside the lock
        return []

    def _start_container(self, runtime: PodRuntime, pod: dict[str, Any], container: dict[str, Any]) -> None:
        image = self.images.get(container.get("image", ""))
        if image is None:
            runtime.waiting, runtime.message = "ErrImagePull", f"image {container.get('image')!r} not found"
            runtime.next_start = time.time() + 1.0
            return
        if image == SIMULATED:
            runtime.simulated, runtime.ready, runtime.waiting = True, True, ""
            return
        try:
            env = self._container_env(pod, container)
        except KubeError as exc:
            runtime.waiting, runtime.message = "CreateContainerConfigError", exc.message
            runtime.next_start = time.time() + 0.5
            return
        for port in container.get("ports") or []:
            runtime.ports.setdefault(int(port["containerPort"]), _free_port(runtime.ip))
        argv = list(container.get("command") or []) + list(container.get("args") or [])
        if not container.get("command") and not container.get("args"):
            argv = list(image.get("cmd") or [])
        argv = self._rewrite_network(argv, runtime)
        if argv and argv[0] == "python":
            argv[0] = image["python"]
        env = {**image.get("env", {}), **env}
        if "PORT" in env and env["PORT"].isdigit():
            env["PORT"] = str(runtime.ports.get(int(env["PORT"]), env["PORT"]))
        if self._log_dir:
            runtime.log = open(os.path.join(self._log_dir, f"{runtime.name}.log"), "ab")  # noqa: SIM115
        runtime.process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                           stdout=runtime.log or subprocess.DEVNULL,
                                           stderr=runtime.log or subprocess.DEVNULL, start_new_session=True,
                                           preexec_fn=_die_with_controller)  # noqa: PLW1509 (prctl only: no locks)
        runtime.waiting = runtime.message = ""

    @staticmethod
    def _rewrite_network(argv: list[str], runtime: PodRuntime) -> list[str]:
        out = []
        for i, given in enumerate(argv):
            previous = argv[i - 1] if i else ""
            if previous == "--port" and given.isdigit():
                out.append(str(runtime.ports.get(int(given), given)))
            elif previous == "--host" and given in ("0.0.0.0", "::"):
                out.append(runtime.ip)
            else:
                out.append(given)
        return out

    def _secret_value(self, namespace: str, name: str, key: str | None) -> dict[str, str]:
        secret = self.objects.get(("secrets", namespace, name))
        if secret is None:
            raise KubeError(422, "CreateContainerConfigError", f'secret "{name}" not found')
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        data.update(secret.get("stringData") or {})
        if key is not None and key not in data:
            raise KubeError(422, "CreateContainerConfigError", f"couldn't find key {key} in Secret {namespace}/{name}")
        return data if key is None else {key: data[key]}

    def _container_env(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
        namespace = pod["metadata"]["namespace"]
        env: dict[str, str] = {"HOSTNAME": pod["metadata"]["name"]}
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                env.update(self._secret_value(namespace, source["secretRef"]["name"], None))
        for var in container.get("env") or []:
            if "value" in var:
                env[var["name"]] = str(var["value"])
            elif "secretKeyRef" in (var.get("valueFrom") or {}):
                ref = var["valueFrom"]["secretKeyRef"]
                env[var["name"]] = self._secret_value(namespace, ref["name"], ref["key"])[ref["key"]]
            elif "fieldRef" in (var.get("valueFrom") or {}):
                path = var["valueFrom"]["fieldRef"]["fieldPath"]
                env[var["name"]] = {"metadata.name": pod["metadata"]["name"], "metadata.namespace": namespace,
                                    "status.podIP": pod["status"]["podIP"]}.get(path, "")
        return env

    def _probe(self, runtime: PodRuntime, container: dict[str, Any]) -> bool:
        probe = (container.get("readinessProbe") or {}).get("httpGet")
        if not probe:
            return True  # no readiness probe: Ready once the container runs
        port = probe["port"]
        if isinstance(port, str):
            port = next((int(p["containerPort"]) for p in container.get("ports") or [] if p.get("name") == port), 0)
        target = runtime.ports.get(int(port), int(port))
        try:
            with urllib.request.urlopen(f"http://{runtime.ip}:{target}{probe.get('path', '/')}", timeout=0.5) as reply:
                return 200 <= reply.status < 400
        except (OSError, ValueError):
            return False

    def _pod_status(self, pod: dict[str, Any], runtime: PodRuntime, container: dict[str, Any]) -> None:
        running = runtime.simulated or (runtime.process is not None and runtime.process.poll() is None)
        state = {"running": {}} if running else {"waiting": {"reason": runtime.waiting or "ContainerCreating",
                                                             "message": runtime.message}}
        status = {"phase": "Running" if running else "Pending", "podIP": runtime.ip,
                  "conditions": [{"type": "Ready", "status": "True" if runtime.ready else "False"}],
                  "containerStatuses": [{"name": container.get("name", ""), "image": container.get("image", ""),
                                         "ready": runtime.ready, "restartCount": runtime.restarts, "state": state}]}
        if status != pod.get("status"):
            pod = copy.deepcopy(pod)
            pod["status"] = status
            self._store("pods", pod, "MODIFIED")

    @staticmethod
    def _kill(runtime: PodRuntime) -> None:
        process = runtime.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=3)
        if runtime.log:
            runtime.log.close()
        runtime.process, runtime.ready = None, False

    def _endpoints(self, namespace: str, svc: dict[str, Any]) -> None:
        selector = (svc.get("spec") or {}).get("selector") or {}
        ports = (svc.get("spec") or {}).get("ports") or []
        subsets = []
        for (p, ns, _n), pod in sorted(self.objects.items()):
            if p != "pods" or ns != namespace or not selector:
                continue
            labels = pod["metadata"].get("labels") or {}
            runtime = self.pods.get((ns, pod["metadata"]["name"]))
            if runtime and runtime.ready and all(labels.get(k) == v for k, v in selector.items()):
                subsets.append({"addresses": [{"ip": runtime.ip, "targetRef": {
                    "kind": "Pod", "name": pod["metadata"]["name"], "namespace": ns}}],
                    "ports": [{"name": port.get("name", ""), "protocol": "TCP",
                               "port": runtime.ports.get(int(port.get("targetPort", port["port"])),
                                                         int(port.get("targetPort", port["port"])))}
                              for port in ports]})
        name = svc["metadata"]["name"]
        current = self.objects.get(("endpoints", namespace, name))
        if current is None:
            self._create("endpoints", namespace, {"metadata": {"name": name, "labels": svc["metadata"].get("labels") or {}},
                                                  "subsets": subsets})
        elif current.get("subsets") != subsets:
            updated = copy.deepcopy(current)
            updated["subsets"] = subsets
            self._store("endpoints", updated, "MODIFIED")

    # ---- HTTP: authentication, the API, the service proxy, the ingress -----------------------------
    def _authenticated(self, http: BaseHTTPRequestHandler) -> bool:
        header = http.headers.get("Authorization") or ""
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if token and token in self.tokens:
            return True
        if token and self.oke is not None:
            try:
                self.oke.verify(token)
                return True
            except ValueError as exc:
                self.rejected.append(str(exc))
                return False
        self.rejected.append("no bearer token" if not token else "unknown token")
        return False

    def _dispatch(self, http: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(http.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        content_type = (http.headers.get("Content-Type") or "").split(";")[0].strip()
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        self.requests.append((method, split.path, content_type))
        try:
            if not self._authenticated(http):
                raise KubeError(401, "Unauthorized", "Unauthorized")
            if split.path.rstrip("/") == "/version":
                return self._reply(http, 200, {
                    "major": "1", "minor": "31", "gitVersion": "v1.31.0", "gitCommit": "emulator",
                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                    "compiler": "gc", "platform": "linux/amd64"})
            proxy = _PROXY.match(split.path)
            if proxy:
                rest = (proxy["rest"] or "/") + (f"?{split.query}" if split.query else "")
                return self._forward(http, method, proxy["ns"], proxy["name"], proxy["port"], rest, raw, content_type)
            match = _PATH.match(split.path)
            if not match:
                raise KubeError(404, "NotFound", f"the server could not find the requested resource ({split.path})")
            body = json.loads(raw) if raw else None
            plural, namespace, name, sub = match["plural"], match["ns"], match["name"], match["sub"]
            if method == "GET" and name is None and query.get("watch", "").lower() == "true":
                return self._watch(http, plural, namespace, query)
            with self._lock:
                status, payload = self._handle(method, plural, namespace, name, sub, body, query, content_type)
            if method != "GET":
                self._poke.set()
            self._reply(http, status, payload)
        except KubeError as exc:
            self._reply(http, exc.code, exc.body())
        except (ValueError, jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            self._reply(http, 400 if isinstance(exc, json.JSONDecodeError) else 422,
                        KubeError(422, "Invalid", str(exc)).body())

    def _ingress_dispatch(self, http: BaseHTTPRequestHandler, method: str) -> None:
        """``{ingress}/{namespace}/{service}/{path}``: what an ingress controller with one rule per Service does."""
        split = urlsplit(http.path)
        parts = split.path.split("/", 3)
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        if len(parts) < 3 or not parts[2]:
            return self._reply(http, 404, {"error": "no ingress rule"})
        rest = "/" + (parts[3] if len(parts) > 3 else "") + (f"?{split.query}" if split.query else "")
        try:
            self._forward(http, method, parts[1], parts[2], None, rest, raw,
                          (http.headers.get("Content-Type") or "").split(";")[0])
        except KubeError as exc:
            self._reply(http, exc.code, exc.body())

    def _forward(self, http: BaseHTTPRequestHandler, method: str, namespace: str, service: str, port: str | None,
                 rest: str, raw: bytes, content_type: str) -> None:
        with self._lock:
            svc = self.objects.get(("services", namespace, service))
            if svc is None:
                raise KubeError(404, "NotFound", f'services "{service}" not found')
            ports = svc["spec"].get("ports") or []
            chosen = next((p for p in ports if port in (None, str(p["port"]), p.get("name"))), None)
            if chosen is None:
                raise KubeError(503, "ServiceUnavailable", f"no service port {port!r} on {service}")
            endpoints = self.objects.get(("endpoints", namespace, service)) or {}
            targets = [(s["addresses"][0]["ip"], s["ports"][0]["port"], s["addresses"][0]["targetRef"]["name"])
                       for s in endpoints.get("subsets") or [] if s.get("ports")]
        if not targets:
            raise KubeError(503, "ServiceUnavailable", f'no endpoints available for service "{service}"')
        ip, target_port, pod = targets[next(self._round_robin) % len(targets)]
        self.proxied.append((service, pod, rest))
        request = urllib.request.Request(f"http://{ip}:{target_port}{rest}", data=raw or None, method=method,
                                         headers={"Content-Type": content_type or "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                status, data, kind = reply.status, reply.read(), reply.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            status, data, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
        except OSError as exc:
            raise KubeError(503, "ServiceUnavailable", f"error trying to reach service: {exc}") from None
        http.send_response(status)
        http.send_header("Content-Type", kind or "application/octet-stream")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)

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
            if plural == "pods":
                self._delete_pod(current)
                return 200, copy.deepcopy(current)
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
                    tail = self.events[bisect.bisect_right(self.events, since, key=_rv_of):]
                    if not tail:
                        self._changed.wait(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
                        continue
                since = tail[-1][0]
                for _rv, p, kind, obj in tail:
                    if p == plural and visible(obj):
                        chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
            chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            return

    _reply = staticmethod(reply_json)


def main() -> int:
    """``python -m tests.emulators.kubernetes --clusters N --images JSON``: N API servers in their own process.

    Prints one JSON line ``{"kubeconfigs": [...]}`` once all serve, then runs until stdin closes (the
    parent exits or closes it), stopping every pod. Benchmarks use this so the emulated control
    planes do not compete with the measured code for the same interpreter.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, required=True)
    parser.add_argument("--images", required=True, help="JSON: the images mapping (see KubernetesEmulator)")
    parser.add_argument("--log-dir", default=None)
    args = parser.parse_args()
    emulators = [KubernetesEmulator(images=json.loads(args.images)).start(log_dir=args.log_dir)
                 for _ in range(args.clusters)]
    print(json.dumps({"kubeconfigs": [e.kubeconfig() for e in emulators]}), flush=True)
    try:
        sys.stdin.read()
    finally:
        for emulator in emulators:
            emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
