"""Parse cost of dags/ against the same number of trivial DAG files, measured in the same run.

What the dag-processor pays per parse: Airflow (``airflow.sdk`` and ``DagBag``) is imported once
in this process, then each measurement forks a child that parses one folder with ``DagBag`` from
that same warm state (so every repetition pays the DAG files' own imports again, as a fresh
dag-processor child does). Ours and trivial alternate within each repetition so machine load
hits both alike. CPU time of the child is the measure (steadier than wall time on a shared
machine); wall time is printed too. The last line is the ratio of the medians.

A second, informative peer ("shaped"): one file per DAG of ours with the same number of tasks and
Params and the same kind of schedule (none or some), every task a trivial ``@task`` and every Param
a plain integer. What Airflow charges per task and per Param (it deep-copies the DAG's Params for
every task and validates every Param's default) shows in shaped/trivial; what our files cost beyond
their shape (imports, the parse-time estate read, operator types) shows in ours/shaped.

Garbage collection: the parent freezes its objects before forking (``gc.freeze()``), as the
dag-processor's manager does, so a child's full collection does not walk the parent's heap.

Bytecode: a deployment's dag-processor imports from ``.pyc`` caches written on first import. With
``PYTHONDONTWRITEBYTECODE`` set (as in some shells) nothing is cached and every repetition would
recompile every imported module (seconds of ``compile`` for either side), so the bench writes the
caches (``sys.dont_write_bytecode = False``) and discards a first, warming repetition of each side.

    python bench/parse.py [--reps 7] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRIVIAL_DAG = '''
from datetime import datetime

from airflow.sdk import dag, task


@dag(dag_id="trivial_{index}", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False,
     tags=["bench"], default_args={{"owner": "bench", "retries": 1}}, doc_md="A trivial DAG.")
def trivial():
    @task
    def extract() -> int:
        return 1

    @task
    def load(value: int) -> None:
        print(value)

    load(extract())


trivial()
'''
SHAPED_DAG = '''
from datetime import datetime

from airflow.sdk import Param, dag, task


@dag(dag_id="shaped_{index}", schedule={schedule!r}, start_date=datetime(2026, 1, 1), catchup=False,
     tags=["bench"], default_args={{"owner": "bench", "retries": 1}}, doc_md="A DAG of our shape.",
     params={{{params}}})
def shaped():
    @task
    def step(value: int = 0) -> int:
        return value + 1

    value = step.override(task_id="step_0")()
    for index in range(1, {tasks}):
        value = step.override(task_id=f"step_{{index}}")(value)


shaped()
'''


def shaped_dag(index: int, shape: dict) -> str:
    """A DAG file of ``shape`` (tasks, params, scheduled) with trivial bodies."""
    params = ", ".join(f'"p{i}": Param({i}, type="integer", minimum=0, description="a Param")'
                       for i in range(shape["params"]))
    return SHAPED_DAG.format(index=index, schedule="@daily" if shape["scheduled"] else None, params=params,
                             tasks=max(1, shape["tasks"]))


def _measure(folder: Path) -> dict:
    """Fork; the child parses ``folder`` and reports CPU/wall seconds, DAG count and import errors."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:  # the child must never return into the parent's loop, whatever happens
            os.close(read_end)
            from airflow.dag_processing.dagbag import DagBag

            cpu0, wall0 = time.process_time(), time.perf_counter()
            bag = DagBag(dag_folder=str(folder))
            result = {"cpu": time.process_time() - cpu0, "wall": time.perf_counter() - wall0,
                      "dags": len(bag.dags), "errors": sorted(bag.import_errors),
                      "shapes": [{"tasks": len(d.tasks), "params": len(d.params or {}),
                                  "scheduled": d.timetable.__class__.__name__ != "NullTimetable"}
                                 for _, d in sorted(bag.dags.items())]}
            with os.fdopen(write_end, "w") as out:
                json.dump(result, out)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as inp:
        payload = inp.read()
    os.waitpid(pid, 0)
    if not payload:
        raise RuntimeError(f"the parse of {folder} crashed before reporting")
    return json.loads(payload)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="repetitions (median taken)")
    parser.add_argument("--quick", action="store_true", help="2 repetitions: a smoke run")
    parser.add_argument("--dags", type=Path, default=ROOT / "dags", help="folder of DAG files to measure")
    args = parser.parse_args(argv)
    reps = 2 if args.quick else max(1, args.reps)

    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    plugins = str(ROOT / "plugins")
    if plugins not in sys.path:  # as Airflow puts the plugins folder on sys.path
        sys.path.insert(0, plugins)
    files = sorted(p for p in args.dags.glob("*.py") if not p.name.startswith("_"))
    if not files:
        print(f"no DAG files in {args.dags}")
        return 1

    import airflow.sdk  # noqa: F401  (warm, shared by both sides)
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401

    # As the dag-processor's manager does before it forks its parsing children (``gc.freeze()`` in
    # airflow/dag_processing/manager.py): the warm imports move to the permanent generation, so a
    # child's garbage collections do not walk the parent's ~200,000 objects. Without it, the first
    # full collection in a child (about 150 ms here) lands on whichever side allocates enough to
    # trigger it, a cost the dag-processor does not have.
    gc.freeze()

    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        trivial, shaped = Path(tmp) / "trivial", Path(tmp) / "shaped"
        trivial.mkdir()
        shaped.mkdir()
        for index in range(len(files)):
            (trivial / f"trivial_{index}.py").write_text(TRIVIAL_DAG.format(index=index))
        runs: dict[str, list[dict]] = {"ours": [], "shaped": [], "trivial": []}
        sys.dont_write_bytecode = False  # as a deployment: imports write their .pyc once
        shapes = _measure(args.dags)["shapes"]  # the warming repetition (writes the caches), discarded
        for index, shape in enumerate(shapes):
            (shaped / f"shaped_{index}.py").write_text(shaped_dag(index, shape))
        for folder in (trivial, shaped):
            _measure(folder)
        for rep in range(reps):
            order = [("ours", args.dags), ("trivial", trivial), ("shaped", shaped)]
            for name, folder in order if rep % 2 == 0 else reversed(order):
                result = _measure(folder)
                if result["errors"]:
                    print(f"{name}: import errors in {result['errors']}")
                    return 1
                runs[name].append(result)
        ours_runs, trivial_runs = runs["ours"], runs["trivial"]

    def med(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(f"files: {len(files)} ({', '.join(p.name for p in files)}); DAGs: ours {ours_runs[0]['dags']}, "
          f"trivial {trivial_runs[0]['dags']}; repetitions: {reps}")
    print(f"shape of ours: {sum(s['tasks'] for s in shapes)} tasks, {sum(s['params'] for s in shapes)} Params "
          f"(trivial: {2 * len(files)} tasks, no Params)")
    for name, measured in runs.items():
        print(f"{name:>8}: median CPU {med(measured, 'cpu') * 1000:7.1f} ms, wall "
              f"{med(measured, 'wall') * 1000:7.1f} ms ({med(measured, 'cpu') / len(files) * 1000:.1f} ms CPU per file)")
    print(f"informative: shaped/trivial {med(runs['shaped'], 'cpu') / med(trivial_runs, 'cpu'):.2f}x (Airflow's "
          f"cost of our task and Param counts), ours/shaped {med(ours_runs, 'cpu') / med(runs['shaped'], 'cpu'):.2f}x "
          "(ours beyond that shape)")
    print(f"parse ratio (ours/trivial): {med(ours_runs, 'cpu') / med(trivial_runs, 'cpu'):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
