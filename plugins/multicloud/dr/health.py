"""Active health checks of a DR pair's regions, and the failover they trigger by themselves.

The local estate's stand-in for Route 53 health checkers / OCI health-check monitors: the gateway
process runs a ``HealthMonitor`` thread. Every ``interval_s`` it checks each region of every
health-checked route (``GET <backend><path>`` answering 200 within ``timeout_s``; a region is up
when one of its backends is). A region turns unhealthy after ``unhealthy_threshold`` failed checks
in a row and healthy again after ``healthy_threshold`` good ones (Route 53's FailureThreshold).

When the active region turns unhealthy and the standby is healthy, the monitor fails over by
itself: one locked rewrite of the route file swaps active and standby and marks the route
``failed_over`` (sticky: it never fails back by itself; fail back is deliberate, see
``dr.failover``), then appends one line to the health-signal queue
(``{estate_home}/state/dr/health-signals.jsonl``) that ``triggers.dr_health.HealthSignalTrigger``
turns into an asset event for the ``dr_failover`` DAG.

Region health is written to ``gateway-health.json`` after every round; ``dr.failover`` reads it
to count the primary's healthy checks before failing back.

``RegionHealth.observe`` is pure (the thresholds); the rest is I/O.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from multicloud.dr.ledger import dr_state_dir
from multicloud.statefile import append_json_lines, atomic_write_text

log = logging.getLogger(__name__)

FAILOVER_SIGNAL = "failover"
HEALTH_FILE, SIGNALS_FILE = "gateway-health.json", "health-signals.jsonl"  # beside the route file


def health_file(home: Path | None = None) -> Path:
    return dr_state_dir(home) / HEALTH_FILE


def signals_file(home: Path | None = None) -> Path:
    return dr_state_dir(home) / SIGNALS_FILE


@dataclass
class RegionHealth:
    """One region's check history: the thresholds decide healthy / unhealthy / not known yet."""

    backends: list[str] = field(default_factory=list)
    healthy: bool | None = None
    ok_in_row: int = 0
    fail_in_row: int = 0
    checks: int = 0
    checked_at: float | None = None
    healthy_since: float | None = None
    detail: str = ""

    def observe(self, ok: bool, at: float, healthy_threshold: int, unhealthy_threshold: int, detail: str = "") -> None:
        self.checks += 1
        self.checked_at = at
        self.detail = detail
        if ok:
            self.ok_in_row, self.fail_in_row = self.ok_in_row + 1, 0
            if self.healthy is not True and self.ok_in_row >= (1 if self.healthy is None else healthy_threshold):
                self.healthy, self.healthy_since = True, at
        else:
            self.fail_in_row, self.ok_in_row = self.fail_in_row + 1, 0
            if self.healthy is not False and self.fail_in_row >= unhealthy_threshold:
                self.healthy, self.healthy_since = False, None


