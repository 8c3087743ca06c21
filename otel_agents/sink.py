"""The sink contract, and the span processor that fans finished spans out to sinks."""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable


@runtime_checkable
class Sink(Protocol):
    """A destination for finished spans. Return one from the ``register_sinks`` hook.

    ``export`` runs on the sink's own thread, never the workflow's; raising marks the batch
    failed for this sink only.
    """

    name: str

    def export(self, spans: Sequence[Any]) -> None:
        """Deliver a batch of finished ``ReadableSpan`` objects."""

    def close(self) -> None:
        """Release resources at shutdown."""
