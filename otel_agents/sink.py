"""The sink contract, and the span processor that fans finished spans out to sinks.

``SinkProcessor.on_end`` runs on the workflow's thread: it only appends the span to each
sink's bounded in-memory queue (O(1), never blocks, never raises in production). Every sink
has its own thread and queue, so a sink that raises, hangs or is slow never delays the
workflow or another sink, and never costs another sink a record.

At exit (``shutdown``, registered with ``atexit``) the processor waits for the queues to
drain for at most ``exit_deadline`` seconds in total, durable sinks (the spool) first, and
abandons whatever is still in flight after that: the threads are daemons, so a hung
collector cannot hold the process. What the OTLP sink could not send is in the spool for
``otel-agents replay``. What a spool-recoverable sink (metrics, analytics) could not write,
because its batch failed or the deadline passed first, is listed by span id in
``state/pending/`` and written later from the spool (``otel_agents.sinks.recover``).

Also handled: ``os.fork()`` (the child starts its own threads and drops the parent's queue,
which the parent delivers; locks our threads may have held are new in the child),
multiprocessing workers (flushed by one multiprocessing finalizer, since they leave
through ``os._exit``), and SIGTERM (when no handler is installed, the queues are flushed
within the deadline, then the default action runs). Only live processors (not shut down)
take part in any of this.
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
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from otel_agents import threads
from otel_agents.safety import report, strict_mode

logger = logging.getLogger("otel_agents.sink")

DEFAULT_MAX_QUEUE = 100_000
DEFAULT_MAX_BATCH = 512
PERSIST_INTERVAL_S = 5.0
_LOG_INTERVAL_S = 60.0
#: At exit, a spool-recoverable sink starts no new batch with less time than this left:
#: the rest is listed for recovery instead (cheap), and the exit path keeps the CPU.
EXIT_BATCH_MARGIN_S = 0.03
#: Background recovery of pending spans: after the start (like replay), or after a sink
#: that failed works again.
RECOVER_START_DELAY_S = 1.0
RECOVER_AGAIN_DELAY_S = 0.5
_SPOOL_RECOVERABLE = ("metrics", "analytics")


@runtime_checkable
class Sink(Protocol):
    """A destination for finished spans. Return one from the ``register_sinks`` hook.

    ``export`` runs on the sink's own thread, never the workflow's; raising marks the batch
    failed for this sink only. Raise ``DeliveryError`` for an expected operational failure
    (collector down, disk full); any other exception is treated as a bug and reported.

    Optional members, used when present: ``durable`` (True: drained first at exit),
    ``recoverable`` (True: what it misses is recovered elsewhere, e.g. replay from the
    spool), ``spool_recoverable`` (True: a batch that fails with ``DeliveryError``, and what
    is still queued at the exit deadline, is listed in ``state/pending/`` and written later
    from the spool by ``otel_agents.sinks.recover``; only its built-in sinks), ``max_batch``,
    ``linger`` (seconds to wait for a fuller batch), ``max_queue``,
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


class Interrupted(Exception):
    """Raised inside a sink's export, before it has written anything, when the process is
    exiting and the sink should give the CPU to the spool (see :func:`should_yield`). The
    processor puts the batch back in the queue; it is not a failure."""


_tls = threading.local()


