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

When the drain closes such a session, it leaves the session's final totals in the
executor's home (``claude_code.drain``); the step, when it ends after that, adds them to its
span's roll-up (:func:`take_nested`) and names the sessions it includes.
"""

from __future__ import annotations

import json
import math
import os

from otel_agents.text import digest

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


#: The fields of ``otel_agents.rollup.UsageTotals.to_json`` (not imported: the hook path reads this module).
_TOTALS_KEYS = frozenset(
    (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "cost",
        "model_calls",
        "unpriced_model_calls",
    )
)
#: Under the executor's home: ``claude-code/nested/<step>/<session>.json`` (hashed names).
NESTED_DIR = os.path.join("claude-code", "nested")


def nested_file(home: str, workflow_id: str, key: str, session_id: str) -> str:
    """Where the drain leaves the totals of ``session_id`` for that span (0600, atomic)."""
    return os.path.join(nested_dir(home, workflow_id, key), digest(session_id)[:40] + ".json")


def nested_dir(home: str, workflow_id: str, key: str) -> str:
    """The directory of the finished sessions nested under the span ``key`` of ``workflow_id``."""
    return os.path.join(home, NESTED_DIR, digest(f"{workflow_id}\n{key}")[:40])


def take_nested(home: str, workflow_id: str, key: str) -> list[tuple[str, dict[str, object]]]:
    """The finished sessions left for the span ``key`` (``(session id, totals)``, by id, the
    totals as ``UsageTotals.to_json`` wrote them), and
    remove their files: each is taken once. Files that are not valid are skipped (and left)."""
    folder = nested_dir(home, workflow_id, key)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith("."))
    except FileNotFoundError:
        return []
    out: list[tuple[str, dict[str, object]]] = []
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path, "rb") as f:
                rec = json.loads(f.read(65536))
            totals = _totals(rec.get("totals"))
            sid = rec.get("session_id")
            if totals is None or not isinstance(sid, str):
                continue
            os.unlink(path)
        except (OSError, ValueError, AttributeError):
            continue
        out.append((sid, totals))
    try:
        os.rmdir(folder)
    except OSError:
        pass
    return sorted(out, key=lambda t: t[0])


def _totals(value: object) -> dict[str, object] | None:
    """``UsageTotals.to_json``'s object read back, or ``None`` when it is not one."""
    if not isinstance(value, dict) or set(value) != _TOTALS_KEYS:
        return None
    for k, v in value.items():
        kinds = (int, float) if k == "cost" else int
        if isinstance(v, bool) or not isinstance(v, kinds) or not math.isfinite(v) or v < 0:
            return None
    return value


def sweep_nested(home: str, now_ns: int, keep_ns: int) -> int:
    """Remove the totals of sessions drained after their span had ended (no one takes them):
    files older than ``keep_ns``. Returns how many were removed."""
    removed = 0
    root = os.path.join(home, NESTED_DIR)
    try:
        folders = list(os.scandir(root))
    except OSError:
        return 0
    for folder in folders:
        try:
            for entry in os.scandir(folder.path):
                if now_ns - entry.stat().st_mtime_ns > keep_ns:
                    os.unlink(entry.path)
                    removed += 1
            os.rmdir(folder.path)
        except OSError:
            continue  # not empty yet, or gone meanwhile
    return removed
