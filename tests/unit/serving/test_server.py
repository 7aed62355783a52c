"""The model server as a real process on a loopback port, both start modes: the local driver's
fast-start path (``server.py`` under ``-I -S``) and the container entrypoint
(``python -m multicloud.serving serve``, which verifies the artifact before the port opens)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from multicloud.serving import server
from multicloud.serving.model import LogisticModel
from multicloud.waiting import wait_until

PLUGINS = Path(server.__file__).resolve().parents[2]
MODEL = LogisticModel(model="churn-eu", version="v3", data_class="eu-personal", features=("tenure", "spend"),
                      mean=(10.0, 50.0), scale=(5.0, 25.0), coef=(-1.0, 2.0), intercept=0.0)


def _call(url: str, body: bytes | None = None, method: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method=method or ("POST" if body is not None else "GET"),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _post(url: str, payload: object) -> tuple[int, dict]:
    code, text = _call(url, json.dumps(payload).encode())
    return code, json.loads(text)


@pytest.fixture
def running(tmp_path):
    """A fast-start server of MODEL; yields (base URL, process, cluster dir)."""
    artifact = tmp_path / "model.json"
    artifact.write_text(MODEL.to_json())
    port_file, cluster_dir = tmp_path / "port", tmp_path / "cluster"
    cluster_dir.mkdir()
    process = subprocess.Popen([sys.executable, "-I", "-S", server.__file__, "--artifact", str(artifact),
                                "--port-file", str(port_file), "--cluster-dir", str(cluster_dir),
                                "--cluster", "oke-fra", "--replica", "1"])
    try:
        assert wait_until(lambda: port_file.exists() or process.poll() is not None, 10)
        assert process.poll() is None, "the server exited before publishing its port"
        yield f"http://127.0.0.1:{int(port_file.read_text())}", process, cluster_dir
    finally:
        process.kill()
        process.wait(timeout=10)


def test_health_version_and_a_prediction(running):
    url, process, _ = running
    assert json.loads(_call(f"{url}/healthz")[1]) == {"status": "ok", "model": "churn-eu", "version": "v3"}
    assert _call(f"{url}/readyz")[0] == 200
    identity = json.loads(_call(f"{url}/version")[1])
    assert (identity["cluster"], identity["replica"], identity["pid"]) == ("oke-fra", 1, process.pid)
    code, answer = _post(f"{url}/predict", {"instances": [{"tenure": 10, "spend": 100}, [30, 50]]})
    assert code == 200
    assert answer["predictions"] == [MODEL.predict({"tenure": 10, "spend": 100}), MODEL.predict([30, 50])]
    assert [p["label"] for p in answer["predictions"]] == [1, 0]


@pytest.mark.parametrize(("body", "why"), [
    (b'{"instances": [{"tenure": 1}]}', "spend"),                 # a missing feature
    (b'{"instances": [[1, 2, 3]]}', "expected 2"),               # the wrong width
    (b'{"instances": {"tenure": 1}}', "must be a list"),
    (b'{"instances": [[NaN, 1]]}', "finite"),                    # Python's json reads NaN; it never scores
    (b'{"rows": []}', "instances"),
    (b"not json", "bad request"),
    (b"", "bytes of JSON"),
])
def test_a_bad_request_is_a_400_naming_the_problem_and_the_server_keeps_serving(running, body, why):
    url, _, _ = running
    code, text = _call(f"{url}/predict", body, method="POST")
    assert code == 400
    assert why in json.loads(text)["error"]
    assert _post(f"{url}/predict", {"instances": [[10, 50]]})[0] == 200


def test_unknown_routes_and_models_are_404s(running):
    url, _, _ = running
    assert _call(f"{url}/nope")[0] == 404
    assert _post(f"{url}/score", {"instances": []})[0] == 404
    assert _post(f"{url}/v2/models/other/infer", {"inputs": []})[0] == 404
    assert _call(f"{url}/v2/models/churn-eu/versions/v2/ready")[0] == 404


def test_the_v2_inference_protocol(running):
    url, _, _ = running
    assert json.loads(_call(f"{url}/v2/models/churn-eu")[1])["inputs"][0]["shape"] == [-1, 2]
    assert json.loads(_call(f"{url}/v2/models/churn-eu/versions/v3/ready")[1]) == {"name": "churn-eu", "ready": True}
    code, answer = _post(f"{url}/v2/models/churn-eu/infer",
                         {"id": "r1", "inputs": [{"name": "x", "datatype": "FP64", "shape": [2, 2],
                                                  "data": [[10, 100], [30, 50]]}]})
    assert code == 200
    assert answer["id"] == "r1"
    assert answer["outputs"][1]["data"] == [1, 0]
    code, named = _post(f"{url}/v2/models/churn-eu/infer",
                        {"inputs": [{"name": "tenure", "data": [10]}, {"name": "spend", "data": [100]}]})
    assert (code, named["outputs"][1]["data"]) == (200, [1])
    code, bad = _post(f"{url}/v2/models/churn-eu/infer", {"inputs": [{"name": "x", "shape": [1, 3], "data": [1, 2, 3]}]})
    assert code == 400
    assert "shape must be [N, 2]" in bad["error"]


def test_metrics_count_requests_by_code(running):
    url, _, _ = running
    _post(f"{url}/predict", {"instances": [[10, 50]]})
    _call(f"{url}/predict", b"{}", method="POST")
    text = _call(f"{url}/metrics")[1]
    counts = dict(re.findall(r'model_server_requests_total\{[^}]*code="(\d+)"\} (\d+)', text))
    assert counts == {"200": "1", "400": "1"}
    assert 'model_server_request_duration_seconds_count{model="churn-eu",version="v3"} 2' in text


def test_the_server_exits_when_its_cluster_directory_goes(running):
    _, process, cluster_dir = running
    cluster_dir.rmdir()
    assert wait_until(lambda: process.poll() is not None, 10) is not None


def test_an_unreadable_model_exits_before_publishing_a_port(tmp_path):
    artifact = tmp_path / "model.json"
    artifact.write_text('{"format": "something-else"}')
    result = subprocess.run([sys.executable, "-I", "-S", server.__file__, "--artifact", str(artifact),
                             "--port-file", str(tmp_path / "port"), "--cluster-dir", str(tmp_path),
                             "--cluster", "c"], check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert not (tmp_path / "port").exists()


# ---- the container entrypoint ------------------------------------------------------------------
def _artifact(folder: Path, sha256: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    raw = MODEL.to_json()
    (folder / "model.json").write_text(raw)
    card = {"model": MODEL.model, "version": MODEL.version,
            "artifact_sha256": sha256 if sha256 is not None else hashlib.sha256(raw.encode()).hexdigest()}
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def _serve(artifact: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "multicloud.serving", "serve", "--artifact", artifact.as_uri(),
                             "--host", "127.0.0.1", "--port", "0"], cwd=PLUGINS, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_the_entrypoint_serves_a_verified_artifact(tmp_path):
    process = _serve(_artifact(tmp_path / "v3"))
    try:
        line = process.stdout.readline()
        port = re.search(r"on 127\.0\.0\.1:(\d+)$", line.strip())
        assert port, line + process.stderr.read()
        url = f"http://127.0.0.1:{port[1]}"
        assert _call(f"{url}/healthz")[0] == 200
        assert json.loads(_call(f"{url}/version")[1])["artifact_sha256"] == json.loads(
            (tmp_path / "v3" / "card.json").read_text())["artifact_sha256"]
        assert _post(f"{url}/predict", {"instances": [[10, 100]]})[1]["predictions"][0]["label"] == 1
    finally:
        process.kill()
        process.communicate(timeout=10)


@pytest.mark.parametrize(("sha256", "why"), [("0" * 64, "does not match"), ("", "no artifact_sha256")])
def test_the_entrypoint_refuses_an_unverified_artifact_before_listening(tmp_path, sha256, why):
    process = _serve(_artifact(tmp_path / "v3", sha256=sha256))
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert why in err
    assert out == ""                                   # never announced a port


def test_the_entrypoint_refuses_a_missing_model_card(tmp_path):
    folder = _artifact(tmp_path / "v3")
    (folder / "card.json").unlink()
    process = _serve(folder)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "does not exist" in err
