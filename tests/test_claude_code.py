"""Claude Code capture end to end: real ``otel-agents hook`` processes, then a drain.

Events go through the installed CLI (a new process per event, as Claude Code runs it); the
drain exports through a runtime whose spans land in an InMemorySpanExporter, and the
assertions are on those spans: the tree, one span per tool_use_id, times, status, exact
token totals, and cost equal to genai-prices' ``calc_price`` of the totals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.trace import SpanKind, StatusCode

from otel_agents import attributes as A
from otel_agents.claude_code.drain import drain
from otel_agents.claude_code.store import SessionFiles, load_state
from otel_agents.ids import span_id_for, trace_id_for
from otel_agents.redact import fingerprint

OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")
FIXTURE = Path(__file__).parent / "fixtures" / "claude-code" / "basic-session"
SHARED_FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "claude-code" / "basic-session"
SONNET = "claude-sonnet-4-5-20250929"
FIXTURE_SID = "3f2a9c1e-7b44-4d2a-9a51-0c6f1d2e8b77"


# --- helpers ---------------------------------------------------------------------------------------
def hook_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN"] = "0"  # tests drain explicitly
    env.update(extra)
    return env


def send(events: list[dict[str, Any]], env: dict[str, str] | None = None) -> None:
    """Each event through its own ``otel-agents hook`` process, in order."""
    env = env or hook_env()
    for ev in events:
        p = subprocess.run(
            [OTEL_AGENTS, "hook"], input=json.dumps(ev).encode(), capture_output=True, env=env, timeout=60
        )
        assert (p.returncode, p.stdout, p.stderr) == (0, b"", b""), ev


def send_parallel(events: list[dict[str, Any]], env: dict[str, str] | None = None) -> None:
    """The events through concurrent hook processes (Claude Code runs matching hooks in parallel)."""
    env = env or hook_env()
    procs = [
        subprocess.Popen(
            [OTEL_AGENTS, "hook"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        for _ in events
    ]
    for p, ev in zip(procs, events, strict=True):
        p.stdin.write(json.dumps(ev).encode())
        p.stdin.close()
    for p in procs:
        assert p.wait(timeout=60) == 0
        assert p.stdout.read() == b"" and p.stderr.read() == b""
        p.stdout.close()
        p.stderr.close()


def fixture_events() -> list[dict[str, Any]]:
    text = (FIXTURE / "events.jsonl").read_text().replace("{FIXTURE_DIR}", str(FIXTURE))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def home() -> Path:
    return Path(os.environ["OTEL_AGENTS_HOME"])


class Tree:
    """Finished spans indexed for assertions."""

    def __init__(self, spans: Any) -> None:
        self.spans = list(spans)
        self.by_id = {s.context.span_id: s for s in self.spans}

    def roots(self) -> list[Any]:
        return [s for s in self.spans if s.parent is None]

    def children(self, span: Any, prefix: str = "") -> list[Any]:
        out = [
            s
            for s in self.spans
            if s.parent is not None and s.parent.span_id == span.context.span_id and s.name.startswith(prefix)
        ]
        return sorted(out, key=lambda s: (s.start_time, s.name))

    def named(self, prefix: str) -> list[Any]:
        return sorted((s for s in self.spans if s.name.startswith(prefix)), key=lambda s: (s.start_time, s.name))

    def parent(self, span: Any) -> Any:
        return self.by_id.get(span.parent.span_id) if span.parent is not None else None


def hook_events(span: Any) -> list[str]:
    return [e.attributes[A.HOOK_EVENT_TYPE] for e in span.events if e.name == A.EVENT_HOOK]


def totals(chats: list[Any]) -> tuple[int, int, int, int]:
    return (
        sum(c.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] for c in chats),
        sum(c.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] for c in chats),
        sum(c.attributes[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] for c in chats),
        sum(c.attributes[A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] for c in chats),
    )


def price(inp: int, out: int, cr: int, cw: int, model: str = SONNET) -> float:
    return float(
        calc_price(
            Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cr, cache_write_tokens=cw),
            model_ref=model,
            provider_id="anthropic",
        ).total_price
    )


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def assistant(
    mid: str,
    rid: str,
    ns: int,
    usage: tuple[int, int, int, int],
    tools: tuple[str, ...] = (),
    model: str = SONNET,
    sidechain: bool = False,
) -> dict[str, Any]:
    """One transcript entry for an API response (usage: input, output, cache write, cache read)."""
    content: list[dict[str, Any]] = [{"type": "tool_use", "id": t, "name": "Bash", "input": {}} for t in tools]
    content = content or [{"type": "text", "text": "done"}]
    inp, out, cw, cr = usage
    return {
        "type": "assistant",
        "requestId": rid,
        "timestamp": iso(ns),
        "isSidechain": sidechain,
        "message": {
            "id": mid,
            "model": model,
            "role": "assistant",
            "content": content,
            "usage": {
                "input_tokens": inp,
                "output_tokens": out,
                "cache_creation_input_tokens": cw,
                "cache_read_input_tokens": cr,
            },
        },
    }


def write_jsonl(path: Path, entries: list[dict[str, Any]], mode: str = "w") -> None:
    with open(path, mode) as f:
        for e in entries:
            f.write(json.dumps(e) + "\n")


def ev(sid: str, name: str, transcript: Path | str = "/nonexistent/transcript.jsonl", **fields: Any) -> dict[str, Any]:
    return {
        "session_id": sid,
        "transcript_path": str(transcript),
        "cwd": "/home/dev/proj",
        "hook_event_name": name,
        "permission_mode": "default",
        **fields,
    }


def pre(sid: str, tuid: str, tool: str = "Bash", tr: Path | str = "/nonexistent", **kw: Any) -> dict[str, Any]:
    return ev(sid, "PreToolUse", tr, tool_name=tool, tool_input={"command": f"run {tuid}"}, tool_use_id=tuid, **kw)


def post(sid: str, tuid: str, tool: str = "Bash", tr: Path | str = "/nonexistent", **kw: Any) -> dict[str, Any]:
    return ev(
        sid,
        "PostToolUse",
        tr,
        tool_name=tool,
        tool_input={"command": f"run {tuid}"},
        tool_response={"stdout": "ok"},
        tool_use_id=tuid,
        **kw,
    )


def spool_spans(data_home: Path) -> list[dict[str, Any]]:
    """Every span in the spool sink's OTLP-JSON files."""
    out = []
    for path in sorted((data_home / "spans").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            for rs in json.loads(line).get("resourceSpans", ()):
                for ss in rs.get("scopeSpans", ()):
                    out.extend(ss.get("spans", ()))
    return out


def attr(span: dict[str, Any], key: str) -> Any:
    for a in span.get("attributes", ()):
        if a["key"] == key:
            (value,) = a["value"].values()
            return value
    return None


# --- the shared fixture ------------------------------------------------------------------------------------
def test_fixture_copy_matches_the_shared_fixture() -> None:
    if not SHARED_FIXTURE.is_dir():
        pytest.skip("no ../shared checkout next to this repository")
    for name in ("events.jsonl", "transcript.jsonl"):
        assert (FIXTURE / name).read_bytes() == (SHARED_FIXTURE / name).read_bytes()


def test_fixture_session_yields_exactly_the_readme_trace(runtime, exporter) -> None:
    events = fixture_events()
    t0 = time.time_ns()
    send(events)
    t1 = time.time_ns()
    report = drain(home(), rt=runtime)
    assert (report.sessions, report.closed, report.open, report.errors) == (1, 1, 0, [])
    tree = Tree(exporter.get_finished_spans())

    # One trace, derived from the session id, with one real root.
    assert {s.context.trace_id for s in tree.spans} == {trace_id_for(FIXTURE_SID)}
    (root,) = tree.roots()
    assert root.name == "invoke_workflow shop-api"  # the project, not a constant
    assert root.attributes[A.GEN_AI_WORKFLOW_NAME] == "shop-api"
    assert root.context.span_id == span_id_for(FIXTURE_SID, "workflow")
    assert t0 <= root.start_time <= root.end_time <= t1
    assert root.attributes[A.GEN_AI_CONVERSATION_ID] == FIXTURE_SID
    assert root.attributes[A.WORKFLOW_TEMPLATE] == "claude-code"
    assert root.attributes[A.MODEL] == SONNET and A.GEN_AI_REQUEST_MODEL not in root.attributes
    assert root.attributes[A.OUTCOME] == "success"
    assert hook_events(root) == ["SessionStart", "SessionEnd"]

    # One turn, holding the main agent's step, which holds one span per tool_use_id.
    (turn,) = tree.children(root)
    assert turn.name == "phase turn" and turn.attributes[A.PHASE_NUMBER] == 1
    assert hook_events(turn) == ["UserPromptSubmit", "Stop"]
    assert (turn.attributes[A.PROMPT_LENGTH], turn.attributes[A.PROMPT_SHA256]) == fingerprint(
        "Run the tests and fix the failing one"
    )
    assert turn.attributes[A.PROMPT_ID] == "p-0001"
    (main,) = tree.children(turn)
    assert main.name == "invoke_agent claude-code"
    tools = tree.children(main, "execute_tool")
    # The README says "5 tool-call spans", but its events hold 4 tool_use_ids (01A to 01D).
    assert [(t.name, t.attributes[A.GEN_AI_TOOL_CALL_ID]) for t in tools] == [
        ("execute_tool Bash", "toolu_01A"),
        ("execute_tool Read", "toolu_01B"),
        ("execute_tool Edit", "toolu_01C"),
        ("execute_tool Edit", "toolu_01D"),
    ]
    for t in tools:
        assert t.context.span_id == span_id_for(FIXTURE_SID, f"tool:{t.attributes[A.GEN_AI_TOOL_CALL_ID]}")
        assert turn.start_time <= t.start_time <= t.end_time <= turn.end_time
        assert hook_events(t)[0] == "PreToolUse"
    assert [t.status.status_code for t in tools] == [
        StatusCode.UNSET,
        StatusCode.UNSET,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    failed = tools[2]
    assert failed.attributes[A.OUTCOME] == "failure" and failed.attributes[A.ERROR_TYPE] == "tool_error"
    assert "String to replace" not in json.dumps(dict(failed.attributes)) + str(failed.status.description)
    assert hook_events(failed) == ["PreToolUse", "PostToolUseFailure"]
    assert (tools[0].attributes[A.TOOL_ARGUMENTS_LENGTH], tools[0].attributes[A.TOOL_ARGUMENTS_SHA256]) == fingerprint(
        {"command": "pytest -q", "description": "Run tests"}
    )
    assert (
        tools[0].attributes[A.TOOL_RESULT_SHA256]
        == fingerprint({"stdout": "1 failed, 12 passed", "stderr": "", "interrupted": False})[1]
    )

    # Five distinct API responses (msg_01 written twice counts once), exact totals and cost.
    chats = tree.children(main, "chat")
    assert len(chats) == 5 and len(tree.named("chat")) == 5
    assert sorted(c.attributes[A.GEN_AI_RESPONSE_ID] for c in chats) == [f"msg_0{i}" for i in range(1, 6)]
    assert all(c.kind is SpanKind.CLIENT and c.attributes[A.GEN_AI_PROVIDER_NAME] == "anthropic" for c in chats)
    assert totals(chats) == (76375, 505, 71320, 5020)
    cost = price(76375, 505, 71320, 5020)
    assert sum(c.attributes[A.GEN_AI_USAGE_COST_AMOUNT] for c in chats) == pytest.approx(cost, rel=1e-12)
    for span in (root, turn, main):
        a = span.attributes
        assert (
            a[A.ROLLUP_INPUT_TOKENS],
            a[A.ROLLUP_OUTPUT_TOKENS],
            a[A.ROLLUP_CACHE_READ_INPUT_TOKENS],
            a[A.ROLLUP_CACHE_WRITE_INPUT_TOKENS],
            a[A.ROLLUP_MODEL_CALLS],
        ) == (76375, 505, 71320, 5020, 5)
        assert a[A.ROLLUP_COST_AMOUNT] == pytest.approx(cost, rel=1e-12)
    assert len(tree.spans) == 1 + 1 + 1 + 4 + 5

    # Every hook event is a span event, once, with a deterministic id.
    all_events = [e for s in tree.spans for e in s.events if e.name == A.EVENT_HOOK]
    assert len(all_events) == 12 == len({e.attributes[A.HOOK_EVENT_ID] for e in all_events})
    assert {e.attributes[A.HOOK_SOURCE] for e in all_events} == {"claude-code"}


def test_draining_twice_or_replaying_never_duplicates(runtime, exporter) -> None:
    send(fixture_events())
    drain(home(), rt=runtime)
    first = sorted((s.context.span_id, s.name) for s in exporter.get_finished_spans())
    assert drain(home(), rt=runtime).spans == 0
    assert len(exporter.get_finished_spans()) == len(first)
    # A replay from scratch (state lost) rebuilds the very same spans: same ids, same events.
    files = SessionFiles.for_session(home(), FIXTURE_SID)
    os.unlink(files.state)
    os.unlink(files.done)
    exporter.clear()
    drain(home(), rt=runtime)
    assert sorted((s.context.span_id, s.name) for s in exporter.get_finished_spans()) == first


def test_flush_command_exports_through_the_real_sinks(tmp_path) -> None:
    import sqlite3

    send(fixture_events())
    env = hook_env(OTEL_AGENTS_OTLP_ENABLED="false")
    p = subprocess.run([OTEL_AGENTS, "flush"], capture_output=True, env=env, timeout=60, text=True)
    assert p.returncode == 0, p.stderr
    assert "1 session(s) drained, 12 span(s) exported, 1 session(s) closed" in p.stdout
    spooled = spool_spans(home())
    assert len(spooled) == 12 == len({s["spanId"] for s in spooled})
    names = sorted(s["name"] for s in spooled)
    assert names.count("execute_tool Edit") == 2 and names.count(f"chat {SONNET}") == 5
    assert sum(int(attr(s, A.GEN_AI_USAGE_INPUT_TOKENS) or 0) for s in spooled) == 76375
    (root,) = [s for s in spooled if not s.get("parentSpanId")]
    assert int(attr(root, A.ROLLUP_OUTPUT_TOKENS)) == 505
    db = sqlite3.connect(home() / "analytics" / "history.db")
    try:
        assert db.execute("select count(*) from hook_events").fetchone() == (12,)
        assert sorted(r[0] for r in db.execute("select call_id from tool_calls")) == [
            "toolu_01A",
            "toolu_01B",
            "toolu_01C",
            "toolu_01D",
        ]
    finally:
        db.close()
    p = subprocess.run([OTEL_AGENTS, "flush"], capture_output=True, env=env, timeout=60, text=True)
    assert "0 session(s) drained, 0 span(s) exported" in p.stdout


# --- generated sessions ---------------------------------------------------------------------------------------
def test_parallel_interleaved_tool_calls_pair_by_tool_use_id(runtime, exporter, tmp_path) -> None:
    sid = "sess-parallel"
    tr = tmp_path / "t.jsonl"
    now = time.time_ns()
    write_jsonl(tr, [assistant("m1", "r1", now, (3, 50, 100, 1000), tools=("tA", "tB", "tC"))])
    send([ev(sid, "SessionStart", tr, source="startup"), ev(sid, "UserPromptSubmit", tr, prompt="go")])
    send_parallel([pre(sid, t, tr=tr) for t in ("tA", "tB", "tC")])
    send([post(sid, "tB", tr=tr, duration_ms=5)])
    send_parallel([post(sid, "tC", tr=tr), post(sid, "tA", tr=tr)])
    send([ev(sid, "Stop", tr), ev(sid, "SessionEnd", tr, reason="exit")])
    drain(home(), rt=runtime)
    tree = Tree(exporter.get_finished_spans())
    tools = tree.named("execute_tool")
    assert sorted(t.attributes[A.GEN_AI_TOOL_CALL_ID] for t in tools) == ["tA", "tB", "tC"]
    for t in tools:
        assert hook_events(t) == ["PreToolUse", "PostToolUse"]
        assert [e.attributes[A.HOOK_TOOL_USE_ID] for e in t.events] == [t.attributes[A.GEN_AI_TOOL_CALL_ID]] * 2
        assert t.end_time >= t.start_time
    by_id = {t.attributes[A.GEN_AI_TOOL_CALL_ID]: t for t in tools}
    assert by_id["tB"].end_time < by_id["tA"].end_time and by_id["tB"].end_time < by_id["tC"].end_time
    (chat,) = tree.named("chat")
    assert tree.parent(chat).name == "invoke_agent claude-code"
    assert totals([chat]) == (1103, 50, 1000, 100)


def test_subagents_hold_their_own_tool_calls_and_usage(runtime, exporter, tmp_path) -> None:
    sid = "sess-sub"
    tr = tmp_path / "main.jsonl"
    sub = tmp_path / "agent-a1.jsonl"
    now = time.time_ns()
    write_jsonl(
        tr,
        [
            assistant("m1", "r1", now, (10, 20, 0, 500), tools=("tTask",)),
            assistant("m2", "r2", now + 1000, (5, 30, 0, 600)),
        ],
    )
    write_jsonl(
        sub,
        [
            assistant("s1", "q1", now, (7, 40, 200, 0), tools=("tSub",)),
            assistant("s1", "q1", now, (7, 40, 200, 0)),  # the same response, second block
            assistant("s2", "q2", now, (2, 9, 0, 300)),
        ],
    )
    agent = {"agent_id": "a1", "agent_type": "Explore"}
    send(
        [
            ev(sid, "SessionStart", tr),
            ev(sid, "UserPromptSubmit", tr, prompt="explore"),
            pre(sid, "tTask", "Task", tr),
            ev(sid, "SubagentStart", tr, **agent),
            pre(sid, "tSub", "Grep", tr, **agent),
            post(sid, "tSub", "Grep", tr, **agent),
            ev(sid, "SubagentStop", tr, agent_transcript_path=str(sub), last_assistant_message="found", **agent),
            post(sid, "tTask", "Task", tr),
            ev(sid, "Stop", tr),
            ev(sid, "SessionEnd", tr, reason="exit"),
        ]
    )
    drain(home(), rt=runtime)
    tree = Tree(exporter.get_finished_spans())
    (turn,) = tree.named("phase turn")
    (sub_span,) = tree.named("invoke_agent Explore")
    assert tree.parent(sub_span) is turn
    assert sub_span.attributes[A.AGENT_ID] == "a1" and sub_span.attributes[A.GEN_AI_AGENT_NAME] == "Explore"
    assert "gen_ai.agent.id" not in sub_span.attributes  # a transient id is not an agent id
    assert hook_events(sub_span) == ["SubagentStart", "SubagentStop"]
    assert sorted(s.name for s in tree.children(sub_span)) == ["chat claude-sonnet-4-5-20250929"] * 2 + [
        "execute_tool Grep"
    ]
    (main,) = tree.named("invoke_agent claude-code")
    assert [s.attributes[A.GEN_AI_TOOL_CALL_ID] for s in tree.children(main, "execute_tool")] == ["tTask"]
    assert totals(tree.children(sub_span, "chat")) == (7 + 200 + 2 + 300, 49, 300, 200)
    assert sub_span.attributes[A.ROLLUP_INPUT_TOKENS] == 509
    assert turn.attributes[A.ROLLUP_INPUT_TOKENS] == 509 + 510 + 605
    assert turn.attributes[A.ROLLUP_MODEL_CALLS] == 4
    (root,) = tree.roots()
    assert root.attributes[A.ROLLUP_OUTPUT_TOKENS] == 20 + 30 + 40 + 9
    assert root.attributes[A.ROLLUP_COST_AMOUNT] == pytest.approx(price(1624, 99, 1400, 200), rel=1e-12)


def test_failures_are_errors_and_capture_content_redacts(runtime, exporter, tmp_path) -> None:
    (home() / "config.toml").parent.mkdir(parents=True, exist_ok=True)
    (home() / "config.toml").write_text("capture_content = true\n")
    sid = "sess-fail"
    send(
        [
            ev(sid, "UserPromptSubmit", prompt="deploy with API_KEY=sk-ant-abcdefghijklmnop123"),
            pre(sid, "t1", "Bash"),
            ev(
                sid,
                "PostToolUseFailure",
                tool_name="Bash",
                tool_input={"command": "curl https://u:hunter2@x.io"},
                tool_use_id="t1",
                error="Exit code 1: password=hunter2 rejected",
                duration_ms=40,
            ),
            ev(sid, "Stop"),
            ev(sid, "SessionEnd", reason="exit"),
        ]
    )
    drain(home(), rt=runtime)
    tree = Tree(exporter.get_finished_spans())
    (tool,) = tree.named("execute_tool")
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes[A.ERROR_MESSAGE] == "Exit code 1: password=[REDACTED] rejected"
    assert tool.status.description == "Exit code 1: password=[REDACTED] rejected"
    assert tool.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"command":"run t1"}'
    (turn,) = tree.named("phase turn")
    assert turn.attributes[A.PROMPT_TEXT] == "deploy with API_KEY=[REDACTED]"
    dump = (
        json.dumps([dict(s.attributes) for s in tree.spans])
        + (home() / "claude-code").joinpath("sessions", f"{sid}.jsonl").read_text()
    )
    assert "hunter2" not in dump and "sk-ant-abcdefghijklmnop123" not in dump


def test_interrupt_abandons_the_turn_and_the_unpaired_tool(runtime, exporter) -> None:
    sid = "sess-int"
    send(
        [
            ev(sid, "SessionStart"),
            ev(sid, "UserPromptSubmit", prompt="one"),
            pre(sid, "t1"),  # interrupted: no Post, no Stop
            ev(sid, "UserPromptSubmit", prompt="two"),
            pre(sid, "t2"),
            post(sid, "t2"),
            ev(sid, "Stop"),
        ]
    )
    drain(home(), rt=runtime)
    tree = Tree(exporter.get_finished_spans())
    turns = tree.named("phase turn")
    assert [(t.attributes[A.PHASE_NUMBER], t.attributes[A.OUTCOME]) for t in turns] == [
        (1, "abandoned"),
        (2, "success"),
    ]
    assert [t.attributes[A.GEN_AI_TOOL_CALL_ID] for t in tree.named("execute_tool")] == ["t2"]  # t1 still open
    assert tree.roots() == []  # the session is not over: its root is not exported yet
    exporter.clear()
    send([ev(sid, "SessionEnd", reason="exit")])
    drain(home(), rt=runtime)
    tree = Tree(exporter.get_finished_spans())
    (t1,) = tree.named("execute_tool")
    assert t1.attributes[A.OUTCOME] == "abandoned" and t1.status.status_code is StatusCode.UNSET
    assert t1.parent.span_id == span_id_for(sid, "turn:1/main")  # its turn, exported earlier
    assert t1.end_time == turns[0].end_time  # closed when its turn was
    (root,) = tree.roots()
    assert {t.parent.span_id for t in turns} == {root.context.span_id}
    assert [s.name for s in tree.spans] == ["execute_tool Bash", "invoke_workflow proj"]


def test_interrupted_tool_failure_is_abandoned_not_error(runtime, exporter) -> None:
    sid = "sess-int2"
    send(
        [
            ev(sid, "UserPromptSubmit", prompt="x"),
            pre(sid, "t1"),
            ev(sid, "PostToolUseFailure", tool_name="Bash", tool_use_id="t1", error="Interrupted", is_interrupt=True),
            ev(sid, "SessionEnd", reason="exit"),
        ]
    )
    drain(home(), rt=runtime)
    (tool,) = Tree(exporter.get_finished_spans()).named("execute_tool")
    assert tool.attributes[A.OUTCOME] == "abandoned" and tool.status.status_code is StatusCode.UNSET


def test_two_sessions_interleaved_make_two_traces(runtime, exporter) -> None:
    a, b = "sess-a", "sess-b"
    send(
        [
            ev(a, "SessionStart"),
            ev(b, "SessionStart"),
            ev(a, "UserPromptSubmit", prompt="a"),
            ev(b, "UserPromptSubmit", prompt="b"),
            pre(a, "x1"),
            pre(b, "x1"),
            post(b, "x1"),
            post(a, "x1"),
            pre(a, "x2"),
            ev(b, "Stop"),
            post(a, "x2"),
            ev(a, "Stop"),
            ev(b, "SessionEnd"),
            ev(a, "SessionEnd"),
        ]
    )
    report = drain(home(), rt=runtime)
    assert report.sessions == 2 and report.closed == 2
    tree = Tree(exporter.get_finished_spans())
    assert len(tree.roots()) == 2
    for sid, n_tools in ((a, 2), (b, 1)):
        spans = [s for s in tree.spans if s.context.trace_id == trace_id_for(sid)]
        assert sum(s.name.startswith("execute_tool") for s in spans) == n_tools
        assert {s.attributes[A.WORKFLOW_ID] for s in spans} == {sid}
    # The same tool_use_id in two sessions is two spans, one in each trace.
    x1 = [s for s in tree.named("execute_tool") if s.attributes[A.GEN_AI_TOOL_CALL_ID] == "x1"]
    assert len({s.context.trace_id for s in x1}) == 2


def test_missing_transcript_still_completes_every_span(runtime, exporter) -> None:
    sid = "sess-missing"
    send(
        [
            ev(sid, "SessionStart", "/nowhere/t.jsonl"),
            ev(sid, "UserPromptSubmit", "/nowhere/t.jsonl", prompt="x"),
            pre(sid, "t1", tr="/nowhere/t.jsonl"),
            post(sid, "t1", tr="/nowhere/t.jsonl"),
            ev(sid, "Stop", "/nowhere/t.jsonl"),
            ev(sid, "SessionEnd", "/nowhere/t.jsonl"),
        ]
    )
    report = drain(home(), rt=runtime)
    assert report.errors == []
    tree = Tree(exporter.get_finished_spans())
    assert sorted(s.name for s in tree.spans) == [
        "execute_tool Bash",
        "invoke_agent claude-code",
        "invoke_workflow proj",
        "phase turn",
    ]
    (root,) = tree.roots()
    assert root.attributes[A.ROLLUP_MODEL_CALLS] == 0


def test_lagging_transcript_usage_arrives_at_a_later_flush(runtime, exporter, tmp_path) -> None:
    sid = "sess-lag"
    tr = tmp_path / "lag.jsonl"
    tr.write_text("")
    send(
        [
            ev(sid, "SessionStart", tr),
            ev(sid, "UserPromptSubmit", tr, prompt="x"),
            pre(sid, "t1", tr=tr),
            post(sid, "t1", tr=tr),
            ev(sid, "Stop", tr),
        ]
    )
    drain(home(), rt=runtime)
    tree = Tree(exporter.get_finished_spans())
    assert sorted(s.name for s in tree.spans) == ["execute_tool Bash", "invoke_agent claude-code", "phase turn"]
    (turn,) = tree.named("phase turn")
    assert turn.attributes[A.ROLLUP_MODEL_CALLS] == 0
    # The transcript catches up (the last line still being written), then the session ends.
    now = time.time_ns()
    full = [
        assistant("m1", "r1", now, (4, 100, 1000, 2000), tools=("t1",)),
        assistant("m2", "r2", now, (1, 7, 0, 3000)),
    ]
    text = "".join(json.dumps(e) + "\n" for e in full)
    tr.write_text(text[:-20])
    exporter.clear()
    drain(home(), rt=runtime)
    (c1,) = Tree(exporter.get_finished_spans()).named("chat")  # m2 is torn: it waits
    assert c1.parent.span_id == span_id_for(sid, "turn:1/main")
    tr.write_text(text)
    send([ev(sid, "SessionEnd", tr)])
    drain(home(), rt=runtime)
    tree = Tree(exporter.get_finished_spans())
    chats = tree.named("chat")
    assert [c.attributes[A.GEN_AI_RESPONSE_ID] for c in chats] == ["m1", "m2"]
    assert {c.parent.span_id for c in chats} == {span_id_for(sid, "turn:1/main")}
    assert totals(chats) == (6005, 107, 5000, 1000)
    (root,) = tree.roots()
    assert (root.attributes[A.ROLLUP_INPUT_TOKENS], root.attributes[A.ROLLUP_MODEL_CALLS]) == (6005, 2)
    assert root.attributes[A.ROLLUP_COST_AMOUNT] == pytest.approx(price(6005, 107, 5000, 1000), rel=1e-12)


def test_usage_carried_between_drains_keeps_its_reasoning_tokens(runtime, exporter, tmp_path) -> None:
    """Usage exported before its session span (a turn drained before the session ends) is
    carried in the drain state into the session's roll-up at a later drain: every field of
    it, reasoning tokens included (Claude Code's transcripts report none, so the carried
    state stands for a call that did)."""
    sid = "sess-think"
    tr = tmp_path / "think.jsonl"
    write_jsonl(tr, [assistant("m1", "r1", time.time_ns(), (4, 100, 1000, 2000), tools=("t1",))])
    send(
        [
            ev(sid, "SessionStart", tr),
            ev(sid, "UserPromptSubmit", tr, prompt="x"),
            pre(sid, "t1", tr=tr),
            post(sid, "t1", tr=tr),
            ev(sid, "Stop", tr),
        ]
    )
    drain(home(), rt=runtime)
    (turn,) = Tree(exporter.get_finished_spans()).named("phase turn")
    files = SessionFiles.for_session(home(), sid)
    state = json.loads(Path(files.state).read_text())
    cost = price(3004, 100, 2000, 1000)
    assert state["carried"] == {
        "input_tokens": 3004,
        "output_tokens": 100,
        "cache_read_tokens": 2000,
        "cache_write_tokens": 1000,
        "reasoning_tokens": 0,
        "cost": cost,
        "model_calls": 1,
        "unpriced_model_calls": 0,
    }
    # One more carried call, with reasoning tokens and a provider-reported cost.
    state["carried"].update(input_tokens=3014, output_tokens=150, reasoning_tokens=45, cost=cost + 0.25, model_calls=2)
    Path(files.state).write_text(json.dumps(state))
    send([ev(sid, "SessionEnd", tr)])
    drain(home(), rt=runtime)
    (root,) = Tree(exporter.get_finished_spans()).roots()
    rollup = {k: v for k, v in root.attributes.items() if k.startswith("otel_agents.rollup.")}
    assert rollup == {
        A.ROLLUP_INPUT_TOKENS: 3014,
        A.ROLLUP_OUTPUT_TOKENS: 150,
        A.ROLLUP_CACHE_READ_INPUT_TOKENS: 2000,
        A.ROLLUP_CACHE_WRITE_INPUT_TOKENS: 1000,
        A.ROLLUP_REASONING_OUTPUT_TOKENS: 45,
        A.ROLLUP_COST_AMOUNT: round(cost + 0.25, 12),
        A.ROLLUP_COST_CURRENCY: "USD",
        A.ROLLUP_MODEL_CALLS: 2,
        A.ROLLUP_UNPRICED_MODEL_CALLS: 0,
    }
    assert turn.attributes[A.ROLLUP_MODEL_CALLS] == 1 and turn.attributes[A.ROLLUP_COST_AMOUNT] == round(cost, 12)


def test_idle_session_closes_after_the_idle_timeout(runtime, exporter, monkeypatch) -> None:
    sid = "sess-idle"
    send([ev(sid, "SessionStart"), ev(sid, "UserPromptSubmit", prompt="x"), pre(sid, "t1")])
    assert drain(home(), rt=runtime).open == 1
    assert exporter.get_finished_spans() == ()
    state = load_state(SessionFiles.for_session(home(), sid))
    later = state.last_t + int(runtime.config["claude_code.idle_timeout"] * 1e9)
    report = drain(home(), rt=runtime, now_ns=later)
    assert (report.closed, report.open) == (1, 0)
    tree = Tree(exporter.get_finished_spans())
    (root,) = tree.roots()
    assert root.attributes[A.OUTCOME] == "abandoned" and root.end_time == state.last_t
    assert {s.attributes[A.OUTCOME] for s in tree.spans} == {"abandoned"}


def test_events_after_stop_open_a_continuation_turn(runtime, exporter) -> None:
    sid = "sess-cont"
    send(
        [
            ev(sid, "UserPromptSubmit", prompt="x"),
            ev(sid, "Stop", stop_hook_active=False),
            pre(sid, "t1"),
            post(sid, "t1"),
            ev(sid, "Stop", stop_hook_active=True),
            ev(sid, "Notification", message="Claude is waiting for your input", notification_type="idle_prompt"),
            ev(sid, "PreCompact", trigger="manual"),
            ev(sid, "SessionEnd", reason="exit"),
        ]
    )
    drain(home(), rt=runtime)
    tree = Tree(exporter.get_finished_spans())
    turns = tree.named("phase turn")
    assert [t.attributes[A.PHASE_NUMBER] for t in turns] == [1, 2]
    assert A.PROMPT_LENGTH in turns[0].attributes and A.PROMPT_LENGTH not in turns[1].attributes
    (tool,) = tree.named("execute_tool")
    assert tree.parent(tree.parent(tool)) is turns[1]
    (root,) = tree.roots()
    assert hook_events(root) == ["Notification", "PreCompact", "SessionEnd"]
    details = [e.attributes.get(A.HOOK_DETAIL) for e in root.events]
    assert details == ["idle_prompt", "manual", "exit"]


def test_post_without_pre_starts_duration_ms_before(runtime, exporter) -> None:
    sid = "sess-post"
    send([ev(sid, "UserPromptSubmit", prompt="x"), post(sid, "t1", duration_ms=250), ev(sid, "SessionEnd")])
    drain(home(), rt=runtime)
    (tool,) = Tree(exporter.get_finished_spans()).named("execute_tool")
    assert tool.end_time - tool.start_time == 250_000_000


def test_unknown_events_are_recorded_generically(runtime, exporter) -> None:
    sid = "sess-unknown"
    send(
        [
            ev(sid, "UserPromptSubmit", prompt="x"),
            ev(sid, "PermissionRequest", tool_name="Bash", weird={"a": 1}),
            ev(sid, "Stop"),
            ev(sid, "SessionEnd"),
        ]
    )
    drain(home(), rt=runtime)
    (turn,) = Tree(exporter.get_finished_spans()).named("phase turn")
    assert hook_events(turn) == ["UserPromptSubmit", "PermissionRequest", "Stop"]
    assert turn.events[1].attributes[A.HOOK_TOOL_NAME] == "Bash"


def test_resumed_session_joins_the_same_trace(runtime, exporter) -> None:
    sid = "sess-resume"
    send([ev(sid, "UserPromptSubmit", prompt="x"), ev(sid, "Stop"), ev(sid, "SessionEnd")])
    drain(home(), rt=runtime)
    send(
        [
            ev(sid, "SessionStart", source="resume"),
            ev(sid, "UserPromptSubmit", prompt="y"),
            ev(sid, "Stop"),
            ev(sid, "SessionEnd"),
        ]
    )
    drain(home(), rt=runtime)
    tree = Tree(exporter.get_finished_spans())
    assert len(tree.roots()) == 1
    turns = tree.named("phase turn")
    assert [t.attributes[A.PHASE_NUMBER] for t in turns] == [1, 2]
    assert {t.parent.span_id for t in turns} == {span_id_for(sid, "workflow")}
    assert {s.context.trace_id for s in tree.spans} == {trace_id_for(sid)}


def test_status_reports_backlog_last_drain_and_problems(runtime) -> None:
    from otel_agents.claude_code.status import format_summary, summary

    send(fixture_events()[:4])
    subprocess.run([OTEL_AGENTS, "hook"], input=b"{oops", env=hook_env(), timeout=60, check=True)
    before = summary(home())
    assert (before["sessions"], before["open_sessions"], before["backlog_sessions"]) == (1, 1, 1)
    assert before["backlog_bytes"] > 0 and before["last_drain_ns"] is None
    assert before["hook_problems"] == {"malformed": 1}
    drain(home(), rt=runtime)
    after = summary(home())
    assert (after["backlog_bytes"], after["open_sessions"]) == (0, 1)
    assert after["last_drain_ns"] is not None and after["spans_exported"] == 0  # turn 1 still open
    p = subprocess.run([OTEL_AGENTS, "flush", "--status"], capture_output=True, text=True, env=hook_env(), timeout=60)
    assert p.returncode == 0 and "backlog: 0 bytes" in p.stdout and "malformed 1" in p.stdout
    assert "sessions: 1 (1 open)" in format_summary(after)


@pytest.mark.parametrize("collector", ["down", "hung"])
def test_flush_finishes_within_its_deadline_when_the_collector_is_down_or_hung(collector: str) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if collector == "hung":
        listener.listen(16)  # accepts (the kernel does), never answers
    else:
        listener.close()  # refused
    try:
        send(fixture_events())
        env = hook_env(OTEL_AGENTS_OTLP_ENDPOINT=f"http://127.0.0.1:{port}")
        t = time.monotonic()
        p = subprocess.run(
            [OTEL_AGENTS, "flush", "--timeout", "3"], capture_output=True, text=True, env=env, timeout=60
        )
        elapsed = time.monotonic() - t
        assert p.returncode == 0, p.stdout + p.stderr
        assert elapsed < 3 + 4, elapsed  # its deadline, plus interpreter start-up and imports on a loaded VM
        assert len(spool_spans(home())) == 12  # on disk for `otel-agents replay`
        files = SessionFiles.for_session(home(), FIXTURE_SID)
        assert os.path.exists(files.done) and load_state(files).exported
    finally:
        listener.close()


def test_a_session_locked_by_another_drain_is_left_for_later(runtime, exporter) -> None:
    from otel_agents.claude_code.store import Lock

    send(fixture_events())
    held = Lock(SessionFiles.for_session(home(), FIXTURE_SID).lock)
    assert held.acquire(0)
    try:
        t = time.monotonic()
        report = drain(home(), rt=runtime, deadline_s=1.0)
        assert time.monotonic() - t < 1.0
        assert report.busy == [FIXTURE_SID] and exporter.get_finished_spans() == ()
    finally:
        held.release()
    assert drain(home(), rt=runtime).spans == 12


@pytest.mark.parametrize("depth", [100, 990, 5000])
def test_to_text_of_deep_nesting_never_raises(depth):
    """JSON parsed near the recursion limit (a hook payload 900 levels deep) is encoded from a
    deeper frame than it was parsed in: it still comes out as JSON; deeper still, as a
    placeholder. Both copies of ``to_text`` (the hook path's stdlib-only one) agree."""
    from otel_agents.claude_code import capture
    from otel_agents.redact import to_text

    value: Any = 1
    for _ in range(depth):
        value = [value]
    expected = "[" * depth + "1" + "]" * depth if depth < 1000 else "<list nested too deep>"
    assert to_text(value) == capture.to_text(value) == expected
