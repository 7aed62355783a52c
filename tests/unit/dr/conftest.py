"""Fixtures shared by the DR unit tests."""

from __future__ import annotations

import pytest

from tests.unit.dr.backend_servers import Backend


@pytest.fixture
def backends():
    made = [Backend("oke-fra", "v1"), Backend("gke-euw4", "v1")]
    yield made
    for backend in made:
        backend.close()
