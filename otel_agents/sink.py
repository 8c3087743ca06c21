"""The sink contract, and the span processor that fans finished spans out to sinks.

``SinkProcessor.on_end`` runs on the workflow's thread: it only appends the span to each
sink's bounded in-memory queue (O(1), never blocks, never raises in production). Every sink
has its own thread and queue, so a sink that raises, hangs or is slow never delays the
workflow or another sink, and never costs another sink a record.

At exit (``shutdown``, registered with ``atexit``) the processor waits for the queues to
drain for at most ``exit_deadline`` seconds in total, durable sinks (the spool) first, and
abandons whatever is still in flight after that: the threads are daemons, so a hung
collector cannot hold the process. What the OTLP sink could not send is in the spool for
``otel-agents replay``.

Also handled: ``os.fork()`` (the child starts its own threads and drops the parent's queue,
which the parent delivers), multiprocessing workers (flushed by a multiprocessing
finalizer, since they leave through ``os._exit``), and SIGTERM (when no handler is
installed, the queues are flushed within the deadline, then the default action runs).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import weakref
from collections import deque
from typing import Any, Protocol, Sequence, runtime_checkable

from otel_agents.safety import report, strict_mode

logger = logging.getLogger("otel_agents.sink")

DEFAULT_MAX_QUEUE = 100_000
DEFAULT_MAX_BATCH = 512
PERSIST_INTERVAL_S = 5.0
_LOG_INTERVAL_S = 60.0


@runtime_checkable
class Sink(Protocol):
    """A destination for finished spans. Return one from the ``register_sinks`` hook.

    ``export`` runs on the sink's own thread, never the workflow's; raising marks the batch
    failed for this sink only. Raise ``DeliveryError`` for an expected operational failure
    (collector down, disk full); any other exception is treated as a bug and reported.

    Optional members, used when present: ``durable`` (True: drained first at exit),
    ``recoverable`` (True: what it misses is recovered elsewhere, e.g. replay from the
    spool), ``max_batch``, ``linger`` (seconds to wait for a fuller batch), ``max_queue``,
    ``start()`` (on its thread, once), ``begin_shutdown(deadline)`` (the process is
    exiting; ``deadline`` is a ``time.monotonic()`` value; return at once),
    ``after_fork()`` (in a forked child), ``describe()`` (where it wrote, for people).
    """

    name: str

    def export(self, spans: Sequence[Any]) -> None:
        """Deliver a batch of finished ``ReadableSpan`` objects."""

    def close(self) -> None:
        """Release resources at shutdown."""


class DeliveryError(Exception):
    """An expected delivery failure (receiver down, refused, disk full): counted, logged
    at most once a minute per sink, never raised into a test as a bug. ``quiet``: log at
    debug level only (e.g. the OTLP default endpoint, which nobody configured, is down)."""

    def __init__(self, message: str, *, quiet: bool = False) -> None:
        super().__init__(message)
        self.quiet = quiet


class _Marker:
    """A flush marker: set once everything queued before it has been exported."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()


