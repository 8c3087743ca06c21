"""Model-call content in the GenAI conventions' form, and the log records the engine emits.

Content (prompts, answers, system instructions) is opt-in. Where it goes follows
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (``NO_CONTENT``, ``SPAN_ONLY``,
``EVENT_ONLY``, ``SPAN_AND_EVENT``); unset, ``capture_content`` on means ``SPAN_ONLY`` and off
``NO_CONTENT``. On the span the messages are JSON strings (span attributes hold no
structures); on the ``gen_ai.client.inference.operation.details`` event (a log record) they
are structured, as the conventions require. Every text is redacted like the rest of the
captured content.

Messages follow the conventions' schemas: ``[{"role", "parts": [{"type": "text", "content"}]}]``
for input and output (output messages also carry ``finish_reason``), ``[{"type": "text",
"content"}]`` for system instructions. Callers may pass a string, a list of strings, or
``{"role", "content"}`` dicts (``content`` a string or a list of Anthropic/OpenAI-style blocks);
messages already in the conventions' form keep their parts.

Exceptions: ``OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN`` set to ``logs`` records a failure's
exception as a log record instead of a span event; ``logs/dup`` records both.
"""

from __future__ import annotations

import json
import os
from typing import Any

from otel_agents import attributes as A
from otel_agents.flags import to_bool
from otel_agents.redact import redact, to_text, valid_text

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
EXCEPTION_SIGNAL_ENV = "OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN"
#: ``CAPTURE_ENV`` value -> (on the span, on the event).
MODES: dict[str, tuple[bool, bool]] = {
    "NO_CONTENT": (False, False),
    "SPAN_ONLY": (True, False),
    "EVENT_ONLY": (False, True),
    "SPAN_AND_EVENT": (True, True),
}
_ERROR_SEVERITY = 17  # SeverityNumber.ERROR


def capture_mode(capture_content: bool) -> tuple[bool, bool]:
    """(content on spans, content on the details event), from ``CAPTURE_ENV`` or else
    ``capture_content``. An unknown value is ``NO_CONTENT`` (content is never captured by
    mistake)."""
    raw = os.environ.get(CAPTURE_ENV, "").strip()
    if not raw:
        return (True, False) if capture_content else (False, False)
    if to_bool(raw):  # the older utilities' boolean form
        return True, False
    return MODES.get(raw.upper(), (False, False))


def exception_signal() -> tuple[bool, bool]:
    """(exception as a span event, exception as a log record), from ``EXCEPTION_SIGNAL_ENV``."""
    raw = os.environ.get(EXCEPTION_SIGNAL_ENV, "").strip().lower()
    values = {v.strip() for v in raw.split(",")}
    if "logs/dup" in values:
        return True, True
    if "logs" in values:
        return False, True
    return True, False


# --- messages -------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return valid_text(redact(value if isinstance(value, str) else to_text(value)))


def _clean(value: Any) -> Any:
    """A JSON value with every string redacted (tool arguments and results inside parts)."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _text(value)


def _part(block: Any) -> dict[str, Any]:
    """One message part in the conventions' form."""
    dump = getattr(block, "model_dump", None)  # an SDK's block object (Anthropic, OpenAI)
    if callable(dump):
        block = dump()
    if not isinstance(block, dict):
        return {"type": "text", "content": _text(block)}
    kind = block.get("type")
    if kind == "text":
        text = block.get("content", block.get("text", ""))
        return {"type": "text", "content": _text(text)}
    if kind in ("tool_use", "tool_call", "function_call"):
        part: dict[str, Any] = {"type": "tool_call", "name": str(block.get("name", ""))}
        if block.get("id") is not None:
            part["id"] = str(block["id"])
        args = block.get("arguments", block.get("input"))
        if args is not None:
            part["arguments"] = _clean(args)
        return part
    if kind in ("tool_result", "tool_call_response", "function_call_output"):
        part = {"type": "tool_call_response"}
        call_id = block.get("id", block.get("tool_use_id", block.get("call_id")))
        if call_id is not None:
            part["id"] = str(call_id)
        part["result"] = _clean(block.get("result", block.get("content", block.get("output"))))
        return part
    if kind in ("thinking", "reasoning"):
        return {"type": "reasoning", "content": _text(block.get("content", block.get("thinking", "")))}
    kept: dict[str, Any] = _clean(block)  # a part type of its own (blob, uri, ...): kept, strings redacted
    return kept


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, (list, tuple)):
        return [_part(b) for b in content]
    return [_part(content)]


