"""The drain's pieces: the incremental transcript reader, and properties of any event sequence.

The property test spools random (but well-formed) Claude Code sessions with the hook's own
``handle`` and drains them, whole or in random slices, checking what must always hold: no
drain error, one real root per session, no phantom parent, one span per tool_use_id, and the
same spans whether drained once or many times.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from otel_agents.claude_code import capture
from otel_agents.claude_code.drain import drain
from otel_agents.claude_code.transcript import FileCursor, iso_to_ns, read_responses

SONNET = "claude-sonnet-4-5-20250929"


def entry(mid: str, rid: str, ts: str, out: int, tools: tuple[str, ...] = (), kind: str = "assistant") -> str:
    msg = {
        "id": mid,
        "model": SONNET,
        "content": [{"type": "tool_use", "id": t} for t in tools],
        "usage": {
            "input_tokens": 1,
            "output_tokens": out,
            "cache_creation_input_tokens": 2,
            "cache_read_input_tokens": 3,
        },
    }
    return json.dumps({"type": kind, "requestId": rid, "timestamp": ts, "message": msg}) + "\n"


# --- transcript reader -------------------------------------------------------------------------------
def test_iso_timestamps() -> None:
    assert iso_to_ns("1970-01-01T00:00:01.500Z") == 1_500_000_000
    assert iso_to_ns("2026-11-20T10:00:03.100+00:00") == iso_to_ns("2026-11-20T10:00:03.100Z")
    assert iso_to_ns("nonsense") is None and iso_to_ns(None) is None


def test_reader_groups_blocks_dedupes_and_resumes_at_its_offset(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    user = json.dumps({"type": "user", "timestamp": "1970-01-01T00:00:01Z", "message": {"content": "hi"}}) + "\n"
    path.write_text(
        user
        + entry("m1", "r1", "1970-01-01T00:00:02Z", 10, ("a",))
        + entry("m1", "r1", "1970-01-01T00:00:03Z", 12, ("b",))
    )
    cursor = FileCursor()
    assert list(read_responses(str(path), cursor)) == []  # m1 may still grow
    assert cursor.open is not None and cursor.open.tool_use_ids == ["a", "b"]
    assert cursor.open.usage["output_tokens"] == 12  # field-wise maximum over its blocks
    assert (cursor.open.start, cursor.open.end) == (1_000_000_000, 3_000_000_000)
    offset = cursor.offset
    assert offset == path.stat().st_size
    with open(path, "a") as f:
        f.write(entry("m2", "r2", "1970-01-01T00:00:05Z", 7) + entry("m3", "r3", "1970-01-01T00:00:06Z", 1)[:30])
    (m1,) = list(read_responses(str(path), cursor))  # complete: another entry follows it
    assert m1.key == "m1|r1"
    m2 = cursor.open
    assert m2 is not None and m2.key == "m2|r2"
    assert m2.start == 3_000_000_000  # the entry before it: m1's last block
    assert cursor.offset < path.stat().st_size  # the torn m3 line waits for the next read


def test_reader_starts_over_when_the_file_shrinks(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(entry("m1", "r1", "1970-01-01T00:00:02Z", 1) + entry("m2", "r2", "1970-01-01T00:00:03Z", 1))
    cursor = FileCursor()
    list(read_responses(str(path), cursor))
    path.write_text(entry("m9", "r9", "1970-01-01T00:00:09Z", 1) + "{not json\n")
    list(read_responses(str(path), cursor))
    assert cursor.open is not None and cursor.open.key == "m9|r9"


# --- properties of the drain -----------------------------------------------------------------------------
@st.composite
def sessions(draw: Any) -> list[dict[str, Any]]:
    """A plausible event sequence: turns with tool calls (some parallel, failed, unpaired),
    subagents, stops, notifications, and maybe a SessionEnd."""
    sid = draw(st.sampled_from(["s-1", "s-2"]))
    events: list[dict[str, Any]] = [{"hook_event_name": "SessionStart", "source": "startup"}]
    n_tools = 0
    for _turn in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            events.append({"hook_event_name": "UserPromptSubmit", "prompt": "p"})
        open_ids: list[str] = []
        agent = None
        for _ in range(draw(st.integers(0, 6))):
            action = draw(st.sampled_from(["pre", "post", "fail", "agent", "agent_stop", "note", "post_only"]))
            extra = {"agent_id": agent, "agent_type": "Explore"} if agent and draw(st.booleans()) else {}
            if action == "pre":
                n_tools += 1
                open_ids.append(f"t{n_tools}")
                events.append(
                    {
                        "hook_event_name": "PreToolUse",
                        "tool_name": "Bash",
                        "tool_use_id": f"t{n_tools}",
                        "tool_input": {"c": n_tools},
                        **extra,
                    }
                )
            elif action in ("post", "fail") and open_ids:
                tid = open_ids.pop(draw(st.integers(0, len(open_ids) - 1)))
                name = "PostToolUse" if action == "post" else "PostToolUseFailure"
                events.append({"hook_event_name": name, "tool_name": "Bash", "tool_use_id": tid, "error": "e", **extra})
            elif action == "post_only":
                n_tools += 1
                events.append(
                    {
                        "hook_event_name": "PostToolUse",
                        "tool_name": "Read",
                        "tool_use_id": f"t{n_tools}",
                        "duration_ms": 3,
                    }
                )
            elif action == "agent" and agent is None:
                agent = f"a{len(events)}"
                events.append({"hook_event_name": "SubagentStart", "agent_id": agent, "agent_type": "Explore"})
            elif action == "agent_stop" and agent is not None:
                events.append({"hook_event_name": "SubagentStop", "agent_id": agent, "agent_type": "Explore"})
                agent = None
            elif action == "note":
                events.append({"hook_event_name": "Notification", "message": "m", "notification_type": "x"})
        if draw(st.booleans()):
            events.append({"hook_event_name": "Stop"})
    events.append({"hook_event_name": "SessionEnd", "reason": "exit"})
    for e in events:
        e.update(session_id=sid, transcript_path="/nonexistent.jsonl", cwd="/p")
    return events


def _spool(home: str, events: list[dict[str, Any]]) -> None:
    for i, e in enumerate(events):
        capture.handle(json.dumps(e).encode(), 1_000_000_000_000 + i * 1_000_000, home, spawn=False)


def _check_tree(spans: Any, events: list[dict[str, Any]]) -> None:
    ids = [s.context.span_id for s in spans]
    assert len(ids) == len(set(ids)), "a span was exported twice"
    by_id = set(ids)
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 1 and roots[0].name == "invoke_workflow p"  # the project: cwd /p
    for s in spans:
        assert s.parent is None or s.parent.span_id in by_id, f"phantom parent of {s.name}"
        assert s.end_time >= s.start_time
    tool_ids = {e["tool_use_id"] for e in events if e["hook_event_name"].endswith(("ToolUse", "ToolUseFailure"))}
    tools = [s.attributes["gen_ai.tool.call.id"] for s in spans if s.name.startswith("execute_tool")]
    assert sorted(tools) == sorted(tool_ids)
    n_events = sum(1 for s in spans for ev in s.events if ev.name == "otel_agents.hook_event")
    assert n_events == len(events)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(events=sessions(), cuts=st.lists(st.integers(1, 60), max_size=4))
def test_any_session_drains_to_one_consistent_trace(make_runtime, exporter, tmp_path_factory, events, cuts) -> None:
    runtime = make_runtime()
    whole = str(tmp_path_factory.mktemp("whole"))
    _spool(whole, events)
    exporter.clear()
    drain(whole, rt=runtime)
    once = list(exporter.get_finished_spans())
    _check_tree(once, events)

    # The same events drained in slices, with drains in between: the very same spans.
    sliced = str(tmp_path_factory.mktemp("sliced"))
    exporter.clear()
    start = 0
    for cut in sorted(set(c for c in cuts if c < len(events))) + [len(events)]:
        for i in range(start, cut):
            capture.handle(json.dumps(events[i]).encode(), 1_000_000_000_000 + i * 1_000_000, sliced, spawn=False)
        drain(sliced, rt=runtime, now_ns=1_000_000_000_000 + cut * 1_000_000)
        start = cut
    many = list(exporter.get_finished_spans())
    _check_tree(many, events)
    assert sorted(s.context.span_id for s in many) == sorted(s.context.span_id for s in once)
    assert drain(sliced, rt=runtime).spans == 0
    assert os.path.exists(os.path.join(sliced, "claude-code", "state"))