def should_yield() -> bool:
    """For a sink's CPU-heavy preparation (building records, rows), on a lane's thread:
    True when the process is exiting and this (non-durable) sink should stop now, because
    the spool is still draining, or too little time is left to finish a batch. Raise
    :class:`Interrupted` then, before writing anything. False on any other thread."""
    lane = getattr(_tls, "lane", None)
    return lane is not None and lane.proc.yield_to_exit(lane)


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
        # recovery knows how to write these sinks only (otel_agents.sinks.recover.RECOVERABLE)
        self.spool_recoverable = bool(getattr(sink, "spool_recoverable", False)) and self.name in _SPOOL_RECOVERABLE
        self._reset()

    def _reset(self) -> None:
        self.q: deque[Any] = deque()
        self.wake = threading.Event()
        #: True while the thread is about to wait, or waiting, for ``wake``: only then does a
        #: producer set it (an Event.set costs a lock and a futex wake; a busy lane sees the
        #: queue anyway)
        self.idle = False
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.inflight = 0
        #: the spans taken from ``q`` and not yet exported; moved from ``q`` under ``take_lock``
        #: so that at exit every span is in exactly one of the two
        self.batch: list[Any] = []
        self.take_lock = threading.Lock()
        self.ready = threading.Event()  # set once the sink's start() (imports) has finished
        self.pended = False  # spans listed for recovery since the last successful batch
        self.per_span = 0.0  # seconds per span of recent batches (wall clock), for the exit decision
        self._drop_lock = threading.Lock()
        self._last_log = 0.0

    # --- producer side (workflow threads) --------------------------------------------------
    def drop(self, n: int) -> None:
        # bounded: a SIGTERM handler may count drops while this thread is in here already
        got = self._drop_lock.acquire(timeout=0.05)
        try:
            self.stats.dropped += n
        finally:
            if got:
                self._drop_lock.release()

    # --- consumer side (the lane's thread) -------------------------------------------------
    def start_thread(self) -> None:
        t = threading.Thread(target=self.run, name=f"otel-agents-sink-{self.name}", daemon=True)
        self.thread = t
        threads.start(t)

    def run(self) -> None:
        _tls.lane = self
        try:
            self._call_optional("start")
        finally:
            self.ready.set()
        q = self.q
        proc = self.proc
        exiting_early = False
        while True:
            dirty = proc.dirty_since_persist()
            self.idle = True  # before looking at the queue: a span queued after this wakes us
            if not q:
                self.wake.wait(PERSIST_INTERVAL_S if dirty else None)
            self.idle = False
            self.wake.clear()
            while q:
                if self.linger and not self.stop.is_set() and len(q) < self.max_batch:
                    self.stop.wait(self.linger)
                if self.stop.is_set() and self.durable and proc.exit_time_left() <= 0:
                    exiting_early = True  # past the deadline: the exit path needs the CPU now
                    break
                if self.stop.is_set() and not self.durable:
                    proc.wait_for_durable()  # at exit the spool gets the CPU first
                    if self.spool_recoverable and proc.can_pend:
                        left = proc.exit_time_left()
                        # not enough time left to finish (at the pace measured so far): list the
                        # rest for recovery at once instead of holding the exit for part of it
                        if left < EXIT_BATCH_MARGIN_S or len(q) * self.per_span > left:
                            exiting_early = True
                            break
                marker: _Marker | None = None
                with self.take_lock:
                    batch: list[Any] = []
                    self.batch = batch
                    while q and len(batch) < self.max_batch:
                        item = q.popleft()
                        if item.__class__ is _Marker:
                            marker = item
                            break
                        batch.append(item)
                if batch:
                    self.inflight = len(batch)
                    t0 = time.monotonic()
                    if not self._export(batch):  # interrupted at exit: back to the queue
                        with self.take_lock:
                            if marker is not None:
                                q.appendleft(marker)
                                marker = None
                            q.extendleft(reversed(batch))
                            self.batch = []
                        self.inflight = 0
                        continue
                    self.batch = []
                    self.inflight = 0
                    self.stats.backlog = len(q)
                    per = (time.monotonic() - t0) / len(batch)
                    self.per_span = per if not self.per_span else 0.7 * self.per_span + 0.3 * per
                if marker is not None:
                    marker.event.set()
            proc.maybe_persist()
            if exiting_early or (self.stop.is_set() and not q):
                break
        self._call_optional("close")

    def _export(self, batch: list[Any]) -> bool:
        """Export one batch; False if the sink gave it back (:class:`Interrupted`)."""
        try:
            self.sink.export(batch)
        except Interrupted:
            return False
        except DeliveryError as exc:
            self.stats.failure(len(batch), str(exc))
            if self.spool_recoverable:
                self.proc.pend(self, batch)
            if exc.quiet:
                logger.debug("otel-agents: sink %s: %s", self.name, exc)
            else:
                self._log(exc)
        except Exception as exc:  # noqa: BLE001 - a sink bug must stay in its lane
            self.stats.failure(len(batch), exc)
            self._report(exc)
        else:
            self.stats.success(len(batch))
            if self.pended:
                self.pended = False
                self.proc.request_recovery()  # it works again: write what it missed
        return True

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
        # spans a spool-recoverable sink missed can be listed for recovery (needs the spool)
        self.can_pend = self.home is not None and any(
            lane.durable and lane.name == "spool" for lane in self._lanes)
        self._recover_on_start = bool(config.get("replay.on_start", True)) if config is not None else False
        self._init_runtime_state()
        _live.add(self)
        _install_sigterm()
        self._start_threads()
        if self._recover_on_start:
            self.request_recovery(delay=RECOVER_START_DELAY_S)

    def _init_runtime_state(self) -> None:
        self._accepting = True
        self._shut = False
        self._deadline: float | None = None
        self._lane_deadline: float | None = None
        self._done = False
        self._accounted = False
        self._needs_start = False
        self._start_lock = threading.Lock()
        self._finish_lock = threading.Lock()
        self._persist_lock = threading.Lock()
        self._last_persist = time.monotonic()
        self._recover_stop = threading.Event()
        self._recover_thread: threading.Thread | None = None
        self._recover_ready = threading.Event()
        self._recover_lock = threading.Lock()

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
                    if lane.idle and not lane.wake.is_set():
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

    def shutdown(self, deadline: float | None = None) -> None:
        """Drain within ``exit_deadline`` seconds in total, then persist counters.

        ``deadline`` (a ``time.monotonic()`` value): an earlier limit shared with other
        processors (a SIGTERM or a multiprocessing worker's end shuts them all down).

        Idempotent and re-entrant: a second call while the first is still draining (a
        SIGTERM handler interrupting the normal exit path, in the same thread) does the
        waiting itself, within the same deadline, so the default SIGTERM action that
        follows loses nothing the first call would have saved.
        """
        first = self._deadline is None
        if first:
            own = time.monotonic() + self.exit_deadline
            self._deadline = own if deadline is None else min(own, deadline)
            self._shut = True
            self._accepting = False
            # stays in _live until done: a SIGTERM arriving meanwhile (a Pool terminating a
            # worker that is already exiting) must wait for this flush, not die in the middle
            self._recover_stop.set()
        elif self._done:
            return
        deadline = self._deadline
        assert deadline is not None
        if first:
            # keep time to list what the local sinks have left (~1-2 us a span of CPU, more on
            # a loaded machine) and to persist the counters (~10-30 ms)
            span = max(0.0, deadline - time.monotonic())
            backlog = max((len(lane.q) + len(lane.batch) for lane in self._lanes
                           if lane.spool_recoverable and self.can_pend), default=0)
            reserve = min(max(0.05, 0.03 + 3.5e-6 * backlog), 0.4 * span)
            self._lane_deadline = deadline - reserve
        lane_deadline = self._lane_deadline
        assert lane_deadline is not None
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
        # a SIGTERM flush (on its helper thread) and the normal exit path may both get here:
        # one of them lists the leftovers and persists, the other waits for it (bounded)
        got = self._finish_lock.acquire(timeout=max(0.0, deadline - time.monotonic()) + 0.05)
        try:
            if self._done:
                return
            if not self._accounted:
                self._accounted = True
                self._account_leftovers()
            self._persist(deadline=max(deadline, time.monotonic() + 0.01))
            self._done = True
            _live.discard(self)
        finally:
            if got:
                self._finish_lock.release()

    def yield_to_exit(self, lane: _Lane) -> bool:
        """See :func:`should_yield`."""
        if self._lane_deadline is None or lane.durable:
            return False
        if self.exit_time_left() < EXIT_BATCH_MARGIN_S:
            # a recoverable sink stops (its rest is listed); any other finishes what it can
            return lane.spool_recoverable and self.can_pend
        return any(other.durable and other.thread is not None and other.thread.is_alive() for other in self._lanes)

    def exit_time_left(self) -> float:
        """Seconds left until the lanes' exit deadline (infinite when not exiting)."""
        d = self._lane_deadline
        return float("inf") if d is None else d - time.monotonic()

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
        """Count what a sink still had when the deadline passed: never a silent loss. A
        spool-recoverable sink's leftovers are listed for recovery (``state/pending/``)."""
        self._pend_memo: dict[Any, Any] = {}  # the local sinks usually have the same leftovers
        for lane in self._lanes:
            alive = lane.thread is not None and lane.thread.is_alive()
            if lane.spool_recoverable and self.can_pend:
                # the lane may have stopped early (exit margin): its queue still counts
                got = lane.take_lock.acquire(timeout=0.05)
                try:
                    left_spans = [i for i in list(lane.q) if i.__class__ is not _Marker] + list(lane.batch)
                finally:
                    if got:
                        lane.take_lock.release()
                lane.stats.backlog = len(left_spans)
                if left_spans:
                    self._pend_spans(lane, left_spans, at_exit=True)
                continue
            if lane.thread is None:
                continue  # never started (a forked child that ended no span)
            # a lane that stopped at the deadline (the spool) has left its queue as it was
            left = sum(1 for item in list(lane.q) if item.__class__ is not _Marker) + (lane.inflight if alive else 0)
            lane.stats.backlog = left
            if not left:
                continue
            if lane.recoverable:
                lane.stats.add("left_for_replay", left)
            else:
                lane.drop(left)
                logger.warning("otel-agents: sink %s did not finish within the %.2f s exit deadline; "
                               "%d spans were still queued (counted as not written to it)",
                               lane.name, self.exit_deadline, left)

    # --- recovery of what spool-recoverable sinks missed -------------------------------------
    def pend(self, lane: _Lane, spans: Sequence[Any]) -> None:
        """``spans`` failed for ``lane``: list them for recovery from the spool (lane thread)."""
        if not self.can_pend:
            return
        self._pend_spans(lane, spans, at_exit=False)

    def _pend_spans(self, lane: _Lane, spans: Sequence[Any], *, at_exit: bool) -> None:
        if self.home is None:  # only sinks with a home pend (can_pend)
            return
        try:
            from otel_agents.sinks.pending import write_pending_spans

            write_pending_spans(self.home, lane.name, spans, memo=self._pend_memo if at_exit else None)
        except Exception as exc:  # noqa: BLE001 - disk full: counted, never raised
            lane.drop(len(spans))
            logger.warning("otel-agents: sink %s: cannot list %d spans for recovery (%s: %s); "
                           "they are not written to it", lane.name, len(spans), type(exc).__name__, exc)
            return
        lane.stats.add("left_for_recovery" if at_exit else "failed_for_recovery", len(spans))
        lane.pended = True

    def request_recovery(self, delay: float = RECOVER_AGAIN_DELAY_S) -> None:
        """Start a background recovery of pending spans (unless one runs in this process)."""
        if not self.can_pend or self._shut:
            return
        names = [lane.name for lane in self._lanes if lane.spool_recoverable]
        if not names:
            return
        with self._recover_lock:
            t = self._recover_thread
            if t is not None and t.is_alive():
                return
            self._recover_ready = threading.Event()
            t = threading.Thread(target=self._recover_run, args=(names, delay, self._recover_ready),
                                 name="otel-agents-recover", daemon=True)
            self._recover_thread = t
            threads.start(t)

    def _recover_run(self, names: list[str], delay: float, ready: threading.Event) -> None:
        try:
            from otel_agents.sinks import analytics, metrics, recover  # noqa: F401 - imported before any fork
        except Exception:  # noqa: BLE001
            ready.set()
            return
        ready.set()
        recover.background_recover(self.config, names, self._recover_stop, delay)

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
        for lane in self._lanes:
            lane._reset()  # the parent delivers what was queued before the fork
            lane.stats.forget()
            lane._call_optional("after_fork")
        self._init_runtime_state()
        self._needs_start = True


