"""Execution records: one flat dict per finished span, the single source of both local sinks.

The metrics JSONL (``otel_agents.sinks.metrics``) and the analytics store
(``otel_agents.sinks.analytics``) both write what :func:`build_records` returns, so a
record has the same ``record_id`` (the span id) in both. ``docs/metrics.md`` documents
every field.

Conversion runs on a neutral representation, :class:`SpanData` (name, ids, times,
attributes, status, events), with two adapters:

- :func:`from_readable_span` for an OpenTelemetry SDK ``ReadableSpan`` (live sinks);
- :func:`from_otlp_json` / :func:`iter_otlp_json` for OTLP-JSON, as the spool stores it
  (``report`` and ``reconcile --from-spool`` rebuild the store from it).

A span yields one record when it is ours (``otel_agents.kind`` is workflow, phase, step,
tool_call or model_call; spans without it are classified by ``gen_ai.operation.name``) and
not a duplicate or aggregate of model calls counted elsewhere (``otel_agents.foreign``),
plus one ``hook_event`` record per span event named ``otel_agents.hook_event``. Bad input
(an attribute of the wrong type, a missing time) gives one log line and a record with that
field ``null``; it never raises.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import math
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_agents import attributes as A, forksafe
from otel_agents.errors import categorize
from otel_agents.foundation.argforms import file_types
from otel_agents.redact import redact
from otel_agents.sink_contract import Interrupted, Stop

logger = logging.getLogger("otel_agents.records")

#: Version of the record layout; bumped when a field changes meaning or is removed.
SCHEMA_VERSION = 1

KIND_HOOK_EVENT = "hook_event"
#: The kinds a record can have.
KINDS: tuple[str, ...] = (
    A.KIND_WORKFLOW,
    A.KIND_PHASE,
    A.KIND_STEP,
    A.KIND_TOOL_CALL,
    A.KIND_MODEL_CALL,
    KIND_HOOK_EVENT,
)
_SPAN_KINDS = frozenset(KINDS[:-1])
_OUTCOMES = frozenset(("success", "failure", "abandoned"))
_ROLLUP_KINDS = frozenset((A.KIND_WORKFLOW, A.KIND_PHASE, A.KIND_STEP))
_KIND_BY_OPERATION = {
    A.OP_INVOKE_WORKFLOW: A.KIND_WORKFLOW,
    A.OP_INVOKE_AGENT: A.KIND_STEP,
    A.OP_EXECUTE_TOOL: A.KIND_TOOL_CALL,
    A.OP_CHAT: A.KIND_MODEL_CALL,
    "text_completion": A.KIND_MODEL_CALL,
    "generate_content": A.KIND_MODEL_CALL,
}
_MAX_MESSAGE = 1000

#: Every record field, in the order records are written. ``docs/metrics.md`` has one row each.
FIELDS: tuple[str, ...] = (
    "schema_version",
    "record_id",
    "trace_id",
    "parent_id",
    "kind",
    "name",
    "workflow_id",
    "workflow_name",
    "template",
    "issue_id",
    "task_id",
    "session_id",
    "phase_name",
    "phase_number",
    "step_name",
    "agent",
    "skill",
    "command",
    "tool_name",
    "tool_type",
    "call_id",
    "model",
    "response_model",
    "provider",
    "attempt",
    "retry_count",
    "success",
    "outcome",
    "start_time",
    "end_time",
    "start_unix_nano",
    "end_unix_nano",
    "duration_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_source",
    "cost_unavailable_reason",
    "model_calls",
    "unpriced_model_calls",
    "error_type",
    "error_message",
    "error_category",
    "complexity",
    "arguments_sha256",
    "arguments_length",
    "result_sha256",
    "result_length",
    "event_type",
    "hook_source",
    "hook_detail",
    "event_attributes",
    "service_name",
    "nested_sessions",
    "executable",
    "file_types",
)


_INT_FIELDS = frozenset(
    (
        "schema_version",
        "phase_number",
        "attempt",
        "retry_count",
        "start_unix_nano",
        "end_unix_nano",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "model_calls",
        "unpriced_model_calls",
        "arguments_length",
        "result_length",
    )
)
_NUMBER_FIELDS = frozenset(("duration_ms", "cost_usd"))
_INT_RANGE = (-(2**63), 2**63 - 1)


def normalize_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record read from outside (a JSONL line) with every field of the right type.

    Missing fields become ``None``; a value of the wrong type is logged and becomes ``None``;
    unknown fields are dropped. Records built by :func:`build_record` pass unchanged.
    """
    out = dict.fromkeys(FIELDS)
    for key in FIELDS:
        value = record.get(key)
        if value is None:
            continue
        if key in _INT_FIELDS:
            ok = isinstance(value, int) and not isinstance(value, bool) and _INT_RANGE[0] <= value <= _INT_RANGE[1]
        elif key in _NUMBER_FIELDS:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif key == "success":
            ok = isinstance(value, bool)
        elif key == "event_attributes":
            ok = isinstance(value, dict)
        elif key == "nested_sessions":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, str)
        if ok:
            out[key] = value
        else:
            _bad(f"record field {key}", value)
    return out


