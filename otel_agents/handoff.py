"""Handing a span's context to a child process, and reading it back there.

An executor that runs ``claude -p ...`` (or any agent CLI) for a step passes
``step.subprocess_env()`` as the child's environment. It holds:

- ``AGENTS_OTEL_PARENT``: our own variable, a small JSON object (the parent span's W3C
  ``traceparent``, the executor's workflow id and the step's key, and the executor's data
  home). Its name does not start with ``OTEL_``: Claude Code passes its environment to its
  hooks, apart from ``OTEL_*`` variables;
- ``TRACEPARENT``: the same span as a W3C trace context, for tools that read it.

The Claude Code hook records the parent at ``SessionStart`` and writes to the executor's
home; the session's spans are then exported as children of that step, in the executor's
trace. Standard library only: the hook path reads it.
"""

from __future__ import annotations

import json

#: Our variable (never ``OTEL_*``: Claude Code strips those from its hooks' environment).
PARENT_ENV = "AGENTS_OTEL_PARENT"
#: The W3C trace context variable.
TRACEPARENT_ENV = "TRACEPARENT"
_MAX_CHARS = 4096


def traceparent(trace_id: int, span_id: int) -> str:
    """The W3C ``traceparent`` of a sampled span: ``00-<trace>-<span>-01``."""
    return f"00-{trace_id:032x}-{span_id:016x}-01"


def parse_traceparent(value: object) -> tuple[int, int] | None:
    """``(trace_id, span_id)`` of a W3C ``traceparent``, or ``None`` if it is not one."""
    if not isinstance(value, str):
        return None
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or len(parts[1]) != 32 or len(parts[2]) != 16 or parts[0] == "ff":
        return None
    try:
        trace_id, span_id = int(parts[1], 16), int(parts[2], 16)
        int(parts[0], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return trace_id, span_id


def encode(trace_id: int, span_id: int, workflow_id: str, key: str, home: str | None) -> str:
    """The value of ``PARENT_ENV`` for the span ``key`` of ``workflow_id``."""
    rec: dict[str, str] = {"traceparent": traceparent(trace_id, span_id), "workflow_id": workflow_id, "key": key}
    if home:
        rec["home"] = home
    return json.dumps(rec, ensure_ascii=True, separators=(",", ":"))


def parent_context(raw: str | None) -> dict[str, str] | None:
    """The parent recorded in ``PARENT_ENV`` (``traceparent``, ``workflow_id``, ``key`` and
    maybe ``home``), or ``None`` when it is absent or not valid (empty means unset)."""
    if not raw or len(raw) > _MAX_CHARS:
        return None
    try:
        rec = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(rec, dict) or parse_traceparent(rec.get("traceparent")) is None:
        return None
    out = {k: v for k in ("traceparent", "workflow_id", "key", "home") if isinstance(v := rec.get(k), str) and v}
    return out if "workflow_id" in out and "key" in out else None


def parent_home(raw: str | None) -> str | None:
    """The executor's data home recorded in ``PARENT_ENV``, if any."""
    parent = parent_context(raw)
    return parent.get("home") if parent is not None else None
