"""The process lifecycle of the sink processors: fork, SIGTERM, multiprocessing workers.

A processor registers itself here while it is live (:func:`track`, :func:`untrack`); this
module never imports one. What it does with the live ones:

- ``os.fork()``: before the fork, waits (bounded) for their threads' start-up imports; in
  the child, each is reset (``after_fork_child``: fresh queues, threads start with the first
  span). Locks our threads take are in ``otel_agents.forksafe``, new in the child.
- multiprocessing workers leave through ``os._exit`` (no ``atexit``): in a forked worker one
  multiprocessing finalizer flushes them all.
- SIGTERM, installed by ``setup()`` (:func:`install`) unless ``setup(handle_signals=False)``
  or ``OTEL_AGENTS_SIGTERM=no``. With no handler of the application's, the queues are
  flushed within the exit deadline, then the default action runs (the process dies of
  SIGTERM). A handler the application installed before is never replaced: ours flushes
  within the deadline without stopping anything, then calls it. An ignored SIGTERM
  (``SIG_IGN``) stays ignored.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
import weakref
from typing import Any, Protocol

from otel_agents import forksafe, threads
from otel_agents.flags import flag


class Participant(Protocol):
    """What the lifecycle needs of a live processor."""

    exit_deadline: float

    def shutdown(self, deadline: float | None = None) -> None: ...

    def force_flush(self, timeout_millis: int = 30_000) -> bool: ...

    def before_fork(self, deadline: float) -> None: ...

    def after_fork_child(self) -> None: ...


_live: weakref.WeakSet[Any] = weakref.WeakSet()
_fork_hooks = False


def _env_flag(name: str, default: bool) -> bool:
    """An on/off environment variable, read with the one truth table (``otel_agents.flags``);
    unset, empty or anything else: ``default``."""
    return flag(name, default)


def track(proc: Participant) -> None:
    """``proc`` is live: it takes part in fork, SIGTERM and worker exits until :func:`untrack`."""
    _install_fork_hooks()
    _live.add(proc)


def untrack(proc: Participant) -> None:
    _live.discard(proc)


def is_live(proc: Participant) -> bool:
    return proc in _live


def install(*, handle_signals: bool = True) -> None:
    """Called by ``setup()``: the fork hooks, and the SIGTERM flush unless ``handle_signals``
    is false or ``OTEL_AGENTS_SIGTERM`` is off. Idempotent."""
    _install_fork_hooks()
    if handle_signals and _env_flag("OTEL_AGENTS_SIGTERM", True):
        install_sigterm()


def shutdown_all(deadline: float | None = None) -> None:
    """Shut every live processor down, within one shared deadline (the longest of theirs)."""
    procs = list(_live)
    if not procs:
        return
    if deadline is None:
        deadline = time.monotonic() + max(p.exit_deadline for p in procs)
    for proc in procs:
        try:
            proc.shutdown(deadline=deadline)
        except Exception:  # noqa: BLE001
            pass


def flush_all(deadline: float) -> None:
    """Flush every live processor, leaving it running, until ``deadline`` at most."""
    for proc in list(_live):
        try:
            proc.force_flush(int(max(0.0, deadline - time.monotonic()) * 1000))
        except Exception:  # noqa: BLE001 - strict-mode errors, too: never from a signal handler
            pass


# --- fork and multiprocessing ------------------------------------------------------------------


def _install_fork_hooks() -> None:
    global _fork_hooks
    if _fork_hooks or not hasattr(os, "register_at_fork"):
        return
    _fork_hooks = True
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _before_fork() -> None:
    """A fork while a sink thread imports a module would leave the child a half-initialised
    module: let the live processors' threads finish their start-up imports first (bounded)."""
    deadline = time.monotonic() + 2.0
    for proc in list(_live):
        try:
            proc.before_fork(deadline)
        except Exception:  # noqa: BLE001 - never break a fork
            pass


class _MpToken:
    """Registered with ``multiprocessing.util.register_after_fork`` (it needs a weakref-able object)."""


_mp_token = _MpToken()
_mp_registered_pid = 0


def _register_mp_finalizer(_token: object) -> None:
    """In a multiprocessing child (after it cleared the parent's finalizers): one finalizer
    that flushes every live processor when the worker leaves through ``os._exit``."""
    global _mp_registered_pid
    if _mp_registered_pid == os.getpid():
        return
    _mp_registered_pid = os.getpid()
    from multiprocessing import util

    util.Finalize(None, shutdown_all, exitpriority=100)


def _after_fork_in_child() -> None:
    """Only the forking thread exists in the child (the fork-safe locks are new already):
    reset the live processors, and flush them from a multiprocessing worker's finalizers."""
    forksafe.renew_all()  # idempotent; in case a lock was registered after our hook
    procs = list(_live)
    for proc in procs:
        try:
            proc.after_fork_child()
        except Exception:  # noqa: BLE001 - never break a fork
            pass
    mp_util = sys.modules.get("multiprocessing.util")
    if procs and mp_util is not None:
        # registered after-fork callbacks run after multiprocessing clears its finalizers
        try:
            mp_util.register_after_fork(_mp_token, _register_mp_finalizer)
        except Exception:  # noqa: BLE001
            pass


