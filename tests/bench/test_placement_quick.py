"""bench/placement.py --quick runs and its last line carries the headline figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "placement.py"


def test_placement_bench_quick(capsys):
    spec = importlib.util.spec_from_file_location("placement_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--quick", "--time-limit", "5"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("placement: 200x50:")
    assert "MILP/greedy" in last
    assert float(last.rsplit("MILP/greedy ", 1)[1]) <= 1.0  # the MILP never loses to the greedy baseline
