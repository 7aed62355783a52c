"""Pytest plugin: no model-server process survives a test, nor the test session.

Local clusters run model servers as detached processes (they must outlive the Airflow task that
started them). After each test that used ``tmp_path`` (the ``estate_home`` fixture does), every
server whose estate home lies under that directory is stopped and reported as a warning; at the
end of the session every server under this session's temporary directories is stopped, and the
session fails if one could not be stopped.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

# The session's estate home lives in conftest's per-session directory; without one there is no
# prefix to sweep (never fall back to "/": that would stop servers of other sessions too).
_SESSION_ESTATE = Path(os.environ["MULTICLOUD_ESTATE_HOME"]).parent if os.environ.get("MULTICLOUD_ESTATE_HOME") else None


@pytest.fixture(autouse=True)
def _no_model_server_left(request):
    tmp_path = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if tmp_path is None:
        return
    from multicloud.drivers.local import find_servers, stop_all_servers

    if find_servers(under=tmp_path):
        stopped = stop_all_servers(under=tmp_path)
        warnings.warn(f"{request.node.nodeid} left {stopped} model server(s) running; stopped them",
                      stacklevel=1)


def pytest_sessionfinish(session, exitstatus):
    from multicloud.drivers.local import find_servers, stop_all_servers

    prefixes = [_SESSION_ESTATE] if _SESSION_ESTATE is not None else []
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        prefixes.append(factory.getbasetemp())
    stopped = sum(stop_all_servers(under=prefix) for prefix in prefixes)
    survivors = [p.pid for prefix in prefixes for p in find_servers(under=prefix)]
    if stopped:
        print(f"\nmodel servers still running at session end: {stopped} (stopped)")
    if survivors:
        print(f"\nmodel servers that could not be stopped: {survivors}")
        session.exitstatus = 1
