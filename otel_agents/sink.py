"""The span processor that fans finished spans out to sinks (the contract they follow is
in ``otel_agents.sink_contract``).

``SinkProcessor.on_end`` runs on the workflow's thread: it only appends the span to each
sink's bounded in-memory queue (O(1), never blocks, never raises in production). Every sink
has its own thread and queue, so a sink that raises, hangs or is slow never delays the
workflow or another sink, and never costs another sink a record.

At exit (``shutdown``, registered with ``atexit``) the processor waits for the queues to
drain for at most ``exit_deadline`` seconds in total, durable sinks (the spool) first, and
abandons whatever is still in flight after that: the threads are daemons, so a hung
collector cannot hold the process. Spans that end meanwhile are still queued, until the
processor is sealed (the queues are empty, or the deadline passed); after that they are
refused and counted. What the OTLP sink could not send is in the spool for
``otel-agents replay``. What a sink with a ``recovery`` could not write, because its batch
failed or the deadline passed first, is handed to that recovery (the built-in one lists it
in ``state/pending/`` and writes it later from the spool). A non-durable sink whose
``export`` takes a ``stop`` argument is told to stop early at exit, while the spool still
needs the CPU.

Fork, SIGTERM and multiprocessing workers are handled by ``otel_agents.lifecycle``, with
which a live processor (not shut down) registers.
"""

from __future__ import annotations

import enum
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from otel_agents import lifecycle, threads
from otel_agents.foundation.state import SinkStats, persist
from otel_agents.safety import report, strict_mode
from otel_agents.sink_contract import DeliveryError, Interrupted, Recovery

logger = logging.getLogger("otel_agents.sink")

DEFAULT_MAX_QUEUE = 100_000
DEFAULT_MAX_BATCH = 512
PERSIST_INTERVAL_S = 5.0
_LOG_INTERVAL_S = 60.0
#: At exit, a sink with a recovery starts no new batch with less time than this left: the
#: rest is handed to recovery instead (cheap), and the exit path keeps the CPU.
EXIT_BATCH_MARGIN_S = 0.03
#: Background recovery of pending spans: after the start (like replay), or after a sink
#: that failed works again.
RECOVER_START_DELAY_S = 1.0
RECOVER_AGAIN_DELAY_S = 0.5


class State(enum.Enum):
    """A processor's shutdown state."""

    RUNNING = "running"  # accepting spans
    DRAINING = "draining"  # shutting down: spans are refused, the queues drain
    DONE = "done"  # leftovers accounted for, counters persisted


def _takes_stop(sink: Any) -> bool:
    """True if ``sink.export`` accepts the ``stop`` signal."""
    try:
        return "stop" in inspect.signature(sink.export).parameters
    except (TypeError, ValueError, AttributeError):
        return False


