"""otel-agents-langfuse: Langfuse observation types, and usage and cost details on generations.

Uses only the public hook API: one ``span_ending`` implementation. Usage and cost go on
model-call spans (Langfuse generations) only, never on agent or chain spans. See README.md.
"""

from __future__ import annotations

import json
from typing import Any

from otel_agents import SpanView, attributes as A, hookimpl
from otel_agents.pricing import UnknownModel, price_of
from otel_agents_langfuse import semconv as LF

__all__ = ["langfuse_attributes", "span_ending"]


def _observation_type(kind: str, event: Any) -> str:
    if kind == A.KIND_MODEL_CALL:
        return LF.TYPE_GENERATION
    if kind == A.KIND_TOOL_CALL:
        return LF.TYPE_TOOL
    if kind == A.KIND_STEP:
        return LF.TYPE_AGENT if getattr(event, "agent", None) else LF.TYPE_SPAN
    if kind in (A.KIND_WORKFLOW, A.KIND_PHASE):
        return LF.TYPE_CHAIN
    return LF.TYPE_SPAN


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def usage_details(usage: Any) -> dict[str, int]:
    """Token counts whose non-total keys add up to ``total`` (``input`` is the uncached input)."""
    uncached = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
    return {
        LF.USAGE_INPUT: max(uncached, 0),
        LF.USAGE_INPUT_CACHE_READ: usage.cache_read_tokens,
        LF.USAGE_INPUT_CACHE_CREATION: usage.cache_write_tokens,
        LF.USAGE_OUTPUT: usage.output_tokens,
        LF.USAGE_TOTAL: usage.input_tokens + usage.output_tokens,
    }


def cost_details(usage: Any, attrs: dict[str, Any]) -> dict[str, float] | None:
    """USD cost by input/output and total, from the same prices as the core's total."""
    total = attrs.get(A.GEN_AI_USAGE_COST_AMOUNT)
    if not isinstance(total, (int, float)):
        return None
    details = {LF.USAGE_TOTAL: float(total)}
    if attrs.get(A.GEN_AI_USAGE_COST_SOURCE) == "provider":
        return details
    try:
        cost = price_of(
            usage.model,
            usage.provider,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
        )
    except (UnknownModel, ValueError):
        return details
    return {LF.USAGE_INPUT: cost.input, LF.USAGE_OUTPUT: cost.output, **details}


def langfuse_attributes(kind: str, event: Any, attrs: dict[str, Any]) -> dict[str, Any]:
    """The Langfuse attributes for a span of ``kind`` with ``event`` and current ``attrs``."""
    out: dict[str, Any] = {LF.OBSERVATION_TYPE: _observation_type(kind, event)}
    if kind == A.KIND_MODEL_CALL:
        out[LF.OBSERVATION_MODEL_NAME] = event.response_model or event.model
        out[LF.OBSERVATION_USAGE_DETAILS] = _json(usage_details(event))
        cost = cost_details(event, attrs)
        if cost is not None:
            out[LF.OBSERVATION_COST_DETAILS] = _json(cost)
    return out


@hookimpl
def span_ending(span: SpanView) -> None:
    """Add the Langfuse attributes to a span about to end."""
    span.set_attributes(langfuse_attributes(span.kind, span.event, span.attributes))
