"""The Kubernetes cluster driver: OKE, EKS, AKS and GKE through the cncf provider's KubernetesHook.

One model version = one Deployment ``<model>-<version>`` (labels ``multicloud.io/model`` and
``multicloud.io/version``) plus a per-version Service; a per-model Service selects every version.
Every write is a server-side apply with our field manager, so a retried task converges. Rollout
status is read the way ``kubectl rollout status`` reads it: observedGeneration, updated/available
replicas, and the Progressing condition (``ProgressDeadlineExceeded`` = failed).

Pods are what production admission accepts: the model-server image's entrypoint
(``python -m multicloud.serving serve``) with the artifact URI, readiness (``/readyz``) and
liveness (``/healthz``) probes, requests = limits from the estate's runtime baseline, a non-root,
read-only, capability-free ``securityContext``, and artifact-store credentials only by reference:
``envFrom`` a Secret the estate names, or a service account bound to a cloud identity (OKE
workload identity, EKS IRSA / Pod Identity). No key is ever written into a pod spec.

Traffic: when the estate declares a Gateway API gateway for the cluster, ``shift`` writes a
``gateway.networking.k8s.io/v1`` HTTPRoute with one weighted ``backendRef`` per version; without
one, the per-model Service spreads requests over every Ready pod, i.e. the split is by replica
count, and ``served()`` says so (``traffic: replica-count``) for the reports.

Reaching the pods from an Airflow worker outside the cluster: ``endpoints`` are URLs of the API
server's service proxy (``/api/v1/namespaces/{ns}/services/{svc}:8080/proxy``), fetched with the
driver's own credentials and TLS settings (``fetch``), or of the ingress / load balancer the estate
gives per cluster (``external_url``: ``{external_url}/{namespace}/{service}``).

Re-applying a version with a different pod template keeps the previous template in an
annotation; ``rollback`` then does what ``kubectl rollout undo`` does: the previous template
replaces the whole current one (a JSON-patch ``replace``, so nothing the newer template added
survives), else it removes the newest version in favour of the older one running beside it.

Node pools (``multicloud.drivers.scheduling``): the driver of ``<cluster>.spot`` (``pool="spot"``)
manages Deployments ``<model>-<version>-spot`` (label ``multicloud.io/pool: spot``) whose pods
carry the spot pool's ``nodeSelector`` and tolerations, and a Service of the same name for the
health gate; the per-version and per-model Services (and HTTPRoutes) are shared by every pool, so
traffic reaches spot and on-demand pods alike. On a cluster with a spot pool, on-demand pods get a
node affinity keeping them off spot nodes. A driver sees and changes only its own pool's
Deployments; shared Services are deleted only when no pool runs the version or model any more.

Credentials per cluster kind: a ``kubernetes`` Airflow connection (any cluster); OKE through the
Container Engine API (``create_kubeconfig``, token version 2.0.0), with the cluster token
generated in-process by the OCIHook's signer (``hooks/oke_token.py``, the algorithm of ``oci ce
cluster generate-token``) and renewed before it expires; EKS through the amazon provider's
``EksHook`` (endpoint and CA from ``describe_cluster``, the STS-presigned token minted in-process
and renewed before its 15 minutes run out).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud.drivers.base import ClusterDriver, ModelDeployment, RolloutStatus, ServedModel
from multicloud.drivers.scheduling import POOL_LABEL

if TYPE_CHECKING:
    from multicloud.estate.models import ClusterSpec, Estate, Region

FIELD_MANAGER = "multicloud-rollout"
MODEL_LABEL = "multicloud.io/model"
VERSION_LABEL = "multicloud.io/version"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
WEIGHTS_ANNOTATION = "multicloud.io/weights"
PREVIOUS_ANNOTATION = "multicloud.io/previous-template"
DEPLOYED_AT_ANNOTATION = "multicloud.io/deployed-at"
# Environment the driver sets on every pod (not part of the runtime baseline).
DRIVER_ENV = ("MODEL_ARTIFACT_URI", "MODEL_NAME", "MODEL_VERSION", "MODEL_SERVER_IMAGE", "MULTICLOUD_CLUSTER")
SERVER_PORT = 8080
SERVER_UID = 10001  # the model-server image's numeric non-root user
SERVE_COMMAND = ["python", "-m", "multicloud.serving", "serve"]
APPLY = "application/apply-patch+yaml"
GATEWAY_GROUP, GATEWAY_VERSION = "gateway.networking.k8s.io", "v1"
FETCH_TIMEOUT_S = 5.0
# Renew a bearer token this long before it expires (OKE: 4 min announced; EKS: 14 min).
TOKEN_RENEW_MARGIN_S = 30.0
EKS_TOKEN_LIFETIME_S = 14 * 60.0


def dns_name(*parts: str) -> str:
    """A DNS-1123 label from parts (lower case, [a-z0-9-], at most 63 characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return name[:63].rstrip("-") or "x"


class KubernetesClusterDriver(ClusterDriver):
    """One cluster through the Kubernetes API.

    :param cluster_id: the estate's cluster id.
    :param api_client: a ``kubernetes.client.ApiClient`` (from KubernetesHook, OKE or EKS helpers).
    :param namespace: where the model Deployments live.
    :param poll_s: how often ``wait_ready`` reads the rollout status.
    :param progress_deadline_s: the Deployments' ``progressDeadlineSeconds``.
    :param external_url: ingress/LB base URL routing ``/{namespace}/{service}/``; None = service proxy.
    :param gateway: Gateway API parentRef (``name``, optional ``namespace``/``section_name``) for HTTPRoutes.
    :param artifact_secret: Secret whose keys become the server's environment (artifact credentials).
    :param service_account: service account bound to a cloud identity (workload identity / IRSA).
    :param pool: the node pool this driver manages (``spot``), None: the on-demand nodes.
    :param scheduling: pod-spec fields pinning pods to that pool (``scheduling.pool_scheduling``).
    """

    def __init__(self, cluster_id: str, api_client: Any, namespace: str = "models", poll_s: float = 0.25,  # noqa: PLR0913  one keyword per documented driver option (the estate cluster's fields, see from_estate)
                 progress_deadline_s: int = 120, external_url: str | None = None,
                 gateway: dict[str, Any] | None = None, artifact_secret: str | None = None,
                 service_account: str | None = None, pool: str | None = None,
                 scheduling: dict[str, Any] | None = None) -> None:
        super().__init__(cluster_id if pool is None or cluster_id.endswith(f".{pool}") else f"{cluster_id}.{pool}")
        self.pool = pool
        self.scheduling = dict(scheduling or {})
        self.progress_deadline_s = progress_deadline_s
        from kubernetes import client

        self.api_client = api_client
        self.namespace = namespace
        self.poll_s = poll_s
        self.external_url = external_url.rstrip("/") if external_url else None
        self.gateway = {k: v for k, v in (gateway or {}).items() if v} or None
        self.artifact_secret = artifact_secret
        self.service_account = service_account
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    @classmethod
    def from_estate(cls, estate: Estate, cluster_id: str, home: Path | None = None,
                    pool: str | None = None) -> KubernetesClusterDriver:
        from multicloud.drivers.scheduling import pool_scheduling

        region, cluster = estate.cluster(cluster_id)
        if cluster.driver != "kubernetes":
            raise ValueError(f"cluster {cluster_id!r} uses driver {cluster.driver!r}, not 'kubernetes'")
        scheduling = pool_scheduling(cluster, pool)
        return cls(cluster_id, kubernetes_hook_for(region, cluster).get_conn(), cluster.namespace,
                   external_url=cluster.external_url,
                   gateway=cluster.gateway.model_dump() if cluster.gateway else None,
                   artifact_secret=cluster.artifact_secret, service_account=cluster.service_account,
                   pool=pool, scheduling=scheduling)

    # ---- the contract ----------------------------------------------------------------------------
    def deploy(self, deployment: ModelDeployment) -> None:
        name = self._name(deployment.model, deployment.version)
        body = self._deployment_body(deployment, name)
        existing = self._read(name)
        if existing is not None:
            old_template = existing["spec"]["template"]
            annotations = existing["metadata"].get("annotations") or {}
            if _template_differs(old_template, body["spec"]["template"]):
                body["metadata"]["annotations"][PREVIOUS_ANNOTATION] = json.dumps(old_template, sort_keys=True)
            elif annotations.get(PREVIOUS_ANNOTATION):
                body["metadata"]["annotations"][PREVIOUS_ANNOTATION] = annotations[PREVIOUS_ANNOTATION]
            body["metadata"]["annotations"][DEPLOYED_AT_ANNOTATION] = (
                annotations.get(DEPLOYED_AT_ANNOTATION) or body["metadata"]["annotations"][DEPLOYED_AT_ANNOTATION])
        self._apply_deployment(name, body)
        if self.pool:  # the pool's own Service (the health gate reaches only this pool's pods)
            self._apply_service(name, {MODEL_LABEL: deployment.model, VERSION_LABEL: deployment.version,
                                       POOL_LABEL: self.pool}, deployment.model, deployment.version)
        self._apply_service(dns_name(deployment.model, deployment.version),
                            {MODEL_LABEL: deployment.model, VERSION_LABEL: deployment.version},
                            deployment.model, deployment.version)
        weights = self._weights(deployment.model)
        if not weights or sum(weights.values()) == 0:
            weights = {deployment.version: 100}
        weights.setdefault(deployment.version, 0)
        self._apply_service(dns_name(deployment.model), {MODEL_LABEL: deployment.model}, deployment.model, None,
                            weights)
        if self.gateway:
            self._apply_route(deployment.model, weights)

    def status(self, model: str, version: str | None = None) -> RolloutStatus:
        version = version or self._newest(model)
        obj = self._read(self._name(model, version)) if version else None
        if obj is None:
            return RolloutStatus(self.cluster_id, model, version, 0, 0, 0, "absent", "not deployed here")
        return rollout_status(self.cluster_id, model, version, obj)

    def wait_ready(self, model: str, version: str, timeout_s: float) -> RolloutStatus:
        """Like ``kubectl rollout status``: read once, then watch the Deployment until it settles.

        The watch reports each status change as it happens (no poll interval adds to a rollout's
        readiness); a watch the server ends or refuses (timeout, 410 Gone, no RBAC on ``watch``)
        falls back to reading again after ``poll_s``.
        """
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        deadline = time.monotonic() + timeout_s
        name = self._name(model, version)
        while True:
            obj = self._read(name)
            if obj is None:
                return RolloutStatus(self.cluster_id, model, version, 0, 0, 0, "absent", "not deployed here")
            status = rollout_status(self.cluster_id, model, version, obj)
            remaining = deadline - time.monotonic()
            if status.state in ("complete", "failed") or remaining <= 0:
                break
            try:
                settled = self._watch_until_settled(model, version, obj["metadata"]["resourceVersion"], remaining)
            except (ApiException, HTTPError, OSError, ValueError, KeyError):
                settled = None
                time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))
            if settled is not None:
                return settled
        if status.state in ("complete", "failed"):
            return status
        return RolloutStatus(self.cluster_id, model, version, status.desired, status.updated, status.ready,
                             "failed", f"not ready after {timeout_s:.0f}s: {status.message}")

    def _watch_until_settled(self, model: str, version: str, resource_version: str,
                             remaining_s: float) -> RolloutStatus | None:
        """Watch one Deployment from ``resource_version``; its settled status, or None if the watch ended."""
        from kubernetes import watch

        watcher = watch.Watch()
        try:
            for event in watcher.stream(self.apps.list_namespaced_deployment, self.namespace,
                                        field_selector=f"metadata.name={self._name(model, version)}",
                                        resource_version=resource_version,
                                        timeout_seconds=max(1, int(remaining_s)), _request_timeout=remaining_s + 5,
                                        deserialize=False):  # plain JSON events (the client's models cost CPU)
                if event["type"] == "DELETED":
                    return RolloutStatus(self.cluster_id, model, version, 0, 0, 0, "absent", "deleted while waiting")
                status = rollout_status(self.cluster_id, model, version, event["object"])
                if status.state in ("complete", "failed"):
                    return status
        finally:
            watcher.stop()
        return None

    def scale(self, model: str, version: str, replicas: int) -> None:
        if replicas < 0:
            raise ValueError(f"replicas must be >= 0; got {replicas}")
        self.apps.patch_namespaced_deployment(self._name(model, version), self.namespace,
                                              {"spec": {"replicas": replicas}})

    def shift(self, model: str, weights: dict[str, int]) -> None:
        if any(int(w) < 0 for w in weights.values()) or sum(int(w) for w in weights.values()) != 100:
            raise ValueError(f"weights must be non-negative percentages summing to 100; got {weights}")
        unknown = sorted(set(weights) - set(self._versions(model)))
        if unknown:
            raise ValueError(f"cluster {self.cluster_id}: cannot route {model} to undeployed {unknown}")
        weights = {v: int(w) for v, w in weights.items()}
        self._apply_service(dns_name(model), {MODEL_LABEL: model}, model, None, weights)
        if self.gateway:
            self._apply_route(model, weights)

    def rollback(self, model: str) -> str | None:
        versions = self._versions(model)
        if not versions:
            return None
        current = self._newest(model)
        older = [v for v in versions if v != current]
        if older:
            previous = older[-1]
            self.shift(model, {previous: 100})
            self.remove(model, current)
            return previous
        obj = self._read(self._name(model, current))
        template = (obj["metadata"].get("annotations") or {}).get(PREVIOUS_ANNOTATION)
        if not template:
            self.remove(model)
            return None
        # `kubectl rollout undo`: the previous revision's template replaces the current one whole.
        # (A strategic merge or an apply would merge lists by name: an env var only the newer
        # template had would survive the rollback.)
        patch = [{"op": "replace", "path": "/spec/template", "value": json.loads(template)},
                 {"op": "remove", "path": "/metadata/annotations/" + PREVIOUS_ANNOTATION.replace("/", "~1")}]
        self.apps.patch_namespaced_deployment(obj["metadata"]["name"], self.namespace, patch)
        return current

    def remove(self, model: str, version: str | None = None) -> None:
        targets = [version] if version else self._versions(model)
        for v in targets:
            self._delete_if_present(self.apps.delete_namespaced_deployment, self._name(model, v), self.namespace)
            if self.pool:
                self._delete_if_present(self.core.delete_namespaced_service, self._name(model, v), self.namespace)
        everywhere = self._versions(model, every_pool=True)
        for v in targets:  # a version's shared Service goes when no pool runs that version any more
            if v not in everywhere:
                self._delete_if_present(self.core.delete_namespaced_service, dns_name(model, v), self.namespace)
        remaining = self._versions(model)
        if not everywhere:  # no pool serves the model any more: its front door goes too
            self._delete_if_present(self.core.delete_namespaced_service, dns_name(model), self.namespace)
            if self.gateway:
                self._delete_if_present(self.custom.delete_namespaced_custom_object, GATEWAY_GROUP, GATEWAY_VERSION,
                                        self.namespace, "httproutes", dns_name(model))
        elif remaining:
            weights = {v: w for v, w in self._weights(model).items() if v in remaining}
            if sum(weights.values()) != 100:
                weights = {self._newest(model): 100}
            self._apply_service(dns_name(model), {MODEL_LABEL: model}, model, None, weights)
            if self.gateway:
                self._apply_route(model, weights)

    @staticmethod
    def _delete_if_present(delete: Callable[..., Any], *args: Any) -> None:
        """``delete(*args)``: already gone (404) is fine; a refused delete is not."""
        from kubernetes.client.exceptions import ApiException

        try:
            delete(*args)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def endpoints(self, model: str, version: str | None = None) -> list[str]:
        """Base URLs of each version's Service, reachable from outside the cluster (see ``fetch``)."""
        if version:  # this pool's pods of one version (a health gate)
            return [self.service_url(self._name(model, version))] if version in self._versions(model) else []
        # What traffic reaches: the shared per-version Services select the pods of every pool.
        deployed = set(self._versions(model, every_pool=True))
        return [self.service_url(dns_name(model, v)) for v, w in self._weights(model).items()
                if w > 0 and v in deployed]

    def service_url(self, service: str) -> str:
        if self.external_url:
            return f"{self.external_url}/{self.namespace}/{service}"
        host = self.api_client.configuration.host.rstrip("/")
        return f"{host}/api/v1/namespaces/{self.namespace}/services/{service}:{SERVER_PORT}/proxy"

    def fetch(self, url: str, body: bytes | None = None, timeout_s: float = FETCH_TIMEOUT_S) -> tuple[int, bytes]:
        """GET (or POST ``body``) ``url``; through the API server with this driver's credentials and TLS."""
        host = self.api_client.configuration.host.rstrip("/")
        if not url.startswith(host + "/"):
            return super().fetch(url, body, timeout_s)
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        headers = {"Content-Type": "application/json", "Accept": "application/json, */*"}
        self.api_client.update_params_for_auth(headers, [], ["BearerToken"])
        try:
            reply = self.api_client.request("POST" if body is not None else "GET", url, headers=headers,
                                            body=json.loads(body) if body else None, _preload_content=False,
                                            _request_timeout=timeout_s)
            return reply.status, reply.data
        except ApiException as exc:
            return exc.status, exc.body if isinstance(exc.body, bytes) else str(exc.body or "").encode()
        except (OSError, HTTPError) as exc:
            return 0, f"{type(exc).__name__}: {exc}".encode()

    def served(self) -> dict[str, ServedModel]:
        items = self._deployments(self._pool_selector(MODEL_LABEL))
        out: dict[str, ServedModel] = {}
        for obj in sorted(items, key=_deployed_at):
            labels = obj["metadata"].get("labels") or {}
            model, version = labels[MODEL_LABEL], labels.get(VERSION_LABEL, "")
            entry = out.setdefault(model, {"versions": {}, "weights": {}, "runtime": {}, "artifacts": {}})
            entry["versions"][version] = obj["spec"].get("replicas") or 0
            entry["runtime"] = runtime_of(obj["spec"]["template"])
            entry["artifacts"][version] = (obj["metadata"].get("annotations") or {}).get("multicloud.io/artifact", "")
        for model, entry in out.items():
            entry["weights"] = self._weights(model)
            entry["traffic"] = "gateway-api" if self.gateway else "replica-count"
        return out

    # ---- internals -----------------------------------------------------------------------------
    def _deployment_body(self, d: ModelDeployment, name: str) -> dict[str, Any]:
        runtime = d.runtime or {}
        pod_labels = {MODEL_LABEL: d.model, VERSION_LABEL: d.version, MANAGED_LABEL: FIELD_MANAGER}
        selector = {MODEL_LABEL: d.model, VERSION_LABEL: d.version}
        if self.pool:
            pod_labels[POOL_LABEL] = selector[POOL_LABEL] = self.pool
        # Run-specific labels go on the Deployment only: on the pod template they would restart pods.
        labels = {**{f"multicloud.io/{k}": dns_name(v) for k, v in d.labels.items() if k not in ("model", "version")},
                  **pod_labels}
        limits = runtime.get("limits") or {}
        resources = {}
        if limits:
            quantity = {}
            if limits.get("cpu"):
                quantity["cpu"] = str(limits["cpu"])
            if limits.get("memory_gb"):
                quantity["memory"] = f"{int(float(limits['memory_gb']) * 1024)}Mi"
            resources = {"limits": quantity, "requests": quantity}
        env = [{"name": k, "value": str(v)} for k, v in sorted((runtime.get("env") or {}).items())]
        env += [{"name": "MODEL_ARTIFACT_URI", "value": d.artifact_uri},
                {"name": "MODEL_NAME", "value": d.model}, {"name": "MODEL_VERSION", "value": d.version},
                {"name": "MODEL_SERVER_IMAGE", "value": str(runtime.get("image", ""))},
                {"name": "MULTICLOUD_CLUSTER", "value": self.cluster_id}]
        container: dict[str, Any] = {
            "name": "model-server", "image": runtime.get("image", ""),
            "command": list(SERVE_COMMAND),
            "args": ["--artifact", d.artifact_uri, "--host", "0.0.0.0", "--port", str(SERVER_PORT)],
            "ports": [{"name": "http", "containerPort": SERVER_PORT}],
            "env": env, "resources": resources,
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 2,
                               "failureThreshold": 2},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10,
                              "failureThreshold": 3},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        }
        if self.artifact_secret:  # credentials by reference: the Secret's keys become the environment
            container["envFrom"] = [{"secretRef": {"name": self.artifact_secret}}]
        pod_spec: dict[str, Any] = {
            "securityContext": {"runAsNonRoot": True, "runAsUser": SERVER_UID, "runAsGroup": SERVER_UID,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container],
            **self.scheduling,  # the node pool: nodeSelector + tolerations, or off-spot affinity
        }
        if self.service_account:  # workload identity: the cloud grants the pod's service account access
            pod_spec["serviceAccountName"] = self.service_account
        else:
            pod_spec["automountServiceAccountToken"] = False
        return {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels,
                         "annotations": {"multicloud.io/artifact": d.artifact_uri,
                                         "multicloud.io/python": str(runtime.get("python", "")),
                                         DEPLOYED_AT_ANNOTATION: f"{time.time():.6f}"}},
            "spec": {
                "replicas": d.replicas, "progressDeadlineSeconds": self.progress_deadline_s,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": pod_labels,
                                 "annotations": {"multicloud.io/python": str(runtime.get("python", ""))}},
                    "spec": pod_spec,
                },
            },
        }

    def _apply_deployment(self, name: str, body: dict[str, Any]) -> None:
        _json(self.apps.patch_namespaced_deployment(name, self.namespace, body, field_manager=FIELD_MANAGER,
                                                    force=True, _content_type=APPLY, _preload_content=False))

    def _apply_service(self, name: str, selector: dict[str, str], model: str, version: str | None,
                       weights: dict[str, int] | None = None) -> None:
        labels = {MODEL_LABEL: model, MANAGED_LABEL: FIELD_MANAGER}
        if version:
            labels[VERSION_LABEL] = version
        annotations = {WEIGHTS_ANNOTATION: json.dumps(weights, sort_keys=True)} if weights is not None else {}
        body = {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": self.namespace, "labels": labels,
                             "annotations": annotations},
                "spec": {"selector": selector, "ports": [{"name": "http", "port": SERVER_PORT,
                                                          "targetPort": SERVER_PORT}]}}
        _json(self.core.patch_namespaced_service(name, self.namespace, body, field_manager=FIELD_MANAGER, force=True,
                                                 _content_type=APPLY, _preload_content=False))

    def _apply_route(self, model: str, weights: dict[str, int]) -> None:
        """A Gateway API HTTPRoute splitting ``model``'s traffic between its versions' Services."""
        parent = {"name": self.gateway["name"]}
        if self.gateway.get("namespace"):
            parent["namespace"] = self.gateway["namespace"]
        if self.gateway.get("section_name"):
            parent["sectionName"] = self.gateway["section_name"]
        body = {"apiVersion": f"{GATEWAY_GROUP}/{GATEWAY_VERSION}", "kind": "HTTPRoute",
                "metadata": {"name": dns_name(model), "namespace": self.namespace,
                             "labels": {MODEL_LABEL: model, MANAGED_LABEL: FIELD_MANAGER}},
                "spec": {"parentRefs": [parent], "rules": [{
                    "matches": [{"path": {"type": "PathPrefix", "value": f"/{dns_name(model)}"}}],
                    "backendRefs": [{"name": dns_name(model, v), "port": SERVER_PORT, "weight": int(w)}
                                    for v, w in sorted(weights.items())]}]}}
        self.custom.patch_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, self.namespace, "httproutes",
                                                   dns_name(model), body, field_manager=FIELD_MANAGER, force=True,
                                                   _content_type=APPLY)

    def route(self, model: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.custom.get_namespaced_custom_object(GATEWAY_GROUP, GATEWAY_VERSION, self.namespace,
                                                            "httproutes", dns_name(model))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _read(self, name: str) -> dict[str, Any] | None:
        """One Deployment as the API server's JSON, or None when it does not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            return _json(self.apps.read_namespaced_deployment(name, self.namespace, _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _deployments(self, selector: str) -> list[dict[str, Any]]:
        """The namespace's Deployments matching ``selector``, as plain JSON."""
        return _json(self.apps.list_namespaced_deployment(self.namespace, label_selector=selector,
                                                          _preload_content=False)).get("items") or []

    def _versions(self, model: str, every_pool: bool = False) -> list[str]:
        selector = f"{MODEL_LABEL}={model}" if every_pool else self._pool_selector(f"{MODEL_LABEL}={model}")
        versions = [obj["metadata"]["labels"][VERSION_LABEL] for obj in sorted(self._deployments(selector),
                                                                                key=_deployed_at)]
        return list(dict.fromkeys(versions))

    def _name(self, model: str, version: str) -> str:
        """This pool's Deployment (and gate Service) of one version."""
        return dns_name(model, version, self.pool) if self.pool else dns_name(model, version)

    def _pool_selector(self, selector: str) -> str:
        """``selector`` narrowed to this driver's pool (on-demand: no pool label)."""
        return f"{selector},{POOL_LABEL}={self.pool}" if self.pool else f"{selector},!{POOL_LABEL}"

    def _newest(self, model: str) -> str | None:
        versions = self._versions(model)
        return versions[-1] if versions else None

    def _weights(self, model: str) -> dict[str, int]:
        from kubernetes.client.exceptions import ApiException

        if self.gateway:  # the HTTPRoute is the truth: what the gateway really routes
            route = self.route(model)
            if route is not None:
                prefix = dns_name(model) + "-"
                refs = [r for rule in route["spec"].get("rules", []) for r in rule.get("backendRefs", [])]
                by_service = {r["name"]: int(r.get("weight", 1)) for r in refs}
                return {v: by_service.get(dns_name(model, v), 0) for v in self._versions(model)
                        if dns_name(model, v).startswith(prefix)}
        try:
            svc = _json(self.core.read_namespaced_service(dns_name(model), self.namespace, _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return {}
            raise
        return json.loads((svc["metadata"].get("annotations") or {}).get(WEIGHTS_ANNOTATION) or "{}")


def _json(reply: Any) -> Any:
    """The body of a raw (``_preload_content=False``) client reply, parsed (reading it frees the connection).

    Reads and applies skip the client's model classes: turning a Deployment into ``V1Deployment`` objects and
    back costs milliseconds of CPU per object, which a 20-cluster wave pays many times over.
    """
    return json.loads(reply.data)


def _deployed_at(obj: dict[str, Any]) -> float:
    return float((obj["metadata"].get("annotations") or {}).get(DEPLOYED_AT_ANNOTATION) or 0)


def _template_differs(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def containers(t: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(c.get("image"), json.dumps(c.get("command") or []), json.dumps(c.get("env") or [], sort_keys=True),
                 json.dumps(c.get("resources") or {}, sort_keys=True), json.dumps(c.get("args") or []))
                for c in (t.get("spec") or {}).get("containers", [])]

    return containers(old) != containers(new)


def rollout_status(cluster: str, model: str, version: str, deployment: dict[str, Any]) -> RolloutStatus:
    """``kubectl rollout status`` semantics on a Deployment (as a plain dict)."""
    spec, status, meta = deployment.get("spec") or {}, deployment.get("status") or {}, deployment["metadata"]
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)

    def result(state: str, message: str) -> RolloutStatus:
        return RolloutStatus(cluster, model, version, desired, updated, available, state, message)  # type: ignore[arg-type]

    if int(meta.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return result("progressing", "waiting for the deployment spec update to be observed")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return result("failed", f"deployment {meta['name']!r} exceeded its progress deadline")
    if updated < desired:
        return result("progressing", f"{updated} of {desired} updated replicas are available")
    if total > updated:
        return result("progressing", f"{total - updated} old replicas are pending termination")
    if available < updated:
        return result("progressing", f"{available} of {updated} updated replicas are available")
    return result("complete", f"deployment {meta['name']!r} successfully rolled out")


def runtime_of(template: dict[str, Any]) -> dict[str, Any]:
    """What a pod template runs, in the baseline's terms (image, python, env, limits)."""
    container = ((template.get("spec") or {}).get("containers") or [{}])[0]
    limits = (container.get("resources") or {}).get("limits") or {}
    memory = limits.get("memory")
    memory_gb = None
    if isinstance(memory, str) and memory.endswith("Mi"):
        memory_gb = round(int(memory[:-2]) / 1024, 3)
    elif isinstance(memory, str) and memory.endswith("Gi"):
        memory_gb = float(memory[:-2])
    env = {e["name"]: e.get("value") for e in container.get("env") or [] if e["name"] not in DRIVER_ENV}
    return {"image": container.get("image"),
            "python": ((template.get("metadata") or {}).get("annotations") or {}).get("multicloud.io/python"),
            "env": env, "limits": {"cpu": float(limits["cpu"]) if "cpu" in limits else None, "memory_gb": memory_gb}}


# ---- credentials per cluster kind ----------------------------------------------------------------
def renew_bearer_token(api_client: Any, mint: Any, lifetime_s: float,
                       margin_s: float = TOKEN_RENEW_MARGIN_S, clock: Any = time.time) -> Any:
    """Keep ``api_client``'s bearer token fresh: ``mint()`` again ``margin_s`` before ``lifetime_s`` ends.

    The client calls ``refresh_api_key_hook`` before every request, so a driver living longer than
    one token (a long wave, a DR rehearsal) never sends an expired one.
    """
    config = api_client.configuration
    state = {"minted_at": clock()}
    config.api_key["BearerToken"] = f"Bearer {mint()}"
    config.api_key.pop("authorization", None)

    def refresh(configuration: Any) -> None:
        if clock() >= state["minted_at"] + lifetime_s - margin_s:
            configuration.api_key["BearerToken"] = f"Bearer {mint()}"
            state["minted_at"] = clock()

    config.refresh_api_key_hook = refresh
    return api_client


def oke_kubeconfig(oci_conn_id: str, cluster_ocid: str, region: str | None = None) -> dict[str, Any]:
    """OKE: the Container Engine API's generated kubeconfig (``create_kubeconfig``, token version 2.0.0)."""
    import yaml
    from oci.container_engine import ContainerEngineClient
    from oci.container_engine.models import CreateClusterKubeconfigContentDetails

    from multicloud.hooks.oci import OCIHook

    client = OCIHook(oci_conn_id, region=region).get_client(ContainerEngineClient)
    details = CreateClusterKubeconfigContentDetails(token_version="2.0.0")
    content = client.create_kubeconfig(cluster_ocid, create_cluster_kubeconfig_content_details=details).data.content
    text = content.decode() if isinstance(content, bytes) else content
    config = yaml.safe_load(text)
    if not isinstance(config, dict) or not config.get("clusters"):
        raise ValueError(f"OKE cluster {cluster_ocid}: create_kubeconfig returned no usable kubeconfig")
    return config


def without_exec_users(config: dict[str, Any]) -> dict[str, Any]:
    """The kubeconfig with every exec-plugin user replaced by a placeholder token (we mint the real one)."""
    fresh = json.loads(json.dumps(config))
    for user in fresh.get("users") or []:
        if "exec" in (user.get("user") or {}):
            user["user"] = {"token": "to-be-minted"}
    return fresh


def oke_api_client(oci_conn_id: str, cluster_ocid: str, region: str) -> Any:
    """OKE with every OCIHook auth mode: kubeconfig from the API, the token signed in-process."""
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    from multicloud.hooks.oke_token import OKETokenSource

    config = without_exec_users(oke_kubeconfig(oci_conn_id, cluster_ocid, region))
    tokens = OKETokenSource.from_hook(oci_conn_id, cluster_ocid, region)
    api_client = KubernetesHook(kubernetes_conn_id=None, config_dict=config, client_configuration=own_configuration()).get_conn()
    # The source renews by itself; asking it on every request costs a clock read.
    return renew_bearer_token(api_client, tokens.token, lifetime_s=tokens.lifetime_s, margin_s=0.0)


def eks_api_client(aws_conn_id: str, cluster_name: str, region_name: str, namespace: str) -> Any:
    """EKS: endpoint and CA from ``describe_cluster``; the STS-presigned token minted here and renewed."""
    from airflow.providers.amazon.aws.hooks.eks import EksHook
    from airflow.providers.amazon.aws.utils.eks_get_token import fetch_access_token_for_cluster
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    hook = EksHook(aws_conn_id=aws_conn_id, region_name=region_name)
    cluster = hook.conn.describe_cluster(name=cluster_name)["cluster"]
    # EKS accepts only the regional STS endpoint (or the connection's own endpoint, e.g. a VPC one).
    sts_base = hook.conn_config.endpoint_url or f"https://sts.{region_name}.amazonaws.com"
    sts_url = f"{sts_base.rstrip('/')}/?Action=GetCallerIdentity&Version=2011-06-15"
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "eks",
        "clusters": [{"name": cluster_name, "cluster": {
            "server": cluster["endpoint"], "certificate-authority-data": cluster["certificateAuthority"]["data"]}}],
        "users": [{"name": "airflow", "user": {"token": "to-be-minted"}}],
        "contexts": [{"name": "eks", "context": {"cluster": cluster_name, "user": "airflow", "namespace": namespace}}],
    }
    api_client = KubernetesHook(kubernetes_conn_id=None, config_dict=config, client_configuration=own_configuration()).get_conn()

    def mint() -> str:
        return fetch_access_token_for_cluster(cluster_name, sts_url, region_name, session=hook.get_session())

    return renew_bearer_token(api_client, mint, lifetime_s=EKS_TOKEN_LIFETIME_S)


def own_configuration() -> Any:
    """A fresh client Configuration for one cluster.

    Without one, KubernetesHook loads every kubeconfig into the client's process-wide default, so
    drivers of different clusters built concurrently (parallel lanes) could talk to each other's
    API server.
    """
    from kubernetes import client

    return client.Configuration()


class _ClientHook:
    """Adapter so every cluster kind answers ``get_conn()`` like KubernetesHook."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory

    def get_conn(self) -> Any:
        return self._factory()


def kubernetes_hook_for(region: Region, cluster: ClusterSpec) -> Any:

    if cluster.kind == "oke" and cluster.cluster_ocid:
        return _ClientHook(lambda: oke_api_client(cluster.connection_id or "oci_default", cluster.cluster_ocid,
                                                  region.region))
    if cluster.kind == "eks" and cluster.eks_cluster_name:
        return _ClientHook(lambda: eks_api_client(cluster.connection_id or "aws_default", cluster.eks_cluster_name,
                                                  region.region, cluster.namespace))
    if not cluster.connection_id:
        raise ValueError(f"cluster {cluster.id}: a kubernetes cluster needs connection_id (or cluster_ocid for "
                         "OKE, eks_cluster_name for EKS)")
    return inline_kubeconfig_hook()(kubernetes_conn_id=cluster.connection_id, client_configuration=own_configuration())


def parse_kubeconfig(text: str | dict[str, Any]) -> dict[str, Any]:
    """A kubeconfig from a connection: JSON (the provider's documented format), else YAML (libyaml when present)."""
    if isinstance(text, dict):
        return json.loads(json.dumps(text))
    try:
        parsed = json.loads(text)
    except ValueError:
        import yaml

        parsed = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(parsed, dict):
        raise ValueError("the connection's kube_config is not a kubeconfig mapping")
    return parsed


@functools.cache
def inline_kubeconfig_hook() -> type:
    """KubernetesHook loading a connection's inline ``kube_config`` from memory.

    The provider writes the text to a temporary file and parses it with pure-Python YAML on every
    ``get_conn``: about 2 ms of CPU per cluster in every task of a rollout. Parsed here (JSON, as
    the provider documents the field), the dict takes the hook's own ``config_dict`` path: the same
    loader, context and client settings (TLS, keepalive) as before.
    """
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    class InlineKubeconfigHook(KubernetesHook):
        _inline_loaded = False

        def get_conn(self) -> Any:
            inline = super()._get_field("kube_config")
            if inline is not None and self.config_dict is None:
                self.config_dict, self._inline_loaded = parse_kubeconfig(inline), True
            return super().get_conn()

        def _get_field(self, field_name: str) -> Any:
            if field_name == "kube_config" and self._inline_loaded:
                return None  # it is the config_dict now (the hook accepts one source)
            return super()._get_field(field_name)

    return InlineKubeconfigHook
