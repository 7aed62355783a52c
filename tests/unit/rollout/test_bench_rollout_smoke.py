"""bench/rollout.py --quick runs end to end (6 real clusters), prints its ratio last, leaves no server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from multicloud.drivers.local import find_servers

BENCH = Path(__file__).resolve().parents[3] / "bench" / "rollout.py"


def test_bench_quick(tmp_path):
    home = tmp_path / "bench"
    result = subprocess.run([sys.executable, str(BENCH), "--quick", "--home", str(home)], capture_output=True,
                            text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("ratio total_wall/sum_slowest_readiness = ")
    assert "clusters=6" in lines[-2]
    assert "median of 1 round" in lines[-1]
    ratio = float(lines[-1].split("= ")[1].split("x")[0])
    assert ratio >= 1.0  # the ideal can never be beaten
    assert find_servers(home=home) == []
