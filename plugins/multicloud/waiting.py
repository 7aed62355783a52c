"""Poll until a condition holds or a deadline passes: the one wait loop of the package."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout_s: float, *, interval_s: float = 0.05, backoff: float = 1.0,
               max_interval_s: float | None = None) -> T | None:
    """Call ``check`` until it returns something truthy, and return that; None once ``timeout_s`` passed.

    ``check`` runs at least once, and once more at the deadline. It may raise to stop waiting
    (a process that exited). Pauses start at ``interval_s`` and grow by ``backoff`` up to
    ``max_interval_s``; they never overshoot the deadline.
    """
    deadline = time.monotonic() + timeout_s
    pause = interval_s
    while True:
        result = check()
        if result:
            return result
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(pause, left))
        pause = min(pause * backoff, max_interval_s if max_interval_s is not None else pause * backoff)
