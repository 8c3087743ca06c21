"""What the span engine rolls up, and what ``span_ending`` implementations see.

``UsageTotals`` is the one roll-up type: the span engine's per-span totals, usage replayed
from another process, and the Claude Code drain's carried usage all add and merge through
it. ``SpanView`` is the argument of the ``span_ending`` hook. Both are exported from
``otel_agents``. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_agents.events import ModelUsage


@dataclass(slots=True)
class UsageTotals:
    """Tokens and cost rolled up beneath a span: the sum over model calls.

    ``cost`` sums the priced calls only; ``unpriced_model_calls`` says how many had no
    price (their cost is unknown, not 0).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float = 0.0
    model_calls: int = 0
    unpriced_model_calls: int = 0

    def add(self, usage: ModelUsage, cost: float | None) -> None:
        """Add one model call: its tokens, and its ``cost`` (``None``: it has no price).

        A call whose price is not known yet is added with ``cost=0.0``, then priced with
        ``add_cost`` once it is."""
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cache_read_tokens += usage.cache_read_tokens
        self.cache_write_tokens += usage.cache_write_tokens
        self.reasoning_tokens += usage.reasoning_tokens
        self.model_calls += 1
        if cost is None:
            self.unpriced_model_calls += 1
        else:
            self.cost += cost

    def add_cost(self, cost: float | None) -> None:
        """Price a call already added with ``add(usage, 0.0)`` (``None``: it has no price)."""
        if cost is None:
            self.unpriced_model_calls += 1
        else:
            self.cost += cost

    def merge(self, other: UsageTotals) -> None:
        """Add every model call counted in ``other``."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.cost += other.cost
        self.model_calls += other.model_calls
        self.unpriced_model_calls += other.unpriced_model_calls

    def to_json(self) -> dict[str, Any]:
        """The totals as a JSON object (``from_json`` reads it back)."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost": self.cost,
            "model_calls": self.model_calls,
            "unpriced_model_calls": self.unpriced_model_calls,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> UsageTotals:
        """Totals from ``to_json``'s object (fields it lacks are 0)."""
        return cls(**(d or {}))


class SpanView:
    """What ``span_ending`` implementations see of a span about to end."""

    __slots__ = ("kind", "event", "span", "totals")

    def __init__(self, kind: str, event: Any, span: Any, totals: UsageTotals | None) -> None:
        #: workflow, phase, step, tool_call or model_call
        self.kind = kind
        #: the WorkflowEvent / PhaseEvent / StepEvent / ToolCallEvent / ModelUsage behind it
        self.event = event
        #: the OpenTelemetry span (recording)
        self.span = span
        #: tokens and cost rolled up beneath the span (``None`` for tool calls and model calls)
        self.totals = totals

    @property
    def attributes(self) -> dict[str, Any]:
        """The span's attributes so far (a copy)."""
        return dict(getattr(self.span, "attributes", None) or {})

    def set_attribute(self, key: str, value: Any) -> None:
        self.span.set_attribute(key, value)

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        self.span.set_attributes(attributes)

    def add_event(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        self.span.add_event(name, attributes or {})
