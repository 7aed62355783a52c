"""The Makefile's Airflow settings: what `make airflow` exports to the components it starts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _exported(name: str, *overrides: str) -> str:
    """The value `make` gives a variable, read with a throwaway print rule (no target runs)."""
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", "Makefile",
         "--eval", "print-%: ; @echo $($*)", f"print-{name}", *overrides],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=30,
    )
    return result.stdout.strip()


@pytest.mark.parametrize(("overrides", "port"), [((), "8080"), (("AIRFLOW_PORT=8093",), "8093")])
def test_the_execution_api_url_follows_the_api_port(overrides, port):
    assert _exported("AIRFLOW__API__PORT", *overrides) == port
    assert _exported("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", *overrides) == (
        f"http://localhost:{port}/execution/")
