"""OCI Logging Ingestion ``PutLogs`` (``POST /20200831/logs/{logId}/actions/push``) on the OCIEmulator.

Emulated because no OCI endpoint is reachable from CI. It applies the API reference's rules that
a client can get wrong: ``specversion`` must be "1.0"; at least one ``logEntryBatches`` item, each
with ``source``, ``type``, ``defaultlogentrytime`` and at least one entry; every entry has a
string ``data``, a unique ``id`` and an RFC 3339 ``time`` if given; the custom log must exist
(unknown log OCIDs get 404 NotAuthorizedOrNotFound); a request body is at most 10 MB. Accepted
entries are kept per log in ``entries`` (what the Logging Search API would return).
Not modelled: the Logging Search API itself, agent headers, per-tenancy ingestion limits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.emulators.oci import OCIEmulator, OCIError, OCIRequest

MAX_BODY = 10 * 1024 * 1024


class LoggingIngestionEmulator:
    def __init__(self, emulator: OCIEmulator) -> None:
        self.emulator = emulator
        self.entries: dict[str, list[dict[str, Any]]] = {}
        emulator.route("POST", r"/20200831/logs/(?P<log>[^/]+)/actions/push")(self._push)

    def add_log(self, log_id: str) -> str:
        self.entries.setdefault(log_id, [])
        return log_id

    def _push(self, request: OCIRequest) -> tuple[int, Any]:
        log_id = request.params["log"]
        if log_id not in self.entries:
            raise OCIError(404, "NotAuthorizedOrNotFound", f"log {log_id} not found")
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            raise OCIError(413, "PayloadTooLarge", "request body exceeds 10 MB")
        body = request.body
        if not isinstance(body, dict) or body.get("specversion") != "1.0":
            raise OCIError(400, "InvalidParameter", "specversion must be 1.0")
        batches = body.get("logEntryBatches")
        if not isinstance(batches, list) or not batches:
            raise OCIError(400, "InvalidParameter", "logEntryBatches must be a non-empty list")
        accepted = []
        for batch in batches:
            for required in ("source", "type", "defaultlogentrytime", "entries"):
                if not batch.get(required):
                    raise OCIError(400, "InvalidParameter", f"logEntryBatch.{required} is required")
            _rfc3339(batch["defaultlogentrytime"], "defaultlogentrytime")
            for entry in batch["entries"]:
                if not isinstance(entry.get("data"), str) or not entry.get("id"):
                    raise OCIError(400, "InvalidParameter", "each entry needs a string data and an id")
                if entry.get("time"):
                    _rfc3339(entry["time"], "entry.time")
                accepted.append({"source": batch["source"], "type": batch["type"], "subject": batch.get("subject"),
                                 **entry})
        ids = [e["id"] for e in accepted]
        if len(set(ids)) != len(ids):
            raise OCIError(400, "InvalidParameter", "entry ids must be unique")
        with self.emulator.lock:
            self.entries[log_id].extend(accepted)
        return 200, None


def _rfc3339(value: str, name: str) -> None:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OCIError(400, "InvalidParameter", f"{name} {value!r} is not RFC 3339") from None
