"""The sync benchmarks run end to end with --quick and end with their headline ratio."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize(("script", "headline"), [
    ("sync_throughput.py", r"^full sync throughput ours/rclone: \d+\.\d\dx"),
    ("routing.py", r"^routing time ours/plain rewrite: \d+\.\d\dx"),
    ("sync_peak_rss.py", r"^peak RSS ours \d+ MiB .*ours/rclone: \d+\.\d\dx"),
    ("validation.py", r"^validation time ours/routing: \d+\.\d\dx .*peak RSS \d+ MiB"),
])
def test_quick_run_prints_its_ratio_last(script, headline):
    result = subprocess.run([sys.executable, str(BENCH / script), "--quick"], capture_output=True, text=True, check=False,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.match(headline, result.stdout.strip().splitlines()[-1]), result.stdout
