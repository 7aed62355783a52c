"""Airflow triggers of the multicloud package."""
