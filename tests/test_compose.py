"""docker-compose.yaml: valid against the Compose Specification schema, and wired for our DAGs.

No Docker engine runs here, so the file is checked statically: against the Compose
Specification's JSON schema (tests/schemas/compose-spec.json, kept verbatim), and for what the
DAGs need from every Airflow service (dags/plugins/include mounts, one shared environment).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yaml"
SCHEMA = ROOT / "tests" / "schemas" / "compose-spec.json"
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker"}
# "source:target[:mode]"; the source may hold ${VAR:-default}, so split on the last path-like colon.
MOUNT_RE = re.compile(r"^(?P<source>.+):(?P<target>/[^:]*)(?::(?P<mode>ro|rw|z|Z))?$")
REQUIRED_MOUNTS = {"/opt/airflow/dags": "dags", "/opt/airflow/plugins": "plugins", "/opt/airflow/include": "include"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator_cls.check_schema(schema)
    return validator_cls(schema)


def test_compose_file_matches_the_compose_specification(compose):
    errors = sorted(_validator().iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_check_can_fail(compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["airflow-worker"]["depends_on"]["redis"]["condition"] = "whenever"
    broken["services"]["postgres"]["restartt"] = "always"
    assert len(list(_validator().iter_errors(broken))) >= 2


def test_official_celery_layout_on_our_image(compose):
    services = compose["services"]
    assert AIRFLOW_SERVICES | {"postgres", "redis"} <= set(services)
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert service["build"]["dockerfile"] == "Dockerfile", name
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES - {"airflow-init"}}
    assert commands == {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                        "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                        "airflow-worker": "celery worker"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM apache/airflow:3.3.2-python3.11" in dockerfile
    assert "requirements.txt" in dockerfile
    assert "pip install --no-cache-dir --no-deps -e /opt/airflow" in dockerfile


def test_every_airflow_service_mounts_what_the_dags_need(compose):
    for name in AIRFLOW_SERVICES:
        mounts = {}
        for volume in compose["services"][name]["volumes"]:
            match = MOUNT_RE.match(volume)
            assert match, f"{name}: cannot read volume {volume!r}"
            mounts[match["target"]] = match["source"]
        for target, folder in REQUIRED_MOUNTS.items():
            assert target in mounts, f"{name} does not mount ./{folder} at {target}"
            assert mounts[target].endswith(f"/{folder}"), f"{name}: {target} comes from {mounts[target]}"
            assert (ROOT / folder).is_dir()


def test_every_airflow_service_shares_the_common_environment_anchor(compose):
    common = compose["x-airflow-common"]["environment"]
    assert common["MULTICLOUD_ESTATE"].endswith("include/estate/local.yaml}")
    assert common["MULTICLOUD_ESTATE_HOME"] == "/opt/airflow/estate"
    assert common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    for name in AIRFLOW_SERVICES:
        env = compose["services"][name]["environment"]
        assert {k: env.get(k) for k in common} == common, f"{name} does not carry the whole common environment"
    # ...and literally through the anchor (a copied block would drift): every Airflow service merges it.
    # PyYAML resolves an alias to the very node its anchor names: identity proves the anchor is used.
    nodes = yaml.compose(COMPOSE.read_text())
    top = {k.value: v for k, v in nodes.value}
    common_node, services = top["x-airflow-common"], top["services"]
    common_env_node = next(v for k, v in common_node.value if k.value == "environment")
    for key, service in services.value:
        if key.value not in AIRFLOW_SERVICES:
            continue
        merged = [v for k, v in service.value if k.value == "<<"]
        assert merged, f"{key.value} does not merge *airflow-common"
        assert merged[0] is common_node, key.value
        env = [v for k, v in service.value if k.value == "environment"]
        if env:  # a service that extends the environment must merge the shared anchor into it
            assert any(k.value == "<<" and v is common_env_node for k, v in env[0].value), key.value


SECRET_NAME = re.compile(r"SECRET|PASSWORD|FERNET|TOKEN|_KEY\b", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")


def _values(node, where=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _values(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _values(value, f"{where}[{i}]")
    else:
        yield where, str(node)


def test_no_secret_has_a_default_every_one_must_come_from_env(compose):
    required = set()
    for where, value in _values(compose):
        for match in INTERPOLATION.finditer(value):
            if SECRET_NAME.search(match["name"]):
                assert match["op"] == ":?", f"{where}: ${{{match['name']}}} must be required (:?), not defaulted"
                required.add(match["name"])
        secret_field = SECRET_NAME.search(where.rsplit(".", 1)[-1])
        if secret_field:  # a secret-named setting must be interpolated, never a literal
            assert INTERPOLATION.search(value), f"{where} is a literal secret"
        assert not re.search(r"://[^/:@]+:[^/$@]+@", value), f"{where}: a password written into a URL"
    assert required >= {"AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY",
                        "POSTGRES_PASSWORD"}


def _readme_env_step() -> str:
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```bash\n(.*?)```", readme, re.S) if "> .env" in b)
    return block.split("docker compose", 1)[0]


def test_the_readme_env_step_generates_every_required_secret(compose, tmp_path):
    import subprocess

    required = {m["name"] for _, v in _values(compose) for m in INTERPOLATION.finditer(v) if m["op"] == ":?"}
    generated = []
    for run in ("a", "b"):
        folder = tmp_path / run
        folder.mkdir()
        subprocess.run(["bash", "-euc", _readme_env_step()], cwd=folder, check=True, timeout=60,
                       capture_output=True)
        env = dict(line.split("=", 1) for line in (folder / ".env").read_text().splitlines() if "=" in line)
        assert required <= set(env), f"the README's .env step misses {sorted(required - set(env))}"
        assert all(len(env[name]) >= 32 for name in required if name != "AIRFLOW_UID"), env
        assert (folder / ".env").stat().st_mode & 0o077 == 0
        generated.append(env)
    assert all(generated[0][n] != generated[1][n] for n in required), "secrets must be random, not shared"
    from cryptography.fernet import Fernet

    Fernet(generated[0]["AIRFLOW__CORE__FERNET_KEY"])  # a usable Fernet key
