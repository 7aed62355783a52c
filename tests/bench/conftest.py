"""Fixtures of the benchmark smoke tests: every script of bench/ runs here with ``--quick``.

A smoke test proves a benchmark still runs end to end and still prints its headline ratio last
(the figures themselves are measured by ``make bench``, on an idle machine).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from multicloud.paths import PROJECT_ROOT

BENCH = PROJECT_ROOT / "bench"


@dataclass(frozen=True)
class BenchRun:
    """A finished benchmark run: its stdout lines (the headline is the last one)."""

    lines: list[str]

    @property
    def headline(self) -> str:
        return self.lines[-1]

    def starting(self, prefix: str) -> list[str]:
        return [line for line in self.lines if line.startswith(prefix)]


@pytest.fixture
def run_bench() -> Callable[..., BenchRun]:
    """``run_bench("rollout.py", "--home", dir, timeout=400)``: bench/<script> --quick <args> in its own
    process, from the project root; a non-zero exit fails the test with the end of its output."""

    def run(script: str, *args: str, timeout: float = 180) -> BenchRun:
        done = subprocess.run(
            [sys.executable, str(BENCH / script), "--quick", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=PROJECT_ROOT,
        )
        assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
        lines = done.stdout.strip().splitlines()
        assert lines, done.stderr[-2000:]
        return BenchRun(lines)

    return run
