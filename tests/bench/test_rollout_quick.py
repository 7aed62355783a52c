"""bench/rollout.py --quick runs end to end (6 real clusters, local and emulated Kubernetes), prints its
ratio last, leaves no server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from multicloud.drivers.local import find_servers

BENCH = Path(__file__).resolve().parents[3] / "bench" / "rollout.py"


@pytest.mark.timeout(450)
def test_bench_quick(tmp_path):
    home = tmp_path / "bench"
    result = subprocess.run([sys.executable, str(BENCH), "--quick", "--home", str(home)], capture_output=True,
                            text=True, timeout=400, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("ratio total_wall/sum_slowest_readiness = ")
    assert any("local round 1" in line for line in lines)
    assert any("kubernetes round 1" in line for line in lines)
    assert sum("clusters=6 total wall" in line for line in lines) == 2
    assert "worst estate" in lines[-1]
    ratio = float(lines[-1].split("= ")[1].split("x")[0])
    assert ratio >= 1.0  # the ideal can never be beaten
    assert find_servers(under=home) == []
