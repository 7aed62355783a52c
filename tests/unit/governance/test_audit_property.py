"""Property: the at-rest audit reports every misplaced object and row, and nothing the sync wrote.

Each example generates an estate (jurisdictions, regions, classes with allow/deny rules and
modes, a record-routed dataset, an object-level dataset on a one- or two-segment path in any of
the estate's formats, a model), runs the real sync for one hour, then plants misplaced objects
with generated names (hidden, ``_``-prefixed, look-alike temporaries, odd characters) at any
depth and in every format the estate uses (parquet, csv, jsonl, binary), strays under no prefix,
and makes some regions unreadable. The audit (strict) must report exactly the planted objects in
the readable regions, and every unreadable region as unverified.

Each example runs a real sync and two audits (about 1-3 s), so `make test` runs 10 examples;
``HYPOTHESIS_PROFILE=thorough`` runs 100 (see ``tests/conftest.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import string
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from multicloud.estate.models import Estate
from multicloud.governance.audit import audit_estate
from multicloud.residency.policy import ResidencyPolicy
from multicloud.sync.planner import plan_sync
from multicloud.sync.runner import execute_item
from tests.conftest import property_examples
from tests.estate_strategies import COUNTRIES, raw_estates

HOUR = datetime(2026, 3, 1, 14, tzinfo=UTC)
JURISDICTION_OF = {c: j for j, cs in COUNTRIES.items() for c in cs}
ALL_COUNTRIES = ["AA", "AB", "BA", "CA", "DA", "ZZ", None]
NAME_CHARS = string.ascii_letters + string.digits + "._-~ %#@+=,()[]{}!$&'" + "éü中"
RESERVED = {".", "..", "_manifest.json"}

names = st.text(NAME_CHARS, min_size=1, max_size=16).filter(lambda n: n not in RESERVED)
prefixed_names = st.one_of(names, names.map(lambda n: f".{n}"), names.map(lambda n: f"_{n}"),
                           names.map(lambda n: f".{n}.mcsync-tmp-abc"), names.map(lambda n: f"{n}.tmp"))


@st.composite
def estates(draw):
    raw = draw(raw_estates("file://{root}", max_regions=4, object_paths=("objs", "deep/objs"),
                           object_formats=("parquet", "csv", "binary"), with_model=True))
    region_ids = [r["id"] for r in raw["regions"]]
    countries = draw(st.lists(st.sampled_from(ALL_COUNTRIES), min_size=1, max_size=30))
    plants = draw(st.lists(st.tuples(
        st.sampled_from(["rows", "rows", "objs", "model", "stray"]),
        st.integers(0, 3),  # which region (for rows: which region other than the source)
        st.lists(prefixed_names, max_size=3),  # folders: any depth, hidden ones included
        st.tuples(prefixed_names, st.booleans()).map(lambda t: t[0] if t[1] else f"{t[0]}.{{ext}}"),
        st.sampled_from(["parquet", "csv", "jsonl", "binary"]),
        st.lists(st.sampled_from(ALL_COUNTRIES), min_size=1, max_size=5).map(lambda cs: [*cs, "ZZ"]),
        st.booleans(),  # give the object an old mtime (a stale temporary must not hide either)
    ), min_size=1, max_size=8))
    unreadable = draw(st.lists(st.sampled_from(region_ids), max_size=1, unique=True))
    how = draw(st.sampled_from(["missing", "a file"]))
    return raw, countries, plants, unreadable, how


def _write(path: Path, fmt: str, countries: list[str | None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"country": pa.array(countries, pa.string()), "n": list(range(len(countries)))})
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "csv":
        pacsv.write_csv(table, path)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"country": c, "n": i}) + "\n" for i, c in enumerate(countries)))
    else:
        path.write_bytes(os.urandom(64))


def _plant(estate: Estate, policy: ResidencyPolicy, root: Path, index: int, plant: tuple) -> str | None:
    """Write one planted object if it is misplaced; returns its URL (None when nothing to plant)."""
    kind, pick, folders, name, fmt, countries, old = plant
    source = estate.dataset("rows").source
    others = [r.id for r in estate.regions if r.id != source]
    region = others[pick % len(others)] if kind == "rows" else estate.regions[pick % len(estate.regions)].id
    name = name.replace("{ext}", fmt)  # half the names say their format, half do not
    folders = [f"{f}{index}" for f in folders]  # distinct folders per plant: no name clashes
    if kind == "rows":
        routing = estate.dataset("rows").routing.class_by_jurisdiction
        blocking = [policy.decide(routing.get(JURISDICTION_OF.get(c)), region).blocks for c in countries]
        if not any(blocking) or fmt == "binary":
            return None
        prefix = ["rows"]
    elif kind in ("objs", "model"):
        data_class = estate.dataset("objs").data_class if kind == "objs" else estate.model("m0").data_class
        if not policy.decide(data_class, region).blocks:
            return None
        prefix = estate.dataset("objs").path.split("/") if kind == "objs" else ["models", "m0"]
    else:
        prefix = [f"stray{index}"]  # under no dataset, model or quarantine prefix: unclassified
    path = root / region / Path(*prefix, *folders, f"{name}{index}")
    _write(path, fmt, countries)
    if old:
        os.utime(path, (time.time() - 30 * 86400,) * 2)
    return f"file://{path}"


@settings(max_examples=property_examples(10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates())
def test_every_misplaced_object_is_reported_every_unreadable_region_is_unverified(case):
    raw, countries, plants, unreadable, how = case
    root = Path(tempfile.mkdtemp(prefix="audit-prop-"))
    try:
        for region in raw["regions"]:
            region["storage"]["url"] = region["storage"]["url"].replace("{root}", str(root))
        estate = Estate.model_validate(raw)
        policy = ResidencyPolicy.from_estate(estate)
        source = estate.dataset("rows").source
        _write(root / source / "rows" / "dt=2026-03-01" / "hr=14" / "part-00000.parquet", "parquet", countries)
        objs = root / source / Path(*estate.dataset("objs").path.split("/")) / "dt=2026-03-01" / "hr=14"
        _write(objs / "part-00000.bin", "binary", [None])
        for item in plan_sync(estate, policy, HOUR).items:
            execute_item(estate, item, validate=False, workers=1)
        for region in estate.regions:
            (root / region.id).mkdir(exist_ok=True)

        # The source's own object is the system of record, written by us, not the sync: a violation
        # exactly when its class may not live in its source region (an estate that contradicts itself).
        own = {f"file://{objs}/part-00000.bin"} if policy.decide(estate.dataset("objs").data_class, source).blocks \
            else set()
        synced = audit_estate(estate, strict=True)
        assert {f.path for f in synced.violations} == own, "false positive on what the sync wrote"
        assert synced.unclassified == []
        assert synced.unverified == []

        planted = {p for i, plant in enumerate(plants) if (p := _plant(estate, policy, root, i, plant))}
        for region in unreadable:
            shutil.rmtree(root / region)
            if how == "a file":
                (root / region).write_text("not a folder")
        result = audit_estate(estate, strict=True)
        event(f"planted {min(len(planted), 3)}+, unreadable {len(unreadable)}")
        event(f"kinds {sorted({f.kind for f in result.violations})}")

        assert {u["region"] for u in result.unverified} == set(unreadable)
        expected = {p for p in planted | own if not any(p.startswith(f"file://{root}/{r}/") for r in unreadable)}
        assert {f.path for f in result.violations} == expected
        assert result.status == ("unverified" if unreadable else "violations" if expected else "clean")
    finally:
        shutil.rmtree(root, ignore_errors=True)
