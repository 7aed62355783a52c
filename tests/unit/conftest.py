"""Fixtures shared by the unit tests (the session-wide ones live in tests/conftest.py)."""

from __future__ import annotations

import pytest

from multicloud.drivers.local import stop_all_servers
from multicloud.estate import load_estate


@pytest.fixture
def estate(estate_home):
    """The local estate on a fresh estate home; model servers the test started are stopped after it."""
    yield load_estate(home=estate_home)
    stop_all_servers(home=estate_home)
