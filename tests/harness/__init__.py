"""Test harnesses that run the project the way users run it (see tests/harness/airflow.py)."""