# --- the neutral representation --------------------------------------------------------------


@dataclass(slots=True)
class SpanEventData:
    """One span event: name, time (ns since the epoch) and attributes."""

    name: str
    time_unix_nano: int | None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SpanData:
    """A finished span, independent of where it came from.

    Ids are lowercase hex (32 digits for a trace, 16 for a span); times are integers, ns
    since the Unix epoch; ``status_code`` is ``UNSET``, ``OK`` or ``ERROR``.
    """

    name: str
    trace_id: str | None
    span_id: str | None
    parent_id: str | None
    start_unix_nano: int | None
    end_unix_nano: int | None
    attributes: dict[str, Any] = field(default_factory=dict)
    status_code: str = "UNSET"
    status_message: str | None = None
    events: list[SpanEventData] = field(default_factory=list)
    service_name: str | None = None


# --- bad-input reporting ---------------------------------------------------------------------

_LOG_INTERVAL_S = 60.0
_log_lock = forksafe.Lock()
_last_logged: dict[str, float] = {}


def _bad(what: str, value: Any) -> None:
    """Log bad input once a minute per ``what``; the field becomes ``null``."""
    now = time.monotonic()
    with _log_lock:
        last = _last_logged.get(what)
        if last is not None and now - last < _LOG_INTERVAL_S:
            return
        _last_logged[what] = now
    logger.warning("otel-agents records: ignoring bad %s: %.200r (the record keeps the field null)", what, value)


def _str(attrs: Mapping[str, Any], key: str) -> str | None:
    v = attrs.get(key)
    if v is None or isinstance(v, str):
        return v or None
    if isinstance(v, (int, float, bool)):
        return str(v)
    _bad(key, v)
    return None


def _number(attrs: Mapping[str, Any], key: str) -> Any:
    """``attrs[key]`` to read as a number: ``None`` when absent or a bool (reported: not a number)."""
    v = attrs.get(key)
    if isinstance(v, bool):
        _bad(key, v)
        return None
    return v


def _int(attrs: Mapping[str, Any], key: str) -> int | None:
    v = _number(attrs, key)
    if v is None:
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v) and v == int(v):
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            pass
    _bad(key, v)
    return None


def _float(attrs: Mapping[str, Any], key: str) -> float | None:
    v = _number(attrs, key)
    if v is None:
        return None
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            _bad(key, v)
            return None
    else:
        _bad(key, v)
        return None
    if not math.isfinite(f):
        _bad(key, v)
        return None
    return f


def _str_list(attrs: Mapping[str, Any], key: str) -> list[str] | None:
    value = attrs.get(key)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    _bad(key, value)
    return None


