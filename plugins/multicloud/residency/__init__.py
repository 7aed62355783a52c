"""Residency: the policy engine (pure) deciding where each data class may land."""

from multicloud.residency.policy import ClassRule, Decision, PlanVerdict, ResidencyPolicy

__all__ = ["ClassRule", "Decision", "PlanVerdict", "ResidencyPolicy"]
