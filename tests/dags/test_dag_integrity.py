"""DAG integrity (Astro-CLI style): every file in dags/ parses cleanly, cheaply and offline.

One probe subprocess imports Airflow once, blocks every network connect and DNS lookup, drops
every credential from the environment, then forks one child per DAG file (so each child starts
from the same clean ``sys.modules`` and a heavy import by one file cannot hide behind another's).
Each child parses its file with ``DagBag`` twice, with the shipped estate and with a broken one
(DAGs must not load the estate at parse time), and reports import errors, network attempts,
newly imported heavy modules and every DAG's tags/owner/retries/doc_md as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted(p for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_"))
HEAVY_MODULES = ["great_expectations", "pandas", "pyarrow", "sklearn", "highspy", "matplotlib", "kubernetes",
                 "oci", "boto3"]
CREDENTIAL_PREFIXES = ("AWS_", "OCI_", "AZURE_", "GOOGLE_", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "KUBECONFIG")

PROBE = textwrap.dedent('''
    import json, os, socket, sys, traceback

    heavy, files, broken_estate = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network access during DAG parsing is not allowed")

    _connect = socket.socket.connect
    def guarded_connect(self, address):
        if self.family == socket.AF_UNIX:
            return _connect(self, address)
        return refuse(self, address)
    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect
    socket.getaddrinfo = refuse
    socket.create_connection = refuse

    from airflow.dag_processing.dagbag import DagBag  # the parser, imported once before forking
    import airflow.sdk  # noqa: F401  (every DAG file needs it: not charged to any file)

    def parse(path):
        bag = DagBag(dag_folder=path)
        dags = {}
        for dag_id, dag in bag.dags.items():
            args = dag.default_args or {}
            owners = sorted({t.owner for t in dag.tasks} | ({args["owner"]} if "owner" in args else set()))
            dags[dag_id] = {
                "tags": sorted(dag.tags or []), "owners": owners, "doc_md": bool((dag.doc_md or "").strip()),
                "retries": args.get("retries", 0),
                "params": sorted(dag.params.keys()) if dag.params else [],
            }
        return {"errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()}, "dags": dags}

    class HeavyImportWatch:
        """Records who first imports each heavy module. Airflow's own provider discovery (run
        the first time any Asset is built: the amazon provider's s3 asset handler imports boto3)
        is Airflow's one-time cost, not the DAG file's, and is reported apart."""

        def __init__(self):
            self.direct, self.via_airflow = set(), set()

        def find_spec(self, name, path=None, target=None):
            if name in heavy and name not in sys.modules:
                frames = [f.filename for f in traceback.extract_stack()]
                by_airflow = any(f.endswith("airflow/sdk/providers_manager_runtime.py") for f in frames)
                (self.via_airflow if by_airflow else self.direct).add(name)
            return None

    results = {}
    for path in files:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            result = {}
            try:
                watch = HeavyImportWatch()
                sys.meta_path.insert(0, watch)
                result["ok_estate"] = parse(path)
                result["heavy"] = sorted(watch.direct)
                result["heavy_via_airflow"] = sorted(watch.via_airflow)
                os.environ["MULTICLOUD_ESTATE"] = broken_estate
                result["broken_estate"] = parse(path)
                result["network"] = attempts
            except BaseException as exc:  # report, never hang the parent
                result["crash"] = repr(exc)
            with os.fdopen(write_end, "w") as out:
                json.dump(result, out)
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as inp:
            payload = inp.read()
        os.waitpid(pid, 0)
        results[path] = json.loads(payload) if payload else {"crash": "child died without a report"}
    print("PROBE-RESULT " + json.dumps(results))
''')


@pytest.fixture(scope="module")
def broken_estate(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("estate") / "broken.yaml"
    path.write_text("name: broken\nregions:\n  - id: x\n    cloud: [oci\n")  # a YAML syntax error
    return path


def run_probe(files: list[Path], broken_estate: Path, dags_folder: Path) -> dict[str, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES)}
    env.update({"AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder), "MULTICLOUD_ESTATE": "include/estate/local.yaml",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY_MODULES), json.dumps([str(p) for p in files]),
         str(broken_estate)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE-RESULT ")]
    assert result.returncode == 0, f"probe failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert lines, f"probe printed no result:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return json.loads(lines[-1].removeprefix("PROBE-RESULT "))


@pytest.fixture(scope="module")
def probe(broken_estate) -> dict[str, dict]:
    return run_probe(DAG_FILES, broken_estate, ROOT / "dags") if DAG_FILES else {}


def _report(probe: dict, dag_file: Path) -> dict:
    report = probe[str(dag_file)]
    assert "crash" not in report, report
    return report


GOOD_DAG = """
from datetime import datetime
from airflow.sdk import Asset, Param, dag, task

