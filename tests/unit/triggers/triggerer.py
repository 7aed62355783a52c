"""What the triggerer does with a trigger: rebuild it from what it serialized, collect its events."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from typing import Any

from airflow.triggers.base import BaseTrigger


def rebuilt(trigger: BaseTrigger) -> BaseTrigger:
    """A triggerer restart: import the serialized class path and rebuild from the stored kwargs.

    Also checks the round trip: the class path names the trigger's own class and the rebuilt
    trigger serializes the same."""
    classpath, kwargs = trigger.serialize()
    module, _, qualname = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), qualname)
    assert cls is type(trigger)
    again = cls(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    return again


def events(trigger: BaseTrigger, wanted: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The payloads of up to ``wanted`` events the trigger fires within ``timeout`` seconds."""
    async def run() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []

        async def consume() -> None:
            async for event in trigger.run():
                got.append(event.payload)
                if len(got) >= wanted:
                    return

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(consume(), timeout)
        return got

    return asyncio.run(run())
