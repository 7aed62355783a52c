"""A model card's smoke cases (an instance and the answer the trained model gives it) and how a
served answer is judged against them: the DR probe and the rollout gate use the same rule."""

from __future__ import annotations

from typing import Any

PROBABILITY_TOLERANCE = 1e-4


def malformed(predictions: Any, smoke_cases: list[dict[str, Any]]) -> bool:
    """Whether the answer is not one prediction per smoke case."""
    return not isinstance(predictions, list) or len(predictions) != len(smoke_cases)


def wrong_answer(case: dict[str, Any], got: Any) -> str | None:
    """None when ``got`` is the case's expected label and probability (within the tolerance)."""
    expected = case["expected"]
    try:
        right = (got["label"] == expected["label"]
                 and abs(got["probability"] - expected["probability"]) <= PROBABILITY_TOLERANCE)
    except (KeyError, TypeError):
        right = False
    return None if right else f"wrong answer {got} != {expected}"
