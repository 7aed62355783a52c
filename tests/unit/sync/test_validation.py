"""Streamed validation: GX suites checked batch by batch give Great Expectations' own outcomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from multicloud.sync.demo_data import customer_events
from multicloud.sync.storage import location
from multicloud.sync.validation import count_rows, iter_batches, load_suite, run_expectations

HOUR = datetime(2026, 3, 1, 14, tzinfo=UTC)


def _gx_success(table: pa.Table, configs: list[dict]) -> list[bool]:
    """Great Expectations' verdict per expectation on the whole table (the oracle)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (context.data_sources.add_pandas("oracle").add_dataframe_asset("t")
             .add_batch_definition_whole_dataframe("w").get_batch(batch_parameters={"dataframe": table.to_pandas()}))
    return [bool(batch.validate(ExpectationConfiguration(type=c["type"], kwargs=c["kwargs"]).to_domain_obj()).success)
            for c in configs]


def _polluted(table: pa.Table) -> pa.Table:
    """Duplicated event id, a negative spend, an unknown channel, a null customer: each expectation has work."""
    rows = table.slice(0, 50).to_pylist()
    rows[3]["event_id"] = rows[4]["event_id"]
    rows[5]["spend_30d"] = -1.0
    rows[6]["channel"] = "fax"
    rows[7]["customer_id"] = None
    return pa.Table.from_pylist(rows, schema=table.schema)


@pytest.mark.parametrize("polluted", [False, True])
def test_batchwise_outcomes_equal_great_expectations_on_the_whole_table(polluted):
    table = customer_events(400, HOUR)
    countries = sorted(set(pc.unique(table["country"]).to_pylist()) - {None})
    table = _polluted(table) if polluted else table
    configs = [*load_suite("customer_events.json"),
               {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 400}},
               {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "country",
                                                                         "value_set": countries}},
               {"type": "expect_column_values_to_be_between", "kwargs": {"column": "spend_30d", "min_value": 0,
                                                                          "mostly": 0.9}}]
    oracle = _gx_success(table, configs)
    ours = [run_expectations(table.to_batches(max_chunksize=7), [c], expected_rows=None).success for c in configs]
    assert ours == oracle
    assert any(not s for s in oracle) == polluted


def test_uniqueness_is_decided_over_every_batch_not_within_one():
    first, second = customer_events(100, HOUR), customer_events(100, HOUR)  # same ids in both halves
    batches = [*first.to_batches(), *second.to_batches()]
    outcome = run_expectations(iter(batches), [{"type": "expect_column_values_to_be_unique",
                                                "kwargs": {"column": "event_id"}}], expected_rows=None)
    assert not outcome.success
    assert "duplicate" in outcome.failures[0]


def test_unknown_expectation_fails_closed():
    outcome = run_expectations(customer_events(10, HOUR), [{"type": "expect_column_kl_divergence_to_be_less_than",
                                                            "kwargs": {"column": "spend_30d"}}], expected_rows=None)
    assert not outcome.success
    assert "fails closed" in outcome.failures[0]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_every_tabular_format_is_streamed_and_checked(tmp_path, fmt):
    table = customer_events(4000, HOUR).select(["event_id", "country", "spend_30d"])
    table = table.filter(pc.is_valid(table["country"])).slice(0, 3000)  # routed targets hold no null country
    folder = tmp_path / "part"
    folder.mkdir()
    for i, piece in enumerate((table.slice(0, 1800), table.slice(1800))):
        path = folder / f"part-{i:05d}.{fmt}"
        if fmt == "parquet":
            pq.write_table(piece, path)
        elif fmt == "csv":
            from pyarrow import csv

            csv.write_csv(piece, path)
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in piece.to_pylist()))
    loc = location(f"file://{folder}")
    assert count_rows(loc, fmt) == 3000
    countries = sorted(set(pc.unique(table["country"]).to_pylist()) - {None})
    ok = run_expectations(iter_batches(loc, fmt, batch_rows=500), [], expected_rows=3000, key_columns=["event_id"],
                          residency_column="country", residency_values=countries)
    assert ok.success, ok.failures
    denied = run_expectations(iter_batches(loc, fmt), [], expected_rows=3000, residency_column="country",
                              residency_values=["GB"])
    assert not denied.success
    assert any("expect_column_values_to_be_in_set" in f for f in denied.failures)


def test_uniqueness_hashes_equal_values_equal_across_objects_and_keep_distinct_ones_apart():
    """The uniqueness check hashes Arrow buffers (no pandas): a value repeated in another object, in
    another integer width, time unit or as an integral float, is a duplicate; distinct values are not."""
    import numpy as np

    from multicloud.sync.validation import value_hashes

    instant = datetime(2026, 3, 1, 14, 5, tzinfo=UTC)
    same = [(pa.array([7], pa.int8()), pa.array([7], pa.int64()), pa.array([7.0])),
            (pa.array([instant], pa.timestamp("s", "UTC")), pa.array([instant], pa.timestamp("ns", "UTC"))),
            (pa.array([-0.0]), pa.array([0.0]), pa.array([0])),
            (pa.array(["ev-1"]), pa.array(["ev-1"], pa.large_string()), pa.array(["x", "ev-1"]).slice(1))]
    for group in same:
        assert len({int(value_hashes(values)[0]) for values in group}) == 1, group
    strings = pa.array(["", "a", "ab", "ba", "aa", "a\x00", "\x00a", "é", "中文"] + [f"ev-{i:07d}" for i in range(20_000)])
    assert len(np.unique(value_hashes(strings))) == len(strings)
    numbers = pa.array(np.arange(-10_000, 10_000))
    assert len(np.unique(value_hashes(numbers))) == len(numbers)
    batches = [pa.record_batch({"id": pa.array([1, 2], pa.int32())}), pa.record_batch({"id": pa.array([3, 1])})]
    outcome = run_expectations(batches, [{"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}}],
                               expected_rows=None)
    assert outcome.failures == ["expect_column_values_to_be_unique(column='id'): 1 duplicate value(s) of 4"]