def _shutdown_all(deadline: float | None = None) -> None:
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

    util.Finalize(None, _shutdown_all, exitpriority=100)


def _before_fork() -> None:
    """A fork while a sink thread imports a module would leave the child a half-initialised
    module: let the sinks (and a recovery thread) finish their start-up imports first (bounded)."""
    deadline = time.monotonic() + 2.0
    for proc in list(_live):
        for lane in proc._lanes:
            if lane.thread is not None and lane.thread.is_alive():
                lane.ready.wait(max(0.0, deadline - time.monotonic()))
        t = proc._recover_thread
        if t is not None and t.is_alive():
            proc._recover_ready.wait(max(0.0, deadline - time.monotonic()))


def _after_fork_in_child() -> None:
    """Only the forking thread exists in the child: every lock another of our threads held
    at the fork stays held forever. Replace them all, then reset the live processors."""
    try:
        from otel_agents import safety
        from otel_agents.sinks import records, state

        state._persist_lock = threading.Lock()
        records._built_lock = threading.Lock()
        if isinstance(getattr(safety, "_lock", None), type(threading.Lock())):
            safety._lock = threading.Lock()
    except Exception:  # noqa: BLE001 - never break a fork
        pass
    procs = list(_live)
    for proc in procs:
        try:
            proc._after_fork_child()
        except Exception:  # noqa: BLE001 - never break a fork
            pass
    mp_util = sys.modules.get("multiprocessing.util")
    if procs and mp_util is not None:
        # multiprocessing children leave through os._exit (no atexit): flush from its
        # finalizers. Registered after-fork callbacks run after it clears them.
        try:
            mp_util.register_after_fork(_mp_token, _register_mp_finalizer)
        except Exception:  # noqa: BLE001
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
        import atexit

        atexit.register(_sigterm_atexit)  # runs after the processors' own atexit shutdowns
    except (ValueError, OSError, AttributeError):
        pass


