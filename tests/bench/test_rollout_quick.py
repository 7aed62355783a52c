"""bench/rollout.py --quick runs end to end (6 real clusters, local and emulated Kubernetes), prints its
ratio last, leaves no server."""

from __future__ import annotations

import pytest

from multicloud.drivers.local import find_servers


@pytest.mark.timeout(450)
def test_bench_quick(run_bench, tmp_path):
    home = tmp_path / "bench"
    run = run_bench("rollout.py", "--home", str(home), timeout=400)
    assert run.headline.startswith("ratio total_wall/sum_slowest_readiness = ")
    assert any("local round 1" in line for line in run.lines)
    assert any("kubernetes round 1" in line for line in run.lines)
    assert sum("clusters=6 total wall" in line for line in run.lines) == 2
    assert "worst estate" in run.headline
    ratio = float(run.headline.split("= ")[1].split("x")[0])
    assert ratio >= 1.0  # the ideal can never be beaten
    assert find_servers(under=home) == []
