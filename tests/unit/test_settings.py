"""Per-DAG settings (multicloud/settings.py): each trigger-form Param declared once, validated once."""

from __future__ import annotations

import copy
import json
import pickle

import jsonschema
import pytest

from multicloud.cost.settings import CostSettings
from multicloud.dagkit import params_of
from multicloud.dr.settings import FailoverSettings, Settings
from multicloud.governance.settings import GovernanceSettings
from multicloud.rollout.settings import RolloutSettings
from multicloud.settings import SCHEMA_DIALECT, Schema, form, form_schema
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
    assert param.schema == {"$schema": SCHEMA_DIALECT, "type": "integer", "minimum": 1, "maximum": 64}
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


# Values of every JSON type and around every bound the forms use: each form field must give each of
# them the same verdict in draft-07 (its dialect) as in draft 2020-12 (jsonschema's default).
SAMPLES = [None, True, False, 0, 1, -1, 0.5, 1.5, 2, 64, 65, 100, 101, 600, 3600, 3601, 100000, 100001, "", "x",
           "eu-churn", "Eu", "../v1", "v1.2_3-a", "a" * 65, "2026-01-01T05:00:00Z", "2026-01-01T05:30:00Z",
           "canary", "sideways", "oci", "mars", "region_outage", "estate", "enforce", [], ["a"], ["a", "a"],
           ["oci", "aws"], ["mars"], [1], {}, {"a": 1}]


@pytest.mark.parametrize("settings", ALL, ids=[s.__name__ for s in ALL])
def test_every_form_field_gives_the_same_verdicts_in_its_dialect_as_in_draft_2020_12(settings):
    for name, field in settings.form_fields():
        assert field.schema["$schema"] == SCHEMA_DIALECT
        assert jsonschema.validators.validator_for(field.schema) is jsonschema.Draft7Validator
        draft7 = jsonschema.Draft7Validator(field.schema, format_checker=jsonschema.FormatChecker())
        latest = jsonschema.Draft202012Validator({k: v for k, v in field.schema.items() if k != "$schema"},
                                                 format_checker=jsonschema.FormatChecker())
        verdicts = [(value, draft7.is_valid(value), latest.is_valid(value)) for value in [field.default, *SAMPLES]]
        assert [v for v in verdicts if v[1] != v[2]] == [], f"{settings.__name__}.{name} changes meaning"
        assert draft7.is_valid(field.default)
        assert any(not ok for _, ok, _ in verdicts), f"{settings.__name__}.{name}: no sample is refused"


def test_a_form_refuses_keywords_whose_meaning_depends_on_the_dialect():
    for schema in ({"prefixItems": [{"type": "string"}]}, {"$ref": "#/definitions/x"}, {"dependentRequired": {}},
                   {"type": "array", "items": [{"type": "string"}]}, {"$schema": "https://example.com/other"}):
        with pytest.raises(ValueError, match="form field"):
            form_schema(schema)
    with pytest.raises(ValueError, match="prefixItems"):
        form(0, "a field", prefixItems=[])


def test_a_form_schema_is_an_immutable_dict_that_copies_as_itself():
    schema = form_schema({"type": ["null", "array"], "items": {"type": "string", "enum": ["a", "b"]}})
    assert isinstance(schema, Schema)
    assert isinstance(schema, dict)
    assert copy.deepcopy(schema) is schema
    assert copy.copy(schema) is schema
    assert copy.deepcopy(schema["type"]) is schema["type"]
    for change in (lambda: schema.update(type="string"), lambda: schema.__setitem__("maxItems", 1),
                   lambda: schema.pop("type"), lambda: schema["type"].append("string"),
                   lambda: schema["items"]["enum"].remove("a"), schema["items"].clear):
        with pytest.raises(TypeError, match="cannot be changed"):
            change()
    plain = {"$schema": SCHEMA_DIALECT, "type": ["null", "array"], "items": {"type": "string", "enum": ["a", "b"]}}
    assert schema == plain
    assert json.dumps(schema) == json.dumps(plain)
    assert pickle.loads(pickle.dumps(schema)) == plain
