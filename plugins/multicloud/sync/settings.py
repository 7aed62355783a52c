"""residency_sync's settings: its trigger form, declared once (see ``multicloud.settings``)."""

from __future__ import annotations

from dataclasses import dataclass

from multicloud.settings import DagSettings, form

# An interval start the form accepts: an ISO datetime on the hour, UTC (``sync.interval`` parses it;
# declared here, not there: the DAG file imports these settings at every parse).
INTERVAL_START_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:00(:00)?(Z|[+]00:00)?$"


@dataclass(frozen=True)
class SyncSettings(DagSettings):
    datasets: list[str] = form([], "Dataset ids to sync (empty: every dataset of the estate)",
                               type=["null", "array"], items={"type": "string"})
    regions: list[str] = form([], "Target regions to consider (empty: every target)",
                              type=["null", "array"], items={"type": "string"})
    dry_run: bool = form(False, "Plan, audit nothing, copy nothing", type="boolean")
    residency_mode: str = form("estate", "'enforce' tightens audit-mode classes; never looser than the estate",
                               enum=["estate", "enforce"])
    interval_start: str | None = form(
        None, "Sync the hour starting here (ISO, UTC, on the hour, e.g. 2026-01-01T05:00:00Z); empty: the run's "
              "interval, or for a run without logical date the last complete hour before it was triggered",
        type=["null", "string"], pattern=INTERVAL_START_PATTERN)
    estate_file: str = form("", "Estate YAML; empty: the configured estate. Only files the deployment allows "
                                "(MULTICLOUD_ESTATE_FILES_ALLOWED) are accepted", type=["null", "string"])
