"""LogisticModel: the artifact format is checked on load (fail closed), and a prediction takes
named or positional numeric features and refuses anything else."""

from __future__ import annotations

import json

import pytest

from multicloud.serving.model import LogisticModel, ModelFormatError

MODEL = LogisticModel(model="churn-eu", version="v3", data_class="eu-personal", features=("tenure", "spend"),
                      mean=(10.0, 50.0), scale=(5.0, 25.0), coef=(-1.0, 2.0), intercept=0.0)


def test_the_artifact_round_trips_and_predicts_the_same(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(MODEL.to_json())
    loaded = LogisticModel.load(path)
    assert loaded == MODEL
    assert loaded.predict({"tenure": 10, "spend": 50}) == {"label": 1, "probability": 0.5}   # at the threshold
    assert loaded.predict([30, 50]) == MODEL.predict({"spend": 50, "tenure": 30})
    assert loaded.predict([30, 50])["label"] == 0


def test_extreme_inputs_keep_a_probability_in_bounds():
    assert MODEL.predict([-1e6, 1e6]) == {"label": 1, "probability": 1.0}
    assert MODEL.predict([1e6, -1e6]) == {"label": 0, "probability": 0.0}


@pytest.mark.parametrize(("row", "why"), [
    ({"tenure": 1}, "missing feature"),
    ([1, 2, 3], "expected 2"),
    (["a", 1], "must be numbers"),
    ([None, 1], "must be numbers"),
    ([float("nan"), 1], "finite"),
    ({"tenure": "inf", "spend": 1}, "finite"),
])
def test_a_bad_instance_is_refused(row, why):
    with pytest.raises(ValueError, match=why):
        MODEL.predict(row)


def _raw(**changes) -> dict:
    raw = json.loads(MODEL.to_json())
    raw.update(changes)
    return raw


@pytest.mark.parametrize(("raw", "why"), [
    (_raw(format="pickle"), "unknown model format"),
    ({k: v for k, v in _raw().items() if k != "coef"}, "lacks field 'coef'"),
    (_raw(coef=[1.0]), "same non-zero length"),
    (_raw(features=[], mean=[], scale=[], coef=[]), "same non-zero length"),
    (_raw(scale=[5.0, 0.0]), "scale must be > 0"),
])
def test_a_malformed_artifact_is_refused(raw, why):
    with pytest.raises(ModelFormatError, match=why):
        LogisticModel.from_dict(raw)


def test_a_file_that_is_not_json_is_a_format_error(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("{not json")
    with pytest.raises(ModelFormatError, match="not JSON"):
        LogisticModel.load(path)