@dag(dag_id="probe_good", schedule=[Asset("multicloud://probe/region")], start_date=datetime(2026, 1, 1), tags=["probe"], doc_md="A good DAG.",
     default_args={"owner": "platform", "retries": 1}, params={"n": Param(1, type="integer")})
def probe_good():
    @task
    def work():
        import pandas  # inside the task: fine
        return len(pandas.__name__)
    work()

probe_good()
"""

BAD_DAG = """
import socket
from datetime import datetime
import pandas  # heavy import at top level
from airflow.sdk import dag, task
from multicloud.estate import load_estate

try:
    socket.create_connection(("203.0.113.1", 443), timeout=1)  # network at parse time (swallowed)
except OSError:
    pass
ESTATE = load_estate()  # estate read at parse time

@dag(dag_id="probe_bad", schedule=None, start_date=datetime(2026, 1, 1))
def probe_bad():
    @task
    def work():
        return 1
    work()

probe_bad()
"""


def test_the_probe_catches_every_violation(tmp_path, broken_estate):
    """The checks below can fail: a throw-away bad DAG trips each one and a good DAG none."""
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text(GOOD_DAG)
    bad.write_text(BAD_DAG)
    reports = run_probe([good, bad], broken_estate, tmp_path)
    good_report, bad_report = reports[str(good)], reports[str(bad)]
    assert good_report["ok_estate"]["errors"] == {}
    assert good_report["broken_estate"]["errors"] == {}
    assert good_report["heavy"] == []  # the Asset's provider discovery (boto3) is charged to Airflow
    assert "boto3" in good_report["heavy_via_airflow"]
    assert good_report["network"] == []
    assert good_report["ok_estate"]["dags"]["probe_good"] == {
        "tags": ["probe"], "owners": ["platform"], "doc_md": True, "retries": 1, "params": ["n"]}
    assert bad_report["ok_estate"]["errors"] == {}
    assert "pandas" in bad_report["heavy"]
    assert bad_report["network"], "the swallowed connect attempt must still be recorded"
    assert [Path(k).name for k in bad_report["broken_estate"]["errors"]] == ["bad.py"]
    assert "not valid YAML" in next(iter(bad_report["broken_estate"]["errors"].values()))
    dag = bad_report["ok_estate"]["dags"]["probe_bad"]
    assert dag["tags"] == []
    assert dag["owners"] == ["airflow"]
    assert dag["retries"] == 0
    assert not dag["doc_md"]


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_parses_without_import_errors_or_network(probe, dag_file):
    report = _report(probe, dag_file)
    assert report["ok_estate"]["errors"] == {}, report["ok_estate"]["errors"]
    assert report["ok_estate"]["dags"], f"{dag_file.name} defines no DAG"
    assert report["network"] == [], f"{dag_file.name} tried to reach the network while parsing: {report['network']}"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_parses_even_when_the_estate_is_broken(probe, dag_file):
    report = _report(probe, dag_file)
    assert report["broken_estate"]["errors"] == {}, (
        f"{dag_file.name} reads the estate at parse time: {report['broken_estate']['errors']}")
    assert set(report["broken_estate"]["dags"]) == set(report["ok_estate"]["dags"])


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_no_heavy_imports_at_parse_time(probe, dag_file):
    report = _report(probe, dag_file)
    assert report["heavy"] == [], f"{dag_file.name} imports {report['heavy']} at top level: import them inside tasks"
    # an Asset URI with a scheme no provider registers (and no "x-" prefix) makes Airflow load every
    # provider's URI handlers, boto3 among them: about 1 s of CPU per parse (see multicloud/assets.py)
    assert "boto3" not in report["heavy_via_airflow"], f"{dag_file.name}: an Asset URI scheme loads boto3"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_dag_standards(probe, dag_file):
    for dag_id, dag in _report(probe, dag_file)["ok_estate"]["dags"].items():
        assert dag["tags"], f"{dag_id}: no tags"
        assert dag["owners"], f"{dag_id}: no owner"
        assert "airflow" not in dag["owners"], f"{dag_id}: owner must be a team, not the default 'airflow'"
        # DAG-level: default_args retries >= 1 (a task may still opt out deliberately, e.g. a one-shot step)
        assert dag["retries"] >= 1, f"{dag_id}: default_args needs retries >= 1"
        assert dag["doc_md"], f"{dag_id}: doc_md is missing"
        assert dag["params"], f"{dag_id}: no Param form for manual triggers"