# SIGTERM state, plain values only: the handler must take no lock (see _on_sigterm)
_term_started = False
_term_done = False
_term_deadline = 0.0


def _on_sigterm(signum: int, frame: Any) -> None:
    """Flush every live processor within one deadline, then die of SIGTERM as if we had not
    been here.

    The handler runs in the main thread between two bytecodes of whatever it was doing.
    Usually that holds no lock the flush needs, and the flush runs right in the handler (the
    program never resumes). But it may be inside one (``threading.Event.set`` in ``on_end``
    holds the event's lock, and the flush sets the same event): then it takes no lock
    itself; it starts a helper thread (``_thread``: no ``threading`` locks) that flushes and
    signals again, and returns at once, so the main thread can let go of the lock (spans it
    ends meanwhile are refused and counted). The second signal, once the flush is done,
    restores the default action and dies of it. If the program ends by itself meanwhile,
    ``_sigterm_atexit`` waits for the flush and dies of SIGTERM all the same.
    """
    global _term_started, _term_done, _term_deadline
    if _term_done:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    if _term_started:
        return  # flushing already: the helper signals when done
    _term_started = True
    _term_deadline = time.monotonic() + max([p.exit_deadline for p in list(_live)] or [0.0])
    if not _inside_locking_code(frame):
        # the common case: the main thread holds none of the locks the flush takes, so flush
        # right here; the program never resumes, so nothing is ended after the signal
        _flush_then_signal(_term_deadline, kill=False)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    try:
        import _thread

        threads.run_masked(lambda: _thread.start_new_thread(_flush_then_signal, (_term_deadline,)))
    except Exception:  # noqa: BLE001 - no thread possible: flush here, as best we can
        _flush_then_signal(_term_deadline, kill=False)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


_LOCKING_FILES = (os.sep + "threading.py", os.sep + "safety.py", os.sep + "queue.py")


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
    global _term_done
    try:
        _shutdown_all(deadline)
    except Exception:  # noqa: BLE001
        pass
    _term_done = True
    if kill:
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # the main thread's handler now dies of it
        except OSError:
            pass


def _sigterm_atexit() -> None:
    """The program ended by itself while a SIGTERM flush ran: wait for it (bounded), then
    die of SIGTERM, as the signal asked."""
    if not _term_started:
        return
    while not _term_done and time.monotonic() < _term_deadline + 0.2:
        time.sleep(0.005)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
