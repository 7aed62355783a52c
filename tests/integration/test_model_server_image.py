"""The model-server image's CMD, run exactly as the Dockerfile says, serving an s3:// artifact.

No container engine runs here, so the CMD (parsed from images/model-server/Dockerfile) runs as a
process with the image's environment: its ``python`` is this interpreter, PYTHONPATH the image's
(plugins/ here), the rest from ENV lines; address and artifact come in as variables, as
``docker run -e`` or a pod spec would give them. The artifact lives on SeaweedFS (a real S3 server
enforcing SigV4) and the server must answer the model card's smoke cases on /predict and on the
Open Inference Protocol V2 ``infer`` endpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import s3fs

from multicloud.serving.model import LogisticModel
from tests.integration.test_seaweedfs_s3 import ACCESS, SECRET, seaweed  # noqa: F401 (the S3 server fixture)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "images" / "model-server" / "Dockerfile"
FEATURES = ("sessions_30d", "spend_30d", "support_tickets_90d", "tenure_months")


def image_command_and_env() -> tuple[list[str], dict[str, str]]:
    text = DOCKERFILE.read_text()
    [cmd] = re.findall(r"^CMD (\[.*\])$", text, flags=re.M)
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", text, flags=re.M):
        env.update(dict(pair.split("=", 1) for pair in shlex.split(line)))
    assert re.search(r"^FROM python:3\.11-slim$", text, flags=re.M)
    assert re.search(r"^USER 10001$", text, flags=re.M)  # non-root, numeric for runAsNonRoot
    return json.loads(cmd), env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        return json.loads(reply.read())


@pytest.mark.timeout(120)
def test_the_dockerfile_cmd_serves_an_s3_artifact_with_its_smoke_cases(seaweed, tmp_path):  # noqa: F811
    model = LogisticModel("churn-eu", "v7", "eu-personal", FEATURES, (12.0, 80.0, 1.2, 36.0),
                          (3.5, 55.0, 1.1, 20.0), (-0.8, -0.4, 0.9, -0.6), -0.5)
    cases = [{"instance": dict(zip(FEATURES, row, strict=True)), "expected": model.predict(row)}
             for row in ((2.0, 10.0, 4.0, 3.0), (20.0, 200.0, 0.0, 60.0))]
    body = model.to_json()
    card = {"model": "churn-eu", "version": "v7", "smoke_cases": cases,
            "artifact_sha256": hashlib.sha256(body.encode()).hexdigest()}
    fs = s3fs.S3FileSystem(key=ACCESS, secret=SECRET, client_kwargs={"endpoint_url": seaweed})
    fs.mkdir("models")
    fs.pipe("models/churn-eu/v7/model.json", body.encode())
    fs.pipe("models/churn-eu/v7/card.json", json.dumps(card).encode())

    cmd, image_env = image_command_and_env()
    assert cmd[:4] == ["python", "-m", "multicloud.serving", "serve"]
    port = free_port()
    env = {**image_env, "PYTHONPATH": str(ROOT / "plugins"), "PATH": os.environ["PATH"], "HOME": str(tmp_path),
           # what the pod (or `docker run -e`) provides: the artifact, its store's credentials, the address
           "MODEL_ARTIFACT_URI": "s3://models/churn-eu/v7", "AWS_ACCESS_KEY_ID": ACCESS,
           "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ENDPOINT_URL": seaweed, "AWS_DEFAULT_REGION": "us-east-1",
           "MODEL_SERVER_HOST": "127.0.0.1", "MODEL_SERVER_PORT": str(port)}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([sys.executable, *cmd[1:]], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                assert call(f"{base}/v2/health/ready") == {"ready": True}
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never became ready"
                time.sleep(0.1)
        identity = call(f"{base}/version")
        assert (identity["artifact"], identity["artifact_sha256"]) == ("s3://models/churn-eu/v7", card["artifact_sha256"])
        answer = call(f"{base}/predict", {"instances": [c["instance"] for c in cases]})
        assert answer["predictions"] == [c["expected"] for c in cases]
        infer = call(f"{base}/v2/models/churn-eu/infer", {"id": "smoke", "inputs": [
            {"name": "input-0", "datatype": "FP64", "shape": [len(cases), len(FEATURES)],
             "data": [c["instance"][f] for c in cases for f in FEATURES]}]})
        assert infer["model_name"] == "churn-eu"
        assert infer["model_version"] == "v7"
        outputs = {o["name"]: o["data"] for o in infer["outputs"]}
        assert outputs["probability"] == [c["expected"]["probability"] for c in cases]
        assert outputs["label"] == [c["expected"]["label"] for c in cases]
        assert call(f"{base}/v2/models/churn-eu")["inputs"][0]["shape"] == [-1, len(FEATURES)]
        assert call(f"{base}/v2/models/churn-eu/ready")["ready"] is True
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()

    # Wrong credentials: the artifact cannot be read, the server exits before any port opens.
    refused = subprocess.run([sys.executable, *cmd[1:]], env={**env, "AWS_SECRET_ACCESS_KEY": "wrong"},
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 1
    assert "cannot read the artifact" in refused.stderr or "does not exist" in refused.stderr
