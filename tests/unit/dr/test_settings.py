"""dr_rehearsal's and dr_failover's settings from their Params: defaults, and values refused before any step runs."""

from __future__ import annotations

import pytest

from multicloud.dr.settings import FailoverSettings, Settings


def test_the_defaults_rehearse_a_region_outage_on_the_automated_path():
    settings = Settings.from_params({})
    assert (settings.pair, settings.scenario, settings.path, settings.dry_run) == (
        "eu-churn", "region_outage", "automated", False)
    assert (settings.stop_conditions.max_errors, settings.stop_conditions.max_duration_s) == (50, 300.0)


def test_params_from_the_trigger_form_are_taken_and_typed():
    settings = Settings.from_params({"scenario": "storage_loss", "max_duration_s": 30, "path": "orchestrated",
                                     "unknown": "ignored", "hold_s": None})
    assert (settings.scenario, settings.path, settings.hold_s) == ("storage_loss", "orchestrated", 2.0)
    assert isinstance(settings.max_duration_s, float)


@pytest.mark.parametrize(("params", "named"), [
    ({"scenario": "meteor"}, "scenario"),
    ({"path": "manual"}, "path"),
    ({"stabilisation_checks": 0}, "stabilisation_checks"),
    ({"max_errors": -1}, "max_errors"),
    ({"max_duration_s": 0}, "max_duration_s"),
    ({"pair": "../eu-churn"}, "pair"),
])
def test_a_value_that_does_not_fit_is_refused_by_name(params, named):
    with pytest.raises(ValueError, match=named):
        Settings.from_params(params)


def test_a_settings_object_built_in_code_is_checked_too():
    with pytest.raises(ValueError, match="scenario 'meteor' is not one of"):
        Settings(scenario="meteor").check()
    with pytest.raises(ValueError, match="max_duration_s must be > 0"):
        Settings(max_duration_s=-1).check()


def test_a_failover_run_takes_its_pair_from_the_signal_unless_named():
    assert FailoverSettings.from_params({}).pair is None
    assert FailoverSettings.from_params({"pair": "eu-churn"}).pair == "eu-churn"
