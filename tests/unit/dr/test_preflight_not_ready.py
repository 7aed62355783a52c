"""A primary that serves nothing yet is 'not ready' (skipped run), any other refusal a failure."""

from __future__ import annotations

from multicloud.dr.preflight import Check, PreflightFailed


def test_only_not_ready_checks_failing_means_not_ready():
    checks = [Check("capacity", True, "ok"), Check("secondary serves w", False, "primary serves nothing", not_ready=True)]
    assert PreflightFailed(checks).not_ready


def test_a_real_refusal_alongside_is_a_failure():
    checks = [Check("residency", False, "denied"), Check("secondary serves w", False, "nothing", not_ready=True)]
    refusal = PreflightFailed(checks)
    assert not refusal.not_ready
    assert "residency: denied" in str(refusal)
