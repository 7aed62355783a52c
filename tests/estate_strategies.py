"""Hypothesis strategies for generated estates, shared by the residency property tests.

An estate of 2..N regions in four jurisdictions, three data classes with generated allow/deny
rules and modes, a record-routed dataset ("rows", routed by ``country``) and an object-level
dataset ("objs"), both at one source region.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

JURISDICTIONS = ["J0", "J1", "J2", "J3"]
COUNTRIES = {"J0": ["AA", "AB"], "J1": ["BA"], "J2": ["CA"], "J3": ["DA"]}
CLASSES = ["c0", "c1", "c2"]


@st.composite
def raw_estates(draw: st.DrawFn, storage_root: str, max_regions: int = 4, object_paths: tuple[str, ...] = ("objs",),
                object_formats: tuple[str, ...] = (), with_model: bool = False) -> dict[str, Any]:
    """The estate file's content (a dict ``Estate.model_validate`` takes); region ``rN`` stores
    under ``{storage_root}/rN``. ``object_formats``: the formats "objs" may declare (none: the
    default); ``with_model``: a model trained on "objs" at the source, of a generated class."""
    regions = [{"id": f"r{i}", "cloud": "oci", "region": f"x-{i}", "jurisdiction": draw(st.sampled_from(JURISDICTIONS)),
                "storage": {"url": f"{storage_root}/r{i}"}} for i in range(draw(st.integers(2, max_regions)))]
    region_ids = [r["id"] for r in regions]
    classes = [{
        "id": class_id,
        "allow": {"jurisdictions": draw(st.lists(st.sampled_from(JURISDICTIONS), max_size=3, unique=True)),
                  "regions": draw(st.lists(st.sampled_from(region_ids), max_size=2, unique=True))},
        "deny_regions": draw(st.lists(st.sampled_from(region_ids), max_size=2, unique=True)),
        "mode": draw(st.sampled_from(["enforce", "enforce", "audit"])),
    } for class_id in CLASSES]
    routed = draw(st.dictionaries(st.sampled_from(JURISDICTIONS[:3]), st.sampled_from(CLASSES), min_size=1, max_size=3))
    source = draw(st.sampled_from(region_ids))
    objects = {"id": "objs", "source": source, "path": draw(st.sampled_from(object_paths)),
               "data_class": draw(st.sampled_from(CLASSES)),
               "replicate_to": draw(st.one_of(st.just("all"),
                                              st.lists(st.sampled_from(region_ids), min_size=1, unique=True)))}
    if object_formats:
        objects["format"] = draw(st.sampled_from(object_formats))
    raw: dict[str, Any] = {
        "name": "prop", "runtime": {"image": "x"},
        "jurisdictions": [{"id": j, "name": j, "countries": COUNTRIES[j]} for j in JURISDICTIONS],
        "regions": regions, "data_classes": classes,
        "datasets": [{"id": "rows", "source": source, "path": "rows", "replicate_to": "all",
                      "routing": {"column": "country", "class_by_jurisdiction": routed}}, objects],
    }
    if with_model:
        raw["models"] = [{"id": "m0", "trained_on": "objs", "train_in": source,
                          "data_class": draw(st.sampled_from(CLASSES)), "slo": {"p95_ms": 100}}]
    return raw
