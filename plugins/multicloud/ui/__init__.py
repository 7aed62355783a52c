"""The Estate view: a FastAPI app the Airflow api-server serves (see multicloud.plugin)."""
