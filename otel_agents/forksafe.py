"""One registry of fork-safe locks.

After ``os.fork()`` only the forking thread exists in the child: a lock another thread held
at the fork stays held forever there. A module that takes a lock on a background thread
creates it here (``_lock = forksafe.Lock()``); in a forked child every registered lock is
replaced by a new one before anything else runs. Standard library only.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

_locks: weakref.WeakSet[Lock] = weakref.WeakSet()


class Lock:
    """A ``threading.Lock`` that a forked child gets new (released)."""

    __slots__ = ("_lock", "__weakref__")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        _locks.add(self)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()

    def _renew(self) -> None:
        self._lock = threading.Lock()


def renew_all() -> None:
    """In a forked child: every registered lock is new (called by the fork hook below)."""
    for lock in list(_locks):
        lock._renew()


if hasattr(os, "register_at_fork"):
    # registered at import, before any lock exists, so it runs before every other
    # after-fork hook of ours (``otel_agents.lifecycle``): those may take these locks
    os.register_at_fork(after_in_child=renew_all)
