"""residency_sync at enterprise scale: a generated estate of 1,000 datasets x 20 regions.

What it measures (each against the goal of issue 13):

- **plan time**: ``plan_run`` on the generated estate, in this process (decisions, audit log,
  decision log, metrics, the plan files), goal <= 5 s;
- **task instances per run**: counted through the REST API of a real run, goal <= 2 x regions
  + a constant (7: the DAG's tasks that are not mapped per region);
- **per-(dataset, region) overhead**: a full run through the real scheduler (tests/harness
  AirflowInstance: api-server, scheduler, dag-processor, triggerer, LocalExecutor), every source
  partition one object of about 1 KiB, a share of the datasets record-routed. The run's wall time
  (the run's own start to end) minus the time a plain ``shutil.copyfile`` of the same objects
  takes here (the bytes moved), divided by the (dataset, region) items, goal <= 50 ms;
- **residency intact**: every denial of the plan is in the audit log, no blocking-denied
  (dataset, region) has a target partition, and every routed target holds only the countries of
  the jurisdictions its region may hold.

The generated estate: 20 regions (10 EU, 4 UK, 6 US) over five clouds, file:// storage under the
instance's estate home; data classes as the local estate's (one in audit mode); datasets replicated
to every region, 10% routed row by row by country (EU/UK/US and an unknown country, which goes to
the quarantine), the rest object-level with classes in rotation. No expectation suite: keys, row
count and residency are validated. The run reaches the estate through the ``estate_file`` Param
and the deployment's allowlist (``MULTICLOUD_ESTATE_FILES_ALLOWED``).

    python bench/scale.py [--datasets 1000] [--regions 20] [--plan-only] [--in-process N] [--quick]
                          [--db sqlite|127.0.0.1:5432] [--warm]

``--quick``: 60 datasets x 6 regions (a smoke run). The last line prints the ratios to the goals.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT))

HOUR = datetime(2026, 6, 1, 9, tzinfo=UTC)
JURISDICTIONS = {"EU": ["DE", "FR", "NL", "IE", "ES", "IT"], "UK": ["GB"], "US": ["US"]}
REGION_SHARE = (("EU", 10), ("UK", 4), ("US", 6))  # per 20 regions
CLOUDS = ("oci", "aws", "azure", "gcp", "onprem")
CLASSES = ("public", "eu-personal", "us-personal", "uk-personal", "telemetry")
ROUTED_EVERY = 10  # one dataset in ten is record-routed
GOAL_PLAN_S, GOAL_OVERHEAD_MS, CONSTANT_TASKS = 5.0, 50.0, 7


def region_ids(count: int) -> list[tuple[str, str]]:
    """(region id, jurisdiction) in the 10/4/6 proportion of 20 (at least one of each)."""
    regions: list[tuple[str, str]] = []
    shares = [(j, max(1, round(n * count / 20))) for j, n in REGION_SHARE]
    while sum(n for _, n in shares) > count:
        j, n = max(shares, key=lambda s: s[1])
        shares[shares.index((j, n))] = (j, n - 1)
    for jurisdiction, n in shares:
        regions += [(f"{jurisdiction.lower()}-r{i:02d}", jurisdiction) for i in range(n)]
    return regions


def scale_estate(datasets: int, regions: int) -> dict:
    """The estate as a mapping (YAML-compatible JSON); storage under ``{estate_home}``."""
    region_list = region_ids(regions)
    body: dict = {
        "name": "scale", "description": f"generated: {datasets} datasets x {len(region_list)} regions",
        "jurisdictions": [{"id": j, "name": j, "countries": c} for j, c in JURISDICTIONS.items()],
        "jurisdiction_groups": [{"id": "europe", "members": ["EU", "UK"]}, {"id": "global", "members": ["EU", "UK", "US"]}],
        "regions": [{"id": r, "cloud": CLOUDS[i % len(CLOUDS)], "region": r, "jurisdiction": j,
                     "storage": {"url": f"file://{{estate_home}}/storage/{r}"}} for i, (r, j) in enumerate(region_list)],
        "data_classes": [
            {"id": "public", "allow": {"groups": ["global"]}},
            {"id": "eu-personal", "allow": {"jurisdictions": ["EU"]}},
            {"id": "uk-personal", "allow": {"jurisdictions": ["UK"]}},
            {"id": "us-personal", "allow": {"jurisdictions": ["US"]}},
            {"id": "telemetry", "allow": {"groups": ["europe"]}, "mode": "audit"},
        ],
        "runtime": {"image": "multicloud/model-server:1.4.0", "python": "3.11", "limits": {"cpu": 1, "memory_gb": 1}},
        "metrics": [{"type": "file"}],
        "datasets": [],
    }
    for i in range(datasets):
        source = region_list[i % len(region_list)][0]
        entry = {"id": f"ds-{i:04d}", "source": source, "path": f"ds-{i:04d}", "key_columns": ["id"]}
        if i % ROUTED_EVERY == 0:
            entry["routing"] = {"column": "country", "column_kind": "country",
                                "class_by_jurisdiction": {"EU": "eu-personal", "UK": "uk-personal", "US": "us-personal"}}
        else:
            entry["data_class"] = CLASSES[i % len(CLASSES)]
        body["datasets"].append(entry)
    return body


def write_sources(estate, home: Path, hour: datetime = HOUR) -> tuple[int, list[Path]]:
    """One ~1 KiB parquet object per dataset's source partition of ``hour``; (bytes, files)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from multicloud.sync.layout import partition_key

    countries = [c for cs in JURISDICTIONS.values() for c in cs] + ["XX"]
    total, files = 0, []
    for n, dataset in enumerate(estate.datasets):
        rows = 24
        table = pa.table({"id": [f"{dataset.id}-{k}" for k in range(rows)],
                          "country": [countries[(n + k) % len(countries)] for k in range(rows)],
                          "value": [float(k) for k in range(rows)]})
        folder = home / "storage" / dataset.source / dataset.path / partition_key(hour, dataset.partitioning)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "part-00000.parquet"
        pq.write_table(table, path, compression="none")
        total += path.stat().st_size
        files.append(path)
    return total, files


