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


def test_a_fresh_local_estate_is_not_ready_rather_than_failed(estate_home):
    """Nothing synced, nothing served (a fresh `make airflow`): every failed check is 'not ready'.

    Seen under the real scheduler: the weekly run the scheduler creates on a fresh deployment
    failed preflight (no data at the primary, 0/0 primary endpoints) and became "the last rehearsal"."""
    from multicloud.dr.preflight import check_local_reachability, check_replica_lag, check_secondary_serving
    from multicloud.estate import load_estate

    estate = load_estate(home=estate_home)
    pair = estate.dr_pair("eu-churn")
    lag, _ = check_replica_lag(estate, pair)
    checks = [*check_secondary_serving(estate, pair), *lag, *check_local_reachability(estate, pair)]
    assert [c for c in checks if not c.ok], checks
    assert PreflightFailed(checks).not_ready, [c for c in checks if not c.ok and not c.not_ready]


def test_no_data_at_a_primary_that_serves_is_a_failure_not_a_skip():
    """Missing data or endpoints skip a rehearsal only on an estate whose primary serves nothing."""
    checks = [Check("secondary serves w", True, "ok"),
              Check("replica lag d", False, "no data for d at the primary", not_ready_if_unserved=True),
              Check("primary endpoints answer", False, "0/0 endpoint(s)", not_ready_if_unserved=True)]
    assert not PreflightFailed(checks).not_ready
