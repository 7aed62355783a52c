"""The local cluster driver with real model-server processes on loopback."""

from __future__ import annotations

import http.client
import json
import os
import signal
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from multicloud.drivers.base import ModelDeployment
from multicloud.drivers.local import LocalClusterDriver, LocalDriverError, find_servers, stop_all_servers
from multicloud.serving.model import LogisticModel

RUNTIME = {"image": "multicloud/model-server:1.4.0", "python": "3.11", "env": {"OMP_NUM_THREADS": "1"},
           "limits": {"cpu": 1, "memory_gb": 1}}


def write_artifact(root: Path, version: str, sign: float = 1.0, model: str = "churn") -> str:
    folder = root / "artifacts" / model / version
    folder.mkdir(parents=True)
    artifact = LogisticModel(model, version, "eu-personal", ("a", "b"), (0.0, 0.0), (1.0, 1.0),
                             (sign * 2.0, -sign * 1.0), 0.0)
    (folder / "model.json").write_text(artifact.to_json())
    return f"file://{folder}"


def predict(url: str, rows: list[dict]) -> dict:
    request = urllib.request.Request(f"{url}/predict", data=json.dumps({"instances": rows}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def driver(estate_home):
    drv = LocalClusterDriver("oke-fra", estate_home)
    yield drv
    stop_all_servers(home=estate_home)


def test_deploy_serves_the_model_and_reports_its_runtime(driver, estate_home):
    driver.deploy(ModelDeployment("churn", "v1", 2, write_artifact(estate_home, "v1"), RUNTIME))
    status = driver.wait_ready("churn", "v1", timeout_s=20)
    assert (status.state, status.ready, status.desired) == ("complete", 2, 2)
    urls = driver.endpoints("churn")
    assert len(urls) == 2
    answer = predict(urls[0], [{"a": 2, "b": 0}, {"a": -2, "b": 0}])
    assert [p["label"] for p in answer["predictions"]] == [1, 0]
    assert answer["version"] == "v1"
    bad = http.client.HTTPConnection(urlsplit(urls[0]).netloc, timeout=5)
    bad.putrequest("POST", "/predict")
    bad.putheader("Content-Length", "abc")
    bad.endheaders()
    assert bad.getresponse().status == 400  # a clear refusal, not a dropped connection
    bad.close()
    served = driver.served()["churn"]
    assert served["versions"] == {"v1": 2}
    assert served["weights"] == {"v1": 100}
    assert served["runtime"]["env"] == {"OMP_NUM_THREADS": "1"}
    assert served["runtime"]["limits"]["memory_gb"] == 1.0  # enforced on the process, read back from it
    state = json.loads((estate_home / "clusters" / "oke-fra" / "state.json").read_text())
    assert {p["pid"] for p in state["models"]["churn"]["versions"]["v1"]["processes"]} == set(driver.pids())
    # Sweeps select by directory, not by string prefix: a sibling path's sweep never stops these.
    assert {p.pid for p in find_servers(under=estate_home.parent)} == set(driver.pids())
    assert find_servers(under=Path(str(estate_home)[:-1])) == []


def test_canary_side_by_side_shift_promote_and_rollback(driver, estate_home):
    driver.deploy(ModelDeployment("churn", "v1", 1, write_artifact(estate_home, "v1"), RUNTIME))
    driver.wait_ready("churn", "v1", 20)
    driver.deploy(ModelDeployment("churn", "v2", 1, write_artifact(estate_home, "v2"), RUNTIME))
    assert driver.wait_ready("churn", "v2", 20).state == "complete"
    assert driver.served()["churn"]["weights"] == {"v1": 100, "v2": 0}  # a new version gets no traffic
    driver.shift("churn", {"v1": 90, "v2": 10})
    assert len(driver.endpoints("churn")) == 2
    with pytest.raises(ValueError, match="summing to 100"):
        driver.shift("churn", {"v1": 50, "v2": 10})
    driver.shift("churn", {"v2": 100})
    driver.remove("churn", "v1")
    assert driver.served()["churn"]["versions"] == {"v2": 1}
    # Rollback brings the removed v1 back from its kept spec and removes v2.
    assert driver.rollback("churn") == "v1"
    served = driver.served()["churn"]
    assert served["versions"] == {"v1": 1}
    assert served["weights"] == {"v1": 100}
    assert predict(driver.endpoints("churn")[0], [{"a": 1, "b": 0}])["version"] == "v1"


def test_redeploy_is_idempotent_and_replaces_dead_replicas(driver, estate_home):
    deployment = ModelDeployment("churn", "v1", 2, write_artifact(estate_home, "v1"), RUNTIME)
    driver.deploy(deployment)
    driver.wait_ready("churn", "v1", 20)
    pids = sorted(driver.pids())
    driver.deploy(deployment)
    assert sorted(driver.pids()) == pids  # nothing restarted
    os.kill(pids[0], signal.SIGKILL)
    psutil.wait_procs([psutil.Process(pids[0])], timeout=5)
    assert driver.status("churn", "v1").state == "failed"
    driver.deploy(deployment)
    assert driver.wait_ready("churn", "v1", 20).state == "complete"
    assert pids[0] not in driver.pids()
    assert pids[1] in driver.pids()
    driver.scale("churn", "v1", 0)
    assert driver.pids() == []
    assert driver.status("churn", "v1").state == "complete"


def test_bad_artifacts_fail_with_a_clear_error(driver, estate_home):
    with pytest.raises(LocalDriverError, match="does not exist"):
        driver.deploy(ModelDeployment("churn", "v9", 1, f"file://{estate_home}/nowhere", RUNTIME))
    uri = write_artifact(estate_home, "v1")
    with pytest.raises(LocalDriverError, match="holds churn v1, not churn v2"):
        driver.deploy(ModelDeployment("churn", "v2", 1, uri, RUNTIME))
    assert driver.served() == {}


def test_a_replica_that_cannot_start_reports_failed(driver, estate_home):
    tiny = {**RUNTIME, "limits": {"memory_gb": 0.001}}  # 1 MB address space: python cannot run
    driver.deploy(ModelDeployment("churn", "v1", 1, write_artifact(estate_home, "v1"), tiny))
    status = driver.wait_ready("churn", "v1", 20)
    assert status.state == "failed"
    assert "exited" in status.message


def test_orphans_are_reaped_and_servers_exit_with_their_cluster_dir(driver, estate_home):
    uri = write_artifact(estate_home, "v1")
    driver.deploy(ModelDeployment("churn", "v1", 1, uri, RUNTIME))
    driver.wait_ready("churn", "v1", 20)
    # Forget the state (as if the deploying task died before recording): the next deploy reaps it.
    orphan = driver.pids()[0]
    driver.state_file.unlink()
    driver.deploy(ModelDeployment("churn", "v1", 1, uri, RUNTIME))
    assert orphan not in [p.pid for p in find_servers(home=estate_home)]
    driver.wait_ready("churn", "v1", 20)
    survivor = psutil.Process(driver.pids()[0])
    import shutil

    shutil.rmtree(driver.dir)
    survivor.wait(timeout=10)
    assert find_servers(home=estate_home) == []


def test_status_of_unknown_model_is_absent(driver):
    assert driver.status("nope").state == "absent"
    assert driver.endpoints("nope") == []
    assert driver.rollback("nope") is None
    driver.remove("nope")  # no-op
    assert driver.served() == {}
    assert not driver.state_file.exists()  # nothing was written for a model that never ran