def plain_copy_seconds(sources: dict[str, Path], items: list[dict], scratch: Path) -> float:
    """What moving the bytes alone costs here: shutil.copyfile of each item's source object."""
    scratch.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for n, item in enumerate(items):
        shutil.copyfile(sources[item["dataset"]], scratch / f"{n}.parquet")
    elapsed = time.perf_counter() - start
    shutil.rmtree(scratch, ignore_errors=True)
    return elapsed


def measure_plan(estate_file: Path, home: Path) -> tuple[float, float, dict]:
    """(wall s, CPU s, the written plan) of ``plan_run``, the estate's first load included."""
    from multicloud.sync.settings import SyncSettings
    from multicloud.sync.tasks import plan_run

    os.environ["MULTICLOUD_ESTATE_HOME"] = str(home)
    os.environ["MULTICLOUD_ESTATE_FILES_ALLOWED"] = str(estate_file)
    os.environ["MULTICLOUD_LOCAL_SOURCES"] = "off"
    settings = SyncSettings(estate_file=str(estate_file), interval_start=HOUR.isoformat().replace("+00:00", "Z"))
    start, cpu = time.perf_counter(), time.process_time()
    written = plan_run(settings, "bench__plan", HOUR, None, None, home)
    return time.perf_counter() - start, time.process_time() - cpu, written


def in_process_items(estate_file: Path, home: Path, written: dict, count: int) -> tuple[int, float, float]:
    """(items, wall s, CPU s) of ``sync_items`` on the plan's first ``count`` items, in this process.

    The region task's own work without the scheduler: a load-robust view of the per-item cost
    (CPU time; threads of this process only)."""
    from multicloud.estate import load_estate
    from multicloud.sync import plan_store
    from multicloud.sync.planner import SyncItem
    from multicloud.sync.tasks import sync_items

    estate = load_estate(estate_file, home=home)
    write_sources(estate, home)
    items = [SyncItem.from_dict(i) for i in plan_store.read_items("bench__plan", written, home)[:count]]
    start, cpu = time.perf_counter(), time.process_time()
    done, failed = sync_items(estate, items, "bench__plan")
    if failed:
        raise RuntimeError(f"{len(failed)} in-process item(s) failed: {list(failed.values())[:3]}")
    return len(done), time.perf_counter() - start, time.process_time() - cpu


