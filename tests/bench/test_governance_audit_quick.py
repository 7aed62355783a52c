"""bench/governance_audit.py --quick runs and both audits agree with the planted rows."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_governance_audit_bench_quick(run_bench):
    run = run_bench("governance_audit.py", timeout=300)  # it exits non-zero when the findings differ
    assert run.headline.startswith("ratio: audit throughput ours/peer = ")
