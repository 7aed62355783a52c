"""A real Airflow 3 deployment of this project for tests, driven through the public REST API.

What it runs: the project's own ``dags/`` and ``plugins/`` under ``airflow api-server``,
``scheduler``, ``dag-processor`` and ``triggerer`` (plus ``celery worker`` on CeleryExecutor),
each a subprocess in its own process group, with a throw-away AIRFLOW_HOME, estate home and log
folder. The api-server binds 127.0.0.1 on a free port and
``AIRFLOW__CORE__EXECUTION_API_SERVER_URL`` points at that port (otherwise task execution goes to
8080). Users: the simple auth manager with one ``admin`` whose password the harness writes to
the passwords file, so the test logs in exactly like a UI client (``POST /auth/token``).

API (import it from other tests; one instance per test session is the intended use, see the
``airflow_local`` fixture in tests/integration/conftest.py)::

    from tests.harness.airflow import AirflowInstance, NO_LOGICAL_DATE

    with AirflowInstance(tmp_path, db_template=airflow_db, extra_env={...}) as af:  # start() / stop()
        af.wait_for_dags(["residency_sync"])            # serialized by the dag-processor
        af.unpause("residency_sync")                     # DAGs start paused (no surprise scheduled runs)
        run_id = af.trigger("residency_sync", conf={...})                 # logical_date: null
        run_id = af.trigger("residency_sync", logical_date=datetime(...))  # a dated manual run
        run = af.wait_for_run("residency_sync", run_id)  # success, or AssertionError with task logs
        af.runs("residency_sync", run_type="scheduled")  # dag runs as the REST API returns them
        af.task_instances(dag_id, run_id); af.task_log(dag_id, run_id, task_id, try_number, map_index)
        af.trigger_error(dag_id, conf=...)               # (status, body) of a refused trigger
        af.cli("dags", "list")                           # the airflow CLI with the same config
        af.backfill("residency_sync", "--from-date", ...)  # backfill create, retried when SQLite was locked
        af.stop_component("scheduler"); af.start_component("scheduler")   # outages
        af.wait_until_idle(dag_ids)                      # no queued/running run left
        af.wait_for_backfills(dag_id)                    # every backfill marked completed
        af.estate_home, af.base_url, af.env, af.token()

Settings: ``executor`` ("LocalExecutor" or "CeleryExecutor"), ``sql_alchemy_conn`` (default: a
copy of a migrated SQLite template, or ``airflow db migrate`` into the given database),
``celery`` (broker URL and result backend for CeleryExecutor), ``extra_env`` (deployment
settings such as ``MULTICLOUD_RESIDENCY_SYNC_START``, see dagkit.schedule_start).
Every wait polls with a deadline; nothing sleeps a fixed time. ``stop()`` ends every process
tree it started (by pid) and the local model servers its estate home started.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = [sys.executable, "-m", "airflow"]
USER = "admin"
NO_LOGICAL_DATE = object()  # trigger() default: the UI's "logical_date": null
TERMINAL = {"success", "failed"}
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


# The api-server's start: about 7.5 CPU-s on SQLite and 10.5 on PostgreSQL, measured alone (36 s and
# 34 s of wall clock at load average 6-10 on 2 cores); three times that without serving is a fault.
API_START_CPU_S = 30.0
API_START_STARVED_FACTOR = 4  # a starved start may take this many times ``timeout``
API_BLOCKED_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bindable(port: int) -> bool:
    """Whether a listening socket could bind 127.0.0.1:port now (as uvicorn does, SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _tree_cpu(process) -> float:
    """CPU seconds (user + system) of a process and its children so far."""
    import psutil

    total = 0.0
    with suppress(psutil.NoSuchProcess):
        for proc in (process, *process.children(recursive=True)):
            with suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
    return total


class AirflowInstance:
    """One Airflow deployment of dags/ + plugins/ (see the module docstring for the API)."""

    def __init__(self, root: Path, *, executor: str = "LocalExecutor", db_template: Path | None = None,
                 sql_alchemy_conn: str | None = None, celery: dict[str, str] | None = None,
                 extra_env: dict[str, str] | None = None, parallelism: int = 4) -> None:
        self.root = Path(root)
        self.home = self.root / "airflow"
        self.estate_home = self.root / "estate"
        self.logs = self.root / "logs"
        for folder in (self.home, self.estate_home, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.executor = executor
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(16)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({USER: self.password}))
        self._db_template = db_template
        self._sql_alchemy_conn = sql_alchemy_conn
        self.processes: dict[str, subprocess.Popen] = {}
        self._token: str | None = None
        components = [*COMPONENTS, *(["celery-worker"] if executor == "CeleryExecutor" else [])]
        self.components = tuple(components)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MULTICLOUD_"))},
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # paused until a test triggers or unpauses them: no scheduled run competes for the CPU
            # unless a test asks for it (trigger() unpauses; a run of a paused DAG never starts)
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__FERNET_KEY": "",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs / "tasks"),
            # serve-logs of the scheduler's workers and of the triggerer: free ports, not 8793/8794
            # (another deployment on the machine holds those)
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__OPENLINEAGE__DISABLED": "True",
            "MULTICLOUD_ESTATE_HOME": str(self.estate_home),
            "MULTICLOUD_UI_AUDIT_TTL_S": "0",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        if sql_alchemy_conn:
            self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = sql_alchemy_conn
        if celery:
            self.env.update({
                "AIRFLOW__CELERY__BROKER_URL": celery["broker_url"],
                "AIRFLOW__CELERY__RESULT_BACKEND": celery["result_backend"],
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(parallelism),
            })
        self.env.update(extra_env or {})

    # ---- life cycle --------------------------------------------------------------------------
    def __enter__(self) -> AirflowInstance:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = 240) -> AirflowInstance:
        """Migrate (or copy) the database, start every component, return once the api-server is ours and up.

        ``timeout`` bounds the api-server's start in wall-clock seconds *while it gets the CPU*: a
        process that is starved (it has used less CPU than an idle start needs, see
        ``API_START_CPU_S``) is waited for up to ``API_START_STARVED_FACTOR`` times longer, because
        on a loaded 2-core machine a start that needs 10 CPU-seconds can take minutes of wall
        clock; one that spins past that CPU budget, or makes no progress at all, fails with its log.
        """
        try:
            self._prepare_db()
            self._reclaim_ports()  # a migration takes minutes under load: another process may hold our ports now
            for name in self.components:
                self.start_component(name)
            self._wait_for_api_server(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _reclaim_ports(self) -> None:
        """New free ports for whatever was taken since __init__ (the api port, the log servers)."""
        if not _bindable(self.port):
            self._set_api_port(free_port())
        for key in ("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"):
            if self.env.get(key, "").isdigit() and not _bindable(int(self.env[key])):
                self.env[key] = str(free_port())

    def _set_api_port(self, port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.env.update({"AIRFLOW__API__PORT": str(port), "AIRFLOW__API__BASE_URL": self.base_url,
                         "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/"})

    def _wait_for_api_server(self, timeout: float) -> None:
        """Until ``/api/v2/monitor/health`` answers and our password logs in (the server on the port is ours).

        Fails early when the api-server exits (its log in the message, e.g. a port taken), spins on the
        CPU without serving, or is blocked (no CPU used for ``API_BLOCKED_S`` while it should start);
        a starved start is given more wall clock (see ``start``)."""
        import psutil

        process = psutil.Process(self.processes["api-server"].pid)
        started = time.monotonic()
        progress = (started, 0.0)  # (when the CPU time last grew, the CPU time then)
        while True:
            self.check_alive()
            if self._healthy():
                self.token(refresh=True)
                return
            waited, cpu = time.monotonic() - started, _tree_cpu(process)
            if cpu > progress[1] + 0.05:
                progress = (time.monotonic(), cpu)
            starved = cpu < API_START_CPU_S
            problem = None
            if cpu >= API_START_CPU_S and waited > timeout:
                problem = f"it used {cpu:.0f} CPU-s (an idle start needs about {API_START_CPU_S / 3:.0f}) without serving"
            elif waited > timeout and time.monotonic() - progress[0] > API_BLOCKED_S:
                problem = f"it used no CPU for {time.monotonic() - progress[0]:.0f}s (blocked, not starved)"
            elif waited > timeout * (API_START_STARVED_FACTOR if starved else 1):
                problem = f"it got only {cpu:.1f} CPU-s in {waited:.0f}s of wall clock"
            if problem:
                raise AssertionError(f"the api-server on {self.base_url} is not up after {waited:.0f}s: {problem} "
                                     f"(load average {os.getloadavg()[0]:.1f}); its log:\n{self.tail('api-server')}\n"
                                     + "\n".join(f"--- {n}\n{self.tail(n, 10)}" for n in self.processes if n != "api-server"))
            time.sleep(1)

    def _prepare_db(self) -> None:
        if self._sql_alchemy_conn is None and self._db_template is not None:
            _check_pristine(self._db_template)
            shutil.copy(self._db_template, self.home / "airflow.db")
            return
        self.cli("db", "migrate", timeout=420)

    def start_component(self, name: str) -> None:
        args = {"api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port)],
                "celery-worker": ["celery", "worker"]}.get(name, [name])
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen([*AIRFLOW, *args], env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def stop_component(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            _stop_tree(process)

    def stop(self) -> None:
        # All components at once: one after another cost 30 s of teardown per deployment under load.
        _stop_trees([self.processes.pop(name) for name in list(self.processes)])
        with suppress(Exception):
            from multicloud.drivers.local import stop_all_servers

            stop_all_servers(self.estate_home)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"airflow {name} exited with {process.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def cli(self, *args: str, timeout: float = 180) -> str:
        result = subprocess.run([*AIRFLOW, *args], env=self.env, capture_output=True, text=True,
                                timeout=timeout, check=False)
        if result.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def backfill(self, dag_id: str, *args: str, attempts: int = 4) -> str:
        """``airflow backfill create --dag-id DAG_ID ARGS``, retried as a user would when SQLite was locked.

        On SQLite the scheduler holds the single writer lock at times; the command then fails with
        ``database is locked`` after rolling back and removing its partial backfill (Airflow's
        ``_cleanup_partial_backfill``, "so the user can retry"). A cleanup that was itself locked
        out leaves an empty backfill, which the scheduler completes after 2 minutes: wait for it,
        then retry. Any other failure is raised at once."""
        command = ("backfill", "create", "--dag-id", dag_id, *args)
        for attempt in range(1, attempts + 1):
            try:
                return self.cli(*command)
            except AssertionError as error:
                if "database is locked" not in str(error) or attempt == attempts:
                    raise
            self.wait_for_backfills(dag_id)
        raise AssertionError("unreachable")

    # ---- REST API ------------------------------------------------------------------------------
    def _healthy(self) -> bool:
        import requests

        with suppress(requests.RequestException):
            return requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).ok
        return False

    def token(self, refresh: bool = False) -> str:
        """A JWT from ``POST /auth/token`` (the simple auth manager's login), cached."""
        import requests

        if self._token is None or refresh:
            response = requests.post(f"{self.base_url}/auth/token", timeout=30,
                                     json={"username": USER, "password": self.password})
            assert response.status_code in (200, 201), f"login failed: {response.status_code} {response.text}"
            self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any):
        """One REST call: a 401 re-logs in once; a 500 "Database error" or a timed-out GET/PATCH is retried.

        The LocalExecutor tier runs on SQLite, whose single writer lock the scheduler holds at times:
        the api-server then answers 500 and rolls back (nothing was written). A UI user would click
        again; the harness does the same, and says so in the response it finally returns.
        """
        import requests

        extra_headers = kwargs.pop("headers", {})
        refresh = False
        for attempt in range(4):
            headers = {"Authorization": f"Bearer {self.token(refresh=refresh)}", **extra_headers}
            try:
                response = requests.request(method, f"{self.base_url}{path}", headers=headers, timeout=60, **kwargs)
            except (requests.Timeout, requests.ConnectionError):
                # an api-server starved of CPU (or waiting on SQLite's writer lock) answers late; a
                # GET is safe to repeat, and a refused POST created nothing
                if attempt == 3 or method.upper() not in ("GET", "PATCH"):
                    raise
                time.sleep(1 + attempt)
                continue
            if response.status_code == 401 and not refresh:
                refresh = True
                continue
            if response.status_code == 500 and "Database error" in response.text and attempt < 3:
                time.sleep(1 + attempt)
                continue
            return response
        return response

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:2000]}"
        return response.json() if response.content else None

    def dag(self, dag_id: str) -> dict:
        return self.api("GET", f"/api/v2/dags/{dag_id}")

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 240) -> None:
        """Until the dag-processor serialized every DAG (and none has an import error)."""
        wanted = set(dag_ids)

        def ready() -> bool:
            errors = self.api("GET", "/api/v2/importErrors").get("import_errors", [])
            assert not errors, f"DAG import errors: {errors}"
            found = {d["dag_id"] for d in self.api("GET", "/api/v2/dags", params={"limit": 100})["dags"]}
            return wanted <= found

        self._wait(ready, timeout, f"DAGs {sorted(wanted)} to be serialized")

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": True})

    def _trigger_body(self, conf: dict | None, logical_date: Any, run_id: str | None) -> dict:
        body: dict[str, Any] = {"conf": conf or {}}
        body["logical_date"] = None if logical_date is NO_LOGICAL_DATE else _iso(logical_date)
        if run_id:
            body["dag_run_id"] = run_id
        return body

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: Any = NO_LOGICAL_DATE,
                run_id: str | None = None) -> str:
        """``POST /api/v2/dags/{dag_id}/dagRuns`` as the UI's Trigger button; returns the run id.

        Unpauses the DAG first (DAGs start paused here; a run of a paused DAG never starts)."""
        self.unpause(dag_id)
        run = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                       json=self._trigger_body(conf, logical_date, run_id))
        return run["dag_run_id"]

    def trigger_error(self, dag_id: str, conf: dict | None = None,
                      logical_date: Any = NO_LOGICAL_DATE) -> tuple[int, str]:
        """A trigger that must be refused: (HTTP status, response body)."""
        response = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                                json=self._trigger_body(conf, logical_date, None))
        return response.status_code, response.text

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str, run_type: str | None = None) -> list[dict]:
        runs = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns",
                        params={"limit": 100, "order_by": "run_after"})["dag_runs"]
        return [r for r in runs if run_type is None or r["run_type"] == run_type]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                        params={"limit": 1000})["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        body = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                        params={"map_index": map_index, "full_content": "true"},
                        headers={"Accept": "application/json"})
        lines = []
        for entry in body.get("content") or []:
            if isinstance(entry, dict):
                line = f"{entry.get('timestamp', '')} {entry.get('level', '')} {entry.get('event', '')}"
                if entry.get("error_detail"):
                    line += f"\n{json.dumps(entry['error_detail'])[:3000]}"
                lines.append(line)
            else:
                lines.append(str(entry))
        return "\n".join(lines)

    def failure_report(self, dag_id: str, run_id: str, max_chars: int = 12000) -> str:
        """Every failed task's logs (every try), through the REST API, for an assertion message."""
        parts = []
        for ti in self.task_instances(dag_id, run_id):
            if ti["state"] not in ("failed", "upstream_failed", "up_for_retry"):
                continue
            parts.append(f"--- {ti['task_id']}[{ti['map_index']}] {ti['state']} (try {ti['try_number']})")
            if ti["state"] == "upstream_failed":
                continue
            for try_number in range(1, (ti["try_number"] or 1) + 1):
                with suppress(AssertionError):
                    parts.append(self.task_log(dag_id, run_id, ti["task_id"], try_number, ti["map_index"])[-4000:])
        return "\n".join(parts)[-max_chars:]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300, state: str = "success") -> dict:
        """Until the run ends; AssertionError (with the failed tasks' logs) unless it ends in ``state``."""
        run = self._wait(lambda: (r := self.run(dag_id, run_id))["state"] in TERMINAL and r, timeout,
                         f"{dag_id} run {run_id} to finish",
                         on_timeout=lambda: self._states(dag_id, run_id))
        if run["state"] != state:
            raise AssertionError(f"{dag_id} run {run_id} ended {run['state']} (wanted {state}):\n"
                                 f"{self.failure_report(dag_id, run_id)}")
        return run

    def wait_for_runs(self, dag_id: str, wanted: Callable[[list[dict]], list[dict] | None], timeout: float,
                      what: str) -> list[dict]:
        """Until ``wanted(runs)`` returns runs (it may raise to fail early)."""
        return self._wait(lambda: wanted(self.runs(dag_id)), timeout, what)

    def wait_for_backfills(self, dag_id: str, timeout: float = 300) -> None:
        """Until no backfill of the DAG is still open (its runs may succeed before it is marked completed,
        and a second ``backfill create`` is refused while one is open)."""
        self._wait(lambda: all(b.get("completed_at") for b in
                               self.api("GET", "/api/v2/backfills", params={"dag_id": dag_id})["backfills"]),
                   timeout, f"the backfills of {dag_id} to complete")

    def wait_until_idle(self, dag_ids: Iterable[str], timeout: float = 300) -> None:
        """Until no run of these DAGs is queued or running."""
        ids = list(dag_ids)
        self._wait(lambda: not any(r["state"] in ("queued", "running") for d in ids for r in self.runs(d)),
                   timeout, f"every run of {ids} to finish")

    def _states(self, dag_id: str, run_id: str) -> str:
        with suppress(AssertionError):
            tis = self.task_instances(dag_id, run_id)
            return ", ".join(f"{t['task_id']}[{t['map_index']}]={t['state']}" for t in tis)
        return ""

    def _wait(self, predicate: Callable[[], Any], timeout: float, what: str, interval: float = 1.0,
              on_timeout: Callable[[], str] | None = None) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                detail = on_timeout() if on_timeout else ""
                logs = "\n".join(f"--- {name}\n{self.tail(name, 15)}" for name in self.processes)
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail}\n{logs}")
            time.sleep(interval)