class _Lane:
    """One sink with its own queue and thread: its own failure domain."""

    def __init__(self, proc: SinkProcessor, sink: Any) -> None:
        from otel_agents.sinks.state import SinkStats

        self.proc = proc
        self.sink = sink
        self.name = str(getattr(sink, "name", type(sink).__name__))
        self.stats = SinkStats(self.name)
        self.cap = int(getattr(sink, "max_queue", DEFAULT_MAX_QUEUE))
        self.max_batch = max(1, int(getattr(sink, "max_batch", DEFAULT_MAX_BATCH)))
        self.linger = float(getattr(sink, "linger", 0.0) or 0.0)
        self.durable = bool(getattr(sink, "durable", False))
        self.recoverable = bool(getattr(sink, "recoverable", False))
        self._reset()

    def _reset(self) -> None:
        self.q: deque[Any] = deque()
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.inflight = 0
        self.ready = threading.Event()  # set once the sink's start() (imports) has finished
        self._drop_lock = threading.Lock()
        self._last_log = 0.0

    # --- producer side (workflow threads) --------------------------------------------------
    def drop(self, n: int) -> None:
        with self._drop_lock:
            self.stats.dropped += n

    # --- consumer side (the lane's thread) -------------------------------------------------
    def start_thread(self) -> None:
        t = threading.Thread(target=self.run, name=f"otel-agents-sink-{self.name}", daemon=True)
        self.thread = t
        t.start()

    def run(self) -> None:
        try:
            self._call_optional("start")
        finally:
            self.ready.set()
        q = self.q
        while True:
            dirty = self.proc.dirty_since_persist()
            self.wake.wait(PERSIST_INTERVAL_S if dirty else None)
            self.wake.clear()
            while q:
                if self.linger and not self.stop.is_set() and len(q) < self.max_batch:
                    self.stop.wait(self.linger)
                batch: list[Any] = []
                marker: _Marker | None = None
                while q and len(batch) < self.max_batch:
                    item = q.popleft()
                    if item.__class__ is _Marker:
                        marker = item
                        break
                    batch.append(item)
                if batch:
                    self.inflight = len(batch)
                    if self.stop.is_set() and not self.durable:
                        self.proc.wait_for_durable()  # at exit the spool gets the CPU first
                    self._export(batch)
                    self.inflight = 0
                    self.stats.backlog = len(q)
                if marker is not None:
                    marker.event.set()
            self.proc.maybe_persist()
            if self.stop.is_set() and not q:
                break
        self._call_optional("close")

    def _export(self, batch: list[Any]) -> None:
        try:
            self.sink.export(batch)
        except DeliveryError as exc:
            self.stats.failure(len(batch), str(exc))
            if exc.quiet:
                logger.debug("otel-agents: sink %s: %s", self.name, exc)
            else:
                self._log(exc)
        except Exception as exc:  # noqa: BLE001 - a sink bug must stay in its lane
            self.stats.failure(len(batch), exc)
            self._report(exc)
        else:
            self.stats.success(len(batch))

    def _call_optional(self, method: str, *args: Any) -> None:
        fn = getattr(self.sink, method, None)
        if not callable(fn):
            return
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001
            self._report(exc, where=f"sink {self.name}: {method}")

    def _report(self, exc: BaseException, where: str | None = None) -> None:
        try:
            report(where or f"sink {self.name}", exc)
        except Exception as strict:  # noqa: BLE001 - strict mode: surfaced by force_flush
            self.proc.strict_errors.append(strict)

    def _log(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_log >= _LOG_INTERVAL_S or not self._last_log:
            self._last_log = now
            logger.warning("otel-agents: sink %s: %s (%d failed batches so far; logged at most once a minute)",
                           self.name, exc, self.stats.failures)


_live: weakref.WeakSet[SinkProcessor] = weakref.WeakSet()
_sigterm_installed = False


class SinkProcessor:
    """A SpanProcessor fanning finished spans out to sinks, each on its own thread."""

    def __init__(self, sinks: Sequence[Any], config: Any = None) -> None:
        self.config = config
        self.home = getattr(config, "home", None)
        deadline = config["exit_deadline"] if config is not None else 0.5
        self.exit_deadline = max(0.0, float(deadline))
        self.strict_errors: list[BaseException] = []
        self._lanes = [_Lane(self, s) for s in sinks]
        # durable sinks first: at exit the spool gets the CPU before the network sinks do
        self._lanes.sort(key=lambda lane: not lane.durable)
        self._init_runtime_state()
        _live.add(self)
        _install_sigterm()
        self._start_threads()

    def _init_runtime_state(self) -> None:
        self._accepting = True
        self._shut = False
        self._deadline: float | None = None
        self._lane_deadline: float | None = None
        self._done = False
        self._accounted = False
        self._needs_start = False
        self._start_lock = threading.Lock()
        self._persist_lock = threading.Lock()
        self._last_persist = time.monotonic()

    @property
    def sinks(self) -> list[Any]:
        return [lane.sink for lane in self._lanes]

    def stats(self) -> dict[str, Any]:
        """This process's counters per sink name."""
        return {lane.name: lane.stats for lane in self._lanes}

    def _start_threads(self) -> None:
        with self._start_lock:  # two threads ending spans in a fresh child: one start
            for lane in self._lanes:
                if lane.thread is None:
                    lane.start_thread()
            self._needs_start = False

    # --- SpanProcessor interface -------------------------------------------------------------
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def _on_ending(self, span: Any) -> None:
        return None

    def on_end(self, span: Any) -> None:
        """Queue ``span`` for every sink: O(1), no I/O, no locks on the common path."""
        try:
            if self._needs_start:
                self._start_threads()
            if not self._accepting:
                for lane in self._lanes:
                    lane.drop(1)
                return
            for lane in self._lanes:
                q = lane.q
                if len(q) < lane.cap:
                    q.append(span)
                    if not lane.wake.is_set():
                        lane.wake.set()
                else:
                    lane.drop(1)
        except Exception as exc:  # noqa: BLE001 - never into the workflow
            report("sink processor on_end", exc)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait until everything queued so far is exported, at most ``timeout_millis``.

        In strict mode (tests) a sink bug seen meanwhile is raised here.
        """
        deadline = time.monotonic() + timeout_millis / 1000.0
        markers = []
        for lane in self._lanes:
            if lane.thread is None or not lane.thread.is_alive():
                continue
            m = _Marker()
            lane.q.append(m)
            lane.wake.set()
            markers.append(m)
        ok = all(m.event.wait(max(0.0, deadline - time.monotonic())) for m in markers)
        self.maybe_persist(force=True)
        if self.strict_errors and strict_mode():
            raise self.strict_errors.pop(0)
        return ok

    def shutdown(self) -> None:
        """Drain within ``exit_deadline`` seconds in total, then persist counters.

        Idempotent and re-entrant: a second call while the first is still draining (a
        SIGTERM handler interrupting the normal exit path, in the same thread) does the
        waiting itself, within the same deadline, so the default SIGTERM action that
        follows loses nothing the first call would have saved.
        """
        deadline = self._deadline
        first = deadline is None
        if first:
            deadline = self._deadline = time.monotonic() + self.exit_deadline
            self._shut = True
            self._accepting = False
        elif self._done:
            return
        lane_deadline = deadline - min(0.05, self.exit_deadline * 0.2)  # keep time to persist
        self._lane_deadline = lane_deadline
        if first:
            for lane in self._lanes:
                lane.stop.set()
                lane._call_optional("begin_shutdown", lane_deadline)
                lane.wake.set()
        for lane in self._lanes:  # durable first (sorted)
            if lane.thread is not None and lane.thread is not threading.current_thread():
                lane.thread.join(max(0.0, lane_deadline - time.monotonic()))
        if self._done:
            return
        if not self._accounted:
            self._accounted = True
            self._account_leftovers()
        self._persist(deadline=max(deadline, time.monotonic() + 0.01))
        self._done = True

    def wait_for_durable(self) -> None:
        """Exiting: block a non-durable sink's thread until the durable ones (the spool) are
        done, or the deadline passes, so what is accepted reaches the disk first."""
        deadline = self._lane_deadline
        if deadline is None:
            return
        for lane in self._lanes:
            if lane.durable and lane.thread is not None and lane.thread is not threading.current_thread():
                lane.thread.join(max(0.0, deadline - time.monotonic()))

    def _account_leftovers(self) -> None:
        """Count what a sink still had when the deadline passed: never a silent loss."""
        for lane in self._lanes:
            if lane.thread is None or not lane.thread.is_alive():
                continue
            left = sum(1 for item in list(lane.q) if item.__class__ is not _Marker) + lane.inflight
            lane.stats.backlog = left
            if not left:
                continue
            if lane.recoverable:
                lane.stats.add("left_for_replay", left)
            else:
                lane.drop(left)
                logger.warning("otel-agents: sink %s did not finish within the %.2f s exit deadline; "
                               "%d spans not written to it", lane.name, self.exit_deadline, left)

    # --- counters -------------------------------------------------------------------------
    def dirty_since_persist(self) -> bool:
        return any(lane.stats.deltas() for lane in self._lanes)

    def maybe_persist(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_persist < PERSIST_INTERVAL_S:
            return
        if not self._persist_lock.acquire(blocking=False):
            return
        try:
            self._persist(deadline=time.monotonic() + 0.5)
        finally:
            self._persist_lock.release()

    def _persist(self, deadline: float) -> None:
        if self.home is None:
            return
        self._last_persist = time.monotonic()
        try:
            from otel_agents.sinks import state

            state.persist(self.home, [lane.stats for lane in self._lanes], deadline=deadline)
        except Exception as exc:  # noqa: BLE001 - counters are best effort
            try:
                report("sink counters", exc)
            except Exception as strict:  # noqa: BLE001
                self.strict_errors.append(strict)

    # --- fork -----------------------------------------------------------------------------
    def _after_fork_child(self) -> None:
        """In a forked child: fresh queues and locks; threads start with the first span."""
        if self._shut:  # shut down in the parent: stays shut down
            self._persist_lock = threading.Lock()
            return
        for lane in self._lanes:
            lane._reset()  # the parent delivers what was queued before the fork
            lane.stats.forget()
            lane._call_optional("after_fork")
        self._init_runtime_state()
        self._needs_start = True
        mp_util = sys.modules.get("multiprocessing.util")
        if mp_util is not None:
            # multiprocessing children leave through os._exit (no atexit): flush from its
            # finalizers. Registered after-fork callbacks run after it clears them.
            mp_util.register_after_fork(self, _register_mp_finalizer)


def _register_mp_finalizer(proc: SinkProcessor) -> None:
    from multiprocessing import util

    util.Finalize(None, proc.shutdown, exitpriority=100)


def _before_fork() -> None:
    """A fork while a sink thread imports a module would leave the child a half-initialised
    module: let the sinks finish their start-up imports first (bounded)."""
    deadline = time.monotonic() + 2.0
    for proc in list(_live):
        for lane in proc._lanes:
            if lane.thread is not None and lane.thread.is_alive():
                lane.ready.wait(max(0.0, deadline - time.monotonic()))


def _after_fork_in_child() -> None:
    from otel_agents.sinks import state

    state._persist_lock = threading.Lock()
    for proc in list(_live):
        try:
            proc._after_fork_child()
        except Exception:  # noqa: BLE001 - never break a fork
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _install_sigterm() -> None:
    """Flush on SIGTERM when the application has no handler of its own (main thread only)."""
    global _sigterm_installed
    if _sigterm_installed or os.environ.get("OTEL_AGENTS_SIGTERM", "1").strip().lower() in ("0", "false", "off"):
        return
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
        _sigterm_installed = True
    except (ValueError, OSError, AttributeError):
        pass


def _on_sigterm(signum: int, frame: Any) -> None:
    """Flush (each processor within its deadline; already shut-down ones return at once),
    then die of SIGTERM as if we had not been here."""
    for proc in list(_live):
        try:
            proc.shutdown()
        except Exception:  # noqa: BLE001
            pass
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