class _Marker:
    """A flush marker: set once everything queued before it has been exported."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()


class _Lane:
    """One sink with its own queue and thread: its own failure domain."""

    def __init__(self, proc: SinkProcessor, sink: Any) -> None:
        self.proc = proc
        self.sink = sink
        self.name = str(getattr(sink, "name", type(sink).__name__))
        self.stats = SinkStats(self.name)
        self.cap = int(getattr(sink, "max_queue", DEFAULT_MAX_QUEUE))
        self.max_batch = max(1, int(getattr(sink, "max_batch", DEFAULT_MAX_BATCH)))
        self.linger = float(getattr(sink, "linger", 0.0) or 0.0)
        self.durable = bool(getattr(sink, "durable", False))
        self.recoverable = bool(getattr(sink, "recoverable", False))
        #: given by whoever registered the sink: what it misses is written later
        self.recovery: Recovery | None = getattr(sink, "recovery", None) if proc.home is not None else None
        self.takes_stop = _takes_stop(sink)
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
        #: the spans taken from ``q`` and not yet exported; moved from ``q`` under ``take_lock``
        #: so that at exit every span is in exactly one of the two
        self.batch: list[Any] = []
        self.take_lock = threading.Lock()
        self.ready = threading.Event()  # set once the sink's start() (imports) has finished
        #: exiting: set when the thread has emptied its queue (it then waits for more spans
        #: until the processor is sealed, or for the deadline)
        self.drained = threading.Event()
        self.pended = False  # spans listed for recovery since the last successful batch
        self.per_span = 0.0  # seconds per span of recent batches (wall clock), for the exit decision
        self._drop_lock = threading.Lock()
        self._last_log = 0.0

    @property
    def inflight(self) -> int:
        """Spans taken from the queue and not yet exported."""
        return len(self.batch)

    def should_stop(self) -> bool:
        """The stop signal passed to the sink's ``export``: see :meth:`SinkProcessor.yield_to_exit`."""
        return self.proc.yield_to_exit(self)

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
                    if self.recovery is not None:
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
                    t0 = time.monotonic()
                    if not self._export(batch):  # interrupted at exit: back to the queue
                        with self.take_lock:
                            if marker is not None:
                                q.appendleft(marker)
                                marker = None
                            q.extendleft(reversed(batch))
                            self.batch = []
                        continue
                    self.batch = []
                    self.stats.backlog = len(q)
                    per = (time.monotonic() - t0) / len(batch)
                    self.per_span = per if not self.per_span else 0.7 * self.per_span + 0.3 * per
                if marker is not None:
                    marker.event.set()
            proc.maybe_persist()
            if exiting_early:
                break
            if self.stop.is_set() and not q:
                if proc.sealed:
                    break
                # spans still end while the process exits (other threads, or the main thread
                # after a SIGTERM flush moved to a helper thread): they are accepted until the
                # processor is sealed, so stay until then
                self.drained.set()
        self.drained.set()
        self._call_optional("close")

    def _export(self, batch: list[Any]) -> bool:
        """Export one batch; False if the sink gave it back (:class:`Interrupted`)."""
        try:
            if self.takes_stop:
                self.sink.export(batch, stop=self.should_stop)
            else:
                self.sink.export(batch)
        except Interrupted:
            return False
        except DeliveryError as exc:
            self.stats.failure(len(batch), str(exc))
            if self.recovery is not None:
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
            logger.warning(
                "otel-agents: sink %s: %s (%d failed batches so far; logged at most once a minute)",
                self.name,
                exc,
                self.stats.failures,
            )


def _busy(lane: _Lane) -> bool:
    """Exiting: the lane's thread still has spans to write."""
    return lane.thread is not None and lane.thread.is_alive() and (bool(lane.q) or not lane.drained.is_set())


