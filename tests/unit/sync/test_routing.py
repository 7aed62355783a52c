"""Record routing: each output gets exactly its jurisdictions' rows; unknowns only to quarantine."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from multicloud.estate import load_estate
from multicloud.sync.copier import TMP_MARK
from multicloud.sync.demo_data import customer_events
from multicloud.sync.routing import Output, Router, route_partition, router_for
from multicloud.sync.storage import location

HOUR = datetime(2026, 3, 1, 14, tzinfo=UTC)


@pytest.fixture
def router(estate_home) -> Router:
    return router_for(load_estate(home=estate_home), "customer-events")


def _write_source(folder, table, files=3):
    folder.mkdir(parents=True)
    step = -(-table.num_rows // files)
    for i in range(files):
        pq.write_table(table.slice(i * step, step), folder / f"part-{i:05d}.parquet")


def _read(folder) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted(folder.glob("*.parquet"))])


def test_rows_split_by_jurisdiction_with_quarantine(tmp_path, router):
    table = customer_events(3000, HOUR)
    _write_source(tmp_path / "src", table)
    outputs = {
        "eu": Output(location(f"file://{tmp_path}/eu"), frozenset({"EU"})),
        "uk": Output(location(f"file://{tmp_path}/uk"), frozenset({"UK"})),
        "us": Output(location(f"file://{tmp_path}/us"), frozenset({"US"})),
        "q": Output(location(f"file://{tmp_path}/q"), None),
    }
    stats = route_partition(location(f"file://{tmp_path}/src"), outputs, router, batch_size=500)
    assert stats.rows_in == 3000
    assert stats.files == 3
    assert sum(stats.rows_out.values()) == 3000  # every row exactly once over disjoint outputs
    assert set(pc.unique(_read(tmp_path / "uk")["country"]).to_pylist()) == {"GB"}
    assert set(pc.unique(_read(tmp_path / "us")["country"]).to_pylist()) == {"US"}
    eu_countries = set(pc.unique(_read(tmp_path / "eu")["country"]).to_pylist())
    assert eu_countries <= {"DE", "FR", "NL", "IE", "ES", "IT", "PL", "SE"}
    quarantined = set(pc.unique(_read(tmp_path / "q")["country"]).to_pylist())
    assert quarantined == {"CA", "XX", None}
    assert _read(tmp_path / "eu").schema == table.schema
    assert not list(tmp_path.rglob(f"*{TMP_MARK}*"))


def test_rerun_overwrites_and_drops_vanished_files(tmp_path, router):
    _write_source(tmp_path / "src", customer_events(600, HOUR), files=3)
    out = {"us": Output(location(f"file://{tmp_path}/us"), frozenset({"US"}))}
    first = route_partition(location(f"file://{tmp_path}/src"), out, router)
    landed_first = _read(tmp_path / "us").num_rows
    (tmp_path / "src" / "part-00002.parquet").unlink()
    second = route_partition(location(f"file://{tmp_path}/src"), out, router)
    assert sorted(p.name for p in (tmp_path / "us").iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    assert second.rows_out["us"] < first.rows_out["us"] == landed_first
    assert _read(tmp_path / "us").num_rows == second.rows_out["us"]


def test_jurisdiction_column_kind_and_missing_column(tmp_path):
    router = Router("j", "jurisdiction", {}, frozenset({"EU", "US"}))
    _write_source(tmp_path / "src", pa.table({"j": ["EU", "US", "XX", None], "v": [1, 2, 3, 4]}), files=1)
    outputs = {"eu": Output(location(f"file://{tmp_path}/eu"), frozenset({"EU"})),
               "q": Output(location(f"file://{tmp_path}/q"), None)}
    stats = route_partition(location(f"file://{tmp_path}/src"), outputs, router)
    assert stats.rows_out == {"eu": 1, "q": 2}
    assert _read(tmp_path / "q")["v"].to_pylist() == [3, 4]

    bad = Router("country", "country", {"DE": "EU"}, frozenset({"EU"}))
    with pytest.raises(ValueError, match="routing column 'country' is missing"):
        route_partition(location(f"file://{tmp_path}/src"), outputs, bad)
    assert not list(tmp_path.rglob(f"*{TMP_MARK}*"))  # a failed route leaves no temporary object


def test_object_level_dataset_is_not_routable(estate_home):
    with pytest.raises(ValueError, match="object-level"):
        router_for(load_estate(home=estate_home), "eu-claims")


def test_an_output_that_cannot_open_leaves_no_temporary_object_at_the_others(tmp_path, router):
    _write_source(tmp_path / "src", customer_events(300, HOUR), files=1)
    (tmp_path / "down").write_text("outage")  # this output's root is not a directory
    outputs = {"eu": Output(location(f"file://{tmp_path}/eu"), frozenset({"EU"})),
               "down": Output(location(f"file://{tmp_path}/down/x"), frozenset({"UK"}))}
    with pytest.raises(NotADirectoryError):
        route_partition(location(f"file://{tmp_path}/src"), outputs, router)
    assert not list(tmp_path.rglob(f"*{TMP_MARK}*"))
