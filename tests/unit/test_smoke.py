"""The smoke-answer rule shared by the DR probe and the rollout gate."""

from __future__ import annotations

from multicloud import smoke
from multicloud.dr.probe import wrong_answers

CASE = {"instance": {"x": 1}, "expected": {"label": 1, "probability": 0.75}}


def test_an_answer_within_the_tolerance_is_right_and_anything_else_is_wrong():
    assert smoke.wrong_answer(CASE, {"label": 1, "probability": 0.75 + smoke.PROBABILITY_TOLERANCE / 2}) is None
    assert smoke.wrong_answer(CASE, {"label": 0, "probability": 0.75}) == (
        "wrong answer {'label': 0, 'probability': 0.75} != {'label': 1, 'probability': 0.75}")
    assert smoke.wrong_answer(CASE, {"label": 1, "probability": 0.76}) is not None
    assert smoke.wrong_answer(CASE, "not a prediction") is not None
    assert smoke.wrong_answer(CASE, {"label": 1}) is not None


def test_one_prediction_per_case_or_the_answer_is_malformed():
    assert smoke.malformed([{}], [CASE, CASE])
    assert smoke.malformed({"label": 1}, [CASE])
    assert not smoke.malformed([{}], [CASE])


def test_the_probe_reports_the_first_wrong_case():
    right = {"label": 1, "probability": 0.75}
    assert wrong_answers([right, right], [CASE, CASE]) is None
    assert wrong_answers([right, {"label": 0, "probability": 0.1}], [CASE, CASE]).startswith("wrong answer")
    assert wrong_answers([right], [CASE, CASE]) == "malformed answer: expected one prediction per smoke case"
