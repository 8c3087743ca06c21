"""Real recorded Claude Code sessions (``../shared/fixtures/claude-code/real``), through the hook
path and through ``import``: exact tokens and cost, and the expected trace structure.

The expected figures are the fixtures README's, computed there from the transcripts alone. The
hook path is the hook's own ``capture.handle`` (what ``otel-agents hook`` runs per event) fed
with the events the transcript implies, stamped with the transcript's times; three sessions
also have the real payloads their hooks received, put back in order against the transcript.
Transcript text is never printed: assertions are on numbers and names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from otel_agents import attributes as A
from otel_agents.claude_code import capture, history
from otel_agents.claude_code.drain import drain
from otel_agents.commands.import_sessions import import_sessions
from otel_agents.ids import span_id_for

#: the shared fixtures next to this repository (or next to the directory of its worktrees)
REAL = next(
    (
        p / "shared" / "fixtures" / "claude-code" / "real"
        for p in Path(__file__).resolve().parents[1:4]
        if (p / "shared" / "fixtures").is_dir()
    ),
    Path("/nonexistent"),
)
OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")

#: folder -> (responses, input, output, cache read, cache write, of which 1h, cost USD or None)
EXPECTED: dict[str, tuple[int, int, int, int, int, int, float | None]] = {
    "claude-code-viewer-fe5e1c67": (170, 818, 51933, 3647854, 137976, 0, 2.393215),
    "chat-pdf-via-rag-38cc65a3": (15, 318, 2017, 349565, 29162, 0, 0.245436),
    "connix-97fa1bbf": (53, 349, 52888, 4181696, 199381, 0, 2.796555),
    "chess-study-tool-6df68d72": (10, 16, 121, 488765, 38482, 38482, 0.632308),
    "chess-study-tool-94f6eed6": (40, 1270, 221, 2388547, 222459, 0, 2.596517),
    "loopkit-da0d9633": (103, 127, 76844, 9844058, 212933, 212933, 8.973094),
    "medianator-a5b806f4": (351, 1169, 128282, 30017144, 1252087, 0, 78.141032),
    "medianator-64530f9c": (149, 474, 37886, 10857356, 385975, 0, 26.371625),
    "claude-debugger-8ac88f55": (29, 73, 4386, 1358188, 219014, 0, 6.473840),
    "fastapi-mqtt-gateway-e36adb37": (26, 1312834, 9213, 0, 0, 0, None),
    "meetings-4f5097dc": (101, 4781, 15301, 3376394, 157035, 0, 1.845657),
}
HOOKED = ["chat-pdf-via-rag-38cc65a3", "connix-97fa1bbf", "fastapi-mqtt-gateway-e36adb37"]
needs_fixtures = pytest.mark.skipif(not REAL.is_dir(), reason="no ../shared fixtures next to this repository")


def home() -> Path:
    return Path(os.environ["OTEL_AGENTS_HOME"])


def transcript(name: str) -> str:
    return str(REAL / name / "transcript.jsonl")


def hook_stream(events: list[tuple[int, dict[str, Any]]]) -> None:
    """Each event through the hook's own entry (``capture.handle``), received at its time."""
    for t, payload in events:
        assert capture.handle(json.dumps(payload).encode(), t, str(home()), spawn=False) is not None


def figures(spans: list[Any]) -> tuple[int, int, int, int, int, int, float | None]:
    """(responses, input, output, cache read, cache write, 1h writes, cost) of the chat spans;
    input is Anthropic's uncached input; cost ``None`` when any response is unpriced."""
    chats = [s for s in spans if s.name.startswith("chat ")]

    def total(key: str) -> int:
        return sum(int(c.attributes.get(key, 0)) for c in chats)

    cr, cw = total(A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS), total(A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS)
    costs = [c.attributes.get(A.GEN_AI_USAGE_COST_AMOUNT) for c in chats]
    cost = None if any(c is None for c in costs) else round(sum(costs), 6)
    return (
        len(chats),
        total(A.GEN_AI_USAGE_INPUT_TOKENS) - cr - cw,
        total(A.GEN_AI_USAGE_OUTPUT_TOKENS),
        cr,
        cw,
        total(A.USAGE_CACHE_WRITE_1H_INPUT_TOKENS),
        cost,
    )