class SinkProcessor:
    """A SpanProcessor fanning finished spans out to sinks, each on its own thread."""

    def __init__(self, sinks: Sequence[Any], config: Any = None) -> None:
        """``sinks`` may carry a ``recovery`` (``otel_agents.sink_contract.Recovery``), given
        by whoever registered them: it is used when ``config`` has a data home."""
        self.config = config
        self.home = getattr(config, "home", None)
        deadline = config["exit_deadline"] if config is not None else 0.5
        self.exit_deadline = max(0.0, float(deadline))
        self.strict_errors: list[BaseException] = []
        self._lanes = [_Lane(self, s) for s in sinks]
        # durable sinks first: at exit the spool gets the CPU before the network sinks do
        self._lanes.sort(key=lambda lane: not lane.durable)
        self._recover_on_start = bool(config.get("replay.on_start", True)) if config is not None else False
        self._init_runtime_state()
        lifecycle.track(self)
        self._start_threads()
        if self._recover_on_start:
            self.request_recovery(delay=RECOVER_START_DELAY_S)

    def _init_runtime_state(self) -> None:
        #: what the sinks get of a finished span, when set (``ForeignSpans.for_sinks``: other
        #: instrumentations' spans under our privacy settings); ``None``: the span itself
        self.prepare: Any = getattr(self, "prepare", None)
        self._state = State.RUNNING
        self._deadline: float | None = None
        self._lane_deadline: float | None = None
        self._account_once = threading.Lock()  # taken once, never released: leftovers counted once
        self._start_lock = threading.Lock()
        self._finish_lock = threading.Lock()
        #: exiting: spans are still queued until sealed (see :meth:`_accept_while_draining`)
        self._seal_lock = threading.Lock()
        self.sealed = False
        self._persist_lock = threading.Lock()
        self._last_persist = time.monotonic()
        self._recover_stop = threading.Event()
        self._recover_thread: threading.Thread | None = None
        self._recover_ready = threading.Event()
        self._recover_lock = threading.Lock()

    @property
    def state(self) -> State:
        """Running, draining (shutting down) or done."""
        return self._state

    def _done(self) -> bool:
        return self._state is State.DONE

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

    # --- SpanProcessor interface -------------------------------------------------------------
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def _on_ending(self, span: Any) -> None:
        return None

    def on_end(self, span: Any) -> None:
        """Queue ``span`` for every sink: O(1), no I/O, no locks on the common path."""
        try:
            if self._state is not _RUNNING:
                if lifecycle.await_sigterm_death():
                    for lane in self._lanes:
                        lane.drop(1)
                    return
                if not self._accept_while_draining(span):
                    for lane in self._lanes:
                        lane.drop(1)
                return
            prepare = self.prepare
            if prepare is not None:
                span = prepare(span)
            for lane in self._lanes:
                if lane.thread is None:  # a forked child: threads start with its first span
                    self._start_threads()
                q = lane.q
                if len(q) < lane.cap:
                    q.append(span)
                    if lane.idle and not lane.wake.is_set():
                        lane.wake.set()
                else:
                    lane.drop(1)
        except Exception as exc:  # noqa: BLE001 - never into the workflow
            report("sink processor on_end", exc)

    def _accept_while_draining(self, span: Any) -> bool:
        """Exiting, not sealed yet: queue ``span`` as :meth:`on_end` does (the lanes write it
        if the deadline allows; what they cannot is accounted for with the rest). False once
        sealed: refused, and counted by the caller."""
        if self._state is not State.DRAINING or self.sealed:
            return False
        # bounded: a SIGTERM handler on this thread may seal while we are in here
        if not self._seal_lock.acquire(timeout=0.01):
            return False
        try:
            if self.sealed:
                return False
            if self.prepare is not None:
                span = self.prepare(span)
            for lane in self._lanes:
                if lane.thread is None or len(lane.q) >= lane.cap:
                    lane.drop(1)
                    continue
                lane.q.append(span)
                if lane.idle and not lane.wake.is_set():
                    lane.wake.set()
            return True
        finally:
            self._seal_lock.release()

    def _seal(self) -> None:
        """No span is queued after this: what the lanes hold now is all there is to account for."""
        got = self._seal_lock.acquire(timeout=0.05)
        try:
            self.sealed = True
        finally:
            if got:
                self._seal_lock.release()
        for lane in self._lanes:
            lane.wake.set()

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
        first = self._state is State.RUNNING
        if first:
            own = time.monotonic() + self.exit_deadline
            self._deadline = own if deadline is None else min(own, deadline)
            self._state = State.DRAINING
            # stays live until done: a SIGTERM arriving meanwhile (a Pool terminating a
            # worker that is already exiting) must wait for this flush, not die in the middle
            self._recover_stop.set()
        elif self._state is State.DONE:
            return
        deadline = self._deadline
        assert deadline is not None
        if first:
            # keep time to list what the local sinks have left (~1-2 us a span of CPU, more on
            # a loaded machine) and to persist the counters (~10-30 ms)
            span = max(0.0, deadline - time.monotonic())
            backlog = max(
                (len(lane.q) + len(lane.batch) for lane in self._lanes if lane.recovery is not None), default=0
            )
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
                lane.drained.wait(max(0.0, lane_deadline - time.monotonic()))
        self._seal()
        for lane in self._lanes:  # a span queued before the seal is written first
            if lane.thread is not None and lane.thread is not threading.current_thread():
                lane.thread.join(max(0.0, lane_deadline - time.monotonic()))
        if self._done():  # another thread (a SIGTERM flush) finished meanwhile
            return
        # a SIGTERM flush (on its helper thread) and the normal exit path may both get here:
        # one of them lists the leftovers and persists, the other waits for it (bounded)
        got = self._finish_lock.acquire(timeout=max(0.0, deadline - time.monotonic()) + 0.05)
        try:
            if self._done():
                return
            if self._account_once.acquire(blocking=False):
                self._account_leftovers()
            self._persist(deadline=max(deadline, time.monotonic() + 0.01))
            self._state = State.DONE
            lifecycle.untrack(self)
        finally:
            if got:
                self._finish_lock.release()

    def yield_to_exit(self, lane: _Lane) -> bool:
        """A lane's stop signal, for a sink's CPU-heavy preparation (building records, rows):
        True when the process is exiting and this (non-durable) sink should stop now, because
        the spool is still draining, or too little time is left to finish a batch."""
        if self._lane_deadline is None or lane.durable:
            return False
        if self.exit_time_left() < EXIT_BATCH_MARGIN_S:
            # a sink with a recovery stops (its rest is handed over); any other finishes what it can
            return lane.recovery is not None
        return any(other.durable and _busy(other) for other in self._lanes)

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
                lane.drained.wait(max(0.0, deadline - time.monotonic()))

    def _account_leftovers(self) -> None:
        """Count what a sink still had when the deadline passed: never a silent loss. The
        leftovers of a sink with a recovery are handed to it."""
        self._pend_memo: dict[Any, Any] = {}  # the local sinks usually have the same leftovers
        for lane in self._lanes:
            alive = lane.thread is not None and lane.thread.is_alive()
            if lane.recovery is not None:
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
                logger.warning(
                    "otel-agents: sink %s did not finish within the %.2f s exit deadline; "
                    "%d spans were still queued (counted as not written to it)",
                    lane.name,
                    self.exit_deadline,
                    left,
                )

    # --- recovery of what sinks with a recovery missed ---------------------------------------
    def pend(self, lane: _Lane, spans: Sequence[Any]) -> None:
        """``spans`` failed for ``lane``: hand them to its recovery (lane thread)."""
        if lane.recovery is None:
            return
        self._pend_spans(lane, spans, at_exit=False)

    def _pend_spans(self, lane: _Lane, spans: Sequence[Any], *, at_exit: bool) -> None:
        assert lane.recovery is not None
        try:
            lane.recovery.pend(lane.name, spans, self._pend_memo if at_exit else None)
        except Exception as exc:  # noqa: BLE001 - disk full: counted, never raised
            lane.drop(len(spans))
            logger.warning(
                "otel-agents: sink %s: cannot list %d spans for recovery (%s: %s); they are not written to it",
                lane.name,
                len(spans),
                type(exc).__name__,
                exc,
            )
            return
        lane.stats.add("left_for_recovery" if at_exit else "failed_for_recovery", len(spans))
        lane.pended = True

    def request_recovery(self, delay: float = RECOVER_AGAIN_DELAY_S) -> None:
        """Start a background recovery of pending spans (unless one runs in this process)."""
        if self._state is not State.RUNNING:
            return
        jobs: dict[int, tuple[Recovery, list[str]]] = {}
        for lane in self._lanes:
            if lane.recovery is not None:
                jobs.setdefault(id(lane.recovery), (lane.recovery, []))[1].append(lane.name)
        if not jobs:
            return
        with self._recover_lock:
            t = self._recover_thread
            if t is not None and t.is_alive():
                return
            self._recover_ready = threading.Event()
            t = threading.Thread(
                target=self._recover_run,
                args=(list(jobs.values()), delay, self._recover_ready),
                name="otel-agents-recover",
                daemon=True,
            )
            self._recover_thread = t
            threads.start(t)

    def _recover_run(self, jobs: list[tuple[Recovery, list[str]]], delay: float, ready: threading.Event) -> None:
        try:
            for recovery, _names in jobs:
                recovery.prepare()
        except Exception as exc:  # noqa: BLE001
            ready.set()
            self._report_error("sink recovery", exc)
            return
        ready.set()
        for recovery, names in jobs:
            try:
                recovery.run(names, self._recover_stop, delay)
            except Exception as exc:  # noqa: BLE001 - background work must never surface
                self._report_error("sink recovery", exc)

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
            persist(self.home, [lane.stats for lane in self._lanes], deadline=deadline)
        except Exception as exc:  # noqa: BLE001 - counters are best effort
            self._report_error("sink counters", exc)

    def _report_error(self, where: str, exc: BaseException) -> None:
        try:
            report(where, exc)
        except Exception as strict:  # noqa: BLE001 - strict mode: surfaced by force_flush
            self.strict_errors.append(strict)

    # --- fork (called by otel_agents.lifecycle) ----------------------------------------------
    def before_fork(self, deadline: float) -> None:
        """Let the threads finish their start-up imports (until ``deadline``)."""
        for lane in self._lanes:
            if lane.thread is not None and lane.thread.is_alive():
                lane.ready.wait(max(0.0, deadline - time.monotonic()))
        t = self._recover_thread
        if t is not None and t.is_alive():
            self._recover_ready.wait(max(0.0, deadline - time.monotonic()))

    def after_fork_child(self) -> None:
        """In a forked child: fresh queues and locks; threads start with the first span."""
        for lane in self._lanes:
            lane._reset()  # the parent delivers what was queued before the fork
            lane.stats.forget()
            lane._call_optional("after_fork")
        self._init_runtime_state()


_RUNNING = State.RUNNING
