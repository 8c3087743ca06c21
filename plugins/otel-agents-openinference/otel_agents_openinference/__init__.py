"""otel-agents-openinference: OpenInference span kinds, token counts and costs for Phoenix and Arize.

Uses only the public hook API: one ``span_ending`` implementation that reads the span's
kind, its event and the attributes otel-agents already set, and adds OpenInference's.
See README.md for the mapping.
"""

from __future__ import annotations

import json
from typing import Any

from otel_agents import SpanView, attributes as A, hookimpl
from otel_agents.pricing import UnknownModel, price_of
from otel_agents_openinference import semconv as OI

__all__ = ["openinference_attributes", "span_ending"]


def _span_kind(kind: str, event: Any, attrs: dict[str, Any]) -> str:
    if kind == A.KIND_MODEL_CALL:
        return OI.KIND_LLM
    if kind == A.KIND_TOOL_CALL:
        return OI.KIND_TOOL
    if kind == A.KIND_STEP:
        return OI.KIND_AGENT if getattr(event, "agent", None) else OI.KIND_CHAIN
    if kind in (A.KIND_WORKFLOW, A.KIND_PHASE):
        return OI.KIND_CHAIN
    operation = attrs.get(A.GEN_AI_OPERATION_NAME)
    return {A.OP_INVOKE_AGENT: OI.KIND_AGENT, A.OP_EXECUTE_TOOL: OI.KIND_TOOL, A.OP_CHAT: OI.KIND_LLM}.get(
        operation, OI.KIND_CHAIN
    )


def _mime(text: str) -> str:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return OI.MIME_TEXT
    return OI.MIME_JSON if isinstance(value, (dict, list)) else OI.MIME_TEXT


def _content(out: dict[str, Any], attrs: dict[str, Any]) -> None:
    """input/output values: only what otel-agents captured (so only with capture_content on)."""
    arguments = attrs.get(A.GEN_AI_TOOL_CALL_ARGUMENTS)
    if isinstance(arguments, str):
        out[OI.INPUT_VALUE] = arguments
        out[OI.INPUT_MIME_TYPE] = _mime(arguments)
    result = attrs.get(A.GEN_AI_TOOL_CALL_RESULT)
    if isinstance(result, str):
        out[OI.OUTPUT_VALUE] = result
        out[OI.OUTPUT_MIME_TYPE] = _mime(result)


def _llm(out: dict[str, Any], usage: Any, attrs: dict[str, Any]) -> None:
    out[OI.LLM_MODEL_NAME] = usage.response_model or usage.model
    if usage.provider:
        out[OI.LLM_PROVIDER] = usage.provider
    out[OI.LLM_TOKEN_COUNT_PROMPT] = usage.input_tokens
    out[OI.LLM_TOKEN_COUNT_COMPLETION] = usage.output_tokens
    out[OI.LLM_TOKEN_COUNT_TOTAL] = usage.input_tokens + usage.output_tokens
    out[OI.LLM_TOKEN_COUNT_PROMPT_CACHE_READ] = usage.cache_read_tokens
    out[OI.LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE] = usage.cache_write_tokens
    if usage.reasoning_tokens:
        out[OI.LLM_TOKEN_COUNT_COMPLETION_REASONING] = usage.reasoning_tokens
    total = attrs.get(A.GEN_AI_USAGE_COST_AMOUNT)
    if not isinstance(total, (int, float)):
        return  # no price known: no cost at all
    out[OI.LLM_COST_TOTAL] = float(total)
    if attrs.get(A.GEN_AI_USAGE_COST_SOURCE) == "provider":
        return  # the provider gave a total only
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
        return
    out[OI.LLM_COST_PROMPT] = cost.input
    out[OI.LLM_COST_COMPLETION] = cost.output


def openinference_attributes(kind: str, event: Any, attrs: dict[str, Any]) -> dict[str, Any]:
    """The OpenInference attributes for a span of ``kind`` with ``event`` and current ``attrs``."""
    out: dict[str, Any] = {OI.SPAN_KIND: _span_kind(kind, event, attrs)}
    if kind == A.KIND_TOOL_CALL:
        out[OI.TOOL_NAME] = event.tool_name
        _content(out, attrs)
    elif kind == A.KIND_MODEL_CALL:
        _llm(out, event, attrs)
    return out


@hookimpl
def span_ending(span: SpanView) -> None:
    """Add the OpenInference attributes to a span about to end."""
    span.set_attributes(openinference_attributes(span.kind, span.event, span.attributes))
