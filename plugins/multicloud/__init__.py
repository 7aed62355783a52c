"""Multi-cloud AI orchestration on Apache Airflow 3.

Pure domain modules (estate, residency, optimiser, planners, scoring, reports) import nothing
from Airflow; adapters (hooks, operators, triggers, drivers, sinks, the plugin) do.
"""

__version__ = "0.1.0"
