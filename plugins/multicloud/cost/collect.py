"""Actual spend per cloud: AWS Cost Explorer, the OCI Usage API, or usage x the price catalog.

Every collector returns the same normalised ``CloudCost`` (rows of service, region, workload,
amount) so the report can put them side by side. Which one a cloud uses is the estate's
``pricing.cost_sources[cloud]``; clouds without one (and the whole local estate) are priced as
current placement x catalog, which is also what the optimiser optimises.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multicloud.cost.catalog import PriceCatalog
    from multicloud.estate.models import CostSource, Estate

UNTAGGED = "(untagged)"


@dataclass
class CloudCost:
    cloud: str
    source: str                     # aws-cost-explorer | oci-usage-api | catalog
    period_start: str
    period_end: str
    currency: str
    rows: list[dict[str, Any]] = field(default_factory=list)  # service, region, workload, amount

    @property
    def total(self) -> float:
        return round(sum(r["amount"] for r in self.rows if r.get("kind", "service") == "service"), 4)

    def by(self, key: str) -> dict[str, float]:
        kind = "workload" if key == "workload" else "service"
        out: dict[str, float] = defaultdict(float)
        for row in self.rows:
            if row.get("kind", "service") == kind:
                out[row.get(key) or "?"] += row["amount"]
        return {k: round(v, 4) for k, v in sorted(out.items())}

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body.update(total=self.total, by_region=self.by("region"), by_service=self.by("service"),
                    by_workload=self.by("workload"))
        return body


def period(end: date | None = None, days: int = 30) -> tuple[date, date]:
    """The last ``days`` full days before ``end`` (default today, UTC); end exclusive."""
    end = end or datetime.now(UTC).date()
    return end - timedelta(days=days), end


# ---- AWS Cost Explorer -----------------------------------------------------------------------
def collect_aws(conn_id: str, start: date, end: date, tag_key: str = "workload") -> CloudCost:
    """Cost Explorer through the amazon provider's AwsBaseHook (client ``ce``).

    Cost Explorer allows two GroupBy keys per request, so two requests: (SERVICE, REGION) for the
    bill's shape and (TAG workload) for attribution.
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    client = AwsBaseHook(aws_conn_id=conn_id, client_type="ce").get_conn()
    result = CloudCost("aws", "aws-cost-explorer", start.isoformat(), end.isoformat(), "USD")
    query = {"TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()}, "Granularity": "MONTHLY",
             "Metrics": ["UnblendedCost"]}
    for group in _ce_pages(client, {**query, "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"},
                                                         {"Type": "DIMENSION", "Key": "REGION"}]}):
        service, region = group["Keys"]
        amount, unit = _ce_amount(group)
        result.currency = unit or result.currency
        result.rows.append({"kind": "service", "service": service, "region": region, "amount": amount})
    for group in _ce_pages(client, {**query, "GroupBy": [{"Type": "TAG", "Key": tag_key}]}):
        # Tag keys come back as "workload$value"; an empty value is untagged spend.
        value = group["Keys"][0].split("$", 1)[-1] or UNTAGGED
        amount, _unit = _ce_amount(group)
        result.rows.append({"kind": "workload", "workload": value, "amount": amount})
    return result


def _ce_pages(client, request: dict[str, Any]):
    token = None
    while True:
        response = client.get_cost_and_usage(**request, **({"NextPageToken": token} if token else {}))
        for bucket in response.get("ResultsByTime", []):
            yield from bucket.get("Groups", [])
        token = response.get("NextPageToken")
        if not token:
            return


def _ce_amount(group: dict[str, Any]) -> tuple[float, str | None]:
    metric = group.get("Metrics", {}).get("UnblendedCost", {})
    return float(metric.get("Amount", 0.0)), metric.get("Unit")


# ---- OCI Usage API ---------------------------------------------------------------------------
def collect_oci(conn_id: str, tenancy: str, start: date, end: date, tag_key: str = "workload",
                tag_namespace: str | None = None) -> CloudCost:
    """``request_summarized_usages`` (COST, MONTHLY) grouped by service and region, then by tag."""
    import oci

    from multicloud.hooks.oci_usage import OCIUsageHook

    hook = OCIUsageHook(oci_conn_id=conn_id)
    models = oci.usage_api.models
    started = datetime(start.year, start.month, start.day, tzinfo=UTC)
    ended = datetime(end.year, end.month, end.day, tzinfo=UTC)
    result = CloudCost("oci", "oci-usage-api", start.isoformat(), end.isoformat(), "USD")

    def request(**grouping: Any):
        return hook.summarized_usages(tenancy, started, ended, granularity="MONTHLY", query_type="COST", **grouping)

    for item in request(group_by=["service", "region"]):
        result.currency = item.currency or result.currency
        result.rows.append({"kind": "service", "service": item.service, "region": item.region,
                            "amount": float(item.computed_amount or 0.0)})
    tag = models.Tag(namespace=tag_namespace, key=tag_key)
    for item in request(group_by=["tagNamespace", "tagKey", "tagValue"], group_by_tag=[tag]):
        values = [t.value for t in (item.tags or []) if t.key == tag_key and t.value]
        result.rows.append({"kind": "workload", "workload": values[0] if values else UNTAGGED,
                            "amount": float(item.computed_amount or 0.0)})
    return result


