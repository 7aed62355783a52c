"""OCIPollingTrigger: the one base of the package's deferrable waits on OCI resources.

What every subclass gets (model: the amazon provider's ``AwsBaseWaiterTrigger``):

- ``hook_class`` names the service hook; ``hook`` builds it once, on first use (it reads the
  connection, so that happens in a worker thread of the first poll, never at construction).
- Every argument is serialized, including ``started_at``: the wall-clock start of the wait. A
  triggerer restart rebuilds the trigger from what was serialized, so the deadline
  (``started_at + timeout_s``) stays the original one instead of starting over.
- Exponential backoff from ``poll_interval`` up to ``max_poll_interval``.
- One event per run: ``success``, ``error`` or ``timeout`` (payload from ``event_for``).
- Kill semantics on Airflow 3.3: ``on_kill()`` runs only when a user kills the deferred task (mark
  failed / clear / mark success) and stops the remote work (``stop_remote``); ``cleanup()`` runs
  on every exit, triggerer restarts included, and never touches the remote work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from multicloud.hooks.oci import OCIServiceHook, OCIWaiterTimeout


def wall_clock() -> float:
    """Seconds since the epoch (one place, so tests can move time)."""
    return time.time()


class OCIPollingTrigger(BaseTrigger):
    """Poll one OCI resource through its service hook until it is terminal or the deadline passes.

    :param oci_conn_id: the Airflow connection (type ``oci``) the hook uses.
    :param region: an OCI region id overriding the connection's region.
    :param poll_interval: seconds before the second read; doubles up to ``max_poll_interval``.
    :param max_poll_interval: the longest wait between two reads, in seconds.
    :param timeout_s: seconds after ``started_at`` at which the trigger gives up (None: never).
    :param started_at: wall-clock start of the wait (epoch seconds); defaults to now. Serialized,
        so the deadline survives triggerer restarts.
    :param stop_on_kill: stop the remote work when a user kills the deferred task.
    """

    hook_class: ClassVar[type[OCIServiceHook]] = OCIServiceHook
    #: names of the subclass's own constructor arguments (serialized beside the common ones)
    resource_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, oci_conn_id: str = "oci_default", region: str | None = None,
                 poll_interval: float = 30.0, max_poll_interval: float = 300.0, timeout_s: float | None = None,
                 started_at: float | None = None, stop_on_kill: bool = True) -> None:
        super().__init__()
        self.oci_conn_id = oci_conn_id
        self.region = region
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout_s = timeout_s
        self.started_at = started_at if started_at is not None else wall_clock()
        self.stop_on_kill = stop_on_kill
        self._fired = False

    # ---- what subclasses provide --------------------------------------------------------------
    async def wait(self, deadline: float | None) -> Any:
        """Await the resource's terminal state through the hook's async waiter; return it."""
        raise NotImplementedError

    def event_for(self, resource: Any) -> dict[str, Any]:
        """The event payload for a terminal resource (``status`` success or error)."""
        raise NotImplementedError

    def timeout_event(self, last: Any, message: str) -> dict[str, Any]:
        return {"status": "timeout", "message": message}

    def stop_remote(self) -> None:
        """Stop the remote work (blocking; called in a worker thread)."""
        raise NotImplementedError

    # ---- common machinery ------------------------------------------------------------------------
    @cached_property
    def hook(self) -> OCIServiceHook:
        return self.hook_class(oci_conn_id=self.oci_conn_id, region=self.region)

    @property
    def deadline(self) -> float | None:
        return None if self.timeout_s is None else self.started_at + self.timeout_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        common = {"oci_conn_id": self.oci_conn_id, "region": self.region, "poll_interval": self.poll_interval,
                  "max_poll_interval": self.max_poll_interval, "timeout_s": self.timeout_s,
                  "started_at": self.started_at, "stop_on_kill": self.stop_on_kill}
        own = {name: getattr(self, name) for name in self.resource_fields}
        return f"{type(self).__module__}.{type(self).__qualname__}", {**own, **common}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            resource = await self.wait(self.deadline)
        except OCIWaiterTimeout as timeout:
            payload = await asyncio.to_thread(
                self.timeout_event, timeout.last, f"{timeout} ({self.timeout_s:g}s after the start)")
        except Exception as exc:  # the service answered an error: the task fails with its message
            payload = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
        else:
            payload = await asyncio.to_thread(self.event_for, resource)
        self._fired = True
        yield TriggerEvent(payload)

    async def on_kill(self) -> None:
        """A user killed the deferred task: stop the remote work (never on restarts: see ``cleanup``)."""
        if self._fired or not self.stop_on_kill:
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(self.stop_remote), timeout=30)
        except Exception:
            self.log.exception("could not stop the remote work of %s", type(self).__name__)

    async def cleanup(self) -> None:
        """Runs on every exit, triggerer restarts included: never stops the remote work."""
        return