def check_structure(spans: list[Any], session: history.Session) -> None:
    """One trace, one root, no orphan and no duplicate span; turns per prompt; a tool span per
    tool_use_id the transcript holds; every span id the one derived from its key."""
    ids = [s.context.span_id for s in spans]
    assert len(ids) == len(set(ids))
    assert len({s.context.trace_id for s in spans}) == 1
    roots = [s for s in spans if s.parent is None]
    assert [r.context.span_id for r in roots] == [span_id_for(session.session_id, "workflow")]
    assert all(s.parent.span_id in set(ids) for s in spans if s.parent is not None)
    kinds = Counter(e["hook_event_name"] for _t, e in session.events)
    phases = [s for s in spans if s.name.startswith("phase ")]
    assert len(phases) >= kinds["UserPromptSubmit"]
    tools = [s for s in spans if s.name.startswith("execute_tool ")]
    assert sorted(t.attributes[A.GEN_AI_TOOL_CALL_ID] for t in tools) == sorted(
        e["tool_use_id"] for _t, e in session.events if e["hook_event_name"] == "PreToolUse"
    )
    for t in tools:
        assert t.context.span_id == span_id_for(session.session_id, f"tool:{t.attributes[A.GEN_AI_TOOL_CALL_ID]}")


def check_figures(spans: list[Any], name: str) -> None:
    got, want = figures(spans), EXPECTED[name]
    assert got[:6] == want[:6]
    if want[6] is None:
        assert got[6] is None
        chats = [s for s in spans if s.name.startswith("chat ")]
        assert all(A.GEN_AI_USAGE_COST_AMOUNT not in c.attributes for c in chats)
    else:
        assert got[6] == pytest.approx(want[6], abs=1.5e-6)


# --- every session, through the hook path and through import --------------------------------------------
@needs_fixtures
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hook_path_gives_the_expected_figures_and_structure(name, runtime, exporter) -> None:
    session = history.read_session(transcript(name))
    assert session is not None
    hook_stream(session.events)
    report = drain(home(), rt=runtime)
    assert (report.sessions, report.closed, report.errors) == (1, 1, [])
    spans = list(exporter.get_finished_spans())
    check_figures(spans, name)
    check_structure(spans, session)


@needs_fixtures
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_import_gives_the_expected_figures_and_structure(name, runtime, exporter) -> None:
    result = import_sessions([transcript(name)], str(home()), rt=runtime)
    assert (result.found, result.imported, result.errors) == (1, 1, [])
    spans = list(exporter.get_finished_spans())
    check_figures(spans, name)
    session = history.read_session(transcript(name))
    assert session is not None
    check_structure(spans, session)


@needs_fixtures
def test_import_after_live_capture_or_twice_adds_nothing(runtime, exporter) -> None:
    name = "loopkit-da0d9633"
    session = history.read_session(transcript(name))
    assert session is not None
    hook_stream(session.events)
    drain(home(), rt=runtime)
    live = sorted((s.context.span_id, s.name) for s in exporter.get_finished_spans())
    for _ in range(2):
        result = import_sessions([transcript(name)], str(home()), rt=runtime)
        assert (result.imported, result.skipped) == (0, 1)
    assert sorted((s.context.span_id, s.name) for s in exporter.get_finished_spans()) == live
    # An import into a fresh home builds the very same span ids as the live capture.
    exporter.clear()
    os.environ["OTEL_AGENTS_HOME"] = str(home().parent / "other-home")
    assert import_sessions([transcript(name)], str(home()), rt=runtime).imported == 1
    assert sorted((s.context.span_id, s.name) for s in exporter.get_finished_spans()) == live


