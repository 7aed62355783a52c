"""OCILoggingIngestionHook: structured entries into an OCI Logging custom log (``put_logs``).

The Logging Ingestion API (``oci.loggingingestion.LoggingClient``) takes batches of entries,
each with ``data`` (a string: we send JSON), ``id`` (unique per entry) and ``time``; a batch
carries ``source``, ``type`` and ``subject``. The default endpoint is
``https://ingestion.logging.{region}.oci.oraclecloud.com``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from multicloud.hooks.oci import OCIServiceHook

SPEC_VERSION = "1.0"


class OCILoggingIngestionHook(OCIServiceHook):
    """Calls of OCI Logging Ingestion (``loggingingestion.LoggingClient``).

    :param oci_conn_id: the Airflow connection (type ``oci``).
    :param region: an OCI region id overriding the connection's region.
    """

    client_path = "oci.loggingingestion.LoggingClient"
    hook_name = "OCI Logging Ingestion"

    def put_logs(self, log_id: str, entries: list[dict[str, Any]], *, source: str, log_type: str,
                 subject: str | None = None) -> None:
        """Send ``entries`` (JSON-able dicts) as one batch to the custom log ``log_id``."""
        from oci.loggingingestion.models import LogEntry, LogEntryBatch, PutLogsDetails

        now = datetime.now(UTC)
        batch = LogEntryBatch(
            source=source, type=log_type, subject=subject, defaultlogentrytime=now,
            entries=[LogEntry(data=json.dumps(entry, sort_keys=True, default=str), id=str(uuid.uuid4()),
                              time=now) for entry in entries])
        self.conn.put_logs(log_id, PutLogsDetails(specversion=SPEC_VERSION, log_entry_batches=[batch]))
