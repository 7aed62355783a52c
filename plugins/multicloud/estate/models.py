"""The estate: one validated description of every cloud, region, cluster, data class and workload.

Pure pydantic models (no Airflow import). Field-level rules live on the models; rules that
relate one part of the estate to another (references, uniqueness) live in ``Estate``'s
validators so every error carries the field path where it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from multicloud import paths

Identifier = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", description="lower-case id: a-z 0-9 . _ -"),
]
JurisdictionId = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_-]{0,31}$")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class Strict(BaseModel):
    """Base for every estate model: unknown fields are errors (a typo must never be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Cloud(StrEnum):
    OCI = "oci"
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"
    ONPREM = "onprem"


class Jurisdiction(Strict):
    id: JurisdictionId
    name: str
    countries: list[CountryCode] = Field(default_factory=list, description="ISO 3166-1 alpha-2")


class JurisdictionGroup(Strict):
    """A named set of jurisdictions, like GCP's ``in:eu-locations`` value groups."""

    id: Identifier
    members: list[JurisdictionId] = Field(min_length=1)


class StorageSpec(Strict):
    """Where a region keeps objects. ``url`` is any fsspec URL; ``{estate_home}`` is expanded."""

    url: str
    connection_id: str | None = Field(
        default=None, description="Airflow connection for s3:// (aws) or oci:// (oci) storage"
    )
    s3_compat: Literal["aws", "oci"] | None = Field(
        default=None, description="'oci' applies OCI Object Storage's S3-compatibility settings"
    )

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in {"file", "s3", "oci", "gs", "abfs", "az", "memory"}:
            raise ValueError(
                f"storage url must start with file://, s3://, oci://, gs://, abfs:// or az://; got {url!r}"
            )
        paths.check_url(url, "storage url")
        if scheme == "file" and not url.startswith(("file:///", "file://localhost/")):
            raise ValueError(f"a file:// storage url needs an absolute path (file:///...); got {url!r}")
        return url


class Capacity(Strict):
    cpu: float = Field(ge=0, description="vCPU")
    memory_gb: float = Field(ge=0)
    gpu: int = Field(default=0, ge=0)
    gpu_type: str | None = None

    @model_validator(mode="after")
    def _gpu_type_with_gpus(self) -> Capacity:
        if self.gpu and not self.gpu_type:
            raise ValueError("gpu_type is required when gpu > 0")
        return self


class GatewayRef(Strict):
    """A Gateway API ``parentRef``: the Gateway whose HTTPRoutes split a model's traffic."""

    name: str
    namespace: str | None = None
    section_name: str | None = None


class PrometheusRef(Strict):
    """A Prometheus scraping the cluster's model servers: gates query its HTTP API (Flagger-style)."""

    url: str = Field(description="base URL of the Prometheus HTTP API (``{url}/api/v1/query``)")
    window_s: float = Field(default=60.0, gt=0, description="the canary's analysis window of each check")


class SpotPool(Strict):
    """Spot/preemptible nodes beside the cluster's on-demand ones, priced at the catalog's spot price."""

    capacity: Capacity
    interruptions_per_month: float = Field(default=0.5, ge=0, description="expected reclaims of one spot node a month")
    node_selector: dict[str, str] | None = Field(
        default=None, description="node labels of the spot nodes; default: the cluster kind's capacity-type label "
        "(multicloud.drivers.scheduling)")
    tolerations: list[dict[str, str]] | None = Field(
        default=None, description="pod tolerations for the spot nodes' taints; default: the kind's (AKS: "
        "scalesetpriority=spot:NoSchedule)")


class NodePool(Strict):
    """A node pool cost_rebalance resizes after a move (OKE node pool OCID or EKS node group name)."""

    id: str
    connection_id: str | None = Field(default=None, description="oci or aws connection; default: the cluster's")
    spot: bool = False
    min_nodes: int = Field(default=0, ge=0)
    max_nodes: int | None = Field(default=None, ge=0)


class ClusterSpec(Strict):
    id: Identifier
    kind: Literal["oke", "eks", "aks", "gke", "local"]
    driver: Literal["local", "kubernetes"] = "local"
    connection_id: str | None = Field(
        default=None, description="Airflow connection: kubernetes (cncf provider), oci or aws for kubeconfig"
    )
    cluster_ocid: str | None = Field(default=None, description="OKE cluster OCID (kubeconfig via OCI)")
    eks_cluster_name: str | None = None
    namespace: str = "models"
    external_url: str | None = Field(
        default=None, description="ingress/LB base URL routing /{namespace}/{service}/ to Services (else the "
        "API server's service proxy, with the driver's credentials)")
    gateway: GatewayRef | None = Field(default=None, description="Gateway API parentRef: canary weights as HTTPRoutes")
    prometheus: PrometheusRef | None = Field(
        default=None, description="Prometheus whose metrics of the servers the health gates also check")
    image: str | None = Field(
        default=None, description="this cluster's model-server image, overriding runtime.image (e.g. a regional "
        "registry mirror); unset: the estate's runtime.image, the same baseline everywhere")
    artifact_secret: str | None = Field(
        default=None, description="Secret (envFrom) with the artifact store's credentials; never literal keys")
    service_account: str | None = Field(
        default=None, description="service account bound to a cloud identity (OKE workload identity, EKS IRSA)")
    shape: str = Field(description="price-catalog shape of one node (cloud, region, shape)")
    capacity: Capacity
    committed: Capacity | None = Field(
        default=None, description="already-paid capacity: costs nothing at the margin"
    )
    spot: SpotPool | None = None
    node_pools: list[NodePool] = Field(default_factory=list)
    autoscaler: bool = Field(default=False, description="a cluster autoscaler resizes the pools: wait for it")

    @model_validator(mode="after")
    def _kubernetes_needs_connection(self) -> ClusterSpec:
        if self.driver == "kubernetes" and not (self.connection_id or self.cluster_ocid or self.eks_cluster_name):
            raise ValueError("a kubernetes cluster needs connection_id, cluster_ocid or eks_cluster_name")
        return self


class Region(Strict):
    id: Identifier
    cloud: Cloud
    region: str = Field(description="the cloud's own region name, e.g. eu-frankfurt-1")
    jurisdiction: JurisdictionId
    storage: StorageSpec
    cluster: ClusterSpec | None = None
    fastconnect: str | None = Field(default=None, description="OCI FastConnect virtual circuit OCID")


class Allow(Strict):
    jurisdictions: list[JurisdictionId] = Field(default_factory=list)
    groups: list[Identifier] = Field(default_factory=list)
    regions: list[Identifier] = Field(default_factory=list)


class DataClass(Strict):
    id: Identifier
    description: str = ""
    allow: Allow
    deny_regions: list[Identifier] = Field(default_factory=list, description="exceptions inside allow")
    mode: Literal["enforce", "audit"] = "enforce"


class RecordRouting(Strict):
    """Rows carry a country or jurisdiction column; each row's class comes from its jurisdiction."""

    column: str
    column_kind: Literal["country", "jurisdiction"] = "country"
    class_by_jurisdiction: dict[JurisdictionId, Identifier] = Field(min_length=1)


class DataIntegrationTask(Strict):
    """An OCI Data Integration published task that moves this dataset."""

    connection_id: str = "oci_default"
    workspace_id: str
    application_key: str
    task_key: str
    bindings: dict[str, str] = Field(default_factory=dict)
    on_retry: Literal["new_run", "rerun_failed"] = Field(
        default="new_run",
        description="after a failed run, a retry starts a new run or re-runs only its failed steps",
    )


class Dataset(Strict):
    id: Identifier
    description: str = ""
    source: Identifier = Field(description="region id holding the system of record")
    path: str = Field(description="prefix under each region's storage url")
    format: Literal["parquet", "csv", "jsonl", "binary"] = "parquet"
    data_class: Identifier | None = Field(default=None, description="object-level routing")
    routing: RecordRouting | None = Field(default=None, description="record-level routing")
    replicate_to: list[Identifier] | Literal["all"] = "all"
    partitioning: Literal["hourly", "daily", "none"] = "hourly"
    schedule: str | None = Field(
        default=None, description="own cron or preset (match the partitioning); default: every DAG run"
    )
    engine: Literal["fsspec", "oci-data-integration"] = "fsspec"
    data_integration: DataIntegrationTask | None = None
    expectation_suite: str | None = Field(default=None, description="file under include/expectations")
    key_columns: list[str] = Field(default_factory=list)
    size_gb: float = Field(default=1.0, ge=0, description="for data-gravity costs")
    arrival_timeout_s: float = Field(
        default=0, ge=0, le=86400,
        description="how long a sync run waits (deferred, in the triggerer) for a missing source partition "
                    "before it is reported late; 0: late at once",
    )

    @field_validator("path")
    @classmethod
    def _safe_path(cls, path: str) -> str:
        """Normalised (``./eu-claims/`` -> ``eu-claims``) so sync, training and the audit agree."""
        cleaned = paths.clean_relative(path, "dataset path")
        if any(s.startswith((".", "_")) for s in cleaned.split("/")) or cleaned.split("/")[0] == "models":
            raise ValueError(f"dataset path {path!r}: names starting with '.' or '_' and the top-level "
                             "'models' prefix are reserved (bookkeeping, quarantine, model artifacts)")
        return cleaned

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, schedule: str | None) -> str | None:
        from croniter import croniter

        if schedule is not None and not croniter.is_valid(schedule):
            raise ValueError(f"schedule {schedule!r} is not a cron expression or preset such as @daily")
        return schedule

    @model_validator(mode="after")
    def _one_routing_mode(self) -> Dataset:
        if (self.data_class is None) == (self.routing is None):
            raise ValueError("set exactly one of data_class (object-level) or routing (record-level)")
        if self.engine == "oci-data-integration" and self.data_integration is None:
            raise ValueError("engine 'oci-data-integration' needs a data_integration block")
        return self


