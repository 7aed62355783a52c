"""Shared fixtures. Airflow settings are fixed here before anything imports airflow.

Every test session gets its own AIRFLOW_HOME (SQLite) so sessions never share a database, and
no test needs credentials or network beyond loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Stops (and reports) model servers a test or the session left running.
pytest_plugins = ["tests.model_servers"]

ROOT = Path(__file__).resolve().parents[1]
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="mc-airflow-"))

os.environ.update({
    "AIRFLOW_HOME": str(_SESSION_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    "AIRFLOW__OPENLINEAGE__DISABLED": "True",
    "MULTICLOUD_ESTATE_HOME": str(_SESSION_HOME / "estate"),
    "HYPOTHESIS_STORAGE_DIRECTORY": str(_SESSION_HOME / "hypothesis"),
})
for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "OCI_CONFIG_FILE"):
    os.environ.pop(variable, None)
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))


# Hypothesis profiles: "default" is what `make test` runs; HYPOTHESIS_PROFILE=thorough runs every
# property test that scales with the profile (see `property_examples`) ten times longer.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("thorough", max_examples=1000)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def property_examples(in_make_test: int) -> int:
    """Examples for a heavy property test: ``in_make_test`` under the default profile (100 examples),
    scaled with the loaded profile's ``max_examples`` (the ``thorough`` profile: ten times as many)."""
    return max(in_make_test, in_make_test * _hypothesis_settings().max_examples // 100)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db_template() -> Path:
    """A pristine migrated SQLite metadata DB (cached per Airflow version; never written by tests).

    What a real-scheduler deployment (tests/harness/airflow.py) must start from: the session's
    ``airflow_db`` holds the DAGs, runs and DAG versions the in-process ``dag.test()`` tests left,
    parsed without the deployment's settings (a start date without catchup, DAGs unpaused); a
    scheduler started on it creates only the latest interval instead of catching up."""
    import airflow

    template = ROOT / ".airflow" / f"test-template-{airflow.__version__}.db"
    if not template.exists():
        template.parent.mkdir(parents=True, exist_ok=True)
        home = template.parent / f"template-home-{os.getpid()}"
        env = {**os.environ, "AIRFLOW_HOME": str(home)}
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                       capture_output=True)
        # Copy then rename: a concurrent session never copies a half-written template.
        partial = template.with_suffix(f".{os.getpid()}.tmp")
        shutil.copy(home / "airflow.db", partial)
        os.replace(partial, template)
        shutil.rmtree(home, ignore_errors=True)
    return template


@pytest.fixture(scope="session")
def airflow_db(airflow_db_template) -> Path:
    """The migrated SQLite metadata DB of this session's in-process tests (a copy of the template)."""
    target = _SESSION_HOME / "airflow.db"
    if not target.exists():
        shutil.copy(airflow_db_template, target)
    return target


@pytest.fixture
def estate_home(tmp_path, monkeypatch) -> Path:
    """A fresh estate home (storage, state, reports) for one test."""
    home = tmp_path / "estate"
    home.mkdir()
    monkeypatch.setenv("MULTICLOUD_ESTATE_HOME", str(home))
    return home


@pytest.fixture
def make_live_estate(tmp_path, estate_home, monkeypatch):
    """``make_live_estate(timeout_of)``: the local estate as a live one (the configured estate, with no
    demo source producer: nothing invents source data), each dataset's ``arrival_timeout_s`` being
    ``timeout_of(dataset_id)``."""
    import yaml

    from multicloud.estate import load_estate

    def make(timeout_of):
        raw = yaml.safe_load((ROOT / "include" / "estate" / "local.yaml").read_text())
        for dataset in raw["datasets"]:
            dataset["arrival_timeout_s"] = timeout_of(dataset["id"])
        path = tmp_path / "live-estate.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        monkeypatch.setenv("MULTICLOUD_ESTATE", str(path))
        monkeypatch.setenv("MULTICLOUD_LOCAL_SOURCES", "off")
        return load_estate(path, home=estate_home)

    return make


