"""The cluster driver contract: what rollout, cost rebalancing and DR need from any cluster.

Drivers are chosen per cluster by the estate (``cluster.driver``): ``local`` runs model servers
as local processes (the embedded estate); ``kubernetes`` speaks to OKE/EKS/AKS/GKE through the
cncf-kubernetes provider. Every method is idempotent: calling it again with the same arguments
converges to the same state, so a retried Airflow task is always safe.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

RolloutState = Literal["absent", "progressing", "complete", "failed"]


class ServedModel(TypedDict):
    """One model as a cluster serves it now (an entry of ``ClusterDriver.served()``)."""

    versions: dict[str, int]  # version -> replicas
    weights: dict[str, int]  # version -> percent of the model's traffic
    runtime: dict[str, Any]  # the runtime baseline the newest version runs under
    artifacts: dict[str, str]  # version -> artifact URI
    traffic: NotRequired[str]  # how weights are applied (Kubernetes: gateway-api or replica-count)


@dataclass(frozen=True)
class ModelDeployment:
    """What to run: one model version with N replicas on one cluster, under the runtime baseline."""

    model: str
    version: str
    replicas: int
    artifact_uri: str
    runtime: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RolloutStatus:
    cluster: str
    model: str
    version: str | None
    desired: int
    updated: int
    ready: int
    state: RolloutState
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ClusterDriver(ABC):
    """One cluster. Versions of a model may run side by side (canary) until one is removed."""

    def __init__(self, cluster_id: str) -> None:
        self.cluster_id = cluster_id

    @abstractmethod
    def deploy(self, deployment: ModelDeployment) -> None:
        """Start (or converge) ``deployment`` beside whatever version already runs."""

    @abstractmethod
    def status(self, model: str, version: str | None = None) -> RolloutStatus:
        """Rollout status of ``model`` (a given version, or the newest one deployed)."""

    @abstractmethod
    def wait_ready(self, model: str, version: str, timeout_s: float) -> RolloutStatus:
        """Block until complete, failed or timed out (then state ``failed`` with the reason)."""

    @abstractmethod
    def scale(self, model: str, version: str, replicas: int) -> None:
        """Set the replica count of one version (0 keeps the definition, runs nothing)."""

    @abstractmethod
    def shift(self, model: str, weights: dict[str, int]) -> None:
        """Split this cluster's traffic for ``model`` between versions (percent, summing to 100)."""

    @abstractmethod
    def rollback(self, model: str) -> str | None:
        """Return to the previously served version; remove the newer one. Returns that version."""

    @abstractmethod
    def remove(self, model: str, version: str | None = None) -> None:
        """Stop and delete one version, or every version of ``model``."""

    @abstractmethod
    def endpoints(self, model: str, version: str | None = None) -> list[str]:
        """Base URLs that answer /healthz, /predict, /version (read them with ``fetch``)."""

    def fetch(self, url: str, body: bytes | None = None, timeout_s: float = 5.0) -> tuple[int, bytes]:
        """GET ``url`` (POST when ``body`` is given, JSON) with whatever credentials the cluster needs.

        Plain HTTP(S) here; a driver whose endpoints sit behind its API (the Kubernetes service
        proxy) overrides this to send its own credentials. Returns (status, body); a connection
        failure is status 0 with the error as body, never an exception.
        """
        return http_fetch(url, body, timeout_s)

    @abstractmethod
    def served(self) -> dict[str, ServedModel]:
        """Every model here, by id (``ServedModel``: versions and replicas, weights, runtime, artifacts)."""


def http_fetch(url: str, body: bytes | None = None, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """Plain HTTP(S): (status, body); a connection failure is status 0 with the error as body."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError as exc:
        return 0, f"{type(exc).__name__}: {exc}".encode()
