"""The estate refuses what it cannot decide, and bounds what it reads.

Each bypass the residency review found has a test here, with more variants than the examples:
duplicate keys at every level, a country in two jurisdictions, escaping dataset paths and storage
URLs (plain, encoded, look-alike), shared or nested storage, overlapping dataset paths, non-finite
numbers, and hostile files (oversized, alias bombs, deep nesting, binary, Latin-1, a directory).
Every error is one line naming the file and the field.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import pytest
import yaml

from multicloud.estate import EstateError, load_estate, parse_estate
from multicloud.estate.loader import MAX_ESTATE_BYTES
from multicloud.paths import PROJECT_ROOT

LOCAL = PROJECT_ROOT / "include" / "estate" / "local.yaml"


@pytest.fixture(scope="module")
def local_text() -> str:
    return LOCAL.read_text()


@pytest.fixture(scope="module")
def local_raw(local_text) -> dict:
    return yaml.safe_load(local_text)


def _refused(tmp_path: Path, content: str | bytes | dict, name: str = "estate.yaml") -> EstateError:
    path = tmp_path / name
    if isinstance(content, dict):
        content = yaml.safe_dump(content, sort_keys=False)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    started = time.monotonic()
    with pytest.raises(EstateError) as caught:
        load_estate(path, home=tmp_path)
    assert time.monotonic() - started < 5, "a hostile estate must fail fast"
    _assert_one_line_each(caught.value, path)
    return caught.value


def _assert_one_line_each(error: EstateError, path: Path) -> None:
    assert error.problems
    assert len(str(error)) < 10_000
    for problem in error.problems:
        line = str(problem)
        assert not set(line) & {"\n", "\r"}, line
        assert problem.file == str(path)
        assert problem.path
        assert problem.message
        assert "Traceback" not in line


def _paths(error: EstateError) -> list[str]:
    return [p.path for p in error.problems]


# ---- duplicate keys at any level ---------------------------------------------------------------
DUPLICATES = {
    "top level": ("name: local\n", "name: local\nname: other\n", "name"),
    "second allow opens eu-personal to the US": (
        "    allow: {jurisdictions: [EU]}\n",
        "    allow: {jurisdictions: [EU]}\n    allow: {jurisdictions: [EU, US]}\n",
        "data_classes[1].allow"),
    "inside a flow mapping": ("allow: {jurisdictions: [EU]}", "allow: {jurisdictions: [EU], jurisdictions: [US]}",
                              "data_classes[1].allow.jurisdictions"),
    "inside a list item": ("    source: oci-fra\n    path: eu-claims\n",
                           "    source: oci-fra\n    path: eu-claims\n    path: product-catalog\n",
                           "datasets[2].path"),
    "quoted twin": ("    mode: audit\n", "    mode: audit\n    \"mode\": enforce\n", "data_classes[5].mode"),
    "whole section": ("datasets:\n", "datasets: []\ndatasets:\n", "datasets"),
}


@pytest.mark.parametrize("case", sorted(DUPLICATES))
def test_duplicate_keys_are_refused_at_any_level(case, local_text, tmp_path):
    old, new, field = DUPLICATES[case]
    assert old in local_text
    error = _refused(tmp_path, local_text.replace(old, new, 1))
    assert _paths(error) == [field]
    assert "duplicate key" in error.problems[0].message


# ---- a country in two jurisdictions -------------------------------------------------------------
@pytest.mark.parametrize(("country", "into"), [("GB", 0), ("DE", 1), ("US", 3)])
def test_a_country_in_two_jurisdictions_is_refused(country, into, local_raw, tmp_path):
    raw = copy.deepcopy(local_raw)
    raw["jurisdictions"][into]["countries"].append(country)
    error = _refused(tmp_path, raw)
    [problem] = error.problems
    assert problem.path.startswith("jurisdictions[")
    assert country in problem.message
    assert "one jurisdiction" in problem.message


# ---- dataset paths -------------------------------------------------------------------------------
ESCAPING_DATASET_PATHS = [
    "../oci-ash/eu-claims", "eu-claims/../../oci-ash", "..", "/etc/passwd", "/eu-claims", "~/eu-claims",
    "%2e%2e/oci-ash", "%252e%252e/oci-ash", "..%2foci-ash", "eu%2f..%2f..%2fx", "\uff0e\uff0e/oci-ash",
    "..\\oci-ash", "eu-claims\\..\\..", "eu\x00claims", "eu\nclaims", "C:/eu-claims", "", "./", "a/ ../b",
    "_staging/eu", ".hidden", "eu/.staging", "models", "models/churn-eu", "_quarantine/x",
]


@pytest.mark.parametrize("value", ESCAPING_DATASET_PATHS)
def test_escaping_or_reserved_dataset_paths_are_refused(value, local_raw, tmp_path):
    raw = copy.deepcopy(local_raw)
    raw["datasets"][2]["path"] = value
    error = _refused(tmp_path, raw)
    assert "datasets[2].path" in _paths(error)


@pytest.mark.parametrize("written", ["./eu-claims", "eu-claims/", "./eu-claims/./", "eu-claims//"])
def test_dataset_paths_are_normalised(written, local_raw, tmp_path):
    raw = copy.deepcopy(local_raw)
    raw["datasets"][2]["path"] = written
    path = tmp_path / "estate.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_estate(path, home=tmp_path).dataset("eu-claims").path == "eu-claims"


def test_overlapping_dataset_paths_of_different_classes_are_refused(local_raw, tmp_path):
    for path, other in [("product-catalog", "product-catalog"), ("product-catalog/eu", "product-catalog"),
                        ("eu-claims", "eu-claims/extra")]:
        raw = copy.deepcopy(local_raw)
        raw["datasets"][2]["path"], raw["datasets"][1]["path"] = path, other
        error = _refused(tmp_path, raw)
        assert "datasets[2].path" in _paths(error), path
    raw = copy.deepcopy(local_raw)  # same class, one path: still ambiguous (two datasets own one object)
    raw["datasets"].append({**raw["datasets"][2], "id": "eu-claims-2"})
    assert "datasets[4].path" in _paths(_refused(tmp_path, raw))


# ---- storage urls --------------------------------------------------------------------------------
ESCAPING_STORAGE_URLS = [
    "file://{estate_home}/storage/../storage/oci-ash", "file://{estate_home}/storage/oci-fra/..",
    "file://{estate_home}/storage/%2e%2e/elsewhere", "file://{estate_home}/storage/\uff0e\uff0e/x",
    "file://{estate_home}/..", "file://relative/storage", "s3://bucket/../other-bucket", "s3://bucket/a/%2E%2E/b",
    "oci://bucket@ns/estate/..", "file://{estate_home}/storage/a\x00b", "ftp://host/x", "/plain/path",
]


@pytest.mark.parametrize("url", ESCAPING_STORAGE_URLS)
def test_escaping_storage_urls_are_refused(url, local_raw, tmp_path):
    raw = copy.deepcopy(local_raw)
    raw["regions"][1]["storage"]["url"] = url
    assert "regions[1].storage.url" in _paths(_refused(tmp_path, raw))


@pytest.mark.parametrize(("url", "other"), [
    ("file://{estate_home}/storage/onprem-hq", 0),  # the same place
    ("file://{estate_home}/storage/onprem-hq/", 0),  # the same place, spelled differently
    ("file://{estate_home}/storage/onprem-hq/fra", 0),  # inside another region's storage
    ("file://{estate_home}/storage", 0),  # around every other region's storage
    ("file://{estate_home}/storage//oci-ash", 3),
])
def test_two_regions_cannot_share_or_nest_storage(url, other, local_raw, tmp_path):
    raw = copy.deepcopy(local_raw)
    raw["regions"][1]["storage"]["url"] = url
    error = _refused(tmp_path, raw)
    assert any(f"regions[{other}]" in str(p) and "regions[1]" in str(p) and "storage" in p.message
               for p in error.problems), [str(p) for p in error.problems]


# ---- numbers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN", "+.inf", "1.0e400", "'inf'", "'nan'"])
def test_non_finite_numbers_are_refused(value, local_text, tmp_path):
    old = "capacity: {cpu: 16, memory_gb: 64, gpu: 2, gpu_type: L4}"
    assert old in local_text
    error = _refused(tmp_path, local_text.replace(old, old.replace("cpu: 16", f"cpu: {value}")))
    assert [p.path for p in error.problems] == ["regions[9].cluster.capacity.cpu"]
    assert "finite" in error.problems[0].message


# ---- bounded, one-line input errors ----------------------------------------------------------------
def test_an_oversized_estate_is_refused_before_it_is_parsed(local_text, tmp_path):
    padding = "# padding\n" * (MAX_ESTATE_BYTES // 10 + 1)
    error = _refused(tmp_path, local_text + padding)
    assert error.problems[0].path == "<file>"
    assert "at most" in error.problems[0].message
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as handle:  # 50 MB, sparse: refused by its size alone
        handle.truncate(50 << 20)
    started = time.monotonic()
    with pytest.raises(EstateError, match="at most"):
        load_estate(huge, home=tmp_path)
    assert time.monotonic() - started < 1


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9))


@pytest.mark.parametrize(("content", "words"), [
    (BOMB, "alias"),  # billion laughs: 10^10 nodes once expanded
    ("name: &n [*n]\n", "alias"),  # recursive alias
    ("regions: " + "[" * 300 + "]" * 300 + "\n", "nested deeper"),  # deep nesting
    ("k: " + "{" * 300 + "}" * 300 + "\n", ""),
    (b"name: caf\xe9\n", "UTF-8"),  # Latin-1
    (b"\xff\xfe" + "name: x\n".encode("utf-16-le"), "UTF-8"),  # UTF-16
    (bytes(range(256)) * 4, ""),  # binary
    (b"name: a\x00b\n", "#x0000"),  # NUL (valid UTF-8, not valid YAML)
    (b"name: a\x1bb\n", "YAML"),  # an escape character
    ("", "mapping"),
    ("just a string\n", "mapping"),
    ("!!python/object/apply:os.system ['true']\n", "YAML"),  # never constructed
])
def test_hostile_files_fail_fast_with_one_line_naming_the_file(content, words, tmp_path):
    error = _refused(tmp_path, content)
    assert words in str(error)


def test_a_directory_or_a_pipe_is_one_line(tmp_path):
    folder = tmp_path / "estate.d"
    folder.mkdir()
    with pytest.raises(EstateError, match="is a directory") as caught:
        load_estate(folder, home=tmp_path)
    _assert_one_line_each(caught.value, folder)
    pipe = tmp_path / "estate.fifo"
    os.mkfifo(pipe)
    with pytest.raises(EstateError, match="not a regular file"):
        load_estate(pipe, home=tmp_path)


def test_a_flood_of_field_errors_is_capped_and_each_stays_short(local_raw, tmp_path):
    raw = copy.deepcopy(local_raw)
    raw["regions"] = [{"id": f"r{i}", "cloud": "x" * 2000} for i in range(60)]
    error = _refused(tmp_path, raw)
    assert len(error.problems) <= 51
    assert all(len(str(p)) < 600 for p in error.problems)


def test_shipped_estates_still_validate(estate_home):
    for name in ("local.yaml", "example-cloud.yaml"):
        load_estate(PROJECT_ROOT / "include" / "estate" / name, home=estate_home)
    assert parse_estate(LOCAL.read_bytes(), source="local.yaml", home=str(estate_home)).name == "local"