def check_backend(url: str, path: str, timeout_s: float) -> tuple[bool, str]:
    target = urlsplit(url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        status = conn.getresponse().status
        return status == 200, f"{url}{path} answered {status}"
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{url}{path}: {type(exc).__name__}: {exc}"
    finally:
        conn.close()


def check_region(backends: list[str], path: str, timeout_s: float) -> tuple[bool, str]:
    if not backends:
        return False, "no backends"
    details = []
    for backend in backends:
        ok, detail = check_backend(backend, path, timeout_s)
        if ok:
            return True, detail
        details.append(detail)
    return False, "; ".join(details)


def append_signal(path: Path, signal: dict[str, Any]) -> None:
    """One JSON line, appended under a lock and fsynced: the trigger never reads half a signal twice."""
    append_json_lines(path, [signal])


def watcher_file(signals_path: Path) -> Path:
    """Where the signal queue's watcher (``HealthSignalTrigger``, run by the triggerer) says it is alive."""
    return Path(f"{signals_path}.watcher")


def watcher_age_s(home: Path | None = None, now: float | None = None) -> float | None:
    """Seconds since the queue's watcher last said it runs; None if it never did.

    The watcher exists only while ``dr_failover`` is unpaused and a triggerer runs it (Airflow
    registers an asset's watchers for unpaused DAGs only), so a fresh heartbeat is the evidence
    that a failover signal will start ``dr_failover``.
    """
    try:
        at = float(json.loads(watcher_file(signals_file(home)).read_text())["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (time.time() if now is None else now) - at


def read_signals(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete signal lines from byte ``offset``; returns them and the offset after the last one."""
    if not path.exists():
        return [], offset
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    complete = data[: data.rfind(b"\n") + 1]
    signals, end = [], offset
    for line in complete.splitlines(keepends=True):
        end += len(line)
        if line.strip():
            signals.append({**json.loads(line), "_end": end})  # ``_end``: the byte after this signal
    return signals, offset + len(complete)


def read_health(home: Path | None = None, path: Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    path = path or health_file(home)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text()).get("endpoints", {})
    except ValueError:
        return {}


class HealthMonitor:
    """Checks every health-checked route of the gateway's route file; fails over by itself."""

    def __init__(self, routes_path: Path, health_path: Path, signals_path: Path,
                 update_routes: Callable[[Callable[[dict], None]], dict], read_routes: Callable[[], dict]) -> None:
        self.routes_path = routes_path
        self.health_path = health_path
        self.signals_path = signals_path
        self._update_routes = update_routes
        self._read_routes = read_routes
        self.state: dict[str, dict[str, RegionHealth]] = {}
        self._due: dict[str, float] = {}
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run_forever(self, tick_s: float = 0.05) -> None:
        while not self._stop.is_set():
            try:
                self.round(time.monotonic())
            except Exception:  # a broken route file must not end health checking
                log.exception("health round failed")
            self._stop.wait(tick_s)

    def round(self, now_mono: float) -> None:
        routes = self._read_routes()
        checked = False
        for endpoint, route in routes.items():
            health = route.get("health")
            if not health or not route.get("standby"):
                continue
            if self._due.get(endpoint, 0.0) > now_mono:
                continue
            self._due[endpoint] = now_mono + float(health.get("interval_s", 1.0))
            self._check_route(endpoint, route, health)
            checked = True
        for gone in set(self.state) - set(routes):
            self.state.pop(gone)
            checked = True
        if checked:
            self._write()

    def _check_route(self, endpoint: str, route: dict[str, Any], health: dict[str, Any]) -> None:
        regions = self.state.setdefault(endpoint, {})
        sides = {route["region"]: route.get("backends", []), route["standby"]["region"]: route["standby"]["backends"]}
        for region in set(regions) - set(sides):
            regions.pop(region)
        for region, backends in sides.items():
            known = regions.get(region)
            if known is None or known.backends != list(backends):  # new or moved backends: start counting again
                known = regions[region] = RegionHealth(backends=list(backends))
            ok, detail = check_region(list(backends), health.get("path", "/healthz"), float(health.get("timeout_s", 1)))
            known.observe(ok, time.time(), int(health.get("healthy_threshold", 2)),
                          int(health.get("unhealthy_threshold", 2)), detail)
        active, standby = regions[route["region"]], regions[route["standby"]["region"]]
        if (active.healthy is False and standby.healthy is True and not route.get("failed_over")
                and route.get("auto_failover", True)):
            self._fail_over(endpoint, route["region"], route["standby"]["region"], active.detail)

    def _fail_over(self, endpoint: str, from_region: str, to_region: str, reason: str) -> None:
        at = time.time()
        incident = f"{endpoint}:{from_region}:{int(at * 1000)}"
        swapped: dict[str, Any] = {}

        def swap(routes: dict[str, Any]) -> None:
            route = routes.get(endpoint)
            if not route or route.get("failed_over") or route["region"] != from_region:
                return  # someone else changed the route meanwhile
            old = {"region": route["region"], "backends": route.get("backends", [])}
            route["region"], route["backends"] = route["standby"]["region"], route["standby"]["backends"]
            route["standby"] = old
            route["failed_over"] = {"from": from_region, "to": to_region, "at": at, "incident": incident}
            swapped.update(route)

        self._update_routes(swap)
        if not swapped:
            return
        signal = {"kind": FAILOVER_SIGNAL, "incident": incident, "endpoint": endpoint, "pair": swapped.get("pair"),
                  "from": from_region, "to": to_region, "at": at, "reason": reason[:300]}
        append_signal(self.signals_path, signal)
        log.warning("health: %s unhealthy; %s failed over to %s (incident %s)", from_region, endpoint, to_region,
                    incident)

    def _write(self) -> None:
        body = {"updated": time.time(),
                "endpoints": {e: {r: asdict(h) for r, h in regions.items()} for e, regions in self.state.items()}}
        atomic_write_text(self.health_path, json.dumps(body, indent=1, sort_keys=True))
