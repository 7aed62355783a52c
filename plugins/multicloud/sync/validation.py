"""Validation at the target with Great Expectations 1.x.

A dataset's suite (``include/expectations/<file>.json``, GX's own suite JSON: ``name`` and a list
of ``{"type", "kwargs"}`` expectations) is extended per run with what only the run knows:

- row count equal to what routing or copying sent to this region;
- not-null keys (the dataset's ``key_columns``);
- residency: every row's country/jurisdiction is one this region may hold, and never null.

GX is imported here, inside the task, never at DAG parse time. An ephemeral context: no files,
no network, no progress bars.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from multicloud import paths
from multicloud.sync.copier import list_objects
from multicloud.sync.storage import Location

EXPECTATIONS_DIR = paths.INCLUDE_DIR / "expectations"


@dataclass
class ValidationOutcome:
    success: bool
    evaluated: int
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"success": self.success, "evaluated": self.evaluated, "failures": self.failures}


class ValidationFailed(RuntimeError):
    """Great Expectations rejected what landed at the target."""


def load_suite(name: str | None) -> list[dict[str, Any]]:
    if not name:
        return []
    path = Path(name) if Path(name).is_absolute() else EXPECTATIONS_DIR / name
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"expectation suite {name!r} not found at {path}") from None
    except ValueError as exc:
        raise ValueError(f"expectation suite {path} is not valid JSON: {exc}") from None
    expectations = body.get("expectations")
    if not isinstance(expectations, list) or not all("type" in e for e in expectations):
        raise ValueError(f"expectation suite {path}: 'expectations' must be a list of {{type, kwargs}}")
    return expectations


def run_expectations(
    table: pa.Table,
    suite: Iterable[dict[str, Any]],
    *,
    expected_rows: int | None,
    key_columns: Iterable[str] = (),
    residency_column: str | None = None,
    residency_values: Iterable[str] | None = None,
    name: str = "target",
) -> ValidationOutcome:
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    configs = [dict(e) for e in suite]
    if expected_rows is not None:
        configs.append({"type": "expect_table_row_count_to_equal", "kwargs": {"value": int(expected_rows)}})
    for key in key_columns:
        configs.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": key}})
    if residency_column is not None:
        allowed = sorted(set(residency_values or ()))
        configs.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": residency_column},
                        "meta": {"residency": True}})
        configs.append({"type": "expect_column_values_to_be_in_set",
                        "kwargs": {"column": residency_column, "value_set": allowed},
                        "meta": {"residency": True}})

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("sync")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("whole")
    )
    suite_obj = ExpectationSuite(name=f"{name}-suite")
    for config in configs:
        suite_obj.add_expectation_configuration(
            ExpectationConfiguration(type=config["type"], kwargs=config.get("kwargs", {}), meta=config.get("meta")))
    suite_obj = context.suites.add(suite_obj)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": table.to_pandas()})
    result = batch.validate(suite_obj)
    failures = []
    for item in result.results:
        if not item.success:
            cfg = item.expectation_config
            observed = (item.result or {}).get("observed_value")
            unexpected = (item.result or {}).get("partial_unexpected_list")
            detail = f"observed {observed!r}" if observed is not None else f"unexpected {unexpected!r}"
            failures.append(f"{cfg.type}({_kwargs(cfg.kwargs)}): {detail}")
    return ValidationOutcome(bool(result.success), len(result.results), failures)


def read_location(loc: Location) -> pa.Table:
    """Every visible Parquet object under ``loc`` as one table (empty when there is none)."""
    tables = []
    for rel in sorted(list_objects(loc)):
        with loc.fs.open(loc.child(rel).path, "rb") as handle:
            tables.append(pq.read_table(handle))
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="default")


def _kwargs(kwargs: dict[str, Any]) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("batch_id",)}
    text = ", ".join(f"{k}={v!r}" for k, v in shown.items())
    return text if len(text) < 160 else text[:157] + "..."
