"""A continuous probe of a DR pair's global endpoint, run as its own process.

Every ``interval`` seconds it POSTs ``{root}/predict`` and GETs ``{root}/version`` (root: the
local gateway's ``http://127.0.0.1:PORT/<endpoint>`` or a real global name ``https://<endpoint>``)
and appends one JSON line per probe: wall-clock time, HTTP status, the region that answered
(the gateway's ``X-Served-Region``, else the ``cluster`` the model server reports, mapped to its
region), the version served, latency, error. ``scoring.Sample`` is the line's shape.

With ``--smoke`` the request carries the model card's smoke cases and an answer counts only when
every prediction matches its expected label and probability (a 200 with wrong answers is a
failure). Like a real client, a failed request is retried once (``retried``/``first_error``).

    python -m multicloud.dr.probe --root http://127.0.0.1:PORT/churn-eu.global --out FILE
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from multicloud import smoke
from multicloud.dr.gateway import _alive, runs_module, terminate
from multicloud.dr.scoring import Sample
from multicloud.waiting import wait_until

REQUEST_TIMEOUT_S = 2.0
PROBE_START_TIMEOUT_S = 15.0


def _call(url: str, payload: bytes | None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=payload, method="POST" if payload is not None else "GET",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as reply:
            return reply.status, dict(reply.headers.items()), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


def probe_once(root: str, payload: dict[str, Any], cluster_regions: dict[str, str] | None = None,
               smoke_cases: list[dict[str, Any]] | None = None, retry: bool = True) -> Sample:
    """One client request; a failed one is retried once (a real client's single retry)."""
    first = _attempt(root, payload, cluster_regions, smoke_cases)
    if first.answered or not retry:
        return first
    second = _attempt(root, payload, cluster_regions, smoke_cases)
    return Sample(first.t, second.status, second.region, second.version, _ms(first.t), second.error,
                  retried=True, first_error=first.error)


def wrong_answers(predictions: Any, smoke_cases: list[dict[str, Any]]) -> str | None:
    """None when every smoke case got its expected label and probability (the model card's answers)."""
    if smoke.malformed(predictions, smoke_cases):
        return "malformed answer: expected one prediction per smoke case"
    wrong = (smoke.wrong_answer(case, got) for case, got in zip(smoke_cases, predictions, strict=True))
    return next((w for w in wrong if w), None)


def _attempt(root: str, payload: dict[str, Any], cluster_regions: dict[str, str] | None,
             smoke_cases: list[dict[str, Any]] | None) -> Sample:
    started = time.time()
    root = root.rstrip("/")
    if smoke_cases:
        payload = {"instances": [case["instance"] for case in smoke_cases]}
    try:
        status, headers, body = _call(f"{root}/predict", json.dumps(payload).encode())
        region = headers.get("X-Served-Region") or None
        if status != 200:
            return Sample(started, status, region, None, _ms(started), f"predict answered {status}: {body[:120]!r}")
        if smoke_cases:
            wrong = wrong_answers(json.loads(body).get("predictions"), smoke_cases)
            if wrong:
                return Sample(started, status, region, None, _ms(started), wrong)
        v_status, _h, v_body = _call(f"{root}/version", None)
        version, cluster = _identity_of(v_body) if v_status == 200 else (None, None)
        region = region or (cluster_regions or {}).get(cluster or "")
        error = None if v_status == 200 else f"version answered {v_status}"
        return Sample(started, status, region, version, _ms(started), error)
    except (OSError, ValueError) as exc:
        return Sample(started, None, None, None, _ms(started), f"{type(exc).__name__}: {exc}")


def _identity_of(body: bytes) -> tuple[str | None, str | None]:
    """(version, cluster) from a model server's /version answer."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode(errors="replace").strip() or None, None
    if isinstance(data, dict):
        value = data.get("version") or data.get("model_version")
        return (str(value) if value is not None else None), data.get("cluster")
    return str(data), None


def _ms(started: float) -> float:
    return round((time.time() - started) * 1000, 2)


def read_samples(path: Path) -> list[Sample]:
    if not path.exists():
        return []
    samples = []
    for line in path.read_text().splitlines():
        try:
            samples.append(Sample.from_dict(json.loads(line)))
        except ValueError:
            continue  # the line being written right now
    return samples


def start_probe(root: str, out: Path, payload: dict[str, Any], interval_s: float = 0.2,
                cluster_regions: dict[str, str] | None = None, smoke_cases: list[dict[str, Any]] | None = None) -> int:
    """Start the probe process; returns its pid (recorded in the fault ledger by the caller)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.with_suffix(".log").open("ab") as log_handle:  # the child keeps its own copy of the handle
        process = subprocess.Popen(
            [sys.executable, "-m", "multicloud.dr.probe", "--root", root, "--out", str(out),
             "--interval", str(interval_s), "--payload", json.dumps(payload),
             "--cluster-regions", json.dumps(cluster_regions or {}), "--smoke", json.dumps(smoke_cases or [])],
            stdout=subprocess.DEVNULL, stderr=log_handle, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        )

    def sampling() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"probe exited with {process.returncode}; see {out.with_suffix('.log')}")
        return bool(read_samples(out))

    wait_until(sampling, PROBE_START_TIMEOUT_S)
    return process.pid


def pid_file(out: Path) -> Path:
    return out.with_suffix(".pid")


def stop_probe(pid: int | None, out: Path | None = None) -> bool:
    """Stop the probe by pid, or by the pid file beside its samples when the pid was never recorded."""
    if pid is None and out is not None and pid_file(out).exists():
        pid = int(pid_file(out).read_text())
    return terminate(pid) if pid and _alive(pid) and runs_module(pid, "multicloud.dr.probe") else False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="probe a DR endpoint continuously")
    parser.add_argument("--root", required=True)
    parser.add_argument("--cluster-regions", default="{}")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--payload", default="{}")
    parser.add_argument("--smoke", default="[]", help="smoke cases [{instance, expected}] every answer is checked against")
    args = parser.parse_args(argv)
    payload = json.loads(args.payload)
    smoke_cases = json.loads(args.smoke) or None
    cluster_regions = json.loads(args.cluster_regions)
    running = True

    def _stop(*_: Any) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, _stop)
    # The pid beside the samples: a restore can stop a probe whose pid never reached the ledger.
    pid_file(args.out).write_text(str(os.getpid()))
    with args.out.open("a", encoding="utf-8") as out:
        while running:
            tick = time.monotonic()
            out.write(json.dumps(probe_once(args.root, payload, cluster_regions, smoke_cases).as_dict()) + "\n")
            out.flush()
            time.sleep(max(0.0, args.interval - (time.monotonic() - tick)))


if __name__ == "__main__":
    main()