def _message(msg: Any, role: str) -> dict[str, Any]:
    if not isinstance(msg, dict):
        return {"role": role, "parts": _parts(msg)}
    out: dict[str, Any] = {"role": str(msg.get("role") or role)}
    if msg.get("name") is not None:
        out["name"] = str(msg["name"])
    out["parts"] = _parts(msg["parts"] if "parts" in msg else msg.get("content", ""))
    return out


def input_messages(value: Any) -> list[dict[str, Any]]:
    """``value`` as ``gen_ai.input.messages`` (a plain string is one user message)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return [_message(m, "user") for m in items]


def output_messages(value: Any, finish_reasons: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """``value`` as ``gen_ai.output.messages``: each message an assistant choice with its
    ``finish_reason`` (its own, else the call's ``finish_reasons`` in order, else ``unknown``)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for i, m in enumerate(items):
        msg = _message(m, "assistant")
        reason = m.get("finish_reason") if isinstance(m, dict) else None
        if reason is None and finish_reasons:
            reason = finish_reasons[min(i, len(finish_reasons) - 1)]
        msg["finish_reason"] = str(reason) if reason is not None else "unknown"
        out.append(msg)
    return out


def system_instructions(value: Any) -> list[dict[str, Any]]:
    """``value`` as ``gen_ai.system_instructions``: a list of parts."""
    return _parts(value)


def content_of(usage: Any) -> dict[str, list[dict[str, Any]]]:
    """The conventions' content attributes of a model call (structured), for what it carries."""
    out: dict[str, list[dict[str, Any]]] = {}
    if usage.system_instructions is not None:
        out[A.GEN_AI_SYSTEM_INSTRUCTIONS] = system_instructions(usage.system_instructions)
    if usage.input_messages is not None:
        out[A.GEN_AI_INPUT_MESSAGES] = input_messages(usage.input_messages)
    if usage.output_messages is not None:
        out[A.GEN_AI_OUTPUT_MESSAGES] = output_messages(usage.output_messages, usage.finish_reasons)
    return out


def as_span_attributes(content: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Structured content as span attributes: compact JSON strings."""
    return {k: json.dumps(v, ensure_ascii=False, separators=(",", ":")) for k, v in content.items()}


# --- log records ------------------------------------------------------------------------------------


def emit_details(logger: Any, span: Any, attrs: dict[str, Any], content: dict[str, Any], t: int | None) -> None:
    """The ``gen_ai.client.inference.operation.details`` event of a model call: its
    identifying attributes and its content, structured, in the span's context."""
    from opentelemetry import trace
    from opentelemetry._logs import LogRecord

    keep = (
        A.GEN_AI_OPERATION_NAME,
        A.GEN_AI_PROVIDER_NAME,
        A.GEN_AI_REQUEST_MODEL,
        A.GEN_AI_RESPONSE_MODEL,
        A.GEN_AI_RESPONSE_ID,
        A.GEN_AI_CONVERSATION_ID,
        A.GEN_AI_RESPONSE_FINISH_REASONS,
    )
    event_attrs: dict[str, Any] = {k: attrs[k] for k in keep if k in attrs}
    event_attrs.update(content)
    logger.emit(
        LogRecord(
            timestamp=t,
            context=trace.set_span_in_context(span),
            event_name=A.EVENT_INFERENCE_DETAILS,
            attributes=event_attrs,
        )
    )


def emit_exception(logger: Any, span: Any, attrs: dict[str, str]) -> None:
    """A failure's exception as a log record (``exception.*`` attributes, severity ERROR)."""
    from opentelemetry import trace
    from opentelemetry._logs import LogRecord, SeverityNumber

    logger.emit(
        LogRecord(
            context=trace.set_span_in_context(span),
            severity_number=SeverityNumber(_ERROR_SEVERITY),
            severity_text="ERROR",
            event_name=A.EVENT_EXCEPTION,
            attributes=attrs,
        )
    )
