"""The Estate view in a real headless browser against a running ``airflow api-server``.

Debian's chromium (no browser download) driven by Playwright. The api-server runs as a
subprocess on a free loopback port with its own AIRFLOW_HOME (migrated SQLite) and estate home;
the test checks the page lists the estate's regions, then plants an out-of-region object and
sees that region turn red, and that the UI's navigation serves the page through the plugin's
external view. Every process started here is stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.integration]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def api_server(airflow_db, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("estate-view")
    home = tmp_path / "airflow"
    home.mkdir()
    shutil.copy(airflow_db, home / "airflow.db")
    estate_home = tmp_path / "estate"
    for region in ("onprem-hq", "oci-fra", "oci-lon", "oci-ash", "aws-euw1", "aws-use1", "azure-weu", "azure-uks",
                   "gcp-euw4", "gcp-usc1"):
        (estate_home / "storage" / region).mkdir(parents=True)  # as after a sync: every region readable
    port = _free_port()
    env = {**os.environ, "AIRFLOW_HOME": str(home), "MULTICLOUD_ESTATE_HOME": str(estate_home),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True", "AIRFLOW__API__PORT": str(port),
           "AIRFLOW__API__WORKERS": "1", "MULTICLOUD_UI_AUDIT_TTL_S": "0",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = (tmp_path / "api-server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"api-server did not start:\n{(tmp_path / 'api-server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, estate_home
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_estate_view_shows_regions_and_a_planted_violation(api_server, browser):
    base, estate_home = api_server
    page = browser.new_page()
    response = page.goto(f"{base}/multicloud/estate/")
    assert response is not None
    assert response.status == 200
    regions = page.locator("#regions tr.region")
    assert regions.count() == 10
    ids = sorted(regions.evaluate_all("rows => rows.map(r => r.dataset.region)"))
    assert ids == sorted(["onprem-hq", "oci-fra", "oci-lon", "oci-ash", "aws-euw1", "aws-use1", "azure-weu",
                          "azure-uks", "gcp-euw4", "gcp-usc1"])
    assert page.locator("tr.violation").count() == 0
    assert "0 violation(s)" in page.locator("#summary-residency").inner_text()

    planted = estate_home / "storage" / "oci-ash" / "eu-claims" / "dt=2026-11-29" / "hr=10" / "copied.parquet"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"PAR1 copied outside our DAGs")
    page.reload()

    red = page.locator("#regions tr.region.violation")
    assert red.count() == 1
    assert red.get_attribute("data-region") == "oci-ash"
    color = red.locator("td").last.evaluate("cell => getComputedStyle(cell).color")
    assert color == "rgb(176, 0, 32)"  # shown in red
    assert str(planted) in page.locator("#violations").inner_text()
    assert "1 violation(s)" in page.locator("#summary-residency").inner_text()

    (estate_home / "storage" / "gcp-usc1").rmdir()  # storage that cannot be listed: UNVERIFIED, in red
    page.reload()
    unverified = page.locator("#regions tr.region.unverified")
    assert unverified.count() == 1
    assert unverified.get_attribute("data-region") == "gcp-usc1"
    assert "UNVERIFIED" in unverified.locator("td").last.inner_text()
    assert unverified.locator("td").last.evaluate("cell => getComputedStyle(cell).color") == "rgb(176, 0, 32)"
    assert "1 region(s) UNVERIFIED" in page.locator("#summary-residency").inner_text()


def test_estate_view_is_in_the_airflow_ui_navigation(api_server, browser):
    base, _ = api_server
    page = browser.new_page()
    page.goto(f"{base}/plugin/estate")
    frame = page.frame_locator("iframe")
    frame.locator("#regions").wait_for(timeout=60_000)
    assert frame.locator("#regions tr.region").count() == 10
