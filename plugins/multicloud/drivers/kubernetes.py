"""The Kubernetes cluster driver: OKE, EKS, AKS and GKE through the cncf provider's KubernetesHook.

One model version = one Deployment ``<model>-<version>`` (labels ``multicloud.io/model`` and
``multicloud.io/version``) plus a per-version Service; a per-model Service selects every version
and carries the traffic weights as an annotation (weighted routing itself needs a mesh or the
Gateway API, outside this driver). Every write is a server-side apply with our field manager,
so a retried task converges. Rollout status is read the way ``kubectl rollout status`` reads
it: observedGeneration, updated/available replicas, and the Progressing condition
(``ProgressDeadlineExceeded`` = failed). Re-applying a version with a different pod template
keeps the previous template in an annotation, and ``rollback`` restores it when no older
version runs beside it (the previous revision), else removes the newest version.

Kubeconfig per cluster kind: a ``kubernetes`` Airflow connection (any cluster), OKE through the
OCI Container Engine API (``create_kubeconfig`` via ``OCIHook``), EKS through the amazon
provider's ``EksHook`` (token from its exec helper).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from multicloud.drivers.base import ClusterDriver, ModelDeployment, RolloutStatus

if TYPE_CHECKING:
    from multicloud.estate.models import ClusterSpec, Estate, Region

FIELD_MANAGER = "multicloud-rollout"
MODEL_LABEL = "multicloud.io/model"
VERSION_LABEL = "multicloud.io/version"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
WEIGHTS_ANNOTATION = "multicloud.io/weights"
PREVIOUS_ANNOTATION = "multicloud.io/previous-template"
DEPLOYED_AT_ANNOTATION = "multicloud.io/deployed-at"
SERVER_PORT = 8080
APPLY = "application/apply-patch+yaml"


def dns_name(*parts: str) -> str:
    """A DNS-1123 label from parts (lower case, [a-z0-9-], at most 63 characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return name[:63].rstrip("-") or "x"


class KubernetesClusterDriver(ClusterDriver):
    def __init__(self, cluster_id: str, api_client: Any, namespace: str = "models", poll_s: float = 0.25,
                 progress_deadline_s: int = 120) -> None:
        super().__init__(cluster_id)
        self.progress_deadline_s = progress_deadline_s
        from kubernetes import client

        self.api_client = api_client
        self.namespace = namespace
        self.poll_s = poll_s
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)

    @classmethod
    def from_estate(cls, estate: Estate, cluster_id: str, home: Path | None = None) -> KubernetesClusterDriver:
        region, cluster = estate.cluster(cluster_id)
        if cluster.driver != "kubernetes":
            raise ValueError(f"cluster {cluster_id!r} uses driver {cluster.driver!r}, not 'kubernetes'")
        return cls(cluster_id, kubernetes_hook_for(region, cluster).get_conn(), cluster.namespace)

    # ---- the contract ----------------------------------------------------------------------------
    def deploy(self, deployment: ModelDeployment) -> None:
        name = dns_name(deployment.model, deployment.version)
        body = self._deployment_body(deployment, name)
        existing = self._read(name)
        if existing is not None:
            old_template = self.api_client.sanitize_for_serialization(existing.spec.template)
            if _template_differs(old_template, body["spec"]["template"]):
                body["metadata"]["annotations"][PREVIOUS_ANNOTATION] = json.dumps(old_template, sort_keys=True)
            elif (existing.metadata.annotations or {}).get(PREVIOUS_ANNOTATION):
                body["metadata"]["annotations"][PREVIOUS_ANNOTATION] = existing.metadata.annotations[PREVIOUS_ANNOTATION]
            body["metadata"]["annotations"][DEPLOYED_AT_ANNOTATION] = (
                (existing.metadata.annotations or {}).get(DEPLOYED_AT_ANNOTATION) or body["metadata"]["annotations"][
                    DEPLOYED_AT_ANNOTATION])
        self._apply_deployment(name, body)
        self._apply_service(name, {MODEL_LABEL: deployment.model, VERSION_LABEL: deployment.version},
                            deployment.model, deployment.version)
        weights = self._weights(deployment.model)
        if not weights or sum(weights.values()) == 0:
            weights = {deployment.version: 100}
        weights.setdefault(deployment.version, 0)
        self._apply_service(dns_name(deployment.model), {MODEL_LABEL: deployment.model}, deployment.model, None,
                            weights)

    def status(self, model: str, version: str | None = None) -> RolloutStatus:
        version = version or self._newest(model)
        obj = self._read(dns_name(model, version)) if version else None
        if obj is None:
            return RolloutStatus(self.cluster_id, model, version, 0, 0, 0, "absent", "not deployed here")
        return rollout_status(self.cluster_id, model, version, self.api_client.sanitize_for_serialization(obj))

    def wait_ready(self, model: str, version: str, timeout_s: float) -> RolloutStatus:
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status(model, version)
            if status.state in ("complete", "failed", "absent"):
                return status
            if time.monotonic() >= deadline:
                return RolloutStatus(self.cluster_id, model, version, status.desired, status.updated, status.ready,
                                     "failed", f"not ready after {timeout_s:.0f}s: {status.message}")
            time.sleep(self.poll_s)

    def scale(self, model: str, version: str, replicas: int) -> None:
        if replicas < 0:
            raise ValueError(f"replicas must be >= 0; got {replicas}")
        self.apps.patch_namespaced_deployment(dns_name(model, version), self.namespace,
                                              {"spec": {"replicas": replicas}})

    def shift(self, model: str, weights: dict[str, int]) -> None:
        if any(int(w) < 0 for w in weights.values()) or sum(int(w) for w in weights.values()) != 100:
            raise ValueError(f"weights must be non-negative percentages summing to 100; got {weights}")
        unknown = sorted(set(weights) - set(self._versions(model)))
        if unknown:
            raise ValueError(f"cluster {self.cluster_id}: cannot route {model} to undeployed {unknown}")
        self._apply_service(dns_name(model), {MODEL_LABEL: model}, model, None, {v: int(w) for v, w in weights.items()})

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
        obj = self._read(dns_name(model, current))
        template = (obj.metadata.annotations or {}).get(PREVIOUS_ANNOTATION)
        if not template:
            self.remove(model)
            return None
        body = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": obj.metadata.name, "annotations": {PREVIOUS_ANNOTATION: None}},
                "spec": {"template": json.loads(template)}}
        self.apps.patch_namespaced_deployment(obj.metadata.name, self.namespace, body)  # strategic merge
        return current

    def remove(self, model: str, version: str | None = None) -> None:
        from kubernetes.client.exceptions import ApiException

        def delete_if_present(delete: Any, name: str) -> None:
            try:
                delete(name, self.namespace)
            except ApiException as exc:
                if exc.status != 404:  # already gone is fine; a refused delete is not
                    raise

        targets = [version] if version else self._versions(model)
        for v in targets:
            delete_if_present(self.apps.delete_namespaced_deployment, dns_name(model, v))
            delete_if_present(self.core.delete_namespaced_service, dns_name(model, v))
        remaining = self._versions(model)
        if not remaining:
            delete_if_present(self.core.delete_namespaced_service, dns_name(model))
        else:
            weights = {v: w for v, w in self._weights(model).items() if v in remaining}
            if sum(weights.values()) != 100:
                weights = {self._newest(model): 100}
            self._apply_service(dns_name(model), {MODEL_LABEL: model}, model, None, weights)

    def endpoints(self, model: str, version: str | None = None) -> list[str]:
        versions = [version] if version else [v for v, w in self._weights(model).items() if w > 0]
        deployed = set(self._versions(model))
        return [f"http://{dns_name(model, v)}.{self.namespace}.svc.cluster.local:{SERVER_PORT}"
                for v in versions if v in deployed]

    def served(self) -> dict[str, dict[str, Any]]:
        items = self.apps.list_namespaced_deployment(self.namespace, label_selector=MODEL_LABEL).items
        out: dict[str, dict[str, Any]] = {}
        for obj in sorted(items, key=_deployed_at):
            labels = obj.metadata.labels or {}
            model, version = labels[MODEL_LABEL], labels.get(VERSION_LABEL, "")
            entry = out.setdefault(model, {"versions": {}, "weights": {}, "runtime": {}, "artifacts": {}})
            entry["versions"][version] = obj.spec.replicas or 0
            entry["runtime"] = runtime_of(self.api_client.sanitize_for_serialization(obj.spec.template))
            entry["artifacts"][version] = (obj.metadata.annotations or {}).get("multicloud.io/artifact", "")
        for model, entry in out.items():
            entry["weights"] = self._weights(model)
        return out

    # ---- internals -----------------------------------------------------------------------------
    def _deployment_body(self, d: ModelDeployment, name: str) -> dict[str, Any]:
        runtime = d.runtime or {}
        pod_labels = {MODEL_LABEL: d.model, VERSION_LABEL: d.version, MANAGED_LABEL: FIELD_MANAGER}
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
                {"name": "MODEL_NAME", "value": d.model}, {"name": "MODEL_VERSION", "value": d.version}]
        probe = {"httpGet": {"path": "/healthz", "port": SERVER_PORT}, "periodSeconds": 2}
        return {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels,
                         "annotations": {"multicloud.io/artifact": d.artifact_uri,
                                         "multicloud.io/python": str(runtime.get("python", "")),
                                         DEPLOYED_AT_ANNOTATION: f"{time.time():.6f}"}},
            "spec": {
                "replicas": d.replicas, "progressDeadlineSeconds": self.progress_deadline_s,
                "selector": {"matchLabels": {MODEL_LABEL: d.model, VERSION_LABEL: d.version}},
                "template": {
                    "metadata": {"labels": pod_labels,
                                 "annotations": {"multicloud.io/python": str(runtime.get("python", ""))}},
                    "spec": {"containers": [{
                        "name": "model-server", "image": runtime.get("image", ""),
                        "args": ["--artifact", d.artifact_uri, "--port", str(SERVER_PORT)],
                        "ports": [{"name": "http", "containerPort": SERVER_PORT}],
                        "env": env, "resources": resources, "readinessProbe": probe,
                    }]},
                },
            },
        }

    def _apply_deployment(self, name: str, body: dict[str, Any]) -> None:
        self.apps.patch_namespaced_deployment(name, self.namespace, body, field_manager=FIELD_MANAGER, force=True,
                                              _content_type=APPLY)

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
        self.core.patch_namespaced_service(name, self.namespace, body, field_manager=FIELD_MANAGER, force=True,
                                           _content_type=APPLY)

    def _read(self, name: str) -> Any | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.apps.read_namespaced_deployment(name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _versions(self, model: str) -> list[str]:
        items = self.apps.list_namespaced_deployment(self.namespace, label_selector=f"{MODEL_LABEL}={model}").items
        return [obj.metadata.labels[VERSION_LABEL] for obj in sorted(items, key=_deployed_at)]

    def _newest(self, model: str) -> str | None:
        versions = self._versions(model)
        return versions[-1] if versions else None

    def _weights(self, model: str) -> dict[str, int]:
        from kubernetes.client.exceptions import ApiException

        try:
            svc = self.core.read_namespaced_service(dns_name(model), self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return {}
            raise
        return json.loads((svc.metadata.annotations or {}).get(WEIGHTS_ANNOTATION) or "{}")


def _deployed_at(obj: Any) -> float:
    return float((obj.metadata.annotations or {}).get(DEPLOYED_AT_ANNOTATION) or 0)


def _template_differs(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def containers(t: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(c.get("image"), json.dumps(c.get("env") or [], sort_keys=True),
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
    env = {e["name"]: e.get("value") for e in container.get("env") or []
           if e["name"] not in ("MODEL_ARTIFACT_URI", "MODEL_NAME", "MODEL_VERSION")}
    return {"image": container.get("image"),
            "python": ((template.get("metadata") or {}).get("annotations") or {}).get("multicloud.io/python"),
            "env": env, "limits": {"cpu": float(limits["cpu"]) if "cpu" in limits else None, "memory_gb": memory_gb}}


# ---- kubeconfig per cluster kind ----------------------------------------------------------------
def oke_kubeconfig(oci_conn_id: str, cluster_ocid: str) -> dict[str, Any]:
    """OKE: the Container Engine API's generated kubeconfig (``create_kubeconfig``), via OCIHook."""
    import yaml
    from oci.container_engine import ContainerEngineClient

    from multicloud.hooks.oci import OCIHook

    client = OCIHook(oci_conn_id).get_client(ContainerEngineClient)
    content = client.create_kubeconfig(cluster_ocid).data.content
    text = content.decode() if isinstance(content, bytes) else content
    config = yaml.safe_load(text)
    if not isinstance(config, dict) or not config.get("clusters"):
        raise ValueError(f"OKE cluster {cluster_ocid}: create_kubeconfig returned no usable kubeconfig")
    return config


def eks_api_client(aws_conn_id: str, cluster_name: str, region_name: str, namespace: str) -> Any:
    """EKS: the amazon provider's EksHook writes a kubeconfig whose exec helper mints the token."""
    from airflow.providers.amazon.aws.hooks.eks import EksHook
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    hook = EksHook(aws_conn_id=aws_conn_id, region_name=region_name)
    with hook.generate_config_file_with_credentials(eks_cluster_name=cluster_name,
                                                    pod_namespace=namespace) as (config_file, _credentials):
        # The token is minted while the config is loaded; the temporary files may go afterwards.
        return KubernetesHook(kubernetes_conn_id=None, config_file=config_file).get_conn()


class _ClientHook:
    """Adapter so every cluster kind answers ``get_conn()`` like KubernetesHook."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory

    def get_conn(self) -> Any:
        return self._factory()


def kubernetes_hook_for(region: Region, cluster: ClusterSpec) -> Any:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    if cluster.kind == "oke" and cluster.cluster_ocid:
        config = oke_kubeconfig(cluster.connection_id or "oci_default", cluster.cluster_ocid)
        return KubernetesHook(kubernetes_conn_id=None, config_dict=config)
    if cluster.kind == "eks" and cluster.eks_cluster_name:
        return _ClientHook(lambda: eks_api_client(cluster.connection_id or "aws_default", cluster.eks_cluster_name,
                                                  region.region, cluster.namespace))
    if not cluster.connection_id:
        raise ValueError(f"cluster {cluster.id}: a kubernetes cluster needs connection_id (or cluster_ocid for "
                         "OKE, eks_cluster_name for EKS)")
    return KubernetesHook(kubernetes_conn_id=cluster.connection_id)
