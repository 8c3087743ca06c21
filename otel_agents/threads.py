"""Background threads that never take the application's signals.

A process-directed signal (SIGTERM, SIGINT) is delivered by the kernel to any thread that
does not block it, and CPython runs the Python handler only in the main thread, at its next
bytecode. Delivered to one of our threads while the main thread sleeps (``time.sleep(60)``,
a blocking read), the signal would not interrupt that sleep: the handler, and the default
SIGTERM exit, would wait for it to end. So every thread we start blocks those signals, and
the kernel always picks the main thread (or another thread of the application's).

A new thread inherits the signal mask of the thread that creates it, so the mask is set
around ``start()``: no moment exists in which the new thread takes a signal.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

_NAMES = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGWINCH")
ASYNC_SIGNALS: frozenset[int] = frozenset(getattr(signal, n) for n in _NAMES if hasattr(signal, n))
_CAN_MASK = hasattr(signal, "pthread_sigmask")


def start(thread: threading.Thread) -> threading.Thread:
    """Start ``thread`` (a daemon thread of ours) with the asynchronous signals blocked in it."""
    run_masked(thread.start)
    return thread


def start_daemon(target: Callable[..., Any], name: str, *args: Any) -> threading.Thread:
    """A daemon thread running ``target(*args)``, started with the signals blocked in it."""
    return start(threading.Thread(target=target, args=args, name=name, daemon=True))


def run_masked(spawn: Callable[[], Any]) -> Any:
    """Call ``spawn`` (which starts a thread) with the asynchronous signals blocked in the
    calling thread, then restore its mask. A signal arriving meanwhile stays pending and is
    delivered right after."""
    if not _CAN_MASK:
        return spawn()
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, ASYNC_SIGNALS)
    except (OSError, ValueError):
        return spawn()
    try:
        return spawn()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