class Slo(Strict):
    p95_ms: float = Field(gt=0)
    success_rate: float = Field(default=0.99, gt=0, le=1)


class Model(Strict):
    id: Identifier
    description: str = ""
    trained_on: Identifier = Field(description="dataset id")
    train_in: Identifier = Field(description="region where training runs (data never leaves it)")
    data_class: Identifier = Field(description="class of the training data; governs serving")
    slo: Slo


class Resources(Strict):
    cpu: float = Field(gt=0)
    memory_gb: float = Field(gt=0)
    gpu: int = Field(default=0, ge=0)
    gpu_type: str | None = None


class Demand(Strict):
    """Observed service at the current ``requests_per_hour`` (rollout gates or metrics)."""

    p95_ms: float = Field(gt=0, description="measured p95 latency")
    success_rate: float = Field(gt=0, le=1)
    concurrency: int = Field(default=1, ge=1, description="requests one replica serves at once")
    source: str = "metrics"


class Workload(Strict):
    id: Identifier
    model: Identifier
    replicas: int = Field(ge=1)
    resources: Resources
    critical: bool = Field(default=False, description="must span at least two regions")
    reads: list[Identifier] = Field(default_factory=list, description="dataset ids it reads")
    requests_per_hour: float = Field(default=0, ge=0)
    demand: Demand | None = Field(default=None, description="measured service; enables right-sizing")
    preemptible: bool = Field(default=False, description="tolerates spot capacity")
    placement: dict[Identifier, int] = Field(
        description="current replicas per cluster id", min_length=1
    )

    @model_validator(mode="after")
    def _placement_sums(self) -> Workload:
        placed = sum(self.placement.values())
        if placed != self.replicas:
            raise ValueError(f"placement puts {placed} replicas but replicas is {self.replicas}")
        return self


