"""Traffic steering for a DR pair's global endpoint: one interface, three backends.

- ``LocalGatewaySteering``: the local estate's gateway route table (``dr.gateway``).
- ``Route53Steering``: weighted records of the endpoint's name in a Route 53 hosted zone, through
  the amazon provider's ``AwsBaseHook(client_type="route53")``. Convention: each record's
  ``SetIdentifier`` is the estate region id it points at; failover gives the target region weight
  100 and every other region 0 (Route 53 then answers only with the target).
- ``OCIDnsSteering``: an OCI DNS steering policy through ``OCIDnsHook`` (its monitor through
  ``OCIHealthChecksHook``): answers whose ``pool`` is
  the target region id stay enabled, the others are disabled (``isDisabled``).

``snapshot`` returns a JSON-able picture that ``restore`` puts back exactly; the fault ledger
stores it before every switch, so fail-back and crash recovery share one path.

Health-checked failover (the steering moves traffic by itself; ``arm_failover`` sets it up,
``failed_over``/``region_health`` read it, ``fail_back`` re-arms it): the gateway's own checks
(``dr.health``); Route 53 PRIMARY/SECONDARY failover records, each with a Route 53 health check
from the estate's ``health_check``; an OCI DNS FAILOVER policy (FILTER, HEALTH, PRIORITY, LIMIT)
with an HTTP health-check monitor. Load Balancer backend-set steering joins in its own module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from multicloud.dr import gateway, health
from multicloud.dr.steering_base import FailedOver, TrafficSteering
from multicloud.dr.steering_lb import OCILoadBalancerSteering

__all__ = ["LocalGatewaySteering", "OCIDnsSteering", "OCILoadBalancerSteering", "Route53Steering",
           "TrafficSteering", "steering_for"]

POLICY_UPDATE_TIMEOUT_S = 300.0


class LocalGatewaySteering(TrafficSteering):
    name = "local-gateway"
    needs_gateway = True
    fails_back_by_itself = False  # the gateway's checks fail over; failing back is deliberate

    def __init__(self, home: Path | None = None) -> None:
        self.home = home
        self.path = gateway.routes_file(home)

    # ---- health-checked failover (the gateway's own checks fail over; fail back is deliberate) ----
    def arm_failover(self, pair, primary_backends: list[str], standby_backends: list[str]) -> None:
        """Route the pair's endpoint to the primary, health-checked, with the secondary as standby."""
        if not primary_backends:
            raise ValueError(f"cannot arm {pair.endpoint!r}: no backend answers in the primary {pair.primary}")
        route = {"pair": pair.id, "region": pair.primary, "backends": list(primary_backends),
                 "standby": {"region": pair.secondary, "backends": list(standby_backends)},
                 "health": pair.health_check.model_dump(mode="json", exclude={"port"})}

        def arm(routes: dict[str, Any]) -> None:
            routes[pair.endpoint] = route

        gateway.update_routes(self.path, arm)

    def failed_over(self, endpoint: str) -> FailedOver | None:
        """The failover the health checks made ({from, to, at, incident}), None while on the primary."""
        route = self.snapshot(endpoint) or {}
        return route.get("failed_over")

    def region_health(self, endpoint: str) -> dict[str, dict[str, Any]]:
        return health.read_health(self.home).get(endpoint, {})

    def set_backends(self, endpoint: str, region: str, backends: list[str]) -> None:
        """Service discovery: the region's replicas as they are now (restarted servers listen on new ports)."""
        def change(routes: dict[str, Any]) -> None:
            route = routes.get(endpoint)
            if not route:
                return
            if route.get("region") == region:
                route["backends"] = list(backends)
            elif (route.get("standby") or {}).get("region") == region:
                route["standby"]["backends"] = list(backends)

        gateway.update_routes(self.path, change)

    def fail_back(self, endpoint: str, primary: str, primary_backends: list[str]) -> None:
        """Send traffic back to ``primary`` and re-arm the health checks (the failover's mirror)."""
        if not primary_backends:
            raise ValueError(f"cannot fail {endpoint!r} back: no backend answers in {primary}")

        def change(routes: dict[str, Any]) -> None:
            route = routes.get(endpoint)
            if not route or (route.get("region") == primary and not route.get("failed_over")):
                return  # already back
            if route.get("region") != primary:
                route["standby"] = {"region": route["region"], "backends": route.get("backends", [])}
            route["region"], route["backends"] = primary, list(primary_backends)
            route.pop("failed_over", None)

        gateway.update_routes(self.path, change)

    def snapshot(self, endpoint: str) -> dict[str, Any] | None:
        return gateway.read_routes(self.path).get(endpoint)

    def point_to(self, endpoint: str, region: str, backends: list[str]) -> None:
        """An orchestrated switch: a plain route (no health checks, no retry) to ``region``."""
        if not backends:
            raise ValueError(f"cannot route {endpoint!r} to {region}: no backend answers there")

        def change(routes: dict[str, Any]) -> None:
            pair = (routes.get(endpoint) or {}).get("pair")
            routes[endpoint] = {"region": region, "backends": list(backends), **({"pair": pair} if pair else {})}

        gateway.update_routes(self.path, change)

    def restore(self, endpoint: str, snapshot: dict[str, Any] | None) -> None:
        def change(routes: dict[str, Any]) -> None:
            if snapshot is None:
                routes.pop(endpoint, None)
            else:
                routes[endpoint] = snapshot

        gateway.update_routes(self.path, change)

    def needs_arming(self, endpoint: str, primary: str, *, automated: bool, armed: bool) -> bool:
        """The route as the path needs it: on the primary, health-checked with a standby when automated."""
        route = self.snapshot(endpoint) or {}
        health_checked = bool(route.get("standby") and route.get("health")) and not route.get("failed_over")
        return route.get("region") != primary or health_checked != automated

    def route_fingerprint(self, endpoint: str) -> dict[str, Any] | None:
        route = self.snapshot(endpoint)
        return route and {"region": route.get("region"), "backends": len(route.get("backends", []))}

    def current_snapshot(self, snapshot: dict[str, Any] | None,
                         backends_of: Callable[[str], list[str]]) -> dict[str, Any] | None:
        """Restarted servers listen on new ports: the snapshot's route to its region's replicas as they are now."""
        if not snapshot or not snapshot.get("region"):
            return snapshot
        return {**snapshot, "backends": backends_of(snapshot["region"]) or snapshot["backends"]}

    def serving_region(self, endpoint: str) -> str | None:
        route = self.snapshot(endpoint)
        return route.get("region") if route else None


