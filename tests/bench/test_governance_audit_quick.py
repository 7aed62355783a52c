"""bench/governance_audit.py --quick runs and both audits agree with the planted rows."""

from __future__ import annotations

import subprocess
import sys

import pytest

from multicloud import paths


@pytest.mark.slow
def test_governance_audit_bench_quick():
    done = subprocess.run([sys.executable, str(paths.PROJECT_ROOT / "bench" / "governance_audit.py"), "--quick"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("ratio: audit throughput ours/peer = ")
