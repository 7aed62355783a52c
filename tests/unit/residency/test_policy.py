"""The residency engine on the shipped local estate: concrete decisions and their reasons."""

from __future__ import annotations

import pytest

from multicloud.estate import load_estate
from multicloud.paths import PROJECT_ROOT
from multicloud.residency import ClassRule, ResidencyPolicy


@pytest.fixture(scope="module")
def policy() -> ResidencyPolicy:
    return ResidencyPolicy.from_estate(load_estate(PROJECT_ROOT / "include" / "estate" / "local.yaml"))


@pytest.mark.parametrize(
    ("data_class", "region", "allowed", "rule"),
    [
        ("eu-personal", "oci-fra", True, "allow.jurisdictions"),
        ("eu-personal", "oci-ash", False, "default-deny:not-allowed"),
        ("eu-personal", "oci-lon", False, "default-deny:not-allowed"),
        ("uk-personal", "azure-uks", True, "allow.jurisdictions"),
        ("customer-raw", "onprem-hq", True, "allow.regions"),
        ("customer-raw", "oci-fra", False, "default-deny:not-allowed"),
        ("public", "gcp-usc1", True, "allow.groups:global"),
        ("telemetry", "oci-lon", True, "allow.groups:europe"),
        ("eu-personal", "mars-1", False, "default-deny:unknown-region"),
        ("secret-sauce", "oci-fra", False, "default-deny:unknown-class"),
        (None, "oci-fra", False, "default-deny:unknown-class"),
    ],
)
def test_decisions_on_the_local_estate(policy, data_class, region, allowed, rule):
    decision = policy.decide(data_class, region)
    assert (decision.allowed, decision.rule) == (allowed, rule)
    assert decision.reason
    assert decision.as_dict()["blocks"] == decision.blocks


def test_audit_class_records_would_deny_without_blocking(policy):
    decision = policy.decide("telemetry", "aws-use1")
    assert not decision.allowed
    assert decision.mode == "audit"
    assert not decision.blocks
    assert decision.permitted
    enforced = policy.tightened("enforce").decide("telemetry", "aws-use1")
    assert enforced.blocks
    assert enforced.rule == decision.rule


def test_unknown_class_is_enforced_even_under_audit_policies(policy):
    assert policy.decide("nope", "oci-fra").blocks


def test_tightening_to_audit_is_refused_and_none_is_identity(policy):
    with pytest.raises(ValueError, match="loosen"):
        policy.tightened("audit")
    assert policy.tightened(None) is policy


def test_evaluate_reports_every_violation(policy):
    plan = [("eu-personal", "oci-ash"), ("eu-personal", "aws-euw1"), ("eu-personal", "gcp-usc1"),
            ("telemetry", "aws-use1"), ("nope", "oci-fra")]
    verdict = policy.evaluate(plan)
    assert [(d.data_class, d.region) for d in verdict.violations] == [
        ("eu-personal", "oci-ash"), ("eu-personal", "gcp-usc1"), ("telemetry", "aws-use1"), ("nope", "oci-fra")]
    assert len(verdict.blocking) == 3
    assert not verdict.ok


def test_unknown_jurisdiction_fails_closed():
    policy = ResidencyPolicy(
        region_jurisdiction={"r1": "EU", "r2": "XX"}, jurisdictions=frozenset({"EU"}), groups={},
        classes={"c": ClassRule(regions=frozenset({"r2"}))},
    )
    decision = policy.decide("c", "r2")
    assert not decision.allowed
    assert decision.rule == "default-deny:unknown-jurisdiction"


def test_record_routing_quarantines_unknown_jurisdictions(policy):
    routing = {"EU": "eu-personal", "UK": "uk-personal", "US": "us-personal"}
    assert policy.class_for_jurisdiction(routing, "EU") == "eu-personal"
    assert policy.class_for_jurisdiction(routing, "CA") is None  # defined, but no class routed
    assert policy.class_for_jurisdiction(routing, "XX") is None
    assert policy.class_for_jurisdiction(routing, None) is None
    assert policy.allowed_regions("uk-personal") == ["azure-uks", "oci-lon"]
