"""Per-DAG settings (multicloud/settings.py): each trigger-form Param declared once, validated once."""

from __future__ import annotations

import pytest

from multicloud.cost.settings import CostSettings
from multicloud.dagkit import params_of
from multicloud.dr.settings import FailoverSettings, Settings
from multicloud.governance.settings import GovernanceSettings
from multicloud.rollout.settings import RolloutSettings
from multicloud.sync.settings import SyncSettings
from multicloud.training.settings import TrainingSettings

ALL = [CostSettings, Settings, FailoverSettings, GovernanceSettings, RolloutSettings, SyncSettings, TrainingSettings]


@pytest.mark.parametrize("settings", ALL, ids=[s.__name__ for s in ALL])
def test_the_form_defaults_are_the_settings_defaults_and_fit_their_own_schemas(settings):
    params = {name: p.value for name, p in params_of(settings).items()}
    assert list(params) == [name for name, _ in settings.form_fields()]
    assert settings.from_params(params) == settings() == settings.from_params({})


def test_a_generated_param_carries_the_field_s_default_schema_and_description():
    param = params_of(RolloutSettings)["max_parallel"]
    assert (param.value, param.description) == (4, "Clusters deployed at once")
    assert param.schema == {"type": "integer", "minimum": 1, "maximum": 64}
    first, second = params_of(RolloutSettings)["clusters"], params_of(RolloutSettings)["clusters"]
    first.value.append("x")
    assert second.value == []  # a list default is never shared
    assert RolloutSettings().clusters == []


def test_values_are_validated_once_against_their_schema_naming_the_param():
    with pytest.raises(ValueError, match="max_parallel"):
        RolloutSettings.from_params({"max_parallel": 0})
    with pytest.raises(ValueError, match="version"):
        RolloutSettings.from_params({"version": "../v1"})
    with pytest.raises(ValueError, match="clouds"):
        CostSettings.from_params({"clouds": ["mars"]})
    with pytest.raises(ValueError, match="scenario"):
        Settings.from_params({"scenario": "meteor"})


def test_null_is_the_default_numbers_are_floats_and_unknown_keys_are_ignored():
    settings = RolloutSettings.from_params({"clusters": None, "gate_interval_s": 2, "unrelated": 1})
    assert settings.clusters == []
    assert repr(settings.gate_interval_s) == "2.0"
    assert repr(Settings(pair="p").max_duration_s) == "300.0"


def test_checks_beyond_the_schema_still_refuse():
    with pytest.raises(ValueError, match="path"):
        Settings(pair="p", path="sideways").check()


def test_every_rehearsal_scenario_of_the_form_injects_its_faults():
    from multicloud.dr.faults import SCENARIO_FAULTS
    from multicloud.dr.settings import SCENARIOS

    assert tuple(SCENARIO_FAULTS) == SCENARIOS
