"""Calibration from bills: what each cloud really charges against what the catalog model says.

Pure (no Airflow). For every cloud with a bill (Cost Explorer, the OCI Usage API or a shipped
bill file), the modelled cost of each workload on that cloud's clusters over the window (current
placement x catalog, committed capacity free at the margin) is reconciled with the spend the bill
attributes to it through the cost-allocation tag. Their ratio, per (cloud, shape), is the
effective unit price the optimiser uses instead of the list price (negotiated discounts,
savings plans, committed-use contracts). A bill without tagged spend for the estate's workloads
is reconciled on its total against the cloud's modelled total. The model's error against the
bill is reported per cloud; beyond ``divergence_pct`` it is flagged (and the DAG alerts).

Fails closed: a cloud whose bill cannot be reconciled (nothing modelled, nothing billed) is left
at catalog prices and reported as not calibrated, never as accurate.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from multicloud.cost.catalog import HOURS_PER_MONTH

if TYPE_CHECKING:
    from multicloud.cost.model import Problem

MIN_FACTOR, MAX_FACTOR = 0.05, 5.0   # a ratio outside this is a broken bill, not a discount


@dataclass
class CloudCalibration:
    cloud: str
    source: str
    basis: str                       # workload tags | bill total | catalog (no bill) | not calibrated: ...
    billed: float | None             # over the window, for what was reconciled
    modelled: float                  # catalog model over the window, same scope
    error_pct: float | None          # (modelled - billed) / billed
    diverges: bool
    factors: dict[str, float] = field(default_factory=dict)   # shape -> billed/catalog
    workloads: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def modelled_by_workload_shape(problem: Problem, cloud: str, months: float) -> dict[str, dict[str, float]]:
    """workload -> shape -> modelled catalog cost on ``cloud`` over ``months``."""
    from multicloud.cost.collect import _workload_run_costs

    shapes = sorted({c.shape for c in problem.clusters if c.cloud == cloud})
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for shape in shapes:
        ids = {c.id for c in problem.clusters if c.cloud == cloud and c.shape == shape}
        for workload, monthly in _workload_run_costs(problem, ids).items():
            out[workload][shape] = monthly * months
    return out


def calibrate(problem: Problem, collected: list[dict[str, Any]], *, divergence_pct: float
              ) -> tuple[dict[tuple[str, str], float], list[CloudCalibration]]:
    """(price factors for ``build_problem``, one calibration per collected cloud).

    ``problem`` is the catalog-priced problem of the whole estate at its current placement;
    ``collected`` the ``CloudCost.as_dict()`` of each cloud over the window.
    """
    from datetime import date

    factors: dict[tuple[str, str], float] = {}
    report: list[CloudCalibration] = []
    for cost in collected:
        cloud = cost["cloud"]
        days = (date.fromisoformat(cost["period_end"]) - date.fromisoformat(cost["period_start"])).days
        months = days * 24 / HOURS_PER_MONTH
        modelled = modelled_by_workload_shape(problem, cloud, months)
        modelled_total = sum(v for shapes in modelled.values() for v in shapes.values())
        if cost["source"] == "catalog":
            report.append(CloudCalibration(cloud, "catalog", "catalog (no bill)", None, round(modelled_total, 2),
                                           None, False))
            continue
        billed_by_workload = {w: a for w, a in (cost.get("by_workload") or {}).items()}
        tagged = {w: billed_by_workload[w] for w, shapes in modelled.items()
                  if w in billed_by_workload and sum(shapes.values()) > 0 and billed_by_workload[w] > 0}
        if tagged:
            basis, billed_total = "workload tags", sum(tagged.values())
            scope_modelled = sum(sum(modelled[w].values()) for w in tagged)
            billed_shape: dict[str, float] = defaultdict(float)
            modelled_shape: dict[str, float] = defaultdict(float)
            for workload, amount in tagged.items():
                mine = modelled[workload]
                total = sum(mine.values())
                for shape, value in mine.items():   # a workload's bill split over its shapes pro rata
                    billed_shape[shape] += amount * value / total
                    modelled_shape[shape] += value
            shape_factors = {s: billed_shape[s] / modelled_shape[s] for s in modelled_shape if modelled_shape[s] > 0}
            cloud_factor = billed_total / scope_modelled
        elif modelled_total > 0 and float(cost.get("total") or 0) > 0:
            basis, billed_total, scope_modelled = "bill total", float(cost["total"]), modelled_total
            cloud_factor = billed_total / scope_modelled
            shape_factors = {}
        else:
            why = "nothing modelled on this cloud" if modelled_total <= 0 else "the bill shows no spend"
            report.append(CloudCalibration(cloud, cost["source"], f"not calibrated: {why}",
                                           round(float(cost.get("total") or 0), 2), round(modelled_total, 2),
                                           None, False))
            continue
        if not MIN_FACTOR <= cloud_factor <= MAX_FACTOR:
            report.append(CloudCalibration(
                cloud, cost["source"], f"not calibrated: billed/modelled {cloud_factor:.3f} is outside "
                f"[{MIN_FACTOR}, {MAX_FACTOR}] (check the tag key and the window)", round(billed_total, 2),
                round(scope_modelled, 2), round(100 * (scope_modelled - billed_total) / billed_total, 2), True))
            continue
        factors[(cloud, "*")] = cloud_factor
        for shape, value in shape_factors.items():
            factors[(cloud, shape)] = min(MAX_FACTOR, max(MIN_FACTOR, value))
        error = 100 * (scope_modelled - billed_total) / billed_total
        report.append(CloudCalibration(
            cloud, cost["source"], basis, round(billed_total, 2), round(scope_modelled, 2), round(error, 2),
            abs(error) > divergence_pct,
            {"*": round(cloud_factor, 4), **{s: round(v, 4) for s, v in sorted(shape_factors.items())}},
            {w: {"billed": round(tagged[w], 2), "modelled": round(sum(modelled[w].values()), 2)}
             for w in sorted(tagged)} if tagged else {},
        ))
    return factors, report


def encode_factors(factors: dict[tuple[str, str], float]) -> dict[str, float]:
    """JSON-safe (XCom) form: ``cloud/shape`` -> factor."""
    return {f"{cloud}/{shape}": value for (cloud, shape), value in sorted(factors.items())}


def decode_factors(encoded: dict[str, float] | None) -> dict[tuple[str, str], float]:
    return {tuple(key.split("/", 1)): float(value) for key, value in (encoded or {}).items()}  # type: ignore[misc]