class OciLoadBalancerSteering(Strict):
    """DR steering through an OCI Load Balancer: one backend set per region id."""

    load_balancer_id: str = Field(description="the load balancer's OCID")
    backend_sets: dict[Identifier, str] = Field(min_length=2, description="region id -> backend set name")
    drain_first: bool = Field(default=True, description="drain the old region's backends before taking them offline")
    work_request_poll_s: float = Field(default=2.0, gt=0, description="first wait between work-request reads")


class HealthCheck(Strict):
    """Active health checks of a DR pair's regions (the gateway; Route 53 health checks; OCI monitors)."""

    path: str = Field(default="/healthz", pattern=r"^/", description="HTTP path every backend answers 200 on")
    port: int | None = Field(default=None, ge=1, le=65535, description="cloud checks: port (default 443)")
    interval_s: float = Field(default=1.0, gt=0, description="seconds between checks of one region")
    timeout_s: float = Field(default=1.0, gt=0)
    unhealthy_threshold: int = Field(default=2, ge=1, le=10, description="failed checks in a row: unhealthy")
    healthy_threshold: int = Field(default=2, ge=1, le=10, description="good checks in a row: healthy again")


class FailBackPolicy(Strict):
    """Fail back is deliberate: the primary must stay healthy, then (optionally) a person approves."""

    healthy_checks: int = Field(default=5, ge=1, description="healthy checks of the primary in a row")
    stabilisation_s: float = Field(default=60.0, ge=0, description="seconds the primary stays healthy first")
    approval: bool = Field(default=False, description="a person approves fail back (Airflow HITL)")
    timeout_s: float = Field(default=6 * 3600.0, gt=0, description="give up waiting (traffic stays put)")


