"""Waiting on a condition in tests, never on a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float = 10.0, message: str | Callable[[], str] = "", *, interval: float = 0.01
) -> T:
    """Poll ``predicate`` until it returns something true, and return that.

    Bounded: after ``timeout`` seconds it fails with ``AssertionError``, saying what was
    awaited (``message``, or a callable giving it, to describe the state at that moment).
    The poll interval grows from ``interval`` to at most 0.1 s.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            name = getattr(predicate, "__name__", "condition")
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or name}")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 1.5, 0.1)