# ---- OCI: a real API key, a signature-checking emulator, and an `oci` connection to it ----------
@pytest.fixture(scope="session")
def oci_api_key(tmp_path_factory) -> dict[str, str]:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()).decode()
    public_der = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.MD5())
    digest.update(public_der)
    fingerprint = ":".join(f"{b:02x}" for b in digest.finalize())
    key_file = tmp_path_factory.mktemp("oci") / "key.pem"
    key_file.write_text(private_pem)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return {
        "private_pem": private_pem, "public_pem": public_pem, "fingerprint": fingerprint,
        "key_file": str(key_file), "tenancy": "ocid1.tenancy.oc1..test", "user": "ocid1.user.oc1..test",
    }


@pytest.fixture
def oci_emulator(oci_api_key):
    from tests.emulators.oci import OCIEmulator

    emulator = OCIEmulator(oci_api_key["public_pem"].encode()).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def oci_conn(oci_emulator, oci_api_key, monkeypatch) -> str:
    """Airflow connection ``oci_test`` (api_key auth) whose clients all reach the emulator."""
    from multicloud.hooks.oci import CLIENT_KEYS

    extra = {
        "auth_type": "api_key", "region": "eu-frankfurt-1", "tenancy": oci_api_key["tenancy"],
        "fingerprint": oci_api_key["fingerprint"], "key_content": oci_api_key["private_pem"],
        "service_endpoints": {key: oci_emulator.url for key in CLIENT_KEYS.values()},
    }
    conn = {"conn_type": "oci", "login": oci_api_key["user"], "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_OCI_TEST", json.dumps(conn))
    return "oci_test"


# ---- AWS: moto in server mode over real HTTP, and `aws` connections to it -----------------------
class MotoServer:
    """A running moto server; ``connection`` registers an amazon-provider connection to it."""

    def __init__(self, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.url = url
        self._monkeypatch = monkeypatch

    def connection(self, conn_id: str, region: str = "us-east-1") -> str:
        conn = {"conn_type": "aws", "login": "testing", "password": "testing",
                "extra": {"endpoint_url": self.url, "region_name": region}}
        self._monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    def client(self, service: str, region: str = "us-east-1"):
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def moto_server(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield MotoServer(f"http://{host}:{port}", monkeypatch)
    server.stop()


# ---- the real scheduler: one Airflow deployment of dags/ + plugins/ per test session --------------
@pytest.fixture(scope="session")
def airflow_local(airflow_db_template, tmp_path_factory):
    """api-server + scheduler + dag-processor + triggerer on LocalExecutor (SQLite), shared by every
    test that asks for it (see tests/harness/airflow.py for its API).

    Deployment settings (each a documented knob, none a test hook in production code):
    - residency_sync starts 3 hourly intervals back with catchup on
      (``MULTICLOUD_RESIDENCY_SYNC_START_DATE``): once unpaused, the scheduler itself creates 3 runs;
    - the estate is the local estate with fewer replication targets (``MULTICLOUD_ESTATE``, see
      ``tests.harness.airflow.trimmed_local_estate``) and its demo source producer on
      (``MULTICLOUD_LOCAL_SOURCES=demo``): a whole hourly run is ~7 mapped tasks instead of ~15,
      which a loaded 2-core machine can afford several times per session;
    - every region's storage exists before Airflow starts, as a live estate's buckets do (the
      governance audit marks a region whose storage root is missing UNVERIFIED and fails closed);
    - the DR pair fails back after 3 healthy checks and 3 s of stability (its estate ``fail_back``
      policy, ``tests.harness.airflow.QUICK_FAIL_BACK``; the estate's 60 s window would be most of
      a rehearsal's time here).
    """
    from datetime import UTC, datetime, timedelta

    from tests.harness.airflow import (
        QUICK_FAIL_BACK,
        AirflowInstance,
        provision_region_storage,
        trimmed_local_estate,
    )

    root = tmp_path_factory.mktemp("airflow-local")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    estate_file = trimmed_local_estate(root / "estate.yaml", fail_back=QUICK_FAIL_BACK)
    instance = AirflowInstance(root, db_template=airflow_db_template, extra_env={
        "MULTICLOUD_RESIDENCY_SYNC_START_DATE": start.isoformat(), "MULTICLOUD_ESTATE": str(estate_file),
        "MULTICLOUD_LOCAL_SOURCES": "demo"})
    instance.scheduled_start = start
    provision_region_storage(estate_file, instance.estate_home)
    with instance:
        instance.wait_for_dags(SIX_DAGS)
        yield instance


SIX_DAGS = ("residency_sync", "model_training", "model_rollout", "cost_rebalance", "dr_rehearsal",
            "estate_governance")