def _first_str(attrs: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        v = _str(attrs, key)
        if v is not None:
            return v
    return None


# --- times -----------------------------------------------------------------------------------


def iso_utc(ns: int | None) -> str | None:
    """``ns`` since the epoch as ISO 8601 UTC with microseconds: ``2025-11-02T15:03:00.000123Z``."""
    if ns is None:
        return None
    secs, rem = divmod(int(ns), 1_000_000_000)
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rem // 1000:06d}Z"
    except (OverflowError, OSError, ValueError):
        _bad("time", ns)
        return None


def _clean(value: Any) -> Any:
    """A JSON-safe attribute value: sequences as lists, non-finite floats as ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return str(value)


# --- building records ------------------------------------------------------------------------


def _kind_of(data: SpanData) -> str | None:
    attrs = data.attributes
    kind = attrs.get(A.KIND)
    if isinstance(kind, str) and kind in _SPAN_KINDS:
        return kind
    if kind is not None:
        _bad(A.KIND, kind)
    op = attrs.get(A.GEN_AI_OPERATION_NAME)
    return _KIND_BY_OPERATION.get(op) if isinstance(op, str) else None


_NOT_COUNTED = frozenset((A.FOREIGN_ROLE_DUPLICATE, A.FOREIGN_ROLE_AGGREGATE))


def _counts(attrs: Mapping[str, Any]) -> bool:
    """False for a span recording a model call another span counts (``otel_agents.duplicate_of``),
    or the usage totals of calls beneath it: one record per model call."""
    return A.DUPLICATE_OF not in attrs and attrs.get(A.FOREIGN_ROLE) not in _NOT_COUNTED


def _outcome(data: SpanData) -> str:
    value = data.attributes.get(A.OUTCOME)
    if isinstance(value, str) and value in _OUTCOMES:
        return value
    if value is not None:
        _bad(A.OUTCOME, value)
    return "failure" if data.status_code == "ERROR" else "success"


def _message(text: str | None) -> str | None:
    if not text:
        return None
    return redact(text[:_MAX_MESSAGE])


def _context(data: SpanData, kind: str) -> dict[str, Any]:
    """The fields a span's record and its hook events share (identity and names)."""
    attrs = data.attributes
    return {
        "trace_id": data.trace_id,
        "workflow_id": _str(attrs, A.WORKFLOW_ID) or data.trace_id,
        # phases and steps carry otel_agents.workflow.name; older spans, gen_ai.workflow.name
        "workflow_name": _first_str(attrs, A.GEN_AI_WORKFLOW_NAME, A.WORKFLOW_NAME),
        "template": _str(attrs, A.WORKFLOW_TEMPLATE),
        "issue_id": _str(attrs, A.ISSUE_ID),
        "task_id": _str(attrs, A.TASK_ID),
        "session_id": _first_str(attrs, A.SESSION_ID, A.GEN_AI_CONVERSATION_ID),
        "phase_name": _str(attrs, A.PHASE_NAME),
        "step_name": _str(attrs, A.STEP_NAME),
        "agent": _str(attrs, A.GEN_AI_AGENT_NAME),
        "tool_name": _str(attrs, A.GEN_AI_TOOL_NAME) if kind == A.KIND_TOOL_CALL else None,
        "call_id": _str(attrs, A.GEN_AI_TOOL_CALL_ID) if kind == A.KIND_TOOL_CALL else None,
        "service_name": data.service_name,
    }


def _empty() -> dict[str, Any]:
    rec = dict.fromkeys(FIELDS)
    rec["schema_version"] = SCHEMA_VERSION
    return rec


def _usage(rec: dict[str, Any], attrs: Mapping[str, Any], kind: str) -> None:
    """Tokens and cost: the call's own usage, or the roll-up beneath a workflow/phase/step."""
    if kind == A.KIND_MODEL_CALL:
        rec["input_tokens"] = _int(attrs, A.GEN_AI_USAGE_INPUT_TOKENS)
        rec["output_tokens"] = _int(attrs, A.GEN_AI_USAGE_OUTPUT_TOKENS)
        rec["cache_read_tokens"] = _int(attrs, A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)
        rec["cache_write_tokens"] = _int(attrs, A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS)
        rec["reasoning_tokens"] = _int(attrs, A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)
        cost = _float(attrs, A.GEN_AI_USAGE_COST_AMOUNT)
        if cost is None:
            cost = _float(attrs, A.LEGACY_GEN_AI_USAGE_COST)  # spans recorded before the cost proposal
        rec["cost_usd"] = cost
        rec["cost_source"] = _str(attrs, A.GEN_AI_USAGE_COST_SOURCE) if cost is not None else None
        rec["cost_unavailable_reason"] = _str(attrs, A.COST_UNAVAILABLE_REASON)
        rec["model_calls"] = 1
        rec["unpriced_model_calls"] = 0 if cost is not None else 1
    elif kind in _ROLLUP_KINDS and A.ROLLUP_MODEL_CALLS in attrs:
        rec["input_tokens"] = _int(attrs, A.ROLLUP_INPUT_TOKENS)
        rec["output_tokens"] = _int(attrs, A.ROLLUP_OUTPUT_TOKENS)
        rec["cache_read_tokens"] = _int(attrs, A.ROLLUP_CACHE_READ_INPUT_TOKENS)
        rec["cache_write_tokens"] = _int(attrs, A.ROLLUP_CACHE_WRITE_INPUT_TOKENS)
        rec["reasoning_tokens"] = _int(attrs, A.ROLLUP_REASONING_OUTPUT_TOKENS)
        rec["cost_usd"] = _float(attrs, A.ROLLUP_COST_AMOUNT)
        rec["cost_source"] = "rollup" if rec["cost_usd"] is not None else None
        rec["model_calls"] = _int(attrs, A.ROLLUP_MODEL_CALLS)
        rec["unpriced_model_calls"] = _int(attrs, A.ROLLUP_UNPRICED_MODEL_CALLS)


def _fingerprint(
    attrs: Mapping[str, Any], hash_key: str, len_key: str, content_key: str
) -> tuple[str | None, int | None]:
    """(sha256, length) of tool content: as recorded, or computed from the captured content
    (redacted) when content capture is on, so redundant calls are found in both modes."""
    digest = _str(attrs, hash_key)
    if digest is not None:
        return digest, _int(attrs, len_key)
    content = attrs.get(content_key)
    if isinstance(content, str):
        return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest(), len(content)
    return None, None


def build_record(data: SpanData) -> dict[str, Any] | None:
    """The execution record of one finished span, or ``None`` if the span is not ours.

    Every field of :data:`FIELDS` is present (``None`` where it does not apply).
    """
    kind = _kind_of(data)
    if kind is None or not _counts(data.attributes):
        return None
    if not data.span_id:
        _bad("span without a span id", data.name)
        return None
    attrs = data.attributes
    rec = _empty()
    rec.update(_context(data, kind))
    rec["record_id"] = data.span_id
    rec["parent_id"] = data.parent_id
    rec["kind"] = kind
    rec["name"] = data.name or None
    rec["phase_number"] = _int(attrs, A.PHASE_NUMBER)
    rec["skill"] = _str(attrs, A.SKILL)
    rec["command"] = _str(attrs, A.COMMAND)
    if kind == A.KIND_TOOL_CALL:
        rec["tool_type"] = _str(attrs, A.GEN_AI_TOOL_TYPE)
        rec["arguments_sha256"], rec["arguments_length"] = _fingerprint(
            attrs, A.TOOL_ARGUMENTS_SHA256, A.TOOL_ARGUMENTS_LENGTH, A.GEN_AI_TOOL_CALL_ARGUMENTS
        )
        rec["result_sha256"], rec["result_length"] = _fingerprint(
            attrs, A.TOOL_RESULT_SHA256, A.TOOL_RESULT_LENGTH, A.GEN_AI_TOOL_CALL_RESULT
        )
        rec["executable"] = _str(attrs, A.PROCESS_EXECUTABLE_NAME)
        rec["file_types"] = file_types(_str(attrs, A.GEN_AI_TOOL_CALL_ARGUMENTS), rec["tool_name"])
    if kind == A.KIND_MODEL_CALL:
        rec["model"] = _first_str(attrs, A.GEN_AI_REQUEST_MODEL, A.MODEL, A.GEN_AI_RESPONSE_MODEL)
        rec["response_model"] = _str(attrs, A.GEN_AI_RESPONSE_MODEL)
    else:
        rec["model"] = _first_str(attrs, A.GEN_AI_REQUEST_MODEL, A.MODEL)
    rec["provider"] = _str(attrs, A.GEN_AI_PROVIDER_NAME)
    attempt = _int(attrs, A.ATTEMPT)
    rec["attempt"] = attempt
    if kind == A.KIND_WORKFLOW:
        rec["retry_count"] = _int(attrs, A.RETRY_COUNT)
    elif kind == A.KIND_STEP and attempt is not None:
        rec["retry_count"] = max(0, attempt - 1)
    outcome = _outcome(data)
    rec["outcome"] = outcome
    rec["success"] = outcome == "success"
    start, end = data.start_unix_nano, data.end_unix_nano
    rec["start_unix_nano"], rec["end_unix_nano"] = start, end
    rec["start_time"], rec["end_time"] = iso_utc(start), iso_utc(end)
    if start is not None and end is not None:
        if end >= start:
            rec["duration_ms"] = round((end - start) / 1e6, 6)
        else:
            _bad("span times (end before start)", (start, end))
    _usage(rec, attrs, kind)
    rec["complexity"] = _str(attrs, A.COMPLEXITY)
    if kind in _ROLLUP_KINDS and A.NESTED_SESSIONS in attrs:
        rec["nested_sessions"] = _str_list(attrs, A.NESTED_SESSIONS)
    error_type = _str(attrs, A.ERROR_TYPE)
    message = _str(attrs, A.ERROR_MESSAGE) or (data.status_message if data.status_code == "ERROR" else None)
    if outcome == "failure" and error_type is None:
        error_type = "_OTHER"
    rec["error_type"] = error_type
    rec["error_message"] = _message(message)
    if outcome == "failure" or error_type is not None:
        rec["error_category"] = categorize(error_type, message, kind=kind)
    return rec


def _hook_event_id(data: SpanData, index: int, ev: SpanEventData) -> str:
    seed = f"{data.trace_id}\x00{data.span_id}\x00{index}\x00{ev.time_unix_nano}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def hook_event_records(data: SpanData) -> list[dict[str, Any]]:
    """One ``hook_event`` record per span event named ``otel_agents.hook_event``."""
    out: list[dict[str, Any]] = []
    hook_events = [(i, ev) for i, ev in enumerate(data.events) if ev.name == A.EVENT_HOOK]
    if not hook_events:
        return out
    kind = _kind_of(data) or ""
    ctx = _context(data, kind)
    for index, ev in hook_events:
        attrs = ev.attributes
        rec = _empty()
        rec.update(ctx)
        rec["record_id"] = _str(attrs, A.HOOK_EVENT_ID) or _hook_event_id(data, index, ev)
        rec["parent_id"] = data.span_id
        rec["kind"] = KIND_HOOK_EVENT
        rec["name"] = ev.name
        rec["event_type"] = _str(attrs, A.HOOK_EVENT_TYPE)
        rec["hook_source"] = _str(attrs, A.HOOK_SOURCE)
        rec["hook_detail"] = _str(attrs, A.HOOK_DETAIL)
        rec["tool_name"] = _str(attrs, A.HOOK_TOOL_NAME) or ctx["tool_name"]
        rec["call_id"] = _str(attrs, A.HOOK_TOOL_USE_ID) or ctx["call_id"]
        rec["session_id"] = _first_str(attrs, A.SESSION_ID, A.GEN_AI_CONVERSATION_ID) or ctx["session_id"]
        rec["start_unix_nano"] = rec["end_unix_nano"] = ev.time_unix_nano
        rec["start_time"] = rec["end_time"] = iso_utc(ev.time_unix_nano)
        rec["event_attributes"] = {k: _clean(v) for k, v in attrs.items()}
        out.append(rec)
    return out


def build_records(data: SpanData) -> list[dict[str, Any]]:
    """The span's record (if it is ours) followed by its hook-event records."""
    rec = build_record(data)
    out = [rec] if rec is not None else []
    out.extend(hook_event_records(data))
    return out


# --- adapter: OpenTelemetry SDK ReadableSpan -------------------------------------------------


def from_readable_span(span: Any) -> SpanData:
    """A ``ReadableSpan`` as :class:`SpanData`."""
    ctx = span.context
    parent = span.parent
    status = span.status
    resource = getattr(span, "resource", None)
    service = None
    if resource is not None:
        value = resource.attributes.get("service.name")
        service = value if isinstance(value, str) else None
    events = [SpanEventData(ev.name, ev.timestamp, dict(ev.attributes or {})) for ev in (span.events or ())]
    return SpanData(
        name=span.name,
        trace_id=f"{ctx.trace_id:032x}" if ctx is not None else None,
        span_id=f"{ctx.span_id:016x}" if ctx is not None else None,
        parent_id=f"{parent.span_id:016x}" if parent is not None else None,
        start_unix_nano=span.start_time,
        end_unix_nano=span.end_time,
        attributes=dict(span.attributes or {}),
        status_code=status.status_code.name if status is not None else "UNSET",
        status_message=status.description if status is not None else None,
        events=events,
        service_name=service,
    )


#: Records already built, per live span: the metrics and analytics sinks, on their own
#: threads, get the very same record objects (built once), which they must not modify.
_built: weakref.WeakKeyDictionary[Any, list[dict[str, Any]]] = weakref.WeakKeyDictionary()
_built_lock = forksafe.Lock()


def records_from_spans(spans: Iterable[Any], stop: Stop | None = None) -> list[dict[str, Any]]:
    """The records of a batch of ``ReadableSpan`` objects, in order.

    Each span is converted once per process: a second sink asking for the same span gets
    the same record objects (treat them as read-only). A span that cannot be converted
    is reported (``otel_agents.safety.report``) and skipped; the rest of the batch is kept.
    ``stop``: a sink's stop signal (``otel_agents.sink_contract.Stop``), checked every 32
    spans; raises ``Interrupted`` when it is set (nothing was written yet).
    """
    from otel_agents.safety import report

    out: list[dict[str, Any]] = []
    for n, span in enumerate(spans):
        if stop is not None and not n & 31 and stop():  # exiting: the spool first
            raise Interrupted("exiting")
        try:
            with _built_lock:
                recs = _built.get(span)
        except TypeError:  # not weak-referenceable: no cache
            recs = None
        if recs is None:
            try:
                recs = build_records(from_readable_span(span))
            except Exception as exc:  # noqa: BLE001 - one bad span must not lose the batch
                report("execution records", exc)
                continue
            try:
                with _built_lock:
                    _built[span] = recs
            except TypeError:
                pass
        out.extend(recs)
    return out


# --- adapter: OTLP-JSON --------------------------------------------------------------------


def _hex_id(value: Any, nbytes: int) -> str | None:
    """An OTLP-JSON id (hex per the OTLP spec, or base64 per proto3 JSON) as lowercase hex."""
    if not value or not isinstance(value, str):
        return None
    if len(value) == 2 * nbytes:
        try:
            int(value, 16)
        except ValueError:
            pass
        else:
            return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == nbytes:
        return raw.hex()
    _bad("OTLP id", value)
    return None


def _values(container: Any) -> list[Any]:
    """The ``values`` list of an OTLP ``ArrayValue``/``KeyValueList`` (empty if malformed)."""
    values = container.get("values") if isinstance(container, dict) else None
    return values if isinstance(values, list) else []


def _any_value(value: Any) -> Any:
    """Decode an OTLP ``AnyValue`` object."""
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        v = value["stringValue"]
        return v if isinstance(v, str) else None
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError, OverflowError):
            _bad("OTLP intValue", value)
            return None
    if "doubleValue" in value:
        v = value["doubleValue"]
        if isinstance(v, str):  # proto3 JSON spells NaN/Infinity as strings
            try:
                return float(v)
            except ValueError:
                return None
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_any_value(v) for v in _values(value["arrayValue"])]
    if "kvlistValue" in value:
        return {
            str(kv.get("key")): _any_value(kv.get("value"))
            for kv in _values(value["kvlistValue"])
            if isinstance(kv, dict)
        }
    if "bytesValue" in value:
        v = value["bytesValue"]
        return v if isinstance(v, str) else None
    return None


