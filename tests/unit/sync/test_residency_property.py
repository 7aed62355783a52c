"""Property: for generated estates, datasets and policies, nothing lands where the policy denies.

Each example builds a random estate (jurisdictions, regions, classes with allow/deny rules and
modes, one record-routed and one object-level dataset), plans the sync, executes every item on
an in-memory filesystem and then inspects every region's storage.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multicloud.estate.models import Estate
from multicloud.residency.policy import ResidencyPolicy
from multicloud.sync.copier import list_objects
from multicloud.sync.planner import plan_sync
from multicloud.sync.runner import endpoints, execute_item
from multicloud.sync.storage import location
from tests.estate_strategies import COUNTRIES, raw_estates

HOUR = datetime(2026, 3, 1, 14, tzinfo=UTC)


@st.composite
def estates(draw):
    root = f"memory://prop-{uuid.uuid4().hex}"
    raw = draw(raw_estates(root, max_regions=5))
    estate = Estate.model_validate(raw)
    countries = draw(st.lists(st.sampled_from(["AA", "AB", "BA", "CA", "DA", "ZZ", None]), min_size=1, max_size=40))
    enforce = draw(st.booleans())
    return estate, countries, enforce


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates())
def test_nothing_lands_where_denied_and_unknowns_stay_home(case):
    estate, countries, enforce = case
    policy = ResidencyPolicy.from_estate(estate).tightened("enforce" if enforce else None)
    jurisdiction_of = {c: j for j, cs in COUNTRIES.items() for c in cs}
    routing = estate.dataset("rows").routing.class_by_jurisdiction
    source = estate.dataset("rows").source

    for dataset, table in (("rows", pa.table({"country": pa.array(countries, pa.string()),
                                              "n": list(range(len(countries)))})),
                           ("objs", pa.table({"k": [1, 2, 3]}))):
        src = location(f"{estate.region(source).storage.url}/{dataset}/dt=2026-03-01/hr=14")
        with src.fs.open(f"{src.path}/part-00000.parquet", "wb") as handle:
            pq.write_table(table, handle)

    plan = plan_sync(estate, policy, HOUR)
    for item in plan.items:
        execute_item(estate, item, validate=False, workers=1)

    for region in estate.regions:
        rows_loc = location(f"{region.storage.url}/rows")
        objs_loc = location(f"{region.storage.url}/objs")
        if region.id != source:
            landed_objs = list_objects(objs_loc)
            if landed_objs:
                assert policy.decide(estate.dataset("objs").data_class, region.id).permitted, region.id
            for rel in list_objects(rows_loc):
                with rows_loc.fs.open(rows_loc.child(rel).path, "rb") as handle:
                    for country in pq.read_table(handle)["country"].to_pylist():
                        jurisdiction = jurisdiction_of.get(country)
                        assert jurisdiction in routing, f"unknown/unrouted {country!r} left the source to {region.id}"
                        assert policy.decide(routing[jurisdiction], region.id).permitted, (country, region.id)
        # the quarantine exists only at the source and holds exactly the unroutable rows
        quarantine = location(f"{region.storage.url}/_quarantine/rows")
        if region.id != source:
            assert not list_objects(quarantine)
    quarantine_item = next(i for i in plan.items if i.kind == "quarantine")
    target = endpoints(estate, quarantine_item).target
    with target.fs.open(target.child("part-00000.parquet").path, "rb") as handle:
        held = pq.read_table(handle)["country"].to_pylist()
    expected = [c for c in countries if jurisdiction_of.get(c) not in routing]
    assert held == expected