class DrPair(Strict):
    id: Identifier
    primary: Identifier = Field(description="region id")
    secondary: Identifier = Field(description="region id")
    rto_target_s: float = Field(gt=0)
    rpo_target_s: float = Field(gt=0)
    workloads: list[Identifier] = Field(default_factory=list)
    datasets: list[Identifier] = Field(default_factory=list)
    endpoint: str = Field(description="global endpoint name (DNS name, or local gateway route)")
    pilot_light_stack: str | None = Field(
        default=None, description="OCI Resource Manager stack OCID provisioning the standby"
    )
    route53_zone_id: str | None = None
    oci_steering_policy_id: str | None = Field(
        default=None, description="OCI DNS steering policy OCID steering the endpoint (pools named by region id)"
    )
    steering_connection_id: str | None = Field(
        default=None, description="Airflow connection for Route 53 (aws) or OCI DNS (oci) steering"
    )
    oci_load_balancer: OciLoadBalancerSteering | None = Field(
        default=None, description="OCI Load Balancer whose backend sets (one per region) steer the endpoint"
    )
    probe_url: str | None = Field(
        default=None, pattern=r"^https?://",
        description="URL the rehearsal's probe reaches the endpoint through (default: the load balancer's "
                    "listener, else https://<endpoint>)")
    health_check: HealthCheck = Field(default_factory=HealthCheck)
    fail_back: FailBackPolicy = Field(default_factory=FailBackPolicy)
    slo_availability: float = Field(
        default=0.999, gt=0, lt=1, description="the pair's availability SLO (monthly error budget)"
    )
    pilot_light_replicas: int = Field(
        default=1, ge=0, description="replicas the secondary keeps warm; failover scales up to the primary's"
    )

    @model_validator(mode="after")
    def _distinct(self) -> DrPair:
        if self.primary == self.secondary:
            raise ValueError("primary and secondary must be different regions")
        return self


class RuntimeBaseline(Strict):
    """One environment every cluster runs: the data scientist's 'same runtime everywhere'."""

    image: str
    python: str = "3.11"
    env: dict[str, str] = Field(default_factory=dict)
    limits: Resources | None = None


class MetricsSink(Strict):
    type: Literal["file", "statsd", "oci", "cloudwatch"]
    connection_id: str | None = None
    namespace: str = "multicloud"
    compartment_id: str | None = None
    region: str | None = None


class LogSink(Strict):
    """Where structured log entries (residency decisions, audit findings, rollout steps, ...) go."""

    type: Literal["file", "oci", "cloudwatch"]
    connection_id: str | None = Field(default=None, description="oci or aws Airflow connection")
    region: str | None = None
    log_id: str | None = Field(default=None, description="OCI Logging custom log OCID (type oci)")
    log_group: str | None = Field(default=None, description="CloudWatch Logs group (type cloudwatch)")
    log_stream: str = Field(default="multicloud", description="CloudWatch Logs stream (created when missing)")

    @model_validator(mode="after")
    def _target(self) -> LogSink:
        if self.type == "oci" and not self.log_id:
            raise ValueError("log sink 'oci' needs log_id (the custom log's OCID)")
        if self.type == "cloudwatch" and not self.log_group:
            raise ValueError("log sink 'cloudwatch' needs log_group")
        return self


