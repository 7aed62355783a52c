"""The price catalog (include/pricing/catalog.csv) and egress prices (include/pricing/egress.csv).

Pure: csv in, frozen lookups out. Users replace the CSVs with their negotiated prices; every row
names its source and date so a reader can tell a list price from a contract price.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from multicloud import paths

HOURS_PER_MONTH = 730.0
EGRESS_SCOPES = ("intra_region", "inter_region_same_geo", "inter_region_cross_geo", "inter_cloud")
_CATALOG_COLUMNS = ("cloud", "region", "shape", "accelerator", "accelerator_count", "vcpu", "memory_gb",
                    "on_demand_hourly", "spot_hourly", "source", "as_of")


class CatalogError(ValueError):
    """A catalog file or lookup is unusable; the message names the file, row and column."""


@dataclass(frozen=True)
class ShapePrice:
    cloud: str
    region: str
    geo: str
    shape: str
    accelerator: str | None
    accelerator_count: int
    vcpu: float
    memory_gb: float
    on_demand_hourly: float
    spot_hourly: float | None
    source: str
    as_of: str


@dataclass(frozen=True)
class PriceCatalog:
    shapes: dict[tuple[str, str, str], ShapePrice]
    egress: dict[tuple[str, str], float]
    currency: str = "USD"

    def shape(self, cloud: str, region: str, shape: str) -> ShapePrice:
        try:
            return self.shapes[(cloud, region, shape)]
        except KeyError:
            raise CatalogError(
                f"no price for shape {shape!r} in {cloud}/{region}; add a row to the catalog "
                f"(cloud,region,shape,...)"
            ) from None

    def geo_of(self, cloud: str, region: str) -> str | None:
        for (c, r, _), row in self.shapes.items():
            if c == cloud and r == region:
                return row.geo
        return None

    def egress_per_gb(self, from_cloud: str, from_region: str, to_cloud: str, to_region: str) -> float:
        """Price of moving one GB out of (from_cloud, from_region) into (to_cloud, to_region)."""
        if from_cloud == to_cloud and from_region == to_region:
            scope = "intra_region"
        elif from_cloud != to_cloud:
            scope = "inter_cloud"
        else:
            geo_from, geo_to = self.geo_of(from_cloud, from_region), self.geo_of(to_cloud, to_region)
            # An unknown geography is priced as the dearer cross-geography transfer.
            same = geo_from is not None and geo_from == geo_to
            scope = "inter_region_same_geo" if same else "inter_region_cross_geo"
        try:
            return self.egress[(from_cloud, scope)]
        except KeyError:
            raise CatalogError(f"no egress price for cloud {from_cloud!r} scope {scope!r}") from None


def load_catalog(catalog_file: str | Path | None = None, egress_file: str | Path | None = None,
                 currency: str = "USD") -> PriceCatalog:
    catalog_path = _resolve(catalog_file or "pricing/catalog.csv")
    egress_path = _resolve(egress_file or "pricing/egress.csv")
    return PriceCatalog(_read_shapes(catalog_path), _read_egress(egress_path), currency)


def catalog_for_estate(estate) -> PriceCatalog:
    return load_catalog(estate.pricing.catalog, estate.pricing.egress, estate.pricing.currency)


def _resolve(name: str | Path) -> Path:
    path = Path(name)
    return path if path.is_absolute() else paths.INCLUDE_DIR / path


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise CatalogError(f"{path}: missing column(s) {', '.join(missing)}")
            return [(i, row) for i, row in enumerate(reader, start=2)]
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None


def _number(path: Path, line: int, row: dict[str, str], column: str, *, optional: bool = False) -> float | None:
    text = (row.get(column) or "").strip()
    if not text and optional:
        return None
    try:
        value = float(text)
    except ValueError:
        raise CatalogError(f"{path}:{line}: column {column!r} must be a number, got {text!r}") from None
    if value < 0:
        raise CatalogError(f"{path}:{line}: column {column!r} must be >= 0, got {value}")
    return value


def _read_shapes(path: Path) -> dict[tuple[str, str, str], ShapePrice]:
    shapes: dict[tuple[str, str, str], ShapePrice] = {}
    for line, row in _rows(path, _CATALOG_COLUMNS):
        key = (row["cloud"].strip(), row["region"].strip(), row["shape"].strip())
        if key in shapes:
            raise CatalogError(f"{path}:{line}: duplicate row for {key}")
        vcpu = _number(path, line, row, "vcpu")
        memory = _number(path, line, row, "memory_gb")
        if not vcpu or not memory:
            raise CatalogError(f"{path}:{line}: vcpu and memory_gb must be > 0")
        shapes[key] = ShapePrice(
            cloud=key[0], region=key[1], geo=(row.get("geo") or "").strip() or "unknown", shape=key[2],
            accelerator=(row["accelerator"] or "").strip() or None,
            accelerator_count=int(_number(path, line, row, "accelerator_count", optional=True) or 0),
            vcpu=vcpu, memory_gb=memory,
            on_demand_hourly=_number(path, line, row, "on_demand_hourly"),
            spot_hourly=_number(path, line, row, "spot_hourly", optional=True),
            source=row["source"].strip(), as_of=row["as_of"].strip(),
        )
    return shapes


def _read_egress(path: Path) -> dict[tuple[str, str], float]:
    prices: dict[tuple[str, str], float] = {}
    for line, row in _rows(path, ("from_cloud", "scope", "usd_per_gb")):
        scope = row["scope"].strip()
        if scope not in EGRESS_SCOPES:
            raise CatalogError(f"{path}:{line}: scope {scope!r} is not one of {EGRESS_SCOPES}")
        key = (row["from_cloud"].strip(), scope)
        if key in prices:  # as for shapes: a second price must not silently replace the first
            raise CatalogError(f"{path}:{line}: duplicate row for {key}")
        prices[key] = _number(path, line, row, "usd_per_gb")
    return prices
