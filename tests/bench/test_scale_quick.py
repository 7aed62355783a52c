"""bench/scale.py --quick --plan-only: residency_sync's plan for a generated 60 x 6 estate (through
``sync.tasks.plan_run``, as the DAG's plan task calls it), a few of its items moved in process, and
the ratio to the plan goal last. The scheduler run of the bench is left to ``make bench``."""

from __future__ import annotations

import re

import pytest


@pytest.mark.timeout(300)
def test_scale_bench_plans_a_generated_estate_and_prints_its_ratio_last(run_bench):
    run = run_bench("scale.py", "--plan-only", "--in-process", "4", timeout=280)
    [estate] = run.starting("estate: ")
    shards = re.search(r"plan: ([\d,]+) items in (\d+) region shards", estate)
    assert shards, estate
    assert int(shards.group(1).replace(",", "")) > 0
    assert int(shards.group(2)) == 6  # one shard per target region
    assert run.starting("in process: 4 items in ")
    assert re.fullmatch(r"scale ratios: plan \d+\.\d\dx of \d+ s", run.headline), run.headline
