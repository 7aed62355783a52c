"""bench/dr_rehearsal.py --quick: one automated and one orchestrated rehearsal (dag.test), and a
12-second soak with one 4-second region fault that dr_failover's steps (driven by their trigger)
fail over and back, with zero lost writes and the availability the retrying client saw. The
20-minute soak runs in ``make bench`` only.
"""

from __future__ import annotations

import re

import pytest


@pytest.mark.slow
@pytest.mark.timeout(900)  # generous: a loaded 2-core machine runs dag.test several times slower
def test_bench_quick_runs_both_paths_a_short_soak_and_prints_a_ratio_last(run_bench, airflow_db):
    run = run_bench("dr_rehearsal.py", timeout=880)
    assert run.headline.startswith("MTTR ratio automated/orchestrated: ")
    float(run.headline.rsplit(" ", 1)[1])
    rounds = run.starting("round 1")
    assert len(rounds) == 2
    assert all("outcome passed" in line for line in rounds), rounds
    [soak] = run.starting("soak ")
    assert "1 region faults, 1 failed over and back" in soak
    assert ", 0 lost (goal 0)" in soak
    seen = float(re.search(r"availability ([0-9.]+)% with one retry", soak).group(1))
    assert seen >= 99.9, soak  # the seed's availability, as the retrying client saw it through the fault
    [automated] = [line for line in rounds if "automated" in line]
    assert float(re.search(r"RTO ([0-9.]+)s", automated).group(1)) <= 10  # the goal