def _otlp_attributes(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(items, list):
        return out
    for kv in items:
        if isinstance(kv, dict) and isinstance(kv.get("key"), str):
            out[kv["key"]] = _any_value(kv.get("value"))
    return out


def _otlp_time(value: Any) -> int | None:
    if value is None or value == "" or value == 0 or value == "0":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        _bad("OTLP time", value)
        return None
    try:
        return int(value)
    except ValueError:
        _bad("OTLP time", value)
        return None


_STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}


def _otlp_status(status: Any) -> tuple[str, str | None]:
    if not isinstance(status, dict):
        return "UNSET", None
    code = status.get("code", 0)
    if isinstance(code, str):
        name = code.upper().removeprefix("STATUS_CODE_")
        code_name = name if name in ("UNSET", "OK", "ERROR") else "UNSET"
    elif isinstance(code, int) and not isinstance(code, bool):
        code_name = _STATUS_CODES.get(code, "UNSET")
    else:
        code_name = "UNSET"
    message = status.get("message")
    return code_name, (str(message) if message else None)


def from_otlp_json(span: Mapping[str, Any], service_name: str | None = None) -> SpanData:
    """One OTLP-JSON ``Span`` object as :class:`SpanData`."""
    code, message = _otlp_status(span.get("status"))
    events = []
    raw_events = span.get("events")
    for ev in raw_events if isinstance(raw_events, list) else ():
        if isinstance(ev, dict):
            events.append(
                SpanEventData(
                    str(ev.get("name") or ""),
                    _otlp_time(ev.get("timeUnixNano")),
                    _otlp_attributes(ev.get("attributes")),
                )
            )
    return SpanData(
        name=str(span.get("name") or ""),
        trace_id=_hex_id(span.get("traceId"), 16),
        span_id=_hex_id(span.get("spanId"), 8),
        parent_id=_hex_id(span.get("parentSpanId"), 8),
        start_unix_nano=_otlp_time(span.get("startTimeUnixNano")),
        end_unix_nano=_otlp_time(span.get("endTimeUnixNano")),
        attributes=_otlp_attributes(span.get("attributes")),
        status_code=code,
        status_message=message,
        events=events,
        service_name=service_name,
    )


def iter_otlp_json(request: Mapping[str, Any]) -> Iterator[SpanData]:
    """Every span of an OTLP-JSON ``ExportTraceServiceRequest`` (one spool line)."""
    for rs in _list(request.get("resourceSpans")):
        if not isinstance(rs, dict):
            continue
        res = rs.get("resource")
        resource = _otlp_attributes(res.get("attributes") if isinstance(res, dict) else None)
        service = resource.get("service.name")
        service = service if isinstance(service, str) else None
        for ss in _list(rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans")):
            if not isinstance(ss, dict):
                continue
            for span in _list(ss.get("spans")):
                if isinstance(span, dict):
                    yield from_otlp_json(span, service)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