class CostSource(Strict):
    """Where cost_rebalance reads a cloud's actual spend (clouds without one: usage x catalog)."""

    type: Literal["aws_cost_explorer", "oci_usage_api", "bill", "catalog"] = "catalog"
    connection_id: str | None = Field(default=None, description="aws or oci Airflow connection")
    tenancy: str | None = Field(default=None, description="OCI tenancy OCID (oci_usage_api)")
    tag_key: str = Field(default="workload", description="cost-allocation tag naming the workload")
    tag_namespace: str | None = Field(default=None, description="OCI defined-tag namespace of tag_key")
    file: str | None = Field(default=None, description="a shipped bill (csv under include/): type 'bill'")

    @model_validator(mode="after")
    def _needs_connection(self) -> CostSource:
        if self.type not in ("catalog", "bill") and not self.connection_id:
            raise ValueError(f"cost source {self.type!r} needs connection_id")
        if self.type == "oci_usage_api" and not self.tenancy:
            raise ValueError("cost source 'oci_usage_api' needs tenancy")
        if (self.type == "bill") != bool(self.file):
            raise ValueError("cost source 'bill' needs file (and only it takes one)")
        return self


class Pricing(Strict):
    catalog: str = "pricing/catalog.csv"
    egress: str = "pricing/egress.csv"
    currency: str = "USD"
    cost_sources: dict[str, CostSource] = Field(
        default_factory=dict, description="per cloud (oci, aws, ...): where actual spend comes from"
    )
    target_utilisation: float = Field(default=0.6, gt=0, le=1, description="right-sizing aims replicas at this load")
    divergence_pct: float = Field(default=15.0, ge=0, description="model vs bill error that alerts")


