"""The serving format of a trained model: a standardised logistic regression as plain JSON.

No pickle and no scikit-learn at serving time: a model server loads this in milliseconds and
answers with exactly the probabilities scikit-learn computed at training time. Stdlib only (the
model server imports this file with ``python -I -S``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

FORMAT = "multicloud-logreg/1"


class ModelFormatError(ValueError):
    """The artifact is not a usable model (wrong format, missing or inconsistent fields)."""


@dataclass(frozen=True)
class LogisticModel:
    model: str
    version: str
    data_class: str
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float = 0.5

    def probability(self, row: Mapping[str, Any] | Sequence[float]) -> float:
        values = self._vector(row)
        z = self.intercept
        for x, m, s, w in zip(values, self.mean, self.scale, self.coef, strict=True):
            z += w * ((x - m) / s)
        # Numerically stable sigmoid for large |z|.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        ez = math.exp(z)
        return ez / (1.0 + ez)

    def predict(self, row: Mapping[str, Any] | Sequence[float]) -> dict[str, float | int]:
        p = self.probability(row)
        return {"label": int(p >= self.threshold), "probability": round(p, 6)}

    def _vector(self, row: Mapping[str, Any] | Sequence[float]) -> list[float]:
        if isinstance(row, Mapping):
            missing = [f for f in self.features if f not in row]
            if missing:
                raise ValueError(f"instance is missing feature(s) {missing}")
            values = [row[f] for f in self.features]
        else:
            values = list(row)
            if len(values) != len(self.features):
                raise ValueError(f"instance has {len(values)} values; expected {len(self.features)}")
        try:
            numbers = [float(v) for v in values]
        except (TypeError, ValueError):
            raise ValueError(f"instance values must be numbers; got {values!r}") from None
        if not all(math.isfinite(n) for n in numbers):  # NaN would score as label 0 and answer invalid JSON
            raise ValueError(f"instance values must be finite numbers; got {values!r}")
        return numbers

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> LogisticModel:
        if raw.get("format") != FORMAT:
            raise ModelFormatError(f"unknown model format {raw.get('format')!r}; expected {FORMAT!r}")
        try:
            model = cls(
                model=str(raw["model"]), version=str(raw["version"]), data_class=str(raw["data_class"]),
                features=tuple(raw["features"]), mean=tuple(float(v) for v in raw["mean"]),
                scale=tuple(float(v) for v in raw["scale"]), coef=tuple(float(v) for v in raw["coef"]),
                intercept=float(raw["intercept"]), threshold=float(raw.get("threshold", 0.5)),
            )
        except KeyError as exc:
            raise ModelFormatError(f"model artifact lacks field {exc.args[0]!r}") from None
        n = len(model.features)
        if not n or not (len(model.mean) == len(model.scale) == len(model.coef) == n):
            raise ModelFormatError("features, mean, scale and coef must have the same non-zero length")
        if any(s <= 0 for s in model.scale):
            raise ModelFormatError("every scale must be > 0")
        return model

    @classmethod
    def load(cls, path: str | Path) -> LogisticModel:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ModelFormatError(f"{path}: not JSON ({exc})") from None
        return cls.from_dict(raw)
