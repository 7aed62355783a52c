# The Airflow image for docker-compose.yaml: the official image plus this project's pinned stack.
FROM apache/airflow:3.3.2-python3.11

# The lock pins apache-airflow==3.3.2 itself, so installing it keeps the image's Airflow and
# settles every library (providers, oci, great-expectations, ...) at the versions CI tested.
COPY --chown=airflow:0 requirements.txt /opt/airflow/requirements.txt
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt

# The project itself, editable from /opt/airflow/plugins (bind-mounted at run time), so code edits
# need no rebuild and the `apache_airflow_provider` entry point registers the `oci` connection type.
COPY --chown=airflow:0 pyproject.toml /opt/airflow/pyproject.toml
COPY --chown=airflow:0 plugins /opt/airflow/plugins
# include/ (estates, price catalog, suites) is baked in too, for the Helm chart; compose mounts over it.
COPY --chown=airflow:0 include /opt/airflow/include
RUN pip install --no-cache-dir --no-deps -e /opt/airflow
