"""``otel-agents show ID``: one run's span tree, read from the local spool (``<home>/spans/``).

``ID`` is a workflow id (``otel_agents.workflow.id``), a trace id (32 hex digits) or a
Claude Code session id (``otel_agents.session.id`` / ``gen_ai.conversation.id``); a unique
prefix of one of them is enough. The tree shows each span's name, duration, cost (an
unpriced model call is shown as unpriced, never as $0), tokens and outcome, under the trace
id to paste into Jaeger or Phoenix. ``--json`` prints the same tree as JSON. An unknown or
ambiguous id prints why and exits 1. Reading never creates or changes anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_agents import attributes as A
from otel_agents.foundation.files import iter_lines
from otel_agents.foundation.records import SpanData, build_record, iso_utc, iter_otlp_json
from otel_agents.sinks.spool import spool_files

#: Candidates listed when an id is ambiguous.
MAX_LISTED = 10


class NotShown(Exception):
    """The id matches no run, or more than one: the message says which and what to do."""


@dataclass
class _Candidate:
    """One trace that matches the id, and by what."""

    trace_id: str
    matched: set[tuple[str, str]] = field(default_factory=set)
    roots: set[str] = field(default_factory=set)


def _needles(query: str) -> list[bytes]:
    """Byte strings a spool line must contain to hold a match (raw and JSON-escaped)."""
    out = {
        query.encode("utf-8", "surrogatepass"),
        json.dumps(query)[1:-1].encode("ascii"),
        query.lower().encode("utf-8", "surrogatepass"),
    }
    return [n for n in out if n]


def _lines(spans_dir: Path, needles: list[bytes]) -> Iterator[SpanData]:
    """Every span of every complete spool line containing one of ``needles``."""
    for path in spool_files(spans_dir):
        for _offset, _end, line in iter_lines(path):
            if not any(n in line for n in needles):
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                yield from iter_otlp_json(doc)


def _ids(span: SpanData) -> Iterator[tuple[str, str]]:
    """``(what, value)`` of the ids a span can be found by."""
    if span.trace_id:
        yield "trace", span.trace_id
    attrs = span.attributes
    for what, key in (("workflow", A.WORKFLOW_ID), ("session", A.SESSION_ID), ("session", A.GEN_AI_CONVERSATION_ID)):
        value = attrs.get(key)
        if isinstance(value, str) and value:
            yield what, value


def find_trace(spans_dir: Path, query: str) -> str:
    """The trace id ``query`` names: exact matches first, else unique prefixes. Raises
    :class:`NotShown` when none or several traces match."""
    query = query.strip()
    if not query:
        raise NotShown("give a workflow id, a trace id or a session id")
    exact: dict[str, _Candidate] = {}
    prefix: dict[str, _Candidate] = {}
    low = query.lower()
    for span in _lines(spans_dir, _needles(query)):
        if not span.trace_id:
            continue
        for what, value in _ids(span):
            hit = value == low if what == "trace" else value == query
            part = value.startswith(low) if what == "trace" else value.startswith(query)
            if hit or part:
                found = (exact if hit else prefix).setdefault(span.trace_id, _Candidate(span.trace_id))
                found.matched.add((what, value))
                if not span.parent_id:
                    found.roots.add(span.name)
    hits = exact or prefix
    if len(hits) == 1:
        return next(iter(hits))
    if not hits:
        raise NotShown(f"no run matches {query!r} in {spans_dir}")
    listed = sorted(hits.values(), key=lambda c: c.trace_id)
    lines = [f"{query!r} matches {len(hits)} runs; give more of the id:"]
    for c in listed[:MAX_LISTED]:
        ids = ", ".join(f"{w} {v}" for w, v in sorted(c.matched) if w != "trace")
        lines.append(
            f"  trace {c.trace_id}"
            + (f"  ({ids})" if ids else "")
            + (f"  {', '.join(sorted(c.roots))}" if c.roots else "")
        )
    if len(listed) > MAX_LISTED:
        lines.append(f"  ... and {len(listed) - MAX_LISTED} more")
    raise NotShown("\n".join(lines))


def load_trace(spans_dir: Path, trace_id: str) -> list[SpanData]:
    """Every span of one trace in the spool, once each (by span id), by start time."""
    spans: dict[str, SpanData] = {}
    for span in _lines(spans_dir, [trace_id.encode("ascii")]):
        if span.trace_id == trace_id and span.span_id:
            spans[span.span_id] = span
    return sorted(spans.values(), key=lambda s: (s.start_unix_nano or 0, s.name))


# --- the tree ---------------------------------------------------------------------------------


def _node(span: SpanData) -> dict[str, Any]:
    """One span as JSON-ready data: what the tree shows, from its execution record."""
    rec = build_record(span) or {}
    calls = rec.get("model_calls")
    unpriced = rec.get("unpriced_model_calls") or 0
    cost = rec.get("cost_usd")
    if calls and unpriced >= calls:
        cost = None  # every call beneath is unpriced: the cost is unknown, not $0
    duration = None
    if span.start_unix_nano is not None and span.end_unix_nano is not None:
        duration = round((span.end_unix_nano - span.start_unix_nano) / 1e6, 6)
    outcome = rec.get("outcome") or ("failure" if span.status_code == "ERROR" else "success")
    return {
        "name": span.name,
        "span_id": span.span_id,
        "parent_id": span.parent_id,
        "kind": rec.get("kind"),
        "start_time": iso_utc(span.start_unix_nano),
        "duration_ms": duration,
        "outcome": outcome,
        "error_type": rec.get("error_type"),
        "error_message": rec.get("error_message") or (span.status_message if span.status_code == "ERROR" else None),
        "model": rec.get("model"),
        "model_calls": calls,
        "unpriced_model_calls": unpriced if calls else None,
        "cost_usd": cost,
        "cost_unavailable_reason": rec.get("cost_unavailable_reason"),
        "input_tokens": rec.get("input_tokens"),
        "output_tokens": rec.get("output_tokens"),
        "cache_read_tokens": rec.get("cache_read_tokens"),
        "cache_write_tokens": rec.get("cache_write_tokens"),
        "children": [],
    }


def build_tree(spans: list[SpanData]) -> list[dict[str, Any]]:
    """The spans as nested nodes; a span whose parent is not in the spool is a root, marked
    ``parent_missing`` (a Claude Code session still open, a parent span of another process)."""
    nodes = {s.span_id: _node(s) for s in spans}
    roots: list[dict[str, Any]] = []
    for s in spans:
        node = nodes[s.span_id]
        parent = nodes.get(s.parent_id) if s.parent_id else None
        if parent is None or parent is node:
            node["parent_missing"] = bool(s.parent_id)
            roots.append(node)
        else:
            parent["children"].append(node)
    return roots


def duration(ms: float | None) -> str:
    """A duration in the unit that fits: µs, ms, s, min, h."""
    if ms is None:
        return "-"
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.2f} s"
    if s < 3600:
        return f"{int(s // 60)} min {s % 60:02.0f} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def cost(node: dict[str, Any]) -> str:
    """``$0.0261``, ``$0.0261 + 2 unpriced calls``, ``unpriced`` or ``""`` (no model calls)."""
    calls = node.get("model_calls") or 0
    if not calls:
        return ""
    unpriced = node.get("unpriced_model_calls") or 0
    value = node.get("cost_usd")
    if value is None:
        why = node.get("cost_unavailable_reason")
        return "unpriced" + (f" ({why.replace('_', ' ')})" if why and calls == 1 else "")
    money = f"${value:,.2f}" if abs(value) >= 100 else f"${value:,.4f}"
    if unpriced:
        return f"{money} + {unpriced} unpriced call{'s' if unpriced != 1 else ''}"
    return money


def _tokens(node: dict[str, Any]) -> str:
    i, o = node.get("input_tokens"), node.get("output_tokens")
    if not node.get("model_calls") or (i is None and o is None):
        return ""
    text = f"{i or 0:,} in / {o or 0:,} out tokens"
    calls = node["model_calls"]
    if node.get("kind") != A.KIND_MODEL_CALL:
        text += f", {calls} model call{'s' if calls != 1 else ''}"
    return text


def _outcome(node: dict[str, Any]) -> str:
    if node["outcome"] == "success":
        return ""
    what = node["outcome"] if node["outcome"] != "failure" else "failed"
    kind, message = node.get("error_type"), node.get("error_message")
    if kind and message and message.startswith(f"{kind}:"):
        kind = None  # the message names the exception already
    detail = ": ".join(x for x in (kind, message) if x)
    return f"{what.upper()}" + (f" ({detail})" if detail else "")


def _guides() -> tuple[str, str, str, str]:
    """Tree guides, in box-drawing characters where stdout can print them."""
    fancy = ("├─ ", "└─ ", "│  ", "   ")
    try:
        "".join(fancy).encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ("|- ", "`- ", "|  ", "   ")
    return fancy


def render(trace_id: str, spans: list[SpanData], roots: list[dict[str, Any]]) -> str:
    """The tree as text, the trace id first."""
    tee, last, bar, blank = _guides()
    head = [f"trace {trace_id}  (paste it into Jaeger or Phoenix to see this run there)"]
    wf = sorted({s.attributes[A.WORKFLOW_ID] for s in spans if isinstance(s.attributes.get(A.WORKFLOW_ID), str)})
    sessions = sorted(
        {
            v
            for s in spans
            for k in (A.SESSION_ID, A.GEN_AI_CONVERSATION_ID)
            if isinstance(v := s.attributes.get(k), str)
        }
    )
    services = sorted({s.service_name for s in spans if s.service_name})
    facts = (
        ([f"workflow {', '.join(wf)}"] if wf else [])
        + ([f"session {', '.join(sessions)}"] if sessions else [])
        + ([f"service {', '.join(services)}"] if services else [])
    )
    start = min((s.start_unix_nano for s in spans if s.start_unix_nano), default=None)
    if start:
        facts.append(f"started {iso_utc(start)}")
    facts.append(f"{len(spans)} span{'s' if len(spans) != 1 else ''}")
    head.append("  " + "; ".join(facts))
    lines = [*head, ""]

    def line(node: dict[str, Any]) -> str:
        parts = [node["name"], duration(node["duration_ms"]), cost(node), _tokens(node), _outcome(node)]
        if node.get("parent_missing"):
            parts.append("(its parent span is not in the spool yet)")
        return "  ".join(p for p in parts if p)

    def walk(children: list[dict[str, Any]], prefix: str) -> None:
        for i, child in enumerate(children):
            end = i == len(children) - 1
            lines.append(prefix + (last if end else tee) + line(child))
            walk(child["children"], prefix + (blank if end else bar))

    for root in roots:
        lines.append(line(root))
        walk(root["children"], "")
    return "\n".join(lines)


def _not_drained(home: Path, query: str) -> str | None:
    """A hint when ``query`` names a captured Claude Code session no drain has exported yet."""
    from otel_agents.claude_code.store import list_sessions

    stems = [f.stem for f in list_sessions(home) if f.stem == query or f.stem.startswith(query)]
    if len(stems) == 1:
        return (
            f"Claude Code session {stems[0]} is captured but its spans are not exported yet: "
            "run `otel-agents flush`, then show it again"
        )
    return None


def main(args: list[str], prog: str = "otel-agents show") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Show one run's span tree from the local spool: names, durations, cost, "
        "tokens and errors, with the trace id to paste into Jaeger or Phoenix.",
    )
    parser.add_argument("id", help="a workflow id, trace id or Claude Code session id (a unique prefix is enough)")
    parser.add_argument("--home", help="data home (default: $OTEL_AGENTS_HOME, else ./.otel-agents)")
    parser.add_argument("--json", action="store_true", help="print the tree as JSON")
    ns = parser.parse_args(args)

    from otel_agents.config import resolve_home

    home = Path(ns.home) if ns.home else resolve_home()
    spans_dir = home / "spans"
    try:
        if not spool_files(spans_dir):
            from otel_agents.config import load_config

            off = "" if load_config(home)["spool.enabled"] else "; the spool is off (spool.enabled = false)"
            raise NotShown(f"no spans recorded under {home} (the spool {spans_dir} is empty or missing{off})")
        trace_id = find_trace(spans_dir, ns.id)
    except NotShown as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        hint = _not_drained(home, ns.id.strip()) if ns.id.strip() else None
        if hint:
            print(f"{prog}: {hint}", file=sys.stderr)
        return 1
    spans = load_trace(spans_dir, trace_id)
    roots = build_tree(spans)
    if ns.json:
        print(
            json.dumps(
                {"trace_id": trace_id, "home": str(home), "spans": len(spans), "tree": roots},
                indent=1,
                ensure_ascii=False,
            )
        )
    else:
        print(render(trace_id, spans, roots))
    return 0
