"""The AirflowPlugin: UI (Estate view), listeners and macros of the multicloud package."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class MulticloudPlugin(AirflowPlugin):
    name = "multicloud"