# --- resumed sessions: each response once across the data home ------------------------------------------------
@needs_fixtures
@pytest.mark.parametrize(
    "order", [("medianator-a5b806f4", "medianator-64530f9c"), ("medianator-64530f9c", "medianator-a5b806f4")]
)
@pytest.mark.parametrize("path", ["hook", "import"])
def test_a_resumed_session_pair_costs_the_same_in_either_order(order, path, runtime, exporter) -> None:
    for name in order:
        if path == "hook":
            session = history.read_session(transcript(name))
            assert session is not None
            hook_stream(session.events)
            drain(home(), rt=runtime)
        else:
            assert import_sessions([transcript(name)], str(home()), rt=runtime).imported == 1
    spans = list(exporter.get_finished_spans())
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == len({c.attributes[A.GEN_AI_RESPONSE_ID] for c in chats}) == 351 + 149 - 57
    assert round(sum(c.attributes[A.GEN_AI_USAGE_COST_AMOUNT] for c in chats), 2) == 97.87
    roots = [s for s in spans if s.parent is None]
    assert round(sum(r.attributes[A.ROLLUP_COST_AMOUNT] for r in roots), 2) == 97.87


# --- the real hook payloads -----------------------------------------------------------------------------------
def real_stream(name: str) -> tuple[history.Session, list[tuple[int, dict[str, Any]]], list[dict[str, Any]]]:
    """The real payloads of the fixture's session, in the transcript's order: each takes the
    place (and time) of the synthesised event it matches (tools by name and input, prompts by
    text, the rest in order of kind); payloads matching none go just before SessionEnd."""
    session = history.read_session(transcript(name))
    assert session is not None
    payloads: list[dict[str, Any]] = []
    for f in sorted((REAL / name / "hooks").glob("*.json")):
        for p in json.loads(f.read_text()):
            if p["session_id"] == session.session_id or p["hook_event_name"] == "SubagentStop":
                payloads.append({**p, "session_id": session.session_id, "transcript_path": transcript(name)})

    def match_key(e: dict[str, Any]) -> tuple[str, str]:
        kind = e["hook_event_name"]
        if kind in ("PreToolUse", "PostToolUse", "PostToolUseFailure") and e.get("tool_use_id") and by_id:
            return ("tool" + kind[:3], f"{e.get('tool_name')}\n{e['tool_use_id']}")
        if kind in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
            return ("tool" + kind[:3], f"{e.get('tool_name')}\n{json.dumps(e.get('tool_input'), sort_keys=True)}")
        if kind == "UserPromptSubmit":
            return (kind, str(e.get("prompt")))
        return (kind, "")

    by_id = any("tool_use_id" in p for p in payloads)
    waiting: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in payloads:
        kind = p["hook_event_name"]
        key = match_key({**p, "hook_event_name": "PostToolUse" if kind == "PostToolUseFailure" else kind})
        waiting[key].append(p)
    out: list[tuple[int, dict[str, Any]]] = []
    end = session.events[-1]
    for t, e in session.events[:-1]:
        kind = e["hook_event_name"]
        key = match_key({**e, "hook_event_name": "PostToolUse" if kind == "PostToolUseFailure" else kind})
        same_tool = [
            k for k, v in waiting.items() if v and k[0] == key[0] and k[1].split("\n")[0] == key[1].split("\n")[0]
        ]
        if waiting.get(key):
            out.append((t, waiting[key].pop(0)))
        elif key[0].startswith("tool") and same_tool and not by_id:  # TodoWrite's Post carries a normalised input
            out.append((t, waiting[same_tool[0]].pop(0)))
        elif kind in ("SessionStart", "SubagentStart", "SubagentStop"):
            continue  # this version sent none of these (or none that matches)
    rest = sorted((p for ps in waiting.values() for p in ps), key=lambda p: p["hook_event_name"] != "PreToolUse")
    out += [(end[0], p) for p in rest]
    out.append(end)
    return session, out, payloads