# ---- a shipped bill (the local estate's) ---------------------------------------------------------
def collect_bill(cloud: str, bill_file: str, start: date, end: date) -> CloudCost:
    """A bill kept as a CSV (``cloud,service,region,workload,monthly_amount,currency``, one row
    per service line; an empty workload is untagged spend), scaled to the window. The local
    estate ships one so the demo shows calibration; users may export theirs the same way."""
    import csv

    from multicloud.cost.catalog import HOURS_PER_MONTH, CatalogError, _resolve

    path = _resolve(bill_file)
    months = (end - start).days * 24 / HOURS_PER_MONTH
    result = CloudCost(cloud, "bill", start.isoformat(), end.isoformat(), "USD")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                if (row.get("cloud") or "").strip() != cloud:
                    continue
                try:
                    amount = float(row["monthly_amount"]) * months
                except (KeyError, TypeError, ValueError):
                    raise CatalogError(f"{path}:{line}: monthly_amount must be a number") from None
                result.currency = (row.get("currency") or result.currency).strip()
                result.rows.append({"kind": "service", "service": row["service"], "region": row["region"],
                                    "amount": round(amount, 4)})
                result.rows.append({"kind": "workload", "workload": (row.get("workload") or "").strip() or UNTAGGED,
                                    "amount": round(amount, 4)})
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the bill: {exc.strerror}") from None
    return result


# ---- usage x catalog -------------------------------------------------------------------------
def collect_catalog(estate: Estate, catalog: PriceCatalog, placement: dict[str, dict[str, int]], cloud: str,
                    start: date, end: date) -> CloudCost:
    """Current placement x catalog prices for one cloud's clusters, over the period."""
    from multicloud.cost.catalog import HOURS_PER_MONTH
    from multicloud.cost.model import build_problem, evaluate
    from multicloud.residency.policy import ResidencyPolicy

    # The whole estate is priced, then only this cloud's clusters reported: a problem restricted to
    # one cloud leaves out every workload that also runs elsewhere, and its cost would go unseen.
    problem = build_problem(estate, catalog, ResidencyPolicy.from_estate(estate), placement, max_moves=0)
    here = [c for c in problem.clusters if c.cloud == cloud]
    months = (end - start).days * 24 / HOURS_PER_MONTH
    result = CloudCost(cloud, "catalog", start.isoformat(), end.isoformat(), catalog.currency)
    evaluation = evaluate(problem, problem.current(), check_moves=False)
    for cluster in here:
        amount = round(evaluation.run_by_cluster.get(cluster.id, 0.0) * months, 4)
        result.rows.append({"kind": "service", "service": f"compute:{cluster.shape}", "region": cluster.region,
                            "cluster": cluster.id, "amount": amount})
    for workload_id, monthly in _workload_run_costs(problem, {c.id for c in here}).items():
        result.rows.append({"kind": "workload", "workload": workload_id, "amount": round(monthly * months, 4)})
    return result


def _workload_run_costs(problem, cluster_ids: set[str]) -> dict[str, float]:
    """Each workload's monthly share of the paid cost of ``cluster_ids`` it runs on (committed
    capacity shared pro rata); workloads running on none of them are left out."""
    from multicloud.cost.model import node_month, share

    clusters = {c.id: c for c in problem.clusters}
    used: dict[str, float] = defaultdict(float)
    for w in problem.workloads:
        for cid, n in w.current.items():
            used[cid] += n * share(w, clusters[cid])
    costs: dict[str, float] = {}
    for workload in problem.workloads:
        mine_here = {cid: n for cid, n in workload.current.items() if cid in cluster_ids}
        if not mine_here:
            continue
        total = 0.0
        for cid, n in mine_here.items():
            cluster = clusters[cid]
            paid = max(0.0, used[cid] - cluster.committed_nodes) * node_month(cluster)
            mine = n * share(workload, cluster)
            total += paid * (mine / used[cid] if used[cid] else 0.0) + n * workload.egress_per_replica.get(cid, 0.0)
        costs[workload.id] = total
    return costs


def collect_cloud(estate: Estate, cloud: str, *, start: date, end: date,
                  placement: dict[str, dict[str, int]] | None = None) -> CloudCost:
    from multicloud.cost.catalog import catalog_for_estate
    from multicloud.placement import current_placement

    source: CostSource | None = estate.pricing.cost_sources.get(cloud)
    if source is not None and source.type == "aws_cost_explorer":
        return collect_aws(source.connection_id, start, end, source.tag_key)
    if source is not None and source.type == "oci_usage_api":
        return collect_oci(source.connection_id, source.tenancy, start, end, source.tag_key, source.tag_namespace)
    if source is not None and source.type == "bill":
        return collect_bill(cloud, source.file, start, end)
    return collect_catalog(estate, catalog_for_estate(estate), placement or current_placement(estate), cloud,
                           start, end)