class Estate(Strict):
    name: Identifier
    description: str = ""
    jurisdictions: list[Jurisdiction] = Field(min_length=1)
    jurisdiction_groups: list[JurisdictionGroup] = Field(default_factory=list)
    regions: list[Region] = Field(min_length=1)
    data_classes: list[DataClass] = Field(default_factory=list)
    datasets: list[Dataset] = Field(default_factory=list)
    models: list[Model] = Field(default_factory=list)
    workloads: list[Workload] = Field(default_factory=list)
    dr_pairs: list[DrPair] = Field(default_factory=list)
    runtime: RuntimeBaseline
    metrics: list[MetricsSink] = Field(default_factory=lambda: [MetricsSink(type="file")])
    logs: list[LogSink] = Field(default_factory=lambda: [LogSink(type="file")])
    pricing: Pricing = Field(default_factory=Pricing)

    # ---- lookups ---------------------------------------------------------------------------
    def region(self, region_id: str) -> Region:
        return _by_id(self.regions, region_id, "region")

    def data_class(self, class_id: str) -> DataClass:
        return _by_id(self.data_classes, class_id, "data class")

    def dataset(self, dataset_id: str) -> Dataset:
        return _by_id(self.datasets, dataset_id, "dataset")

    def model(self, model_id: str) -> Model:
        return _by_id(self.models, model_id, "model")

    def workload(self, workload_id: str) -> Workload:
        return _by_id(self.workloads, workload_id, "workload")

    def dr_pair(self, pair_id: str) -> DrPair:
        return _by_id(self.dr_pairs, pair_id, "DR pair")

    def clusters(self) -> list[tuple[Region, ClusterSpec]]:
        return [(r, r.cluster) for r in self.regions if r.cluster is not None]

    def cluster(self, cluster_id: str) -> tuple[Region, ClusterSpec]:
        for region, cluster in self.clusters():
            if cluster.id == cluster_id:
                return region, cluster
        raise KeyError(f"unknown cluster {cluster_id!r}")

    def region_of_cluster(self, cluster_id: str) -> Region:
        return self.cluster(cluster_id)[0]

    def targets_of(self, dataset: Dataset) -> list[str]:
        """Every region the dataset is meant to reach (before policy), never its source."""
        wanted = [r.id for r in self.regions] if dataset.replicate_to == "all" else dataset.replicate_to
        return [r for r in wanted if r != dataset.source]

    def jurisdiction_of_country(self, country: str) -> str | None:
        for jurisdiction in self.jurisdictions:
            if country in jurisdiction.countries:
                return jurisdiction.id
        return None

    # ---- cross-reference rules ---------------------------------------------------------------
    @model_validator(mode="after")
    def _references(self) -> Estate:
        problems = [*_duplicate_ids(self), *_unknown_references(self), *_ambiguities(self)]
        if problems:
            raise ReferenceProblems(problems)
        return self


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the estate, at a dotted path (``datasets[0].source``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ReferenceProblems(ValueError):
    """The estate's cross-references do not hold; ``problems`` lists each, with its own path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("estate references:\n" + "\n".join(str(p) for p in self.problems))


def _duplicate_ids(estate: Estate) -> list[Problem]:
    problems: list[Problem] = []
    for name in ("jurisdictions", "jurisdiction_groups", "regions", "data_classes", "datasets",
                 "models", "workloads", "dr_pairs"):
        problems += _duplicates(name, getattr(estate, name))
    cluster_paths = [f"regions[{i}].cluster" for i, r in enumerate(estate.regions) if r.cluster is not None]
    return problems + _duplicates("clusters", [c for _, c in estate.clusters()], paths=cluster_paths)


# (path, the id it names, what kind of thing that id must be)
_Reference = tuple[str, str, str]


def _unknown_references(estate: Estate) -> list[Problem]:
    known = {
        "jurisdiction": {j.id for j in estate.jurisdictions},
        "jurisdiction group": {g.id for g in estate.jurisdiction_groups},
        "region": {r.id for r in estate.regions},
        "data class": {c.id for c in estate.data_classes},
        "dataset": {d.id for d in estate.datasets},
        "model": {m.id for m in estate.models},
        "workload": {w.id for w in estate.workloads},
        "cluster": {c.id for _, c in estate.clusters()},
    }
    references = [*_jurisdiction_references(estate), *_class_references(estate), *_dataset_references(estate),
                  *_serving_references(estate), *_dr_references(estate)]
    return [Problem(path, f"unknown {what} {value!r}; expected one of {sorted(known[what])}")
            for path, value, what in references if value not in known[what]]


def _jurisdiction_references(estate: Estate) -> list[_Reference]:
    found = [(f"jurisdiction_groups[{i}].members[{k}]", member, "jurisdiction")
             for i, g in enumerate(estate.jurisdiction_groups) for k, member in enumerate(g.members)]
    return found + [(f"regions[{i}].jurisdiction", r.jurisdiction, "jurisdiction") for i, r in enumerate(estate.regions)]


def _class_references(estate: Estate) -> list[_Reference]:
    found: list[_Reference] = []
    for i, c in enumerate(estate.data_classes):
        found += [(f"data_classes[{i}].allow.jurisdictions[{k}]", j, "jurisdiction")
                  for k, j in enumerate(c.allow.jurisdictions)]
        found += [(f"data_classes[{i}].allow.groups[{k}]", g, "jurisdiction group") for k, g in enumerate(c.allow.groups)]
        found += [(f"data_classes[{i}].allow.regions[{k}]", r, "region") for k, r in enumerate(c.allow.regions)]
        found += [(f"data_classes[{i}].deny_regions[{k}]", r, "region") for k, r in enumerate(c.deny_regions)]
    return found


def _dataset_references(estate: Estate) -> list[_Reference]:
    found: list[_Reference] = []
    for i, d in enumerate(estate.datasets):
        found.append((f"datasets[{i}].source", d.source, "region"))
        if d.data_class:
            found.append((f"datasets[{i}].data_class", d.data_class, "data class"))
        for j, c in (d.routing.class_by_jurisdiction.items() if d.routing else ()):
            found += [(f"datasets[{i}].routing.class_by_jurisdiction.{j}", j, "jurisdiction"),
                      (f"datasets[{i}].routing.class_by_jurisdiction.{j}", c, "data class")]
        if d.replicate_to != "all":
            found += [(f"datasets[{i}].replicate_to[{k}]", r, "region") for k, r in enumerate(d.replicate_to)]
    return found


def _serving_references(estate: Estate) -> list[_Reference]:
    found: list[_Reference] = []
    for i, m in enumerate(estate.models):
        found += [(f"models[{i}].trained_on", m.trained_on, "dataset"), (f"models[{i}].train_in", m.train_in, "region"),
                  (f"models[{i}].data_class", m.data_class, "data class")]
    for i, w in enumerate(estate.workloads):
        found.append((f"workloads[{i}].model", w.model, "model"))
        found += [(f"workloads[{i}].reads[{k}]", d, "dataset") for k, d in enumerate(w.reads)]
        found += [(f"workloads[{i}].placement.{c}", c, "cluster") for c in w.placement]
    return found


def _dr_references(estate: Estate) -> list[_Reference]:
    found: list[_Reference] = []
    for i, p in enumerate(estate.dr_pairs):
        found += [(f"dr_pairs[{i}].primary", p.primary, "region"), (f"dr_pairs[{i}].secondary", p.secondary, "region")]
        found += [(f"dr_pairs[{i}].workloads[{k}]", w, "workload") for k, w in enumerate(p.workloads)]
        found += [(f"dr_pairs[{i}].datasets[{k}]", d, "dataset") for k, d in enumerate(p.datasets)]
    return found


def _ambiguities(estate: Estate) -> list[Problem]:
    """What the estate cannot decide: a country in two jurisdictions, two regions' storage in one
    place (or one inside the other), two datasets of different classes on one path or nested."""
    problems: list[Problem] = []
    owner: dict[str, str] = {}
    for i, jurisdiction in enumerate(estate.jurisdictions):
        for k, country in enumerate(jurisdiction.countries):
            if owner.setdefault(country, jurisdiction.id) != jurisdiction.id:
                problems.append(Problem(f"jurisdictions[{i}].countries[{k}]", f"country {country!r} is already in "
                                        f"jurisdiction {owner[country]!r}; a country belongs to one jurisdiction"))
    stores = [(i, r.id, _storage_key(r.storage.url)) for i, r in enumerate(estate.regions)]
    for a, (i, rid, key) in enumerate(stores):
        for j, other, other_key in stores[:a]:
            if _nested(key, other_key) and rid != other:  # a repeated id is reported once, as a duplicate
                how = "the same place as" if key == other_key else "inside (or around)"
                problems.append(Problem(f"regions[{i}].storage.url", f"storage of region {rid!r} is {how} the storage "
                                        f"of region {other!r} (regions[{j}]); each region needs its own storage"))
    for a, dataset in enumerate(estate.datasets):
        for b, other in enumerate(estate.datasets[:a]):
            segments, other_segments = dataset.path.split("/"), other.path.split("/")
            if not _nested(segments, other_segments) or dataset.id == other.id:
                continue
            if dataset.path == other.path or _class_of(dataset) != _class_of(other):
                problems.append(Problem(f"datasets[{a}].path", f"{dataset.path!r} overlaps dataset {other.id!r} "
                                        f"(datasets[{b}].path {other.path!r}); an object must have one class"))
    return problems


def _storage_key(url: str) -> list[str]:
    scheme, _, rest = url.partition("://")
    return [scheme, *[s for s in rest.removeprefix("localhost/").split("/") if s not in ("", ".")]]


def _nested(a: list[str], b: list[str]) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def _class_of(dataset: Dataset) -> tuple:
    if dataset.routing is None:
        return ("object", dataset.data_class)
    routing = dataset.routing
    return ("rows", routing.column, routing.column_kind, tuple(sorted(routing.class_by_jurisdiction.items())))


def _by_id(items, item_id: str, what: str):
    for item in items:
        if item.id == item_id:
            return item
    raise KeyError(f"unknown {what} {item_id!r}")


def _duplicates(name: str, items, paths: list[str] | None = None) -> list[Problem]:
    """One problem per repeated id; ``paths`` names where each item lives when not ``name[i]``."""
    where = paths or [f"{name}[{i}]" for i in range(len(items))]
    seen: dict[str, int] = {}
    problems = []
    for i, item in enumerate(items):
        if item.id in seen:
            problems.append(Problem(f"{where[i]}.id", f"duplicate id {item.id!r} (first at {where[seen[item.id]]})"))
        seen.setdefault(item.id, i)
    return problems