# --- SIGTERM -------------------------------------------------------------------------------------

_sigterm_installed = False
#: the application's own handler, called after our flush (None: the default action)
_chained: Any = None

# SIGTERM state, plain values only: the handler must take no lock (see _on_sigterm)
_term_started = False
_term_done = False
_term_deadline = 0.0


def install_sigterm() -> bool:
    """Install the SIGTERM flush (main thread only); True if it is installed. An ignored
    SIGTERM, or a handler set outside Python, is left alone; a Python handler is chained."""
    global _sigterm_installed, _chained
    if _sigterm_installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN or previous is None:
            return False
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):
        return False
    _chained = previous if callable(previous) else None
    _sigterm_installed = True
    atexit.register(_sigterm_atexit)  # runs after the processors' own atexit shutdowns
    return True


def _on_sigterm(signum: int, frame: Any) -> None:
    """Flush every live processor within one deadline, then do what SIGTERM did before us:
    the application's handler, or the default action (die of SIGTERM).

    The handler runs in the main thread between two bytecodes of whatever it was doing.
    Usually that holds no lock the flush needs, and the flush runs right in the handler. But
    it may be inside one (``threading.Event.set`` in ``on_end`` holds the event's lock, and
    the flush sets the same event): then it takes no lock itself; it starts a helper thread
    (``_thread``: no ``threading`` locks) that flushes and signals again, and returns at
    once, so the main thread can let go of the lock. The second signal, once the flush is
    done, goes on as above. If the program ends by itself meanwhile, ``_sigterm_atexit``
    waits for the flush (and, with no handler of the application's, dies of SIGTERM).
    """
    global _term_started, _term_deadline
    if _term_done:
        _after_flush(signum, frame)
        return
    if _term_started:
        return  # flushing already: the helper signals when done
    _term_started = True
    _term_deadline = time.monotonic() + max([p.exit_deadline for p in list(_live)] or [0.0])
    if not _inside_locking_code(frame):
        _flush_then_signal(_term_deadline, kill=False)
        _after_flush(signum, frame)
        return
    try:
        import _thread

        threads.run_masked(lambda: _thread.start_new_thread(_flush_then_signal, (_term_deadline,)))
    except Exception:  # noqa: BLE001 - no thread possible: flush here, as best we can
        _flush_then_signal(_term_deadline, kill=False)
        _after_flush(signum, frame)


def await_sigterm_death() -> bool:
    """Called on the main thread when it ends a span while a SIGTERM flush runs on a helper
    thread and the process is to die of the signal: wait (bounded by the exit deadline) for
    the helper's second signal, whose handler ends the process. So the workflow does no more
    work after the signal than in the ordinary case, where the flush runs in the handler
    itself and holds the main thread. True if the caller waited (the span is refused)."""
    if not (_term_started and not _term_done and _chained is None):
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    until = _term_deadline + 0.5
    while time.monotonic() < until:
        time.sleep(0.002)  # the handler runs here, between two sleeps, and ends the process
    return True


def _after_flush(signum: int, frame: Any) -> None:
    """The flush is done: call the application's handler (ready for the next SIGTERM), or
    restore the default action and die of it."""
    global _term_started, _term_done
    handler = _chained
    if handler is None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    _term_started = _term_done = False
    handler(signum, frame)


_LOCKING_FILES = (os.sep + "threading.py", os.sep + "safety.py", os.sep + "queue.py", os.sep + "forksafe.py")


def _inside_locking_code(frame: Any) -> bool:
    """True if the interrupted main thread is inside code that may hold a lock the flush also
    takes (``threading``'s events and conditions, the error reporter): then the flush must run
    on another thread, after the main thread has let go of it."""
    depth = 0
    while frame is not None and depth < 64:
        if frame.f_code.co_filename.endswith(_LOCKING_FILES):
            return True
        frame = frame.f_back
        depth += 1
    return False


def _flush_then_signal(deadline: float, kill: bool = True) -> None:
    """With no handler of the application's the processors are shut down (the process is
    about to die); with one, only flushed: the application decides whether it ends."""
    global _term_done
    try:
        if _chained is None:
            shutdown_all(deadline)
        else:
            flush_all(deadline)
    except Exception:  # noqa: BLE001
        pass
    _term_done = True
    if kill:
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # the main thread's handler goes on from here
        except OSError:
            pass


def _sigterm_atexit() -> None:
    """The program ended by itself while a SIGTERM flush ran: wait for it (bounded), then,
    with no handler of the application's, die of SIGTERM, as the signal asked."""
    if not _term_started:
        return
    while _term_started and not _term_done and time.monotonic() < _term_deadline + 0.2:
        time.sleep(0.005)
    if _chained is None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
