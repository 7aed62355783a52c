"""Fit the churn classifier: standardised logistic regression, exported as a JSON serving artifact.

Pure (pandas + scikit-learn, no Airflow). The model card records where and on what the model was
trained, holdout metrics, and smoke cases with expected answers: rows of the holdout the model
classifies correctly and confidently, which the rollout's health gate replays against every
serving replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from multicloud.serving.model import FORMAT, LogisticModel

MIN_ROWS = 40
SMOKE_CASES = 8
SMOKE_MARGIN = 0.15  # |p - 0.5| a smoke case must clear, so tiny numeric noise never flips it


class TrainingError(ValueError):
    """The data cannot train a model (too few rows, one class only, missing columns)."""


@dataclass(frozen=True)
class TrainedModel:
    artifact: LogisticModel
    card: dict[str, Any]


def train_logistic(frame: pd.DataFrame, *, model_id: str, version: str, data_class: str, trained_in: str,  # noqa: PLR0913  the model card's fields, each named
                   dataset: str, features: Sequence[str], label: str, seed: int = 7) -> TrainedModel:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    missing = [c for c in (*features, label) if c not in frame.columns]
    if missing:
        raise TrainingError(f"{model_id}: training data lacks column(s) {missing}")
    data = frame[[*features, label]].dropna()
    if len(data) < MIN_ROWS:
        raise TrainingError(f"{model_id}: {len(data)} usable rows; at least {MIN_ROWS} are needed")
    x = data[list(features)].to_numpy(dtype=float)
    y = data[label].astype(int).to_numpy()
    if len(np.unique(y)) < 2:
        raise TrainingError(f"{model_id}: label {label!r} has a single class; nothing to learn")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    pipeline.fit(x_train, y_train)
    scaler, classifier = pipeline[0], pipeline[1]
    artifact = LogisticModel(
        model=model_id, version=version, data_class=data_class, features=tuple(features),
        mean=tuple(float(v) for v in scaler.mean_),
        scale=tuple(float(v) if v > 0 else 1.0 for v in scaler.scale_),
        coef=tuple(float(v) for v in classifier.coef_[0]), intercept=float(classifier.intercept_[0]),
    )
    probabilities = pipeline.predict_proba(x_test)[:, 1]
    exported = np.array([artifact.probability(row) for row in x_test])
    if not np.allclose(exported, probabilities, atol=1e-9):  # the JSON artifact must be the fitted model
        raise TrainingError(f"{model_id}: exported artifact disagrees with the fitted model")
    predictions = (probabilities >= 0.5).astype(int)
    card = {
        "format": FORMAT, "model": model_id, "version": version, "algorithm": "standardised logistic regression",
        "data_class": data_class, "trained_in": trained_in, "dataset": dataset, "features": list(features),
        "label": label, "rows": len(data), "train_rows": len(y_train), "holdout_rows": len(y_test),
        "metrics": {
            "accuracy": round(float(accuracy_score(y_test, predictions)), 4),
            "auc": round(float(roc_auc_score(y_test, probabilities)), 4),
            "positive_rate": round(float(y.mean()), 4),
        },
        "smoke_cases": _smoke_cases(x_test, y_test, probabilities, features),
        "trained_at": datetime.now(UTC).isoformat(),
    }
    if not card["smoke_cases"]:
        raise TrainingError(f"{model_id}: no holdout row is classified confidently; the model is unusable")
    return TrainedModel(artifact, card)


def _smoke_cases(x: np.ndarray, y: np.ndarray, p: np.ndarray, features: Sequence[str]) -> list[dict[str, Any]]:
    """Confident, correct holdout rows of both classes (balanced), with their expected answers."""
    correct = ((p >= 0.5).astype(int) == y) & (np.abs(p - 0.5) >= SMOKE_MARGIN)
    cases: list[dict[str, Any]] = []
    for cls in (1, 0):
        idx = np.flatnonzero(correct & (y == cls))
        order = idx[np.argsort(-np.abs(p[idx] - 0.5))][: SMOKE_CASES // 2]
        for i in order:
            cases.append({
                "instance": {f: float(v) for f, v in zip(features, x[i], strict=True)},
                "expected": {"label": int(y[i]), "probability": round(float(p[i]), 6)},
            })
    return cases
