"""MulticloudPlugin: what Airflow's plugins manager reads from it (a valid plugin, one FastAPI app,
one navigation view whose link lands on that app) and its fallback without FastAPI."""

from __future__ import annotations

import sys

from fastapi import FastAPI
from fastapi.testclient import TestClient

from multicloud import plugin


def test_airflow_accepts_the_plugin():
    from airflow._shared.plugins_manager.plugins_manager import is_valid_plugin

    assert is_valid_plugin(plugin.MulticloudPlugin)
    assert plugin.MulticloudPlugin.name == "multicloud"


def test_the_navigation_view_links_to_the_mounted_app():
    (mounted,) = plugin.MulticloudPlugin.fastapi_apps
    (view,) = plugin.MulticloudPlugin.external_views
    assert (view["destination"], view["category"], view["url_route"]) == ("nav", "Browse", "estate")
    assert view["href"].startswith(mounted["url_prefix"] + "/")
    api_server = FastAPI()                                   # what the api-server does with fastapi_apps
    api_server.mount(mounted["url_prefix"], mounted["app"])
    response = TestClient(api_server).get(view["href"])
    assert response.status_code == 401                       # the app is there, and it asks who you are


def test_a_component_without_fastapi_loads_the_plugin_without_apps(monkeypatch):
    monkeypatch.setitem(sys.modules, "multicloud.ui.app", None)   # import fails: no FastAPI here
    assert plugin._fastapi_apps() == []