# Replication targets of the trimmed local estate: every DAG's story still holds (both training
# regions, the DR pair's secondary, a residency denial, an audit-mode copy).
TRIMMED_TARGETS = {"customer-events": ["oci-fra", "gcp-euw4", "aws-use1"], "eu-claims": ["oci-ash"],
                   "telemetry": ["oci-lon"], "product-catalog": ["oci-fra"]}


# A test deployment's fail-back policy: the primary must pass 3 health checks in a row and stay
# healthy 3 s before dr_failover fails back (the estate's default, 5 checks and 60 s, is what a
# production pair wants; in a rehearsal under the scheduler it was 66 s of its 98 s, all waiting).
QUICK_FAIL_BACK = {"healthy_checks": 3, "stabilisation_s": 3}


def trimmed_local_estate(target: Path, fail_back: dict | None = None) -> Path:
    """include/estate/local.yaml with fewer replication targets (TRIMMED_TARGETS), written to ``target``.

    ``fail_back``: the DR pairs' fail-back policy (``DrPair.fail_back``, e.g. QUICK_FAIL_BACK),
    as an estate owner sets it; None keeps the estate's."""
    import yaml

    raw = yaml.safe_load((ROOT / "include" / "estate" / "local.yaml").read_text())
    for dataset in raw["datasets"]:
        if dataset["id"] in TRIMMED_TARGETS:
            dataset["replicate_to"] = TRIMMED_TARGETS[dataset["id"]]
    if fail_back:
        for pair in raw.get("dr_pairs") or []:
            pair["fail_back"] = {**(pair.get("fail_back") or {}), **fail_back}
    target.write_text(yaml.safe_dump(raw, sort_keys=False))
    return target