@needs_fixtures
@pytest.mark.parametrize("name", HOOKED)
def test_real_hook_payloads_give_the_expected_figures(name, runtime, exporter) -> None:
    session, stream, payloads = real_stream(name)
    hook_stream(stream)
    assert drain(home(), rt=runtime).errors == []
    spans = list(exporter.get_finished_spans())
    check_figures(spans, name)
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 1 and len({s.context.trace_id for s in spans}) == 1
    # One span per call: a Pre and its Post are one span, however the payloads identify them.
    tools = [s for s in spans if s.name.startswith("execute_tool ")]
    pres = [p for p in payloads if p["hook_event_name"] == "PreToolUse"]
    pre_ids = {p.get("tool_use_id") for p in pres}
    lone = {p["tool_use_id"] for p in payloads if p.get("tool_use_id") and p["tool_use_id"] not in pre_ids}
    assert len(tools) == len(pres) + len(lone)  # the payloads hold Posts of calls whose Pre was not captured
    firsts = Counter(next(e.attributes[A.HOOK_EVENT_TYPE] for e in t.events if e.name == A.EVENT_HOOK) for t in tools)
    assert firsts == {"PreToolUse": len(pres), **({"PostToolUse": len(lone)} if lone else {})}
    # No subagent step from a SubagentStop that names no agent.
    assert [s.name for s in spans if s.name.startswith("invoke_agent ") and "subagent" in s.name] == []


