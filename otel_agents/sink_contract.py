"""The sink contract: what a sink is, how it fails, how it is told to stop, and how what
it missed is recovered. Sinks, the span processor and the foundations import this module,
never each other; it imports the standard library only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

#: The stop signal the processor passes to ``export(spans, stop=...)``: True when the process
#: is exiting and the sink should give the CPU back now, before it has written anything
#: (raise :class:`Interrupted` then). Cheap to call; call it every few dozen items.
Stop = Callable[[], bool]


@runtime_checkable
class Sink(Protocol):
    """A destination for finished spans. Return one from the ``register_sinks`` hook.

    ``export`` runs on the sink's own thread, never the workflow's; raising marks the batch
    failed for this sink only. Raise :class:`DeliveryError` for an expected operational
    failure (collector down, disk full); any other exception is treated as a bug and reported.
    An ``export`` with a ``stop`` parameter is passed the processor's :data:`Stop` signal.

    Optional members, used when present: ``durable`` (True: drained first at exit),
    ``recoverable`` (True: what it misses is recovered elsewhere, e.g. replay from the
    spool), ``recovery`` (a :class:`Recovery`, given by whoever registers the sink: a batch
    that fails with ``DeliveryError``, and what is still queued at the exit deadline, is
    handed to it and written later), ``max_batch``, ``linger`` (seconds to wait for a
    fuller batch), ``max_queue``, ``start()`` (on its thread, once),
    ``begin_shutdown(deadline)`` (the process is exiting; ``deadline`` is a
    ``time.monotonic()`` value; return at once), ``after_fork()`` (in a forked child),
    ``describe()`` (where it wrote, for people).
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
    """Raised inside a sink's export, before it has written anything, when its :data:`Stop`
    signal says so. The processor puts the batch back in the queue; it is not a failure."""


class Recovery(Protocol):
    """Writes later what a sink missed (e.g. from the spool). Whoever registers the sinks
    gives it to them (the ``recovery`` attribute); the processor only calls it."""

    def pend(self, sink: str, spans: Sequence[Any], memo: dict[Any, Any] | None) -> None:
        """List ``spans`` as missed by ``sink`` (on the sink's thread, or at exit). Raises
        when it cannot (disk full): the processor then counts them as dropped."""

    def prepare(self) -> None:
        """Import what :meth:`run` needs (on the recovery thread, before :meth:`run`; a fork
        waits for it)."""

    def run(self, sinks: Sequence[str], stop: threading.Event, delay: float) -> None:
        """Write what ``sinks`` missed, after ``delay`` seconds, on a background thread;
        return soon once ``stop`` is set. Never raises."""


def never() -> bool:
    """The :data:`Stop` signal of a sink called outside the processor: never stop."""
    return False


class SinkSet(NamedTuple):
    """What the ``sink_processor`` hook is given: every sink ``register_sinks`` returned, in
    registration order, and the effective configuration (an ``otel_agents.config.Config``)."""

    sinks: list[Any]
    config: Any
