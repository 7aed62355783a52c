"""What every traffic steering does unless it says otherwise (``TrafficSteering``'s defaults)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from multicloud.dr.steering_base import TrafficSteering


class RecordingSteering(TrafficSteering):
    """A steering that keeps its routes in memory: only the abstract methods, so the defaults show."""

    name = "recording"

    def __init__(self) -> None:
        self.routes: dict[str, tuple[str, list[str]]] = {}

    def snapshot(self, endpoint: str) -> Any:
        return self.routes.get(endpoint)

    def point_to(self, endpoint: str, region: str, backends: list[str]) -> None:
        self.routes[endpoint] = (region, list(backends))

    def restore(self, endpoint: str, snapshot: Any) -> None:
        if snapshot is None:
            self.routes.pop(endpoint, None)
        else:
            self.routes[endpoint] = snapshot

    def serving_region(self, endpoint: str) -> str | None:
        route = self.routes.get(endpoint)
        return route[0] if route else None


def test_a_steering_must_implement_snapshot_point_to_restore_and_serving_region():
    class Partial(TrafficSteering):
        def snapshot(self, endpoint: str) -> Any:
            return None

    with pytest.raises(TypeError, match="abstract"):
        Partial()


def test_health_checked_failover_and_dns_answers_are_refused_unless_the_steering_has_them():
    steering = RecordingSteering()
    pair = SimpleNamespace(id="p", endpoint="e.global", primary="a", secondary="b")
    with pytest.raises(NotImplementedError, match="recording steering cannot arm"):
        steering.arm_failover(pair, ["http://a"], ["http://b"])
    with pytest.raises(NotImplementedError, match="recording steering does not answer DNS"):
        steering.resolve("e.global")
    assert steering.routes == {}  # a refusal changed nothing


def test_without_health_checks_nothing_has_failed_over_and_no_health_is_known():
    steering = RecordingSteering()
    steering.point_to("e.global", "b", ["http://b"])
    assert steering.failed_over("e.global") is None
    assert steering.region_health("e.global") == {}
    assert steering.health_fault("e.global", "a") is None  # the real fault is what the checks see
    assert steering.route_fingerprint("e.global") is None


def test_fail_back_points_the_endpoint_at_the_primary():
    steering = RecordingSteering()
    steering.point_to("e.global", "b", ["http://b"])
    steering.fail_back("e.global", "a", ["http://a1", "http://a2"])
    assert steering.routes["e.global"] == ("a", ["http://a1", "http://a2"])
    assert steering.serving_region("e.global") == "a"


@pytest.mark.parametrize(("automated", "armed", "expected"), [
    (True, False, True),  # the automated path arms the route once
    (True, True, False),  # already armed (the ledger has it): leave it
    (False, False, False),  # an orchestrated rehearsal leaves the records as they are
    (False, True, False),
])
def test_a_baseline_arms_only_the_automated_path_and_only_once(automated, armed, expected):
    assert RecordingSteering().needs_arming("e.global", "a", automated=automated, armed=armed) is expected


def test_the_probe_reaches_the_dns_name_and_a_snapshot_is_restored_as_taken():
    steering = RecordingSteering()
    assert steering.probe_root("churn-eu.global") == "https://churn-eu.global"
    assert steering.needs_gateway is False
    assert steering.fails_back_by_itself is True
    snapshot = ("a", ["http://old"])
    asked: list[str] = []
    assert steering.current_snapshot(snapshot, lambda region: asked.append(region) or []) is snapshot
    assert asked == []  # DNS names do not change when servers restart: nothing to look up


def test_the_health_fault_defaults_change_nothing():
    steering = RecordingSteering()
    steering.point_to("e.global", "a", ["http://a"])
    steering.inject_health_fault({"region": "a"})
    steering.undo_health_fault({"region": "a"})
    steering.set_backends("e.global", "a", ["http://elsewhere"])
    assert steering.routes == {"e.global": ("a", ["http://a"])}