class Route53Steering(TrafficSteering):
    """Steer a DR pair's endpoint with Route 53 records named by region id (``SetIdentifier``).

    The orchestrated switch sets weighted records' weights (100 for the target, 0 elsewhere);
    ``arm_failover`` turns them into PRIMARY/SECONDARY failover records with health checks.

    :param zone_id: the hosted zone id.
    :param aws_conn_id: the Airflow connection (type ``aws``), through the amazon provider's hook.
    :param region_name: an AWS region overriding the connection's.
    """

    name = "route53"

    def __init__(self, zone_id: str, aws_conn_id: str = "aws_default", region_name: str | None = None) -> None:
        self.zone_id = zone_id
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    @cached_property
    def hook(self):
        """The amazon provider's ``AwsBaseHook`` for Route 53 (its client is built once)."""
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(aws_conn_id=self.aws_conn_id, client_type="route53", region_name=self.region_name)

    def _client(self):
        return self.hook.conn

    def _records(self, endpoint: str) -> list[dict[str, Any]]:
        name = _fqdn(endpoint)
        client = self._client()
        found: list[dict[str, Any]] = []
        paginator = client.get_paginator("list_resource_record_sets")
        for page in paginator.paginate(HostedZoneId=self.zone_id, StartRecordName=name):
            for record in page["ResourceRecordSets"]:
                if record["Name"] == name and "SetIdentifier" in record and "Weight" in record:
                    found.append(record)
        return found

    def snapshot(self, endpoint: str) -> list[dict[str, Any]]:
        records = self._records(endpoint)
        if not records:
            raise LookupError(f"Route 53 zone {self.zone_id}: no weighted records named {_fqdn(endpoint)}")
        return records

    def point_to(self, endpoint: str, region: str, backends: list[str]) -> None:
        records = self.snapshot(endpoint)
        if region not in {r["SetIdentifier"] for r in records}:
            raise LookupError(f"Route 53 zone {self.zone_id}: {_fqdn(endpoint)} has no record with "
                              f"SetIdentifier {region!r} (the convention: one weighted record per region id)")
        changes = [{"Action": "UPSERT", "ResourceRecordSet": {**r, "Weight": 100 if r["SetIdentifier"] == region else 0}}
                   for r in records]
        self._change(changes, f"DR failover of {endpoint} to {region}")

    def restore(self, endpoint: str, snapshot: list[dict[str, Any]]) -> None:
        """Put the snapshot's records back, replacing failover records ``arm_failover`` made (their
        health checks are deleted: Route 53 keeps, and bills, a health check nothing uses)."""
        wanted = {r["SetIdentifier"]: r for r in snapshot}
        current = self._region_records(endpoint)
        stale = [r for r in current if wanted.get(r["SetIdentifier"]) != r]
        changes = [{"Action": "DELETE", "ResourceRecordSet": r} for r in stale]
        changes += [{"Action": "CREATE", "ResourceRecordSet": r} for r in snapshot
                    if r not in current or r in stale]
        if changes:
            self._change(changes, f"DR restore of {endpoint}")
        client = self._client()
        for record in stale:
            if record.get("HealthCheckId") and record["HealthCheckId"] not in {r.get("HealthCheckId") for r in snapshot}:
                client.delete_health_check(HealthCheckId=record["HealthCheckId"])

    def serving_region(self, endpoint: str) -> str | None:
        if any(r.get("Failover") for r in self._region_records(endpoint)):
            moved = self.failed_over(endpoint)
            roles = {r.get("Failover"): r["SetIdentifier"] for r in self._region_records(endpoint)}
            return moved["to"] if moved else roles.get("PRIMARY")
        live = [r["SetIdentifier"] for r in self._records(endpoint) if r.get("Weight", 0) > 0]
        return live[0] if len(live) == 1 else None

    # ---- health-checked failover: PRIMARY/SECONDARY failover records, one health check each ----
    def arm_failover(self, pair, primary_backends: list[str], standby_backends: list[str]) -> None:
        """Turn the endpoint's per-region records into failover records with Route 53 health checks.

        Each region's record keeps its type, TTL and values; its health check probes the first
        value (an IP, else a host name) with the estate's path, port, interval (Route 53 allows 10
        or 30 s) and failure threshold. Route 53 then answers with the SECONDARY by itself while the
        PRIMARY's health check fails.
        """
        check = pair.health_check
        name = _fqdn(pair.endpoint)
        records = {r["SetIdentifier"]: r for r in self._region_records(pair.endpoint)}
        missing = [r for r in (pair.primary, pair.secondary) if r not in records]
        if missing:
            raise LookupError(f"Route 53 zone {self.zone_id}: {name} has no record with SetIdentifier {missing}")
        client = self._client()
        changes = []
        for region, role in ((pair.primary, "PRIMARY"), (pair.secondary, "SECONDARY")):
            record = records[region]
            target = record["ResourceRecords"][0]["Value"]
            config = {"Type": "HTTPS", "Port": check.port or 443, "ResourcePath": check.path,
                      "RequestInterval": 10 if check.interval_s <= 10 else 30,
                      "FailureThreshold": check.unhealthy_threshold}
            config["IPAddress" if _is_ip(target) else "FullyQualifiedDomainName"] = target
            health_check = client.create_health_check(CallerReference=f"{pair.id}-{region}-{_digest(config)}",
                                                      HealthCheckConfig=config)["HealthCheck"]
            changes.append({"Action": "DELETE", "ResourceRecordSet": record})
            changes.append({"Action": "CREATE", "ResourceRecordSet": {
                "Name": name, "Type": record["Type"], "SetIdentifier": region, "Failover": role,
                "TTL": record.get("TTL", 60), "ResourceRecords": record["ResourceRecords"],
                "HealthCheckId": health_check["Id"]}})
        self._change(changes, f"DR health-checked failover of {pair.endpoint}")

    def _region_records(self, endpoint: str) -> list[dict[str, Any]]:
        name, client = _fqdn(endpoint), self._client()
        found = []
        for page in client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=self.zone_id,
                                                                                StartRecordName=name):
            found += [r for r in page["ResourceRecordSets"] if r["Name"] == name and "SetIdentifier" in r]
        return found

    def region_health(self, endpoint: str) -> dict[str, dict[str, Any]]:
        """Per region, as Route 53 decides it: most of its checkers (GetHealthCheckStatus) report
        Success, then inverted when the health check's config says ``Inverted``."""
        client, out = self._client(), {}
        for record in self._region_records(endpoint):
            if not record.get("HealthCheckId"):
                continue
            observations = client.get_health_check_status(HealthCheckId=record["HealthCheckId"])[
                "HealthCheckObservations"]
            config = client.get_health_check(HealthCheckId=record["HealthCheckId"])["HealthCheck"]["HealthCheckConfig"]
            good = sum(1 for o in observations if o["StatusReport"]["Status"].startswith("Success"))
            checkers_ok = bool(observations) and good * 2 > len(observations)
            inverted = bool(config.get("Inverted"))
            out[record["SetIdentifier"]] = {"healthy": checkers_ok != inverted, "checkers": len(observations),
                                            "inverted": inverted, "role": record.get("Failover")}
        return out

    def failed_over(self, endpoint: str) -> FailedOver | None:
        """{from, to, at} while Route 53 answers the SECONDARY (``at``: when this read saw it)."""
        health = self.region_health(endpoint)
        roles = {h["role"]: region for region, h in health.items()}
        primary, secondary = roles.get("PRIMARY"), roles.get("SECONDARY")
        if primary and secondary and not health[primary]["healthy"] and health[secondary]["healthy"]:
            return {"from": primary, "to": secondary, "at": time.time()}
        return None

    def resolve(self, endpoint: str) -> list[str]:
        """The values Route 53 answers now, by its routing rules.

        Failover records: the PRIMARY's while its health check is healthy, else the SECONDARY's
        while that one is healthy; when both are unhealthy Route 53 answers the PRIMARY. Weighted
        records: every record with a weight above 0 (a resolver then picks one by weight).
        """
        records = self._region_records(endpoint)
        values = lambda r: [v["Value"] for v in r.get("ResourceRecords", [])]  # noqa: E731
        by_role = {r.get("Failover"): r for r in records if r.get("Failover")}
        if by_role:
            health = self.region_health(endpoint)
            for role in ("PRIMARY", "SECONDARY"):
                record = by_role.get(role)
                if record and health.get(record["SetIdentifier"], {"healthy": True})["healthy"]:
                    return values(record)
            return values(by_role["PRIMARY"]) if "PRIMARY" in by_role else []
        return [v for r in records if r.get("Weight", 0) > 0 for v in values(r)]

    def health_fault(self, endpoint: str, region: str) -> dict[str, Any] | None:
        """The region's health check and its ``Inverted`` now (None: the region has no health check)."""
        record = next((r for r in self._region_records(endpoint)
                       if r["SetIdentifier"] == region and r.get("HealthCheckId")), None)
        if record is None:
            return None
        check = self._client().get_health_check(HealthCheckId=record["HealthCheckId"])["HealthCheck"]
        return {"health_check_id": record["HealthCheckId"], "inverted": bool(check["HealthCheckConfig"].get("Inverted"))}

    def inject_health_fault(self, undo: dict[str, Any]) -> None:
        """Invert the region's health check, which AWS documents for testing failover: Route 53 then
        treats the region as unhealthy whatever its checkers see (they cannot see a rehearsal's
        fault inside a private network, and moto's checkers always succeed)."""
        self._client().update_health_check(HealthCheckId=undo["health_check_id"], Inverted=not undo["inverted"])

    def undo_health_fault(self, undo: dict[str, Any]) -> None:
        from botocore.exceptions import ClientError

        try:
            self._client().update_health_check(HealthCheckId=undo["health_check_id"], Inverted=undo["inverted"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchHealthCheck":
                raise

    def _change(self, changes: list[dict[str, Any]], comment: str) -> None:
        client = self._client()
        reply = client.change_resource_record_sets(
            HostedZoneId=self.zone_id, ChangeBatch={"Comment": comment, "Changes": changes})
        change_id = reply["ChangeInfo"]["Id"]
        if reply["ChangeInfo"]["Status"] != "INSYNC":
            client.get_waiter("resource_record_sets_changed").wait(
                Id=change_id, WaiterConfig={"Delay": 2, "MaxAttempts": 60})


class OCIDnsSteering(TrafficSteering):
    """Steer a DR pair's endpoint with an OCI DNS Traffic Management steering policy.

    Answers are grouped in pools named by region id. The orchestrated switch enables the target
    pool's answers and disables the others; ``arm_failover`` turns the policy into OCI's FAILOVER
    template with an HTTP health-check monitor, so OCI answers the secondary by itself while the
    primary's target is unhealthy (and the primary again once it is healthy).

    :param steering_policy_id: the steering policy's OCID.
    :param oci_conn_id: the Airflow connection (type ``oci``) for DNS and Health Checks.
    """

    name = "oci-dns"

    def __init__(self, steering_policy_id: str, oci_conn_id: str = "oci_default") -> None:
        self.policy_id = steering_policy_id
        self.oci_conn_id = oci_conn_id

    @cached_property
    def hook(self):
        """``OCIDnsHook``: the steering policy's reads and updates."""
        from multicloud.hooks.oci_network import OCIDnsHook

        return OCIDnsHook(oci_conn_id=self.oci_conn_id)

    @cached_property
    def health_hook(self):
        """``OCIHealthChecksHook``: the policy's HTTP monitor and its probe results."""
        from multicloud.hooks.oci_network import OCIHealthChecksHook

        return OCIHealthChecksHook(oci_conn_id=self.oci_conn_id)

    def snapshot(self, endpoint: str) -> dict[str, Any]:
        import oci

        policy = self.hook.get_steering_policy(self.policy_id)
        return {"answers": oci.util.to_dict(policy.answers), "rules": oci.util.to_dict(policy.rules),
                "template": policy.template, "ttl": policy.ttl,
                "health_check_monitor_id": policy.health_check_monitor_id}

    def point_to(self, endpoint: str, region: str, backends: list[str]) -> None:
        current = self.snapshot(endpoint)
        if region not in {a["pool"] for a in current["answers"]}:
            raise LookupError(f"OCI steering policy {self.policy_id}: no answer in pool {region!r}")
        answers = [{**a, "is_disabled": a["pool"] != region} for a in current["answers"]]
        self._update({**current, "answers": answers})

    def restore(self, endpoint: str, snapshot: dict[str, Any]) -> None:
        self._update(snapshot)

    def serving_region(self, endpoint: str) -> str | None:
        live = {a["pool"] for a in self.snapshot(endpoint)["answers"] if not a.get("is_disabled")}
        return next(iter(live)) if len(live) == 1 else None

    # ---- health-checked failover: the FAILOVER template with an HTTP health-check monitor ----
    def arm_failover(self, pair, primary_backends: list[str], standby_backends: list[str]) -> None:
        """Give the policy a health-check monitor on every answer and the FAILOVER rules.

        Rules (OCI's FAILOVER template): FILTER (drop disabled answers), HEALTH (drop answers
        whose monitor target is unhealthy), PRIORITY (the primary's pool first), LIMIT 1. The
        monitor's interval is the nearest one OCI offers (10, 30, 60 or 300 s) at or above the
        estate's.
        """
        import oci
        from oci.healthchecks.models import CreateHttpMonitorDetails

        policy = self.hook.get_steering_policy(self.policy_id)
        pools = {a.pool for a in policy.answers}
        missing = [r for r in (pair.primary, pair.secondary) if r not in pools]
        if missing:
            raise LookupError(f"OCI steering policy {self.policy_id}: no answer in pool(s) {missing}")
        check = pair.health_check
        interval = next((i for i in (10, 30, 60, 300) if i >= check.interval_s), 300)
        monitor = self.health_hook.create_http_monitor(CreateHttpMonitorDetails(
            compartment_id=policy.compartment_id, display_name=f"{pair.id}-failover",
            targets=sorted({a.rdata for a in policy.answers}), protocol="HTTPS", port=check.port or 443,
            path=check.path, interval_in_seconds=interval, timeout_in_seconds=min(int(check.timeout_s) or 1, 60),
            is_enabled=True))
        priority = {pair.primary: 1, pair.secondary: 2}
        rules = [
            {"rule_type": "FILTER", "default_answer_data": [{"answer_condition": "answer.isDisabled != true",
                                                             "should_keep": True}]},
            {"rule_type": "HEALTH"},
            {"rule_type": "PRIORITY", "default_answer_data": [
                {"answer_condition": f"answer.pool == '{pool}'", "value": rank} for pool, rank in priority.items()]},
            {"rule_type": "LIMIT", "default_count": 1},
        ]
        state = {"answers": oci.util.to_dict(policy.answers), "rules": rules, "template": "FAILOVER",
                 "ttl": policy.ttl, "health_check_monitor_id": monitor.id}
        self._update(state)

    def region_health(self, endpoint: str) -> dict[str, dict[str, Any]]:
        """Per pool, the newest probe result of its answer's target from the policy's monitor."""
        policy = self.hook.get_steering_policy(self.policy_id)
        if not policy.health_check_monitor_id:
            return {}
        results = self.health_hook.list_http_probe_results(policy.health_check_monitor_id)
        newest: dict[str, Any] = {}
        for result in sorted(results, key=lambda r: r.start_time or 0):
            newest[result.target] = result
        return {a.pool: {"healthy": bool(newest[a.rdata].is_healthy), "checked_at": newest[a.rdata].start_time}
                for a in policy.answers if a.rdata in newest}

    def failed_over(self, endpoint: str) -> FailedOver | None:
        """FAILOVER answers the highest-priority healthy pool: moved when that is not the first one."""
        policy = self.hook.get_steering_policy(self.policy_id)
        if policy.template != "FAILOVER":
            return None
        health = self.region_health(endpoint)
        ranked = [d.answer_condition.split("'")[1] for r in policy.rules if r.rule_type == "PRIORITY"
                  for d in sorted(r.default_answer_data or [], key=lambda d: d.value)]
        live = [pool for pool in ranked if health.get(pool, {}).get("healthy")]
        if ranked and live and live[0] != ranked[0]:
            return {"from": ranked[0], "to": live[0], "at": time.time()}
        return None

    def resolve(self, endpoint: str) -> list[str]:
        """The answers the policy's rules give now: FILTER (disabled answers out), HEALTH (answers
        whose monitor target is unhealthy out; no result yet counts healthy), PRIORITY (lowest
        value first), LIMIT (the first ``default_count``). Case rules are not evaluated."""
        policy = self.hook.get_steering_policy(self.policy_id)
        health = self.region_health(endpoint) if policy.health_check_monitor_id else {}
        answers = list(policy.answers or [])
        for rule in policy.rules or []:
            if rule.rule_type == "FILTER":
                answers = [a for a in answers if not a.is_disabled]
            elif rule.rule_type == "HEALTH":
                answers = [a for a in answers if health.get(a.pool, {}).get("healthy", True)]
            elif rule.rule_type == "PRIORITY":
                rank = {d.answer_condition.split("'")[1]: d.value for d in rule.default_answer_data or []
                        if "'" in (d.answer_condition or "")}
                answers.sort(key=lambda a: rank.get(a.pool, 10**6))
            elif rule.rule_type == "LIMIT":
                answers = answers[: rule.default_count or len(answers)]
        return [a.rdata for a in answers]

    def _update(self, state: dict[str, Any]) -> None:
        from oci.dns.models import SteeringPolicyAnswer, UpdateSteeringPolicyDetails

        client = self.hook.conn
        answers = [SteeringPolicyAnswer(**{k: a.get(k) for k in ("name", "rtype", "rdata", "pool", "is_disabled")})
                   for a in state["answers"]]
        rules = [client.base_client.deserialize_response_data(json.dumps(_camel(r)).encode(), "SteeringPolicyRule")
                 for r in state.get("rules") or []]
        details = UpdateSteeringPolicyDetails(answers=answers, rules=rules, template=state.get("template"),
                                              ttl=state.get("ttl"),
                                              health_check_monitor_id=state.get("health_check_monitor_id"))
        self.hook.update_steering_policy(self.policy_id, details)
        self.hook.steering_policy_completion(self.policy_id, poll_interval=0.5, max_poll_interval=5.0,
                                             deadline=time.time() + POLICY_UPDATE_TIMEOUT_S)


def steering_for(pair, home: Path | None = None) -> TrafficSteering:
    """The pair's steering: Route 53 (zone), OCI DNS (policy), OCI Load Balancer (backend sets), else the gateway."""
    if pair.route53_zone_id:
        return Route53Steering(pair.route53_zone_id, aws_conn_id=pair.steering_connection_id or "aws_default")
    if pair.oci_steering_policy_id:
        return OCIDnsSteering(pair.oci_steering_policy_id, oci_conn_id=pair.steering_connection_id or "oci_default")
    if getattr(pair, "oci_load_balancer", None):
        return OCILoadBalancerSteering.for_pair(pair)
    return LocalGatewaySteering(home)


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _digest(config: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel_key(k): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _camel_key(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p.title() for p in rest)
