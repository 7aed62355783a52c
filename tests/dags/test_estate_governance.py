"""estate_governance end to end with dag.test(): audit mapped per region, collect, report, alert."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.dags.dag_files import load_dag


def _table(countries: list[str]) -> pa.Table:
    return pa.table({"event_id": [str(i) for i in range(len(countries))], "country": countries})


@pytest.fixture
def governance_dag(airflow_db):
    return load_dag("estate_governance")


def test_dag_shape(governance_dag):
    assert governance_dag.tags
    assert governance_dag.default_args["owner"]
    assert governance_dag.doc_md
    assert set(governance_dag.params) >= {"regions", "strict", "alert_on_violation", "estate_file",
                                         "complete_when_unverified"}
    assert governance_dag.task_dict["publish"].downstream_list == []


def test_run_reports_planted_violation_and_alerts(governance_dag, estate_home):
    storage = estate_home / "storage"
    lawful = storage / "oci-fra" / "eu-claims" / "dt=2026-11-29" / "part-00000.parquet"
    planted = storage / "aws-use1" / "eu-claims" / "dt=2026-11-29" / "part-00000.parquet"
    for path in (lawful, planted):
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_table(["DE"]), path)
    (storage / "oci-lon").mkdir()  # empty but readable: clean

    run = governance_dag.test(run_conf={"regions": ["oci-fra", "aws-use1", "oci-lon"]})
    assert run.state == "success"

    folder = estate_home / "reports" / "estate_governance"
    report = json.loads((folder / "report.json").read_text())
    assert [(v["region"], v["path"]) for v in report["audit"]["violations"]] == [("aws-use1", f"file://{planted}")]
    assert report["audit"]["regions"] == ["oci-fra", "aws-use1", "oci-lon"]
    page = (folder / "report.html").read_text()
    assert f"file://{planted}" in page
    assert "data:image/png;base64," in page
    summary = json.loads((folder / "latest.json").read_text())
    assert summary["headline"][0].startswith("Residency at rest: 1 violation(s)")
    assert len(summary["headline"]) <= 8
    alerts = [json.loads(line) for line in (estate_home / "alerts" / "alerts.jsonl").read_text().splitlines()]
    assert [(a["kind"], a["dag_id"], a["task_id"]) for a in alerts] == [
        ("residency_violation", "estate_governance", "publish")]
    metric_lines = (estate_home / "metrics" / "metrics.jsonl").read_text()
    assert '"governance.residency_violations"' in metric_lines


def test_an_unverified_region_fails_the_run_after_reporting_it_red(governance_dag, estate_home):
    (estate_home / "storage" / "oci-fra").mkdir(parents=True)  # oci-lon has no storage at all
    run = governance_dag.test(run_conf={"regions": ["oci-fra", "oci-lon"]})
    assert run.state == "failed"
    report = json.loads((estate_home / "reports" / "estate_governance" / "report.json").read_text())
    assert report["audit"]["region_status"] == {"oci-fra": "clean", "oci-lon": "unverified"}
    alerts = [json.loads(line) for line in (estate_home / "alerts" / "alerts.jsonl").read_text().splitlines()]
    assert [a["kind"] for a in alerts] == ["residency_unverified"]
    tries = {ti.task_id: ti.try_number for ti in run.get_task_instances()}
    assert tries["publish"] == 1  # decided: not retried (a retry re-reads the same audits)


def test_unknown_region_param_fails_the_run(governance_dag, estate_home):
    run = governance_dag.test(run_conf={"regions": ["mars-1"]})
    assert run.state == "failed"
