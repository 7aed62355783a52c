"""The residency policy engine: may data of a class land in a region? Pure, fail-closed.

Order of rules, first match wins:
  1. unknown data class, unknown region, or a region in an unknown jurisdiction: deny;
  2. the region is in the class's ``deny_regions``: deny;
  3. the region, its jurisdiction, or a group holding its jurisdiction is allowed: allow;
  4. otherwise: deny (default deny).
A class in ``audit`` mode gets the same decisions; its denials are recorded as would-deny and
do not block. Unknowns always block, whatever the mode: audit mode eases a policy change over
known regions, never a configuration error (an unknown class has no mode to read; an unknown
region or jurisdiction says nothing about where the bytes would really be).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from multicloud.estate.models import Estate

Mode = Literal["enforce", "audit"]


@dataclass(frozen=True)
class ClassRule:
    jurisdictions: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    deny_regions: frozenset[str] = frozenset()
    mode: Mode = "enforce"


@dataclass(frozen=True)
class Decision:
    data_class: str
    region: str
    allowed: bool
    mode: Mode
    rule: str
    reason: str

    @property
    def blocks(self) -> bool:
        """A denial that stops the copy (enforce mode). Audit-mode denials only get recorded."""
        return not self.allowed and self.mode == "enforce"

    @property
    def permitted(self) -> bool:
        return not self.blocks

    def as_dict(self) -> dict[str, object]:
        return {
            "data_class": self.data_class, "region": self.region, "allowed": self.allowed,
            "mode": self.mode, "rule": self.rule, "reason": self.reason, "blocks": self.blocks,
        }


@dataclass(frozen=True)
class PlanVerdict:
    decisions: tuple[Decision, ...]

    @property
    def violations(self) -> list[Decision]:
        """Every denied pair (blocking or would-deny), never just the first."""
        return [d for d in self.decisions if not d.allowed]

    @property
    def blocking(self) -> list[Decision]:
        return [d for d in self.decisions if d.blocks]

    @property
    def ok(self) -> bool:
        return not self.blocking


@dataclass(frozen=True)
class ResidencyPolicy:
    region_jurisdiction: Mapping[str, str]
    jurisdictions: frozenset[str]
    groups: Mapping[str, frozenset[str]]
    classes: Mapping[str, ClassRule]
    mode_override: Mode | None = field(default=None)

    @classmethod
    def from_estate(cls, estate: Estate, mode_override: Mode | None = None) -> ResidencyPolicy:
        return cls(
            region_jurisdiction={r.id: r.jurisdiction for r in estate.regions},
            jurisdictions=frozenset(j.id for j in estate.jurisdictions),
            groups={g.id: frozenset(g.members) for g in estate.jurisdiction_groups},
            classes={
                c.id: ClassRule(
                    jurisdictions=frozenset(c.allow.jurisdictions), groups=frozenset(c.allow.groups),
                    regions=frozenset(c.allow.regions), deny_regions=frozenset(c.deny_regions), mode=c.mode,
                )
                for c in estate.data_classes
            },
            mode_override=mode_override,
        )

    def tightened(self, mode: Mode | None) -> ResidencyPolicy:
        """A copy whose audit classes are enforced. Loosening (enforce to audit) is refused."""
        if mode is None or mode == self.mode_override:
            return self
        if mode == "audit":
            raise ValueError(
                "residency mode override 'audit' would loosen the estate's policy; only 'enforce' "
                "(tighter) may override it"
            )
        return ResidencyPolicy(self.region_jurisdiction, self.jurisdictions, self.groups, self.classes, "enforce")

    def decide(self, data_class: str | None, region: str | None) -> Decision:  # noqa: PLR0911  one return per rule, in precedence order
        rule = self.classes.get(data_class) if data_class else None
        if rule is None:
            return Decision(str(data_class), str(region), False, "enforce", "default-deny:unknown-class",
                            f"data class {data_class!r} is not defined in the estate")
        mode: Mode = self.mode_override or rule.mode

        def deny(rule_name: str, reason: str) -> Decision:
            return Decision(data_class, str(region), False, mode, rule_name, reason)

        jurisdiction = self.region_jurisdiction.get(region) if region else None
        if jurisdiction is None:
            return Decision(data_class, str(region), False, "enforce", "default-deny:unknown-region",
                            f"region {region!r} is not defined in the estate")
        if jurisdiction not in self.jurisdictions:
            return Decision(data_class, str(region), False, "enforce", "default-deny:unknown-jurisdiction",
                            f"region {region!r} is in jurisdiction {jurisdiction!r}, which is not defined")
        if region in rule.deny_regions:
            return deny("deny_regions", f"class {data_class!r} explicitly denies region {region!r}")
        if region in rule.regions:
            return Decision(data_class, region, True, mode, "allow.regions",
                            f"class {data_class!r} allows region {region!r}")
        if jurisdiction in rule.jurisdictions:
            return Decision(data_class, region, True, mode, "allow.jurisdictions",
                            f"class {data_class!r} allows jurisdiction {jurisdiction} ({region})")
        for group in sorted(rule.groups):
            if jurisdiction in self.groups.get(group, frozenset()):
                return Decision(data_class, region, True, mode, f"allow.groups:{group}",
                                f"class {data_class!r} allows group {group} holding {jurisdiction} ({region})")
        return deny("default-deny:not-allowed",
                    f"class {data_class!r} may not land in {region} (jurisdiction {jurisdiction})")

    def evaluate(self, plan: Iterable[tuple[str | None, str | None]]) -> PlanVerdict:
        return PlanVerdict(tuple(self.decide(c, r) for c, r in plan))

    def allowed_regions(self, data_class: str) -> list[str]:
        return sorted(r for r in self.region_jurisdiction if self.decide(data_class, r).allowed)

    def class_for_jurisdiction(self, routing: Mapping[str, str], jurisdiction: str | None) -> str | None:
        """Record-level routing: a row's class from its jurisdiction; None (quarantine) if unknown."""
        if jurisdiction is None or jurisdiction not in self.jurisdictions:
            return None
        return routing.get(jurisdiction)