def residency_problems(estate, home: Path, run_id: str, hour: datetime = HOUR) -> list[str]:
    """Denials missing from the audit log, copies where denied, rows where their jurisdiction may not be."""
    import pyarrow.parquet as pq

    from multicloud.sync import plan_store
    from multicloud.sync.audit import read_audit
    from multicloud.sync.layout import partition_key
    from multicloud.sync.planner import countries_of

    manifest = plan_store.read_manifest(run_id, home=home)
    items = plan_store.read_items(run_id, manifest, home)
    audited = {(a["partition"], a["dataset"], a["region"], a["class"], a["outcome"]) for a in read_audit(home)}
    problems = []
    partition = partition_key(hour, "hourly")
    for d in manifest["denials"]:
        if (d.get("partition") or manifest["interval_start"], d["dataset"], d["region"], d["data_class"],
                "denied" if d["blocks"] else "would-deny") not in audited:
            problems.append(f"denial not in the audit log: {d['dataset']}→{d['region']} ({d['data_class']})")
        if d["blocks"] and estate.dataset(d["dataset"]).routing is None and \
                (home / "storage" / d["region"] / d["dataset"] / partition).exists():
            problems.append(f"denied copy exists: {d['dataset']}→{d['region']}")
    for item in items:
        if item["kind"] != "route":
            continue
        allowed = set(countries_of(estate, item["jurisdictions"]))
        folder = home / "storage" / item["region"] / item["dataset"] / partition
        held = set(pq.read_table(folder)["country"].to_pylist()) if folder.exists() else set()
        if held - allowed:
            problems.append(f"{item['dataset']}→{item['region']} holds {sorted(held - allowed)}")
    return problems