@needs_fixtures
def test_payloads_without_tool_use_id_pair_by_name_and_input_oldest_first(runtime, exporter) -> None:
    session, stream, payloads = real_stream("chat-pdf-via-rag-38cc65a3")
    assert not any("tool_use_id" in p for p in payloads)
    hook_stream(stream)
    drain(home(), rt=runtime)
    tools = [s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool ")]
    assert len(tools) == 17  # 17 calls (16 with their Post), not 33 spans
    done = [t for t in tools if t.attributes[A.OUTCOME] == "success"]
    assert len(done) == 16
    assert all(t.end_time > t.start_time for t in done)


# --- the single bugs, on small transcripts -------------------------------------------------------------------------
def _assistant(mid: str, ts: str, usage: dict[str, Any], content: list[dict[str, Any]], model: str = "claude-opus-4-6"):
    return {
        "type": "assistant",
        "sessionId": "s-1",
        "requestId": "req_" + mid,
        "timestamp": ts,
        "uuid": mid + ts,
        "message": {"id": mid, "model": model, "role": "assistant", "content": content, "usage": usage},
    }


def _write(path: Path, entries: list[dict[str, Any]], mode: str = "w") -> None:
    with open(path, mode) as f:
        for e in entries:
            f.write(json.dumps(e) + "\n")


def test_interleaved_usage_read_by_a_later_drain_counts_its_final_entry(runtime, exporter, tmp_path) -> None:
    tr = tmp_path / "s-1.jsonl"
    usage = {"input_tokens": 3, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200}
    prompt = {
        "type": "user",
        "sessionId": "s-1",
        "timestamp": "2026-01-01T00:00:00Z",
        "message": {"role": "user", "content": "go"},
    }
    tool = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
    result = {
        "type": "user",
        "sessionId": "s-1",
        "timestamp": "2026-01-01T00:00:03Z",
        "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}]},
    }
    first = [
        prompt,
        _assistant("msg_1", "2026-01-01T00:00:01Z", {**usage, "output_tokens": 2}, [{"type": "text", "text": "a"}]),
        _assistant("msg_1", "2026-01-01T00:00:02Z", {**usage, "output_tokens": 2}, [tool]),
        result,
        {"type": "file-history-snapshot", "timestamp": "2026-01-01T00:00:03Z"},
        _assistant("msg_1", "2026-01-01T00:00:04Z", {**usage, "output_tokens": 700}, [tool]),
    ]
    late = [_assistant("msg_1", "2026-01-01T00:00:06Z", {**usage, "output_tokens": 900}, [tool])]
    _write(tr, first)
    sid, trp = "s-1", str(tr)
    base = {"session_id": sid, "transcript_path": trp}
    ns = 1_767_225_600_000_000_000
    hook_stream(
        [
            (ns, {**base, "hook_event_name": "UserPromptSubmit", "prompt": "go"}),
            (ns + 2 * 10**9, {**base, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "toolu_1"}),
            (ns + 3 * 10**9, {**base, "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "toolu_1"}),
            (ns + 5 * 10**9, {**base, "hook_event_name": "Stop"}),
        ]
    )
    drain(home(), rt=runtime, now_ns=ns + 6 * 10**9)
    _write(tr, late, "a")
    hook_stream([(ns + 7 * 10**9, {**base, "hook_event_name": "SessionEnd", "reason": "other"})])
    drain(home(), rt=runtime, now_ns=ns + 8 * 10**9)
    chats = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    assert sum(c.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] for c in chats) == 900
    assert sum(c.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] for c in chats) == 1203
    root = next(s for s in exporter.get_finished_spans() if s.parent is None)
    assert root.attributes[A.ROLLUP_OUTPUT_TOKENS] == 900


@pytest.mark.parametrize(("model", "priced"), [("gpt-4o", True), ("nvidia/nemotron-3-ultra-550b-a55b", False)])
def test_a_model_behind_a_custom_base_url_is_priced_by_model_or_left_unpriced(
    model, priced, runtime, exporter, tmp_path
) -> None:
    from otel_agents.pricing import price_of

    tr = tmp_path / "s-1.jsonl"
    _write(
        tr,
        [
            {
                "type": "user",
                "sessionId": "s-1",
                "timestamp": "2026-01-01T00:00:00Z",
                "message": {"role": "user", "content": "hi"},
            },
            _assistant("msg_1", "2026-01-01T00:00:01Z", {"input_tokens": 1000, "output_tokens": 100}, [], model=model),
        ],
    )
    session = history.read_session(str(tr))
    assert session is not None
    hook_stream(session.events)
    drain(home(), rt=runtime)
    (chat,) = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    assert chat.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    if priced:
        assert (
            chat.attributes[A.GEN_AI_USAGE_COST_AMOUNT]
            == price_of(model, None, input_tokens=1000, output_tokens=100).total
        )
    else:
        assert A.GEN_AI_USAGE_COST_AMOUNT not in chat.attributes


# --- the command --------------------------------------------------------------------------------------------------
@needs_fixtures
def test_import_command_writes_every_sink_and_report_answers_cost_by_day_and_model(tmp_path) -> None:
    projects = tmp_path / "claude" / "projects" / "-home-me-chess"
    projects.mkdir(parents=True)
    for name in ("chess-study-tool-6df68d72", "chess-study-tool-94f6eed6"):
        sid = history.session_id_of(transcript(name))
        (projects / f"{sid}.jsonl").write_bytes(Path(transcript(name)).read_bytes())
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")}
    p = subprocess.run([OTEL_AGENTS, "import", "claude-code", "--progress"], capture_output=True, env=env, timeout=300)
    assert p.returncode == 0
    assert b"2 session(s) imported, 0 already present" in p.stdout
    assert p.stderr.split(b"\r")[1:] == [
        f"[{'#' * 15}{'.' * 15}] 1/2 sessions".encode(),
        f"[{'#' * 30}] 2/2 sessions\n".encode(),
    ]
    p = subprocess.run([OTEL_AGENTS, "import", "claude-code"], capture_output=True, text=True, env=env, timeout=300)
    assert (p.returncode, p.stderr) == (0, "")  # no terminal: no progress bar
    assert "0 session(s) imported, 2 already present" in p.stdout
    spooled = [
        (span["traceId"], span["spanId"])
        for f in (home() / "spans").glob("*.jsonl")
        for line in f.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]
    assert len(spooled) == len(set(spooled)) > 0  # the span spool: each span once
    assert list((home() / "metrics").glob("executions_*.jsonl"))
    p = subprocess.run(
        [OTEL_AGENTS, "report", "--format", "json", "--section", "cost", "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    cost = json.loads(p.stdout)["cost"]
    want = round(0.6323075 + 2.596517, 6)
    assert cost["total_usd"] == pytest.approx(want, abs=2e-6)
    assert [m["model"] for m in cost["by_model"]] == ["claude-opus-4-5-20251101"]
    assert sum(d["cost_usd"] or 0 for d in cost["daily"]) == pytest.approx(want, abs=2e-6)
    (project,) = cost["by_workflow"]  # both sessions are of one project
    assert (project["workflows"], project["cost_usd"]) == (2, pytest.approx(want, abs=2e-6))


def test_subagent_stop_without_agent_id_makes_no_empty_step(runtime, exporter) -> None:
    base = {"session_id": "s-2", "transcript_path": "/nonexistent/s-2.jsonl"}
    ns = 1_767_225_600_000_000_000
    hook_stream(
        [
            (ns, {**base, "hook_event_name": "UserPromptSubmit", "prompt": "go"}),
            (ns + 10**9, {**base, "hook_event_name": "SubagentStop", "stop_hook_active": False}),
            (ns + 2 * 10**9, {**base, "hook_event_name": "Stop"}),
            (ns + 3 * 10**9, {**base, "hook_event_name": "SessionEnd", "reason": "other"}),
        ]
    )
    drain(home(), rt=runtime)
    spans = exporter.get_finished_spans()
    assert sorted(s.name.split(" ")[0] for s in spans) == ["invoke_agent", "invoke_workflow", "phase"]
    (turn,) = [s for s in spans if s.name.startswith("phase ")]
    assert [e.attributes[A.HOOK_EVENT_TYPE] for e in turn.events] == ["UserPromptSubmit", "SubagentStop", "Stop"]


@needs_fixtures
def test_response_tokens_map_as_genai_prices_anthropic_extraction() -> None:
    from otel_agents.claude_code.transcript import FileCursor, read_responses
    from otel_agents.events import ModelUsage

    for name in ("loopkit-da0d9633", "chess-study-tool-6df68d72", "meetings-4f5097dc"):
        cursor = FileCursor()
        found = [r for r in [*read_responses(transcript(name), cursor), cursor.open] if r is not None]
        for resp in found:
            assert resp is not None
            assert resp.tokens() == {
                k: v for k, v in ModelUsage.anthropic_tokens(resp.anthropic_usage()).items() if k != "reasoning_tokens"
            }


@needs_fixtures
def test_real_payloads_through_hook_processes_give_the_expected_figures(runtime, exporter) -> None:
    """The real payloads of one session, each through its own ``otel-agents hook`` process as
    Claude Code runs it (received now, not at the transcript's times)."""
    name = "chat-pdf-via-rag-38cc65a3"
    _session, stream, _payloads = real_stream(name)
    env = {**os.environ, "OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN": "0"}
    for _t, payload in stream:
        p = subprocess.run([OTEL_AGENTS, "hook"], input=json.dumps(payload).encode(), capture_output=True, env=env)
        assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    assert drain(home(), rt=runtime).errors == []
    spans = list(exporter.get_finished_spans())
    check_figures(spans, name)
    assert len([s for s in spans if s.name.startswith("execute_tool ")]) == 17
    assert len([s for s in spans if s.parent is None]) == 1


def test_import_reads_subagent_files_and_inline_sidechains(runtime, exporter, tmp_path) -> None:
    project = tmp_path / "projects" / "-home-me-app"
    (project / "s-1" / "subagents").mkdir(parents=True)
    usage = {"input_tokens": 10, "output_tokens": 5}
    task = {
        "type": "tool_use",
        "id": "toolu_task",
        "name": "Task",
        "input": {"prompt": "look", "subagent_type": "explorer"},
    }
    grep_call = {"type": "tool_use", "id": "toolu_grep", "name": "Grep", "input": {"pattern": "x"}}
    ls_call = {"type": "tool_use", "id": "toolu_ls", "name": "LS", "input": {"path": "."}}

    def result(tuid: str, ts: str, **extra: Any) -> dict[str, Any]:
        content = [{"type": "tool_result", "tool_use_id": tuid, "content": "ok"}]
        return {
            "type": "user",
            "sessionId": "s-1",
            "timestamp": ts,
            "message": {"role": "user", "content": content},
            **extra,
        }

    _write(
        project / "s-1.jsonl",
        [
            {
                "type": "user",
                "sessionId": "s-1",
                "timestamp": "2026-01-01T00:00:00Z",
                "message": {"role": "user", "content": "go"},
            },
            _assistant("msg_1", "2026-01-01T00:00:01Z", usage, [task]),
            # the inline sidechain of the Task call (older versions)
            {
                "type": "user",
                "sessionId": "s-1",
                "isSidechain": True,
                "uuid": "sc-1",
                "parentUuid": None,
                "timestamp": "2026-01-01T00:00:02Z",
                "message": {"role": "user", "content": "look"},
            },
            {
                **_assistant("msg_2", "2026-01-01T00:00:03Z", usage, [grep_call]),
                "isSidechain": True,
                "uuid": "sc-2",
                "parentUuid": "sc-1",
            },
            result("toolu_grep", "2026-01-01T00:00:04Z", isSidechain=True, uuid="sc-3", parentUuid="sc-2"),
            result("toolu_task", "2026-01-01T00:00:05Z"),
            _assistant("msg_3", "2026-01-01T00:00:06Z", usage, [{"type": "text", "text": "done"}]),
        ],
    )
    _write(
        project / "s-1" / "subagents" / "agent-a1.jsonl",
        [
            {**_assistant("msg_4", "2026-01-01T00:00:02.500Z", usage, [ls_call]), "isSidechain": True, "agentId": "a1"},
            result("toolu_ls", "2026-01-01T00:00:02.700Z", isSidechain=True, agentId="a1"),
        ],
    )
    assert import_sessions([str(tmp_path / "projects")], str(home()), rt=runtime).imported == 1
    tree = {s.context.span_id: s for s in exporter.get_finished_spans()}

    def parent_name(span: Any) -> str:
        return tree[span.parent.span_id].name

    by_name = {s.name: s for s in tree.values()}
    assert parent_name(by_name["execute_tool Grep"]) == "invoke_agent explorer"
    assert by_name["invoke_agent explorer"].attributes[A.AGENT_ID] == "task-toolu_task"
    assert parent_name(by_name["execute_tool LS"]) == "invoke_agent subagent"
    assert by_name["invoke_agent subagent"].attributes[A.AGENT_ID] == "a1"
    chats = {s.attributes[A.GEN_AI_RESPONSE_ID]: parent_name(s) for s in tree.values() if s.name.startswith("chat ")}
    main = chats["msg_1"]  # the main agent's step of the turn
    assert main.startswith("invoke_agent ") and main not in ("invoke_agent explorer", "invoke_agent subagent")
    assert chats == {"msg_1": main, "msg_2": "invoke_agent explorer", "msg_3": main, "msg_4": "invoke_agent subagent"}


@needs_fixtures
def test_an_import_records_no_genai_metrics_a_live_drain_does(make_runtime, exporter) -> None:
    """The GenAI metrics count calls as they happen: a live drain records them, an import of
    the same session (the past) records none, while building the same spans."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    def tokens_counted(reader: InMemoryMetricReader) -> int:
        data = reader.get_metrics_data()
        return sum(
            p.value
            for rm in (data.resource_metrics if data else ())
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == "gen_ai.client.inference.usage.output_tokens"
            for p in m.data.data_points
        )

    name = "loopkit-da0d9633"
    reader = InMemoryMetricReader()
    rt = make_runtime(meter_provider=MeterProvider(metric_readers=[reader]))
    assert import_sessions([transcript(name)], str(home()), rt=rt).imported == 1
    imported = len(exporter.get_finished_spans())
    assert imported > 0 and tokens_counted(reader) == 0
    exporter.clear()
    os.environ["OTEL_AGENTS_HOME"] = str(home().parent / "live-home")
    session = history.read_session(transcript(name))
    assert session is not None
    hook_stream(session.events)
    drain(home(), rt=rt)
    assert len(exporter.get_finished_spans()) == imported
    assert tokens_counted(reader) == EXPECTED[name][2] == 76844
