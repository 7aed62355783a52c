"""bench/parse.py --quick runs and ends with its ratio line (on a tiny folder, to stay cheap)."""

from __future__ import annotations

import re

DAG = '''
from datetime import datetime
from airflow.sdk import dag, task

@dag(dag_id="smoke", schedule=None, start_date=datetime(2026, 1, 1), tags=["t"])
def smoke():
    @task
    def one():
        return 1
    one()

smoke()
'''


def test_parse_bench_quick_prints_the_ratio_last(run_bench, tmp_path):
    (tmp_path / "smoke.py").write_text(DAG)
    run = run_bench("parse.py", "--dags", str(tmp_path))
    assert re.fullmatch(r"parse ratio \(ours/trivial\): \d+\.\d\dx", run.headline), run.headline
