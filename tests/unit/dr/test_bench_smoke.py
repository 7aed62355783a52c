"""bench/dr_rehearsal.py --quick: one warm-standby and one pilot-light rehearsal, end to end.

This is also the test of the pilot-light path (artifact staged in the secondary, standby
deployed at failover, removed at fail back).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "dr_rehearsal.py"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bench_quick_runs_both_kinds_and_prints_a_ratio_last():
    result = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=280,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("ratio warm/pilot-light RTO: ")
    float(lines[-1].rsplit(" ", 1)[1])
    rounds = [line for line in lines if line.startswith("round 1")]
    assert len(rounds) == 2
    assert all("outcome passed" in line for line in rounds), rounds
