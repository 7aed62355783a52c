"""One path-safety rule for every write: hostile values never land outside their prefix.

Every writer that builds a path from a Param, a run id, a version, an item or an estate field
(sync copy and routing, training artifacts, run summaries, rollout journals, cost and fault
ledgers, DR journals and staged artifacts, sync run state) is driven with hostile values: the
named escapes and encodings below, plus generated mixes of them. Each call either refuses
(``UnsafePath``, or an unknown-id ``KeyError``) or writes only inside its intended prefix; the test
snapshots the whole temporary tree and checks every new file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multicloud import paths, reports
from multicloud.estate import load_estate
from multicloud.sync.planner import SyncItem

NAMED = [
    "..", "../..", "../../oci-ash/models/churn-eu/v1", "../../../oci-ash/models/churn-eu/v1", "/etc/passwd",
    "/", "~root", "~/x", "%2e%2e", "%2e%2e%2f%2e%2e", "..%2f..%2foci-ash", "%252e%252e%252foci-ash",
    "%c0%ae%c0%ae/", "\uff0e\uff0e/\uff0e\uff0e/oci-ash", "\u2024\u2024/x", "..\\..\\oci-ash", "a/../../b",
    "v1/../../../../oci-ash", "v1\x00/../..", "\x00", "v1\n/../..", "C:/x", "C:\\x", ". ./..", "./../x",
    "v1/./../..", "....//....//", "v1/%2e%2e/%2e%2e", "", ".", "v" * 300, "x/" * 80 + "..",
]
ATOMS = ["..", ".", "", "%2e", "%2f", "%5c", "%00", "/", "\\", "\uff0e", "~", "x", "v1", "oci-ash", " ", "\n"]
generated = st.lists(st.sampled_from(ATOMS), min_size=1, max_size=8).map("".join)
REFUSED = (paths.UnsafePath, KeyError)


def _files(root: Path) -> set[Path]:
    return {Path(folder, name) for folder, _, names in os.walk(root) for name in names}


@pytest.fixture(scope="module")
def world():
    root = Path(tempfile.mkdtemp(prefix="path-safety-"))
    home = root / "estate"
    estate = load_estate(home=home)
    for region in estate.regions:
        (home / "storage" / region.id).mkdir(parents=True)
    (root / "outside.txt").write_text("must stay alone")
    yield SimpleNamespace(root=root, home=home, estate=estate)
    shutil.rmtree(root, ignore_errors=True)


def _artifact(model: str, version: str) -> SimpleNamespace:
    return SimpleNamespace(artifact=SimpleNamespace(model=model, version=version, to_json=lambda: "{}"), card={})


def _sync(kind: str) -> Callable:
    def write(w, value):
        from multicloud.sync.runner import execute_item

        item = SyncItem("eu-claims" if kind == "copy" else "customer-events", "aws-euw1", kind, value,
                        data_class="eu-personal" if kind == "copy" else None,
                        jurisdictions=() if kind == "copy" else ("EU",))
        execute_item(w.estate, item, validate=False)
        return w.home / "storage"
    return write


def _training(w, value):
    from multicloud.training.artifacts import write_model

    write_model(w.estate, _artifact("churn-eu", value))
    return w.home / "storage" / "oci-fra" / "models" / "churn-eu"


def _training_model_id(w, value):
    from multicloud.training.artifacts import artifact_uri

    artifact_uri(w.estate, value, "v1")  # an unknown model id: KeyError; the URL builder refuses escapes
    return w.home / "storage"


def _summary(w, value):
    reports.write_summary(value, value, ["x"], {}, home=w.home)
    return w.home / "reports"


def _summary_run(w, value):
    reports.write_summary("residency_sync", value, ["x"], {}, home=w.home)
    return w.home / "reports" / "residency_sync"


def _rollout_journal(w, value):
    from multicloud.rollout.engine import Journal

    Journal(value, home=w.home).event("hostile")
    return w.home / "state" / "rollouts"


def _cost_ledger(w, value):
    from multicloud.cost.apply import _record

    _record(value, w.home, {"id": "m1"})
    return w.home / "state" / "cost_rebalance"


def _fault_ledger(w, value):
    from multicloud.dr.ledger import FaultLedger

    FaultLedger(value, home=w.home).record("kind", "target", {}, "run")
    return w.home / "state" / "dr"


def _dr_journal(w, value):
    from multicloud.dr.rehearsal import save_run

    save_run({"pair": "fra-ash", "run_id": value}, w.home)
    return w.home / "state" / "dr" / "runs"


def _dr_journal_pair(w, value):
    from multicloud.dr.rehearsal import save_run

    save_run({"pair": value, "run_id": "r"}, w.home)
    return w.home / "state" / "dr" / "runs"


def _dr_staged(w, value):
    from multicloud.dr.standby import staged_uri
    from multicloud.sync.storage import location_for

    pair = w.estate.dr_pairs[0]
    secondary = w.estate.region(pair.secondary)
    location_for(secondary.storage, staged_uri(w.estate, pair, "churn-eu", value)).fs.touch(
        staged_uri(w.estate, pair, "churn-eu", value).removeprefix("file://") + "/model.json")
    return w.home / "storage" / pair.secondary / "models"


def _sync_state(w, value):
    from multicloud.sync.runner import record_outcome

    record_outcome(value, SyncItem(value, value, "copy", value), "ok", {}, home=w.home)
    return w.home / "state" / "residency_sync"


def _location_child(w, value):
    from multicloud.sync.storage import location_for

    region = w.estate.region("oci-lon")
    prefix = w.home / "storage" / "oci-lon" / "scratch"
    loc = location_for(region.storage, region.storage.url).child("scratch", value)
    if Path(loc.path) != prefix:  # an empty part adds nothing: the prefix itself
        loc.fs.touch(loc.path)
    return prefix


WRITERS: dict[str, Callable] = {
    "sync copy": _sync("copy"), "sync routing": _sync("route"), "sync quarantine": _sync("quarantine"),
    "training artifact version": _training, "training model id": _training_model_id,
    "run summary": _summary, "run summary run id": _summary_run, "rollout journal": _rollout_journal,
    "cost ledger": _cost_ledger, "fault ledger": _fault_ledger, "dr journal": _dr_journal, "dr journal pair": _dr_journal_pair,
    "dr staged artifact": _dr_staged, "sync run state": _sync_state, "storage child": _location_child,
}


def _drive(world, writer: Callable, value: str) -> None:
    before = _files(world.root)
    try:
        prefix = writer(world, value)
    except REFUSED:
        prefix = None
    except FileNotFoundError as exc:  # a safe but absent source partition: nothing written
        failure = str(exc)
        prefix = None
        assert "source partition" in failure, failure
    # The estate's metrics and structured-log files have fixed names (no value reaches them).
    new = {p for p in _files(world.root) - before if not p.is_relative_to(world.home / "metrics")}
    if prefix is None:
        assert not new, f"{value!r}: refused, yet wrote {sorted(map(str, new))}"
    for path in new:
        resolved = path.resolve()
        assert resolved.is_relative_to(prefix.resolve()), f"{value!r} wrote {resolved} outside {prefix}"
    assert (world.root / "outside.txt").read_text() == "must stay alone"


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_named_hostile_values_never_leave_their_prefix(world, writer):
    for value in NAMED:
        _drive(world, WRITERS[writer], value)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_generated_hostile_values_never_leave_their_prefix(world, writer):
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(generated)
    def check(value):
        _drive(world, WRITERS[writer], value)

    check()


def test_the_examples_of_the_issue_are_refused(world):
    from multicloud.training.artifacts import write_model

    with pytest.raises(paths.UnsafePath, match="model version"):
        write_model(world.estate, _artifact("churn-eu", "../../../oci-ash/models/churn-eu/v1"))
    from multicloud.sync.storage import location_for

    with pytest.raises(paths.UnsafePath, match="outside its region's storage"):
        location_for(world.estate.region("oci-fra").storage, world.estate.region("oci-ash").storage.url)
    assert reports.safe_run_id("..") == "_."
    assert reports.safe_run_id("../../x") == "_._.._x"


def test_a_symlink_out_of_a_region_is_refused(world):
    from multicloud.sync.storage import location_for

    region = world.estate.region("oci-lon")
    (world.home / "storage" / "oci-lon" / "sneaky").symlink_to(world.home / "storage" / "oci-ash")
    with pytest.raises(paths.UnsafePath, match="outside"):
        location_for(region.storage, region.storage.url).child("sneaky", "x.parquet")
