"""The sync benchmarks run end to end with --quick and end with their headline ratio."""

from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize(("script", "headline"), [
    ("sync_throughput.py", r"^full sync throughput ours/rclone: \d+\.\d\dx"),
    ("routing.py", r"^routing time ours/plain rewrite: \d+\.\d\dx"),
    ("sync_peak_rss.py", r"^peak RSS ours \d+ MiB .*ours/rclone: \d+\.\d\dx"),
    ("validation.py", r"^validation time ours/routing: \d+\.\d\dx .*peak RSS \d+ MiB"),
])
def test_quick_run_prints_its_ratio_last(run_bench, script, headline):
    run = run_bench(script)
    assert re.match(headline, run.headline), run.lines