def wait_for_run(af, run_id: str, timeout: float) -> dict:
    """Poll the run until it ends; an API call that times out on a loaded machine is retried."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            run = af.run("residency_sync", run_id)
        except (requests.RequestException, AssertionError) as exc:
            print(f"(poll retried: {type(exc).__name__})", flush=True)
            time.sleep(5)
            continue
        if run["state"] in ("success", "failed"):
            if run["state"] == "failed":
                print(af.failure_report("residency_sync", run_id)[-6000:])
            return run
        time.sleep(3)
    raise TimeoutError(f"residency_sync run {run_id} did not end within {timeout:.0f} s")


def print_task_timeline(tis: list[dict]) -> None:
    """Each task instance's queue wait and run time (where a run's wall time goes); retries named."""
    def at(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    starts = [at(t.get("start_date")) for t in tis if t.get("start_date")]
    origin = min(starts) if starts else None
    for t in sorted(tis, key=lambda t: t.get("start_date") or ""):
        start, end, queued = at(t.get("start_date")), at(t.get("end_date")), at(t.get("queued_when"))
        if not (start and end and origin):
            print(f"  task {t['task_id']}[{t['map_index']}]: {t['state']} (no start/end)")
            continue
        wait = f", queued {(start - queued).total_seconds():.1f} s" if queued else ""
        retried = f", try {t['try_number']}" if (t.get("try_number") or 1) > 1 else ""
        label = t.get("rendered_map_index") or t["map_index"]
        print(f"  task {t['task_id']}[{label}]: {t['state']}, +{(start - origin).total_seconds():.1f} s, "
              f"ran {(end - start).total_seconds():.1f} s{wait}{retried}", flush=True)


@contextmanager
def metadata_db(kind: str) -> Iterator[str | None]:
    """The run's metadata database: None (the harness's SQLite) or a fresh PostgreSQL database on
    ``--pg`` (host:port, user postgres), dropped afterwards.

    At 1,000 x 20 SQLite cannot keep up: each region task's success writes ~550 Asset events in one
    transaction, and the scheduler died on ``database is locked`` (measured: 15 of 20 region tasks)."""
    if kind == "sqlite":
        yield None
        return
    import psycopg2

    host, _, port = kind.partition(":")
    name = f"mc_scale_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", host=host, port=int(port or 5432), user="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@{host}:{port or 5432}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def scheduler_run(estate_file: Path, home_root: Path, timeout: float, db: str = "sqlite", warm: bool = False,
                  deployment: dict[str, int] | None = None) -> dict:
    with metadata_db(db) as sql_alchemy_conn:
        return _scheduler_run(estate_file, home_root, timeout, sql_alchemy_conn, warm, deployment or {})


def _scheduler_run(estate_file: Path, home_root: Path, timeout: float, sql_alchemy_conn: str | None,
                   warm: bool, deployment: dict[str, int]) -> dict:
    from multicloud.estate import load_estate
    from tests.harness.airflow import AirflowInstance

    template = ROOT / ".airflow" / "test-template-3.3.2.db"
    with AirflowInstance(home_root, db_template=template if template.exists() else None,
                         sql_alchemy_conn=sql_alchemy_conn, parallelism=deployment.get("parallelism", 4), extra_env={
            "AIRFLOW__API__WORKERS": str(deployment.get("api_workers", 1)),
            # a task's first token is minted when it is queued (docker-compose.yaml sets the same)
            "AIRFLOW__EXECUTION_API__JWT_EXPIRATION_TIME": str(deployment.get("task_token_ttl_s", 1800)),
            "MULTICLOUD_ESTATE_FILES_ALLOWED": str(estate_file), "MULTICLOUD_LOCAL_SOURCES": "off",
            # trigger() unpauses the DAG: no scheduled run of the configured estate may compete with ours
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"}) as af:
        estate = load_estate(estate_file, home=af.estate_home)
        af.wait_for_dags(["residency_sync"])
        cold = None
        if warm:  # the estate's first hour creates its assets (one AssetModel per (dataset, region))
            cold = _one_run(af, estate, estate_file, home_root, timeout, HOUR)
            _print_run("first hour (creates the assets, not measured)", cold)
        result = _one_run(af, estate, estate_file, home_root, timeout, HOUR + timedelta(hours=1) if warm else HOUR)
        result["cold"] = cold
        return result


def _one_run(af, estate, estate_file: Path, home_root: Path, timeout: float, hour: datetime) -> dict:
    from multicloud.sync import plan_store

    total_bytes, files = write_sources(estate, af.estate_home, hour)
    sources = {f.parts[-4]: f for f in files}
    run_id = af.trigger("residency_sync", conf={
        "estate_file": str(estate_file), "interval_start": hour.isoformat().replace("+00:00", "Z")})
    run = wait_for_run(af, run_id, timeout)
    tis = af.task_instances("residency_sync", run_id)
    manifest = plan_store.read_manifest(run_id, home=af.estate_home)
    items = plan_store.read_items(run_id, manifest, af.estate_home)
    wall = (datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["start_date"])).total_seconds()
    bytes_s = plain_copy_seconds(sources, items, home_root / "plain-copy")
    failed = [t for t in tis if t["state"] not in ("success", "skipped")]
    print_task_timeline(tis)
    return {"run_id": run_id, "wall_s": wall, "bytes_s": bytes_s, "items": len(items),
            "task_instances": len(tis), "failed_tasks": failed, "source_bytes": total_bytes,
            "denials": len(manifest["denials"]),
            "residency_problems": residency_problems(estate, af.estate_home, run_id, hour)}


def _overhead_ms(result: dict) -> float:
    return max(0.0, result["wall_s"] - result["bytes_s"]) / max(1, result["items"]) * 1000


def _print_run(label: str, result: dict) -> None:
    print(f"{label}: run {result['run_id']}: {result['items']:,} (dataset, region) items "
          f"({result['source_bytes']:,} source bytes), {result['task_instances']} task instances, "
          f"wall {result['wall_s']:.1f} s, plain copy of the same objects {result['bytes_s']:.2f} s, "
          f"overhead {_overhead_ms(result):.1f} ms per item", flush=True)
    for ti in result["failed_tasks"]:
        print(f"FAILED task: {ti['task_id']}[{ti['map_index']}] {ti['state']}")
    for problem in result["residency_problems"][:20]:
        print(f"RESIDENCY: {problem}")
    print(f"residency: {result['denials']:,} denials, all audited and none copied: "
          f"{'yes' if not result['residency_problems'] else 'NO'}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--regions", type=int, default=20)
    parser.add_argument("--plan-only", action="store_true", help="measure the plan only (no scheduler run)")
    parser.add_argument("--quick", action="store_true", help="60 datasets x 6 regions")
    parser.add_argument("--in-process", type=int, default=0, metavar="N",
                        help="also move the plan's first N items in this process (CPU per item)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds the scheduler run may take")
    parser.add_argument("--warm", action="store_true",
                        help="run a first hour (creates the assets), then measure the next hour")
    parser.add_argument("--parallelism", type=int, default=8,
                        help="the executor's task slots (docker-compose.yaml's default: 8)")
    parser.add_argument("--api-workers", type=int, default=2,
                        help="api-server worker processes (docker-compose.yaml's default: 2)")
    parser.add_argument("--db", default="sqlite", metavar="sqlite|HOST:PORT",
                        help="metadata database: the harness's SQLite, or a PostgreSQL server (a fresh database)")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.regions = 60, 6

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        estate_file = root / "scale-estate.yaml"
        estate_file.write_text(json.dumps(scale_estate(args.datasets, args.regions)))  # JSON is YAML
        plan_home = root / "plan-home"
        plan_wall, plan_s, written = measure_plan(estate_file, plan_home)
        items = sum(ref["items"] for ref in written["shards"])
        regions = len(region_ids(args.regions))
        print(f"estate: {args.datasets} datasets x {regions} regions ({estate_file.stat().st_size:,} bytes); "
              f"plan: {items:,} items in {len(written['shards'])} region shards, {len(written['denials']):,} denials, "
              f"{plan_s:.2f} s CPU ({plan_wall:.2f} s wall; the ratio uses CPU, steady under load)")
        if args.in_process:
            n, wall, cpu = in_process_items(estate_file, plan_home, written, args.in_process)
            print(f"in process: {n} items in {wall:.1f} s wall, {cpu:.1f} s CPU: {cpu / n * 1000:.1f} ms CPU per item")
        if args.plan_only:
            print(f"scale ratios: plan {plan_s / GOAL_PLAN_S:.2f}x of {GOAL_PLAN_S:.0f} s")
            return 0
        result = scheduler_run(estate_file, root / "airflow", args.timeout, args.db, args.warm,
                               {"parallelism": args.parallelism, "api_workers": args.api_workers})
    ti_goal = 2 * regions + CONSTANT_TASKS
    _print_run("measured hour" + (" (the assets exist: the hourly steady state)" if args.warm else ""), result)
    runs = [r for r in (result.get("cold"), result) if r]
    ok = all(not r["failed_tasks"] and not r["residency_problems"] for r in runs)
    cold = f" (first hour: {_overhead_ms(result['cold']):.1f} ms)" if result.get("cold") else ""
    print(f"scale ratios: plan {plan_s / GOAL_PLAN_S:.2f}x of {GOAL_PLAN_S:.0f} s, "
          f"task instances {result['task_instances'] / ti_goal:.2f}x of {ti_goal} (2 x {regions} + {CONSTANT_TASKS}), "
          f"overhead {_overhead_ms(result) / GOAL_OVERHEAD_MS:.2f}x of {GOAL_OVERHEAD_MS:.0f} ms per (dataset, region)"
          f"{cold}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
