"""The local gateway (a real process) proxies to real HTTP backends and follows route-file switches."""

from __future__ import annotations

import pytest

from multicloud.dr import gateway, health
from multicloud.dr.probe import probe_once
from multicloud.dr.steering import LocalGatewaySteering
from multicloud.estate import load_estate
from tests.unit.dr.backend_servers import Backend, waited


def test_gateway_switches_on_route_file_change_and_probe_sees_the_region(estate_home, backends):
    fra, euw4 = backends
    steering = LocalGatewaySteering(estate_home)
    info, started = gateway.start_gateway(estate_home)
    try:
        assert started
        assert gateway.start_gateway(estate_home) == (info, False)
        root = f"{info['url']}/churn.global"
        assert probe_once(root, {"instances": []}).status == 404  # no route yet
        steering.point_to("churn.global", "oci-fra", [fra.url])
        sample = probe_once(root, {"instances": []})
        assert (sample.status, sample.region, sample.version) == (200, "oci-fra", "v1")
        snapshot = steering.snapshot("churn.global")
        steering.point_to("churn.global", "gcp-euw4", [euw4.url])
        assert probe_once(root, {"instances": []}).region == "gcp-euw4"
        steering.restore("churn.global", snapshot)
        assert steering.serving_region("churn.global") == "oci-fra"
        steering.restore("churn.global", None)
        assert gateway.read_routes(gateway.routes_file(estate_home)) == {}

        steering.point_to("churn.global", "gcp-euw4", ["http://127.0.0.1:9"])  # nothing listens there
        failed = probe_once(root, {"instances": []})
        assert failed.status == 502
        assert not failed.answered
    finally:
        assert gateway.stop_gateway(estate_home)
    assert gateway.running_gateway(estate_home) is None


def test_routing_to_no_backend_is_refused(estate_home):
    with pytest.raises(ValueError, match="no backend"):
        LocalGatewaySteering(estate_home).point_to("e", "r", [])


def test_gateway_replies_are_not_held_back_by_nagle(tmp_path):
    """A keep-alive reply is written as headers then body; without TCP_NODELAY the body waits for
    the client's delayed ACK (about 40 ms a request, which every probe sample and health check paid)."""
    server = gateway.make_server(tmp_path / "routes.json")
    try:
        assert server.RequestHandlerClass.protocol_version == "HTTP/1.1"
        assert server.RequestHandlerClass.disable_nagle_algorithm is True
    finally:
        server.server_close()


def test_gateway_fails_over_by_itself_retries_on_the_standby_and_signals_once(estate_home):
    fra, euw4 = Backend("oke-fra", "v1"), Backend("gke-euw4", "v1")
    pair = load_estate(home=estate_home).dr_pair("eu-churn").model_copy(update={"health_check": health_check()})
    steering = LocalGatewaySteering(estate_home)
    info, _ = gateway.start_gateway(estate_home)
    root = f"{info['url']}/{pair.endpoint}"
    try:
        steering.arm_failover(pair, [fra.url], [euw4.url])
        assert probe_once(root, {"instances": [{}]}).region == "oci-fra"
        fra.close()  # the primary dies
        samples, samples_at_failover = [], [0]

        def sampled_past_the_failover() -> bool:  # every request until the checks moved it, and five more
            samples.append(probe_once(root, {"instances": [{}]}, retry=False))
            if steering.failed_over(pair.endpoint) is None:
                samples_at_failover[:] = [len(samples)]
            return len(samples) >= samples_at_failover[0] + 5

        waited(sampled_past_the_failover, 30, "the health checks to fail over", interval_s=0.05)
        assert all(s.answered for s in samples), [s.error for s in samples if not s.answered]  # gateway retried
        assert {s.region for s in samples} == {"gcp-euw4"}
        moved = steering.failed_over(pair.endpoint)
        assert (moved["from"], moved["to"]) == ("oci-fra", "gcp-euw4")
        [signal] = health.read_signals(health.signals_file(estate_home))[0]
        assert (signal["kind"], signal["pair"], signal["incident"]) == ("failover", "eu-churn", moved["incident"])
        assert steering.region_health(pair.endpoint)["oci-fra"]["healthy"] is False
        # sticky: three more rounds of checks (the primary still down) move nothing and signal nothing
        checks = steering.region_health(pair.endpoint)["oci-fra"]["checks"]
        waited(lambda: steering.region_health(pair.endpoint)["oci-fra"]["checks"] >= checks + 3, 30,
                   "three more health-check rounds")
        assert len(health.read_signals(health.signals_file(estate_home))[0]) == 1
        assert steering.serving_region(pair.endpoint) == "gcp-euw4"

        back = Backend("oke-fra", "v1")  # the primary returns elsewhere: fail back is deliberate
        steering.fail_back(pair.endpoint, "oci-fra", [back.url])
        route = steering.snapshot(pair.endpoint)
        assert (route["region"], route["standby"]["region"], "failed_over" in route) == ("oci-fra", "gcp-euw4", False)
        assert probe_once(root, {"instances": [{}]}).region == "oci-fra"
        back.close()
    finally:
        gateway.stop_gateway(estate_home)
        euw4.close()


def health_check():
    from multicloud.estate.models import HealthCheck

    return HealthCheck(interval_s=0.1, timeout_s=0.3, unhealthy_threshold=2, healthy_threshold=2)
