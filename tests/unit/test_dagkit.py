"""dagkit: the parse-time estate schedule (validated once per estate content) and mapped results."""

from __future__ import annotations

import shutil

from multicloud import dagkit, paths


def test_the_schedule_is_checked_once_per_estate_content(estate_home, tmp_path, monkeypatch):
    estate_file = tmp_path / "estate.yaml"
    shutil.copy(paths.estate_file(), estate_file)
    monkeypatch.setenv(paths.ESTATE_FILE_ENV, str(estate_file))
    checked = []
    full_check = dagkit.parse_time_estate
    monkeypatch.setattr(dagkit, "parse_time_estate", lambda: checked.append(1) or full_check())

    first = dagkit.parse_time_schedule()
    assert (first.models, first.warning) == (("churn-eu", "churn-us"), "")
    assert "x-multicloud://customer-events/oci-fra" in first.training_inputs
    assert dagkit.parse_time_schedule() == first
    assert len(checked) == 1  # the second parse read the cache

    estate_file.write_text("name: broken\nregions:\n  - id: x\n    cloud: [oci\n")
    broken = dagkit.parse_time_schedule()
    assert len(checked) == 2  # new content: checked again
    assert (broken.models, broken.training_inputs) == ((), ())
    assert "could not be read" in broken.warning

    (estate_home / "cache" / "parse_time_estate.json").write_text('{"key": 1')  # damaged: checked again
    assert dagkit.parse_time_schedule() == broken
    assert len(checked) == 3


def test_mapped_results_are_a_list_whatever_airflow_hands_over():
    assert dagkit.mapped_results(None) == []
    assert dagkit.mapped_results({"a": 1}) == [{"a": 1}]
    assert dagkit.mapped_results([{"a": 1}, None, {"b": 2}]) == [{"a": 1}, {"b": 2}]
