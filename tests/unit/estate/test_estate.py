"""The estate loader: the shipped estates validate; each broken estate gives ONE clear error."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from multicloud.estate import Estate, EstateError, load_estate, parse_estate
from multicloud.paths import PROJECT_ROOT

ESTATES = PROJECT_ROOT / "include" / "estate"
LOCAL = ESTATES / "local.yaml"
EXAMPLE = ESTATES / "example-cloud.yaml"


@pytest.fixture(scope="module")
def local_raw() -> dict:
    return yaml.safe_load(LOCAL.read_text())


def _write(tmp_path: Path, raw: dict, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_local_estate_validates(estate_home):
    estate = load_estate(LOCAL)
    assert isinstance(estate, Estate)
    clouds = {r.cloud.value for r in estate.regions}
    assert {"oci", "aws", "azure", "gcp"} <= clouds
    assert len(estate.regions) >= 6
    assert {"EU", "US", "UK"} <= {r.jurisdiction for r in estate.regions}
    # every local region stores under the estate home
    assert all(r.storage.url.startswith(f"file://{estate_home}") for r in estate.regions)


def test_example_cloud_estate_validates_and_uses_real_cloud_forms():
    estate = load_estate(EXAMPLE)
    storage = {r.id: r.storage for r in estate.regions}
    assert any(s.url.startswith("s3://") and s.s3_compat == "oci" and s.connection_id for s in storage.values())
    assert any(s.url.startswith("s3://") and s.s3_compat != "oci" and s.connection_id for s in storage.values())
    assert any(s.url.startswith("oci://") and s.connection_id for s in storage.values())
    clusters = {c.kind: c for _, c in estate.clusters()}
    assert clusters["oke"].cluster_ocid
    assert clusters["oke"].connection_id
    assert clusters["eks"].eks_cluster_name
    assert clusters["eks"].connection_id
    assert clusters["aks"].connection_id
    assert clusters["gke"].connection_id
    assert all(c.driver == "kubernetes" for _, c in estate.clusters())
    assert any(d.engine == "oci-data-integration" and d.data_integration for d in estate.datasets)
    assert {m.type for m in estate.metrics} >= {"oci", "cloudwatch"}
    (pair,) = estate.dr_pairs
    assert pair.route53_zone_id
    assert pair.pilot_light_stack


def _unknown_region(raw: dict) -> None:
    raw["datasets"][2]["replicate_to"][0] = "aws-mars-1"


def _bad_jurisdiction(raw: dict) -> None:
    raw["regions"][1]["jurisdiction"] = "ATLANTIS"


def _wrong_type(raw: dict) -> None:
    raw["regions"][1]["cluster"]["capacity"]["cpu"] = "lots"


def _missing_field(raw: dict) -> None:
    del raw["regions"][1]["region"]


def _duplicate_id(raw: dict) -> None:
    raw["regions"].append(copy.deepcopy(raw["regions"][0]))


BROKEN: dict[str, tuple[Callable[[dict], None], str, tuple[str, ...]]] = {
    "unknown region reference": (_unknown_region, "datasets[2].replicate_to[0]", ("unknown region", "aws-mars-1")),
    "bad jurisdiction": (_bad_jurisdiction, "regions[1].jurisdiction", ("unknown jurisdiction", "ATLANTIS")),
    "wrong type": (_wrong_type, "regions[1].cluster.capacity.cpu", ("valid number", "lots")),
    "missing field": (_missing_field, "regions[1].region", ("required field is missing",)),
    "duplicate id": (_duplicate_id, "regions[10].id", ("duplicate id", "onprem-hq", "regions[0]")),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_estate_gives_one_clear_error(case, local_raw, tmp_path):
    mutate, field_path, words = BROKEN[case]
    raw = copy.deepcopy(local_raw)
    mutate(raw)
    path = _write(tmp_path, raw)
    with pytest.raises(EstateError) as caught:
        load_estate(path)
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert problem.path == field_path
    for word in words:
        assert word in problem.message
    rendered = str(caught.value)
    assert f"{path}: {field_path}: " in rendered
    assert "Traceback" not in rendered


def test_every_problem_is_reported_not_just_the_first(local_raw, tmp_path):
    raw = copy.deepcopy(local_raw)
    _wrong_type(raw)
    _missing_field(raw)
    with pytest.raises(EstateError) as caught:
        load_estate(_write(tmp_path, raw))
    assert {p.path for p in caught.value.problems} == {"regions[1].region", "regions[1].cluster.capacity.cpu"}
    raw = copy.deepcopy(local_raw)
    _unknown_region(raw)
    _bad_jurisdiction(raw)
    with pytest.raises(EstateError) as caught:
        load_estate(_write(tmp_path, raw, "two.yaml"))
    assert {p.path for p in caught.value.problems} == {"datasets[2].replicate_to[0]", "regions[1].jurisdiction"}


def test_unknown_field_is_an_error_naming_it(local_raw, tmp_path):
    raw = copy.deepcopy(local_raw)
    raw["regions"][0]["storge"] = raw["regions"][0]["storage"]
    with pytest.raises(EstateError) as caught:
        load_estate(_write(tmp_path, raw))
    (problem,) = caught.value.problems
    assert problem.path == "regions[0].storge"
    assert "unknown field" in problem.message


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    path = tmp_path / "syntax.yaml"
    path.write_text("name: broken\nregions:\n  - id: a\n    cloud: [oci\n    region: x\n")
    with pytest.raises(EstateError) as caught:
        load_estate(path)
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert problem.path.startswith("line ")
    assert ", column " in problem.path
    line = int(problem.path.split()[1].rstrip(","))
    assert 4 <= line <= 6
    assert "not valid YAML" in problem.message


def test_missing_file_and_non_mapping_are_clear(tmp_path):
    with pytest.raises(EstateError, match="cannot read"):
        load_estate(tmp_path / "nope.yaml")
    with pytest.raises(EstateError, match="expected a mapping"):
        parse_estate("- just\n- a list\n", source="list.yaml")


def test_cli_validate_prints_ok_or_errors_with_exit_code(local_raw, tmp_path):
    broken = copy.deepcopy(local_raw)
    _bad_jurisdiction(broken)
    broken_path = _write(tmp_path, broken)
    command = [sys.executable, "-m", "multicloud.estate", "validate"]
    ok = subprocess.run([*command, str(LOCAL), str(EXAMPLE)], capture_output=True, text=True, check=False,
                        cwd=PROJECT_ROOT, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("OK ") == 2
    bad = subprocess.run([*command, str(LOCAL), str(broken_path)], capture_output=True, text=True, check=False,
                         cwd=PROJECT_ROOT, timeout=60)
    assert bad.returncode == 1
    assert "OK " in bad.stdout
    assert f"{broken_path}: regions[1].jurisdiction: unknown jurisdiction 'ATLANTIS'" in bad.stderr
    assert "Traceback" not in bad.stderr
