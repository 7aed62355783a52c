"""Network faults on loopback: a fault-injecting TCP proxy in front of a storage endpoint or a link.

Where ``file://`` storage can be taken offline by moving its folder aside, an object store
(``s3://``: SeaweedFS here, AWS S3 or OCI's S3-compatibility endpoint in a deployment) or a link
between two regions can only be broken on the network. A ``FaultProxy`` listens on 127.0.0.1 and
forwards every TCP connection to its upstream; the region's storage connection (``endpoint_url``)
or the link's client points at the proxy instead of the server. Its fault is one of:

- ``pass``: bytes flow unchanged;
- ``latency``: every chunk, each way, waits ``latency_s`` first (a slow WAN link);
- ``reset``: new and open connections are closed with a TCP RST (SO_LINGER 0): "connection reset";
- ``blackhole``: connections are accepted and read, nothing is forwarded or answered (a partition:
  the client waits for its own timeout).

The fault lives in a control file (JSON, written atomically, re-read when it changes), so a
rehearsal task in another process switches it with one write, and undoing it is one write too.
Named proxies (a region id for its storage, ``<a>--<b>`` for a link) are registered under
``{estate_home}/state/dr/netfaults/<name>.json``; ``dr.faults.take_storage_offline`` blackholes
the primary's storage proxy when its storage is not ``file://``. Run as its own process::

    python -m multicloud.dr.netfaults --upstream 127.0.0.1:8333 --control FILE --info FILE

Not modelled: packet loss or reordering below TCP (no kernel netem here), bandwidth limits, TLS
(the proxy forwards bytes and would carry TLS unchanged, but is tested with plain HTTP only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from multicloud.statefile import atomic_write_text
from multicloud.waiting import wait_until

MODES = ("pass", "latency", "reset", "blackhole")
CHUNK = 65536


@dataclass(frozen=True)
class Fault:
    mode: str = "pass"
    latency_s: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"network fault mode {self.mode!r} is not one of {MODES}")
        if self.latency_s < 0:
            raise ValueError(f"latency_s must be >= 0; got {self.latency_s}")


def write_fault(control: Path, fault: Fault) -> None:
    control.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(control, json.dumps(asdict(fault)))


def read_fault(control: Path) -> Fault:
    try:
        return Fault(**json.loads(control.read_text()))
    except FileNotFoundError:
        return Fault()


class FaultProxy:
    """A TCP proxy whose fault is read from ``control`` (see the module docstring)."""

    def __init__(self, upstream: tuple[str, int], control: Path, port: int = 0) -> None:
        self.upstream = upstream
        self.control = control
        self._stamp: tuple[int, int] | None = None
        self._fault = Fault()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._open: set[socket.socket] = set()
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.connections = 0

    # ---- the fault, re-read when the control file changes ------------------------------------
    def fault(self) -> Fault:
        with self._lock:
            try:
                stat = self.control.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp != self._stamp:
                # never half-written (atomic writes); a hand edit gone wrong keeps the last good fault
                with contextlib.suppress(ValueError, TypeError):
                    self._fault = read_fault(self.control) if stamp else Fault()
                self._stamp = stamp
            return self._fault

    # ---- serving ----------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        threading.Thread(target=self.serve_forever, name=f"fault-proxy-{self.port}", daemon=True).start()
        return self

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        for sock in list(self._open):
            with contextlib.suppress(OSError):
                sock.close()

    def _handle(self, client: socket.socket) -> None:
        self._open.add(client)
        fault = self.fault()
        if fault.mode == "reset":
            _reset(client)
            return
        if fault.mode == "blackhole":
            self._swallow(client)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _reset(client)  # the server itself is down: the client sees a reset, as without the proxy
            return
        self._open.add(upstream)
        for sock in (client, upstream):
            sock.settimeout(None)
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                data = source.recv(CHUNK)
                if not data:
                    with contextlib.suppress(OSError):
                        target.shutdown(socket.SHUT_WR)
                    return
                fault = self.fault()
                if fault.mode == "reset":
                    _reset(source)
                    _reset(target)
                    return
                if fault.mode == "blackhole":
                    continue  # read and drop: nothing gets through either way
                if fault.latency_s:
                    time.sleep(fault.latency_s)
                target.sendall(data)
        except OSError:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.close()
        finally:
            self._open.discard(source)

    def _swallow(self, client: socket.socket) -> None:
        client.settimeout(0.5)
        try:
            while not self._stop.is_set():
                try:
                    if not client.recv(CHUNK):
                        return
                except TimeoutError:
                    if self.fault().mode != "blackhole":
                        _reset(client)  # the partition healed: the client retries on a fresh connection
                        return
        except OSError:
            return
        finally:
            self._open.discard(client)
            with contextlib.suppress(OSError):
                client.close()


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


# ---- named proxies (one process each), for rehearsals -----------------------------------------
def netfaults_dir(dr_state: Path) -> Path:
    return dr_state / "netfaults"


def _name_file(dr_state: Path, name: str, suffix: str) -> Path:
    from multicloud import paths

    return netfaults_dir(dr_state) / f"{paths.clean_name(name, 'network fault proxy name')}{suffix}"


def proxy_info(dr_state: Path, name: str) -> dict[str, Any] | None:
    """The registered proxy ``name`` ({pid, port, url, upstream, control}) if its process runs, else None."""
    path = _name_file(dr_state, name, ".json")
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return None
    return info


def start_proxy(dr_state: Path, name: str, upstream_url: str, timeout_s: float = 15.0) -> dict[str, Any]:
    """Start the named proxy in front of ``upstream_url`` (http://host:port) unless it runs."""
    existing = proxy_info(dr_state, name)
    if existing:
        return existing
    target = urlsplit(upstream_url)
    if not target.hostname or not target.port:
        raise ValueError(f"upstream {upstream_url!r} needs a host and a port")
    info_path, control = _name_file(dr_state, name, ".json"), _name_file(dr_state, name, ".fault.json")
    info_path.unlink(missing_ok=True)
    write_fault(control, Fault())
    log_path = _name_file(dr_state, name, ".log")
    with log_path.open("ab") as log_handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "multicloud.dr.netfaults", "--upstream", f"{target.hostname}:{target.port}",
             "--control", str(control), "--info", str(info_path)],
            stdout=log_handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})

    def started() -> dict[str, Any] | None:
        if process.poll() is not None:
            raise RuntimeError(f"network fault proxy {name} exited with {process.returncode}; see {log_path}")
        return json.loads(info_path.read_text()) if info_path.exists() else None

    info = wait_until(started, timeout_s)
    if info:
        return info
    process.kill()
    raise TimeoutError(f"network fault proxy {name} did not start within {timeout_s:g}s; see {log_path}")


def stop_proxy(dr_state: Path, name: str) -> bool:
    from multicloud.dr.gateway import runs_module, terminate

    info = proxy_info(dr_state, name)
    _name_file(dr_state, name, ".json").unlink(missing_ok=True)
    if not info or not runs_module(info["pid"], "multicloud.dr.netfaults"):
        return False
    return terminate(info["pid"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="host:port")
    parser.add_argument("--control", required=True, type=Path)
    parser.add_argument("--info", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    proxy = FaultProxy((host, int(port)), args.control, args.port)
    signal.signal(signal.SIGTERM, lambda *_: proxy.stop())
    atomic_write_text(args.info, json.dumps({"pid": os.getpid(), "port": proxy.port,
                                             "url": f"http://127.0.0.1:{proxy.port}", "upstream": args.upstream,
                                             "control": str(args.control)}))
    proxy.serve_forever()


if __name__ == "__main__":
    main()
