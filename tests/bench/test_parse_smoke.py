"""bench/parse.py --quick runs and ends with its ratio line (on a tiny folder, to stay cheap)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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


def test_parse_bench_quick_prints_the_ratio_last(tmp_path):
    (tmp_path / "smoke.py").write_text(DAG)
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "parse.py"), "--quick", "--dags", str(tmp_path)],
                            capture_output=True, text=True, timeout=180, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"parse ratio \(ours/trivial\): \d+\.\d\dx", last), last
