"""CeleryExecutor end to end on the REAL PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379).

Starts Airflow's api-server (Airflow 3 workers run tasks through its execution API), scheduler,
dag-processor and a Celery worker as subprocesses, with a throw-away AIRFLOW_HOME, a fresh
PostgreSQL database and a free Redis DB index. A small DAG (a plain task, a mapped task over
three inputs, a reducer) runs through `airflow dags trigger`, then a backfill over two daily
intervals, and every run must succeed. Whatever happens, the whole process trees are stopped,
the database dropped and the Redis index flushed: nothing is left running.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
RUN_TIMEOUT_S = 180
AIRFLOW = [sys.executable, "-m", "airflow"]

DAG_ID = "celery_smoke"
DAG_FILE = f'''
from datetime import datetime

from airflow.sdk import dag, task


@dag(dag_id="{DAG_ID}", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False,
     tags=["test"], default_args={{"owner": "tests", "retries": 0}})
def celery_smoke():
    @task
    def numbers() -> list[int]:
        return [1, 2, 3]

    @task
    def square(n: int) -> int:
        return n * n

    @task
    def total(values) -> int:
        result = sum(values)
        assert result == 14, result
        return result

    total(square.expand(n=numbers()))


celery_smoke()
'''


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres_db() -> Iterator[str]:
    """A fresh database for this run, dropped afterwards (connections terminated first)."""
    import psycopg2

    if not _reachable(PG["host"], PG["port"]):
        pytest.fail("PostgreSQL is not answering on 127.0.0.1:5432 (start it: see .ci/run)")
    name = f"mc_celery_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", **PG)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture
def redis_db() -> Iterator[int]:
    """A Redis DB index nobody uses (empty), claimed with a key so parallel runs pick different ones."""
    import redis

    if not _reachable(REDIS_HOST, REDIS_PORT):
        pytest.fail("Redis is not answering on 127.0.0.1:6379 (start it: see .ci/run)")
    claim = f"multicloud-test-claim-{uuid.uuid4().hex}"
    for index in range(15, 0, -1):
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=index)
        if client.dbsize() == 0 and client.set("multicloud:celery-test:claim", claim, nx=True, ex=900):
            try:
                yield index
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    pytest.fail("no empty Redis DB index in 1..15")


class Processes:
    """Airflow components as subprocesses; stop() ends every process tree they started."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.started: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.started[name] = subprocess.Popen(
            [*AIRFLOW, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def check_alive(self) -> None:
        for name, process in self.started.items():
            if process.poll() is not None:
                raise AssertionError(f"airflow {name} exited with {process.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> list[int]:
        """SIGTERM every tree, wait, then SIGKILL what is left; returns pids still alive (should be none)."""
        import psutil

        tree: list[psutil.Process] = []
        for process in self.started.values():
            with suppress(psutil.NoSuchProcess):
                parent = psutil.Process(process.pid)
                tree += [parent, *parent.children(recursive=True)]
        for proc in tree:
            with suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(tree, timeout=20)
        for proc in alive:
            with suppress(psutil.NoSuchProcess):
                proc.kill()
        _, alive = psutil.wait_procs(alive, timeout=10)
        for process in self.started.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        return [p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _airflow(env: dict[str, str], *args: str, timeout: int = 180) -> str:
    result = subprocess.run([*AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _wait_for(predicate, timeout: float, what: str, procs: Processes, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    logs = "\n".join(f"--- {name}\n{procs.tail(name)}" for name in procs.started)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")


def _query(database: str, sql: str, *args) -> list[tuple]:
    """Read Airflow's metadata DB directly: cheaper than an `airflow` CLI process per poll."""
    import psycopg2

    with psycopg2.connect(dbname=database, **PG) as conn, conn.cursor() as cur:
        try:
            cur.execute(sql, args)
        except psycopg2.errors.UndefinedTable:
            return []
        rows = cur.fetchall()
    conn.close()
    return rows


def _runs(database: str) -> dict[str, tuple[str, str]]:
    rows = _query(database, "SELECT run_id, state, logical_date FROM dag_run WHERE dag_id = %s", DAG_ID)
    return {run_id: (state, logical_date.date().isoformat() if logical_date else "") for run_id, state, logical_date in rows}


def _celery_provider_importable() -> None:
    """apache-airflow-providers-celery 3.26.0 imports ``retry`` from celery.backends.database,
    which celery 5.7.0 removed: every worker then dies at start. Say so instead of a traceback."""
    try:
        import airflow.providers.celery.executors.celery_executor_utils  # noqa: F401
    except ImportError as exc:
        from importlib.metadata import version

        pytest.fail(f"the Celery provider cannot import with celery {version('celery')}: {exc}. "
                    "Pin celery<5.7 (5.6.3 works) in requirements.in and re-lock.")


def test_celery_executor_runs_a_mapped_dag_and_a_backfill(tmp_path, postgres_db, redis_db):
    import requests

    _celery_provider_importable()

    home = tmp_path / "airflow"
    dags = tmp_path / "dags"
    for folder in (home, dags, tmp_path / "plugins", tmp_path / "logs"):
        folder.mkdir()
    (dags / f"{DAG_ID}.py").write_text(textwrap.dedent(DAG_FILE))
    port = _free_port()
    sql = f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{postgres_db}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(tmp_path / "plugins"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": "",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{postgres_db}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp_path / "logs"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    _airflow(env, "db", "migrate", timeout=300)

    procs = Processes(env, tmp_path / "logs")
    try:
        procs.start("api-server", "api-server", "--port", str(port), "--host", "127.0.0.1")
        procs.start("scheduler", "scheduler")
        procs.start("dag-processor", "dag-processor")
        procs.start("celery-worker", "celery", "worker", "--concurrency", "2")

        def healthy() -> bool:
            with suppress(requests.RequestException):
                return requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3).ok
            return False

        _wait_for(healthy, 120, "the api-server's health endpoint", procs)
        _wait_for(lambda: _query(postgres_db, "SELECT 1 FROM serialized_dag WHERE dag_id = %s", DAG_ID), 120,
                  "the dag-processor to serialize the DAG", procs)

        _airflow(env, "dags", "trigger", DAG_ID, "--run-id", "manual_celery")

        def succeeded(wanted) -> dict | None:
            runs = {run_id: run for run_id, run in _runs(postgres_db).items() if wanted(run_id)}
            failed = {run_id: run for run_id, run in runs.items() if run[0] == "failed"}
            if failed:
                raise AssertionError(f"run(s) failed: {failed}\n{procs.tail('celery-worker')}\n{procs.tail('scheduler')}")
            return runs if runs and all(state == "success" for state, _ in runs.values()) else None

        _wait_for(lambda: succeeded(lambda run_id: run_id == "manual_celery"), RUN_TIMEOUT_S,
                  "the triggered run to succeed", procs)
        tasks = _query(postgres_db, "SELECT task_id, map_index, state FROM task_instance WHERE run_id = %s",
                       "manual_celery")
        assert sorted(tasks) == [("numbers", -1, "success"), ("square", 0, "success"), ("square", 1, "success"),
                                 ("square", 2, "success"), ("total", -1, "success")]
        # The tasks really went through Celery: the result backend gets one SUCCESS per task instance
        # (the last one may land a moment after the run is marked successful).
        _wait_for(lambda: _query(postgres_db, "SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'")[0][0]
                  >= len(tasks), 60, "Celery's result backend to record every task", procs, interval=1)

        _airflow(env, "backfill", "create", "--dag-id", DAG_ID, "--from-date", "2026-01-01",
                 "--to-date", "2026-01-02", "--reprocess-behavior", "none")
        runs = _wait_for(
            lambda: (found := succeeded(lambda run_id: run_id.startswith("backfill__"))) and len(found) == 2 and found,
            RUN_TIMEOUT_S, "both backfill runs to succeed", procs)
        assert sorted(date for _, date in runs.values()) == ["2026-01-01", "2026-01-02"]
    finally:
        leftovers = procs.stop()
    assert not leftovers, f"processes still running after stop: {leftovers}"
