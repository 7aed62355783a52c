"""The Estate view's FastAPI app: every route asks for an Airflow identity, and the page renders
what the view holds with every value escaped (file names and messages come from outside)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from multicloud.ui import app as ui_app
from multicloud.ui.view import estate_view


@pytest.mark.parametrize("route", ["/", "/api/estate"])
def test_every_route_needs_an_airflow_identity(estate_home, route):
    assert TestClient(ui_app.app).get(route).status_code == 401       # no JWT cookie, no bearer token


def test_values_from_outside_are_escaped(estate_home):
    view = estate_view(home=estate_home)
    view["regions"][0]["cluster_error"] = "<script>alert(1)</script>"
    view["estate"] = "<b>estate</b>"
    view["runs"] = {"residency_sync": {"status": "ok", "run_id": "manual__<x>&'"}}
    page = ui_app.render(view)
    assert "<script>alert(1)" not in page
    assert "unreachable: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;estate&lt;/b&gt;" in page
    assert "href='/dags/residency_sync/runs/manual__%3Cx%3E%26%27'" in page


def test_a_broken_estate_renders_its_error(estate_home, tmp_path):
    broken = tmp_path / "estate.yaml"
    broken.write_text("regions: [unclosed\n")
    page = ui_app.render(estate_view(home=estate_home, estate_file=str(broken)))
    assert "id='estate-error'" in page
    assert "cannot be loaded" in page


def test_unverified_regions_are_never_shown_as_clean(estate_home):
    view = estate_view(home=estate_home)
    view["residency"] = {**view["residency"], "violations": [], "unverified": [{"region": "oci-fra", "cause": "no root"}]}
    for region in view["regions"]:
        region["unverified"] = "no root" if region["id"] == "oci-fra" else None
    page = ui_app.render(view)
    assert "None: every object and row is where its class allows." not in page
    assert '1 region(s) UNVERIFIED' in page
    assert "tr class='region unverified' data-region='oci-fra'" in page
