"""Airflow's entry point into plugins/: registers the multicloud AirflowPlugin.

Everything else under plugins/multicloud is a normal package (see plugins/.airflowignore).
"""

from multicloud.plugin import MulticloudPlugin

__all__ = ["MulticloudPlugin"]
