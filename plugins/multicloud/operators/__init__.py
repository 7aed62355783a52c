"""Airflow operators of the multicloud package."""