def provision_region_storage(estate_file: Path, home: Path) -> None:
    """Create each region's (empty) ``file://`` storage root, as a live estate's buckets exist
    before Airflow runs (the governance audit fails closed on a missing root: UNVERIFIED)."""
    from multicloud.estate import load_estate

    for region in load_estate(estate_file, home=home).regions:
        if region.storage.url.startswith("file://"):
            Path(region.storage.url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


def _check_pristine(db_file: Path) -> None:
    """A deployment starts from a migrated database that holds no DAG yet.

    A database that in-process ``dag.test()`` runs wrote to carries their DAG rows (unpaused, next
    run computed without this deployment's settings) and serialized versions: the scheduler then
    acts on those before the dag-processor re-parses, e.g. creates only the latest interval of a
    DAG whose deployment turns catchup on."""
    import sqlite3

    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True) as conn:
        dags = [row[0] for row in conn.execute("SELECT dag_id FROM dag LIMIT 5")]
    if dags:
        raise AssertionError(f"{db_file} is not a pristine migrated database (it holds DAGs {dags}); "
                             "pass the airflow_db_template fixture, not airflow_db")


def _iso(moment: datetime | str) -> str:
    return moment if isinstance(moment, str) else moment.isoformat()


def _stop_tree(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the process and its children, wait, SIGKILL what is left (pids of this tree only)."""
    _stop_trees([process], timeout)


def _stop_trees(processes: list[subprocess.Popen], timeout: float = 20) -> None:
    """SIGTERM every process and its children at once, wait, SIGKILL what is left (these trees only)."""
    import psutil

    tree: list[psutil.Process] = []
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            parent = psutil.Process(process.pid)
            tree += [parent, *parent.children(recursive=True)]
    for proc in tree:
        with suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    for proc in alive:
        with suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=10)
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
