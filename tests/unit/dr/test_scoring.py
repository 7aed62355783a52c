"""Pure DR scoring: RTO from probe samples, RPO from watermarks, stop conditions, stability."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multicloud.dr.scoring import (
    Sample,
    Score,
    StopConditions,
    availability,
    consecutive_healthy,
    evaluate_stop,
    rpo_s,
    rto_s,
    worst_rpo_s,
)


def ok(t: float, region: str, version: str = "v1") -> Sample:
    return Sample(t, 200, region, version, 5.0)


def err(t: float) -> Sample:
    return Sample(t, 502, None, None, 1.0, "bad gateway")


def test_rto_is_fault_to_first_correct_answer_from_the_secondary():
    samples = [ok(99, "fra"), err(100.5), err(101), ok(103.25, "euw4"), ok(104, "euw4")]
    assert rto_s(100.0, samples, "euw4", "v1") == 3.25


def test_answers_from_the_primary_or_of_another_version_do_not_count():
    samples = [ok(101, "fra"), ok(102, "euw4", "v0"), ok(107, "euw4")]
    assert rto_s(100.0, samples, "euw4", "v1") == 7.0
    assert rto_s(100.0, [ok(101, "fra")], "euw4", "v1") is None


def test_rpo_is_primary_minus_secondary_watermark_and_unknown_when_data_is_missing():
    assert rpo_s(1_000.0, 400.0) == 600.0
    assert rpo_s(400.0, 1_000.0) == 0.0  # secondary ahead: nothing lost
    assert rpo_s(None, 400.0) is None
    assert rpo_s(400.0, None) is None
    assert worst_rpo_s({"a": 5.0, "b": 60.0}) == 60.0
    assert worst_rpo_s({"a": 5.0, "b": None}) is None  # one unknown dataset: RPO unknown


def test_unknown_rpo_or_rto_never_counts_as_met():
    assert not Score(None, 0.0, 30, 60).rto_met
    assert not Score(1.0, None, 30, 60).rpo_met
    assert Score(30.0, 60.0, 30, 60).rto_met
    assert Score(30.0, 60.0, 30, 60).rpo_met


def test_errors_count_only_after_failover_and_trip_above_the_limit():
    conditions = StopConditions(max_errors=2, max_duration_s=60)
    samples = [err(t) for t in (100.1, 100.2, 100.3, 100.4)] + [err(106), err(107)]
    assert not evaluate_stop(samples, fault_at=100, now=108, count_errors_after=105, conditions=conditions).tripped
    verdict = evaluate_stop([*samples, err(108)], fault_at=100, now=108, count_errors_after=105,
                            conditions=conditions)
    assert verdict.tripped
    assert verdict.errors == 3
    assert "max_errors 2" in verdict.reason


def test_duration_limit_trips():
    verdict = evaluate_stop([], fault_at=100, now=161, count_errors_after=100,
                            conditions=StopConditions(10, 60))
    assert verdict.tripped
    assert "max_duration_s 60" in verdict.reason


def test_bad_stop_conditions_are_refused():
    with pytest.raises(ValueError, match="max_errors"):
        StopConditions(-1, 10)
    with pytest.raises(ValueError, match="max_duration_s"):
        StopConditions(1, 0)


@given(st.lists(st.booleans(), max_size=30))
def test_consecutive_healthy_counts_the_trailing_run(checks):
    n = consecutive_healthy(checks)
    assert all(checks[len(checks) - n:])
    assert n == len(checks) or not checks[len(checks) - n - 1]


@given(st.lists(st.tuples(st.floats(0, 1000), st.booleans()), min_size=1, max_size=50))
def test_rto_is_never_negative_and_points_at_a_correct_secondary_sample(raw):
    samples = [ok(t, "euw4") if good else err(t) for t, good in raw]
    rto = rto_s(500.0, samples, "euw4", "v1")
    if rto is not None:
        assert rto >= 0
        assert any(s.t == pytest.approx(500.0 + rto, abs=1e-3) and s.answered for s in samples)
    else:
        assert not any(s.answered and s.t >= 500.0 for s in samples)


def test_availability():
    assert availability([]) is None
    assert availability([ok(1, "a"), err(2), ok(3, "b"), ok(4, "b")]) == 0.75


def _state(**events: float) -> dict:
    return {"pair": "p", "run_id": "r", "settings": {"fail_back": True, "dry_run": False},
            "targets": {"rto_s": 30, "rpo_s": 900}, "rto_s": 4.0, "as_before": {"served": True},
            "watermarks_at_fault": {"primary": {"d": 1000.0}, "secondary": {"d": 700.0}},
            "events": {"baseline": 0.0, "fault": 1.0, "restore": 20.0, **events}}


def test_report_passes_only_when_fail_back_saw_the_primary_answer_again():
    from multicloud.dr.report import build_report

    assert build_report(_state(primary_answers=15.0), [])["outcome"] == "passed"
    assert build_report(_state(), [])["outcome"] == "error"  # fail_back failed; restore alone is no pass
    staying = {**_state(), "settings": {"fail_back": False, "dry_run": False}}
    assert build_report(staying, [])["outcome"] == "passed"
    slow = {**_state(primary_answers=15.0), "rto_s": 45.0}
    assert build_report(slow, [])["outcome"] == "targets_missed"
