"""The AirflowPlugin: the Estate view in the Airflow UI (Airflow 3: FastAPI app + external view).

The api-server mounts the FastAPI app under ``/multicloud/estate``; the external view puts an
"Estate" entry in the UI's navigation (Browse) that shows the page in an iframe. Every component
loads this plugin, so the app module imports only FastAPI; the view code loads on first request.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/multicloud/estate"


def _fastapi_apps() -> list[dict]:
    try:
        from multicloud.ui.app import app
    except ImportError:  # a component without FastAPI (never the api-server) has no use for it
        return []
    return [{"app": app, "url_prefix": URL_PREFIX, "name": "Multicloud estate view"}]


class MulticloudPlugin(AirflowPlugin):
    name = "multicloud"
    fastapi_apps = _fastapi_apps()
    external_views = [{
        "name": "Estate",
        "href": f"{URL_PREFIX}/",
        "destination": "nav",
        "url_route": "estate",
        "category": "Browse",
    }]
