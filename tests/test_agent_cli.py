"""Codex CLI and Gemini CLI capture: every recorded session, through import and through the
hook path, becomes one trace with the totals worked out independently.

Expected totals: tests/fixtures/agent_cli/expected.json, written by expected.py beside it
(a separate reading of the files, priced with genai_prices.calc_price directly). No public
recording of either CLI's hook payloads exists: the hook streams here are synthesised from the
session files with the payload fields the CLIs document (REFERENCE §9): Codex PreToolUse /
PostToolUse with ``tool_use_id`` = the rollout's ``call_id`` and ``turn_id``; Gemini
BeforeTool / AfterTool with ``tool_name`` and ``tool_input`` only (no id).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_agents import attributes as A
from otel_agents.agent_cli import codex, export, gemini
from otel_agents.claude_code import capture

#: A copy of the shared recorded sessions (codex/, gemini/ with their READMEs), kept in the repository.
FIX = Path(__file__).parent / "fixtures" / "agent_cli"
#: the shared fixtures next to this repository (or next to the directory of its worktrees)
SHARED = next(
    (p / "shared" / "fixtures" for p in Path(__file__).resolve().parents[1:4] if (p / "shared" / "fixtures").is_dir()),
    Path("/nonexistent"),
)
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "fixtures/agent_cli/expected.json").read_text()
)
CASES = sorted(EXPECTED)


def test_fixture_copy_matches_the_shared_fixtures() -> None:
    if not SHARED.is_dir():
        pytest.skip("the shared fixtures are not on this machine")
    for agent in ("codex", "gemini"):
        shared = sorted(p.relative_to(SHARED) for p in (SHARED / agent).rglob("*") if p.is_file())
        ours = sorted(p.relative_to(FIX) for p in (FIX / agent).rglob("*") if p.is_file())
        assert ours == shared
        assert all((FIX / p).read_bytes() == (SHARED / p).read_bytes() for p in shared)


def agent_of(rel: str) -> str:
    return "codex" if rel.startswith("codex/") else "gemini"


def chats(spans: list[Any]) -> list[Any]:
    return [s for s in spans if s.attributes.get(A.GEN_AI_OPERATION_NAME) == "chat"]


def tok(spans: list[Any], key: str) -> int:
    return sum(int(s.attributes.get(key, 0)) for s in spans)


def project_of(rel: str) -> str | None:
    """The project a Codex rollout names (its first ``session_meta``'s working directory), read
    here on its own; Gemini's chat files name none."""
    if agent_of(rel) != "codex":
        return None
    with open(FIX / rel, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("type") == "session_meta":
                cwd = rec["payload"].get("cwd")
                return cwd.rstrip("/").rsplit("/", 1)[-1] if cwd else None
    return None


def expected_root(rel: str, e: dict[str, Any], outcome: str = "success") -> dict[str, Any]:
    wf = "codex" if agent_of(rel) == "codex" else "gemini-cli"
    sid = e["session_id"]
    models = e.get("models") or (
        ["gpt-5.3-codex"] if "localpush" in rel else ["aide-gpt-5"] if "0.39" in rel else ["unknown"]
    )
    d: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: "invoke_workflow",
        A.KIND: "workflow",
        A.WORKFLOW_ID: sid,
        A.WORKFLOW_TEMPLATE: wf,
        A.GEN_AI_CONVERSATION_ID: sid,
        A.SESSION_ID: sid,
        A.OUTCOME: outcome,
        A.ROLLUP_INPUT_TOKENS: e["input_tokens"],
        A.ROLLUP_OUTPUT_TOKENS: e["output_tokens"],
        A.ROLLUP_CACHE_READ_INPUT_TOKENS: e["cache_read_tokens"],
        A.ROLLUP_CACHE_WRITE_INPUT_TOKENS: 0,
        A.ROLLUP_REASONING_OUTPUT_TOKENS: e["reasoning_tokens"],
        A.ROLLUP_MODEL_CALLS: e["model_calls"],
        A.ROLLUP_UNPRICED_MODEL_CALLS: e["unpriced_calls"],
        A.RETRY_COUNT: 0,
    }
    project = project_of(rel)
    if project is not None:  # the session's project names the workflow; the CLI's name never does
        d[A.GEN_AI_WORKFLOW_NAME] = project
    if len(models) == 1:
        d[A.MODEL] = models[0]
    if e["cost"] is not None:
        d[A.ROLLUP_COST_AMOUNT] = pytest.approx(e["cost"], rel=1e-9)
        d[A.ROLLUP_COST_CURRENCY] = "USD"
    return d


def check_trace(spans: list[Any], rel: str) -> Any:
    e = EXPECTED[rel]
    assert len({s.context.trace_id for s in spans}) == 1
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 1
    (root,) = roots
    assert dict(root.attributes) == expected_root(rel, e)
    assert len([s for s in spans if s.name.startswith("execute_tool")]) == e["tools"]
    assert len([s for s in spans if s.name.startswith("phase turn")]) == e["turns"]
    cs = chats(spans)
    assert len(cs) == e["model_calls"]
    assert tok(cs, A.GEN_AI_USAGE_INPUT_TOKENS) == e["input_tokens"]
    assert tok(cs, A.GEN_AI_USAGE_OUTPUT_TOKENS) == e["output_tokens"]
    assert len({s.context.span_id for s in spans}) == len(spans)
    return root


@pytest.mark.parametrize("rel", CASES)
def test_import_builds_one_trace_with_the_independent_totals(rel, runtime, exporter, tmp_path) -> None:
    sessions, n, errors = export.import_files(runtime, str(tmp_path), agent_of(rel), [str(FIX / rel)])
    assert (sessions, errors) == (1, [])
    spans = exporter.get_finished_spans()
    assert n == len(spans)
    check_trace(list(spans), rel)
    # importing again sends nothing
    assert export.import_files(runtime, str(tmp_path), agent_of(rel), [str(FIX / rel)])[1] == 0
    assert len(exporter.get_finished_spans()) == n


def test_gemini_2_5_pro_cost_is_exact_and_previews_are_priced_by_genai_prices() -> None:
    for e in EXPECTED.values():
        if "gemini-2.5-pro" in (e.get("models") or []):
            assert e["cost"] is not None and e["unpriced_calls"] == 0
    # the Codex 0.39 alias is unknown to genai-prices: tokens counted, cost left unset
    assert EXPECTED["codex/real-vibecodingtracker/rollout-0.39.0.jsonl"]["cost"] is None


def test_fork_counts_only_its_own_usage() -> None:
    leaf = codex.read(str(FIX / "codex/fork-layout/rollout-2026-06-08T11-39-04-leaf-thread.jsonl"))
    assert leaf.session_id == "leaf-thread" and leaf.forked_from == "parent-thread"
    assert leaf.totals == {
        "input_tokens": 5000,
        "output_tokens": 200,
        "cache_read_tokens": 2000,
        "cache_write_tokens": 0,
        "reasoning_tokens": 50,
    }
    assert [t.key for t in leaf.tools] == ["tool:call-live"]  # the inherited call is the parent's
    assert [t.key for t in leaf.turns] == ["turn:leaf-turn"]


# --- the hook path --------------------------------------------------------------------------------
def _iso_ns(value: str) -> int:
    from otel_agents.agent_cli.session import ts

    n = ts(value)
    assert n is not None
    return n


def codex_hooks(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """A Codex hook stream for a rollout, from the documented payload fields."""
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    sid = recs[0]["payload"]["id"]
    base = {"session_id": sid, "transcript_path": str(path), "cwd": "/p", "model": "m", "permission_mode": "default"}
    out: list[tuple[int, dict[str, Any]]] = [
        (_iso_ns(recs[0]["timestamp"]), {**base, "hook_event_name": "SessionStart", "source": "startup"})
    ]
    data = codex.read(str(path))
    own = {t.call_id for t in data.tools if not t.call_id.startswith("web_search:")}
    turn = None
    names = {t.call_id: t.name for t in data.tools}
    for r in recs[1:]:
        p = r["payload"]
        when = _iso_ns(r["timestamp"])
        if p.get("type") == "task_started" and f"turn:{p['turn_id']}" in {t.key for t in data.turns}:
            turn = p["turn_id"]
            out.append((when, {**base, "hook_event_name": "UserPromptSubmit", "turn_id": turn, "prompt": "x"}))
        elif p.get("type") in ("function_call", "custom_tool_call") and p.get("call_id") in own:
            out.append(
                (
                    when,
                    {
                        **base,
                        "hook_event_name": "PreToolUse",
                        "turn_id": turn,
                        "tool_name": names[p["call_id"]],
                        "tool_input": {"a": 1},
                        "tool_use_id": p["call_id"],
                    },
                )
            )
        elif p.get("type") in ("function_call_output", "custom_tool_call_output") and p.get("call_id") in own:
            out.append(
                (
                    when,
                    {
                        **base,
                        "hook_event_name": "PostToolUse",
                        "turn_id": turn,
                        "tool_name": names[p["call_id"]],
                        "tool_input": {"a": 1},
                        "tool_response": "ok",
                        "tool_use_id": p["call_id"],
                    },
                )
            )
        elif p.get("type") == "task_complete" and turn == p.get("turn_id"):
            out.append((when, {**base, "hook_event_name": "Stop", "turn_id": turn, "stop_hook_active": False}))
    out.append((out[-1][0] + 1, {**base, "hook_event_name": "SessionEnd", "reason": "exit"}))
    return out


def gemini_hooks(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """A Gemini hook stream for a chat file: BeforeTool/AfterTool carry name and input only."""
    data = gemini.read(str(path))
    base = {
        "session_id": data.session_id,
        "transcript_path": str(path),
        "cwd": "/p",
        "timestamp": "2026-01-01T00:00:00Z",
    }
    out: list[tuple[int, dict[str, Any]]] = [
        ((data.start or 0), {**base, "hook_event_name": "SessionStart", "source": "startup"})
    ]
    for turn in data.turns:
        out.append((turn.start or 0, {**base, "hook_event_name": "BeforeAgent", "prompt": "x"}))
        for t in sorted((t for t in data.tools if t.parent == turn.key), key=lambda t: t.start or 0):
            out.append(
                (
                    t.start or 0,
                    {**base, "hook_event_name": "BeforeTool", "tool_name": t.name, "tool_input": t.arguments},
                )
            )
            out.append(
                (
                    t.end or 0,
                    {
                        **base,
                        "hook_event_name": "AfterTool",
                        "tool_name": t.name,
                        "tool_input": t.arguments,
                        "tool_response": {"llmContent": "ok"},
                    },
                )
            )
        out.append((turn.last_t or 0, {**base, "hook_event_name": "AfterAgent", "prompt_response": "done"}))
    out.append((max(t for t, _ in out) + 1, {**base, "hook_event_name": "SessionEnd", "reason": "exit"}))
    return out


@pytest.mark.parametrize("rel", CASES)
def test_hook_path_builds_the_same_trace_as_import(rel, runtime, exporter, tmp_path) -> None:
    agent = agent_of(rel)
    path = FIX / rel
    stream = codex_hooks(path) if agent == "codex" else gemini_hooks(path)
    live = tmp_path / "live"
    for t, payload in stream:
        assert capture.handle(json.dumps(payload).encode(), t, str(live), spawn=False, agent=agent)
    export.drain(live, agent, rt=runtime)
    spans = list(exporter.get_finished_spans())
    root = check_trace(spans, rel)
    assert [e.attributes[A.HOOK_EVENT_TYPE] for e in root.events][:1] == ["SessionStart"]
    tools = [s for s in spans if s.name.startswith("execute_tool")]
    hooked = [s for s in tools if s.events]
    pairs = (["PreToolUse", "PostToolUse"], ["BeforeTool", "AfterTool"], ["PreToolUse"])  # the leaf's call never ended
    assert all([e.attributes[A.HOOK_EVENT_TYPE] for e in s.events] in pairs for s in hooked)
    assert len(hooked) == len([s for s in tools if not s.attributes.get(A.GEN_AI_TOOL_NAME) == "web_search"])
    live_ids = sorted(s.context.span_id for s in spans)
    # import of the same file into the live home: nothing new (same ids, state shared)
    assert export.import_files(runtime, str(live), agent, [str(path)])[1] == 0
    # import into a fresh home: exactly the same span ids
    exporter.clear()
    export.import_files(runtime, str(tmp_path / "imported"), agent, [str(path)])
    assert sorted(s.context.span_id for s in exporter.get_finished_spans()) == live_ids


def test_codex_tool_pairs_by_tool_use_id_across_turns_without_a_file(runtime, exporter, tmp_path) -> None:
    base = {"session_id": "s-1", "transcript_path": None, "cwd": "/p"}
    events = [
        (1_000, {**base, "hook_event_name": "UserPromptSubmit", "turn_id": "t1", "prompt": "go"}),
        (
            2_000,
            {
                **base,
                "hook_event_name": "PreToolUse",
                "turn_id": "t1",
                "tool_name": "Bash",
                "tool_input": {},
                "tool_use_id": "c1",
            },
        ),
        (
            3_000,
            {
                **base,
                "hook_event_name": "PreToolUse",
                "turn_id": "t1",
                "tool_name": "apply_patch",
                "tool_input": {},
                "tool_use_id": "c2",
            },
        ),
        (
            4_000,
            {
                **base,
                "hook_event_name": "PostToolUse",
                "turn_id": "t1",
                "tool_name": "apply_patch",
                "tool_input": {},
                "tool_response": "",
                "tool_use_id": "c2",
            },
        ),
        (
            5_000,
            {
                **base,
                "hook_event_name": "PostToolUse",
                "turn_id": "t1",
                "tool_name": "Bash",
                "tool_input": {},
                "tool_response": "",
                "tool_use_id": "c1",
            },
        ),
        (6_000, {**base, "hook_event_name": "Stop", "turn_id": "t1"}),
        (7_000, {**base, "hook_event_name": "SessionEnd", "reason": "exit"}),
    ]
    for t, p in events:
        capture.handle(json.dumps(p).encode(), t, str(tmp_path), spawn=False, agent="codex")
    export.drain(tmp_path, "codex", rt=runtime)
    tools = {
        s.attributes[A.GEN_AI_TOOL_CALL_ID]: (s.start_time, s.end_time)
        for s in exporter.get_finished_spans()
        if s.name.startswith("execute_tool")
    }
    assert tools == {"c1": (2_000, 5_000), "c2": (3_000, 4_000)}


@pytest.mark.parametrize("agent", ["codex", "gemini"])
@pytest.mark.parametrize(
    "stdin",
    [
        b"",
        b"not json",
        b"[1,2]",
        b'{"session_id": 5}',
        b"\xff\xfe",
        b'{"session_id":"a","hook_event_name":"BeforeTool","tool_input":{"x":[[[[1]]]]}}',
    ],
)
def test_hook_command_exits_0_and_prints_nothing(agent, stdin, tmp_path) -> None:
    env = {**os.environ, "OTEL_AGENTS_HOME": str(tmp_path), "OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN": "0"}
    r = subprocess.run(
        [sys.executable, "-m", "otel_agents", "hook", agent], input=stdin, capture_output=True, env=env, timeout=30
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")


@pytest.mark.parametrize(
    "agent,file,unit", [("codex", ".codex/hooks.json", 1), ("gemini", ".gemini/settings.json", 1000)]
)
def test_install_hooks_merges_idempotently_and_uninstall_removes_exactly_ours(agent, file, unit, tmp_path) -> None:
    path = tmp_path / file
    path.parent.mkdir()
    theirs = {"type": "command", "command": "notify-me", "timeout": 7}
    path.write_text(
        json.dumps(
            {
                "model": "x",
                "hooks": {"PreToolUse" if agent == "codex" else "BeforeTool": [{"matcher": "Bash", "hooks": [theirs]}]},
            }
        )
    )
    exe = [sys.executable, "-m", "otel_agents"]
    run = lambda *a: subprocess.run(exe + list(a), capture_output=True, text=True, cwd=tmp_path, timeout=60)  # noqa: E731
    r = run("install-hooks", agent, "--project", "--command", "otel-agents hook")
    assert r.returncode == 0, r.stderr
    assert ("trust" in r.stdout) == (agent == "codex")
    first = path.read_text()
    data = json.loads(first)
    tool_event = "PreToolUse" if agent == "codex" else "BeforeTool"
    assert data["model"] == "x"
    assert data["hooks"][tool_event][0] == {"matcher": "Bash", "hooks": [theirs]}
    assert data["hooks"][tool_event][1] == {
        "matcher": "*",
        "hooks": [{"type": "command", "command": f"otel-agents hook {agent}", "timeout": 5 * unit}],
    }
    assert run("install-hooks", agent, "--project", "--command", "otel-agents hook").returncode == 0
    assert path.read_text() == first
    assert run("uninstall-hooks", agent, "--project").returncode == 0
    assert json.loads(path.read_text()) == {
        "model": "x",
        "hooks": {tool_event: [{"matcher": "Bash", "hooks": [theirs]}]},
    }


def test_import_command_reaches_the_four_sinks_exactly_once_and_report_splits_by_cli(tmp_path) -> None:
    import sqlite3

    from _otlp_receiver import HttpReceiver

    codex_file = FIX / "codex/real-localpush/rollout-2026-02-23T20-34-25-019c8bfe-ec25-79e0-97d7-bda6a9c575ff.jsonl"
    gemini_file = FIX / "gemini/real-vibecodingtracker/session-2025-10-05-legacy.json"
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_AGENTS_", "OTEL_EXPORTER_OTLP"))}
    env["OTEL_AGENTS_HOME"] = str(home)
    exe = [sys.executable, "-m", "otel_agents"]
    with HttpReceiver() as rec:
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = rec.endpoint
        for _ in range(2):  # the second import of each sends nothing anywhere
            for agent, f in (("codex", codex_file), ("gemini", gemini_file)):
                p = subprocess.run(
                    exe + ["import", agent, str(f), "-q"], capture_output=True, text=True, env=env, timeout=120
                )
                assert p.returncode == 0, p.stderr
        rec.wait_idle()
        otlp = rec.counts()
    c, g = (
        EXPECTED["codex/" + str(codex_file.relative_to(FIX / "codex"))],
        EXPECTED["gemini/" + str(gemini_file.relative_to(FIX / "gemini"))],
    )
    n = sum(1 + 2 * e["turns"] + e["tools"] + e["model_calls"] for e in (c, g))  # root, turn + main step, ...
    assert len(otlp) == n and set(otlp.values()) == {1}
    spooled = []
    for path in sorted((home / "spans").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            for rs in json.loads(line).get("resourceSpans", ()):
                for ss in rs.get("scopeSpans", ()):
                    spooled.extend(s["spanId"] for s in ss.get("spans", ()))
    assert len(spooled) == len(set(spooled)) == n
    metrics = [
        json.loads(line)["record_id"] for f in (home / "metrics").glob("*.jsonl") for line in f.read_text().splitlines()
    ]
    assert len(metrics) == len(set(metrics)) == n
    db = sqlite3.connect(home / "analytics" / "history.db")
    try:
        rows = db.execute(
            "select workflow_name, input_tokens, output_tokens, model_call_count, tool_call_count from workflow_history order by 1"
        ).fetchall()
        assert sorted(rows, key=lambda r: r[1]) == sorted(
            [
                (
                    project_of("codex/" + str(codex_file.relative_to(FIX / "codex"))),
                    c["input_tokens"],
                    c["output_tokens"],
                    c["model_calls"],
                    c["tools"],
                ),
                (None, g["input_tokens"], g["output_tokens"], g["model_calls"], g["tools"]),
            ],
            key=lambda r: r[1],
        )
        assert db.execute("select count(*) from model_calls").fetchone() == (c["model_calls"] + g["model_calls"],)
    finally:
        db.close()
    p = subprocess.run(exe + ["report"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    section = p.stdout.split("By workflow template", 1)[1].split("\n\n", 1)[0]
    assert f"codex       ${c['cost']:.4f}" in section and f"gemini-cli  ${g['cost']:.4f}" in section, section


def test_live_codex_drains_read_the_rollout_incrementally_and_match_import(runtime, exporter, tmp_path) -> None:
    """The rollout grows turn by turn; a drain after each Stop reads only the new lines (its
    saved offset is the file's size each time) and the spans equal an import's."""
    rel = "codex/real-localpush/rollout-2026-02-23T12-40-23-019c8a4c-ed82-79a1-aa28-7738fc5ab61a.jsonl"
    src = (FIX / rel).read_bytes().splitlines(keepends=True)
    live = tmp_path / "live"
    rollout = tmp_path / "rollout.jsonl"
    rollout.write_bytes(b"")
    stream = codex_hooks(FIX / rel)
    for _t, p in stream:
        p["transcript_path"] = str(rollout)
    cuts = [i + 1 for i, line in enumerate(src) if b'"task_complete"' in line] + [len(src)]
    sent = written = 0
    offsets = []
    for cut in cuts:
        with rollout.open("ab") as f:
            f.writelines(src[written:cut])
        written = cut
        until = _iso_ns(json.loads(src[cut - 1])["timestamp"])
        while sent < len(stream) and (stream[sent][0] <= until or cut == len(src)):
            t, p = stream[sent]
            capture.handle(json.dumps(p).encode(), t, str(live), spawn=False, agent="codex")
            sent += 1
        export.drain(live, "codex", rt=runtime, now_ns=until)
        state = json.loads((live / "codex" / "state" / f"{EXPECTED[rel]['session_id']}.json").read_text())
        offsets.append(state["reader"]["cursor"]["offset"])
    assert offsets == [len(b"".join(src[:c])) for c in cuts]
    spans = list(exporter.get_finished_spans())
    check_trace(spans, rel)
    exporter.clear()
    export.import_files(runtime, str(tmp_path / "imported"), "codex", [str(FIX / rel)])
    assert sorted(s.context.span_id for s in exporter.get_finished_spans()) == sorted(s.context.span_id for s in spans)


def test_import_finds_session_files_under_the_default_layouts(tmp_path) -> None:
    codex_root = tmp_path / "codex" / "sessions" / "2026" / "02" / "23"
    codex_root.mkdir(parents=True)
    (codex_root / "rollout-2026-02-23T10-00-00-abc.jsonl").write_text("")
    (codex_root / "notes.jsonl").write_text("")
    chats = tmp_path / "gemini" / "tmp" / "proj" / "chats"
    (chats / "parent-id").mkdir(parents=True)
    for name in ("session-2026-04-23-0ab84937.jsonl", "session-2025-10-05-eefc44a3.json", "parent-id/child-id.jsonl"):
        (chats / name).write_text("")
    (tmp_path / "gemini" / "tmp" / "proj" / "logs.json").write_text("")
    assert export.session_paths("codex", [str(tmp_path / "codex" / "sessions")]) == [
        str(codex_root / "rollout-2026-02-23T10-00-00-abc.jsonl")
    ]
    assert export.session_paths("gemini", [str(tmp_path / "gemini" / "tmp")]) == sorted(
        str(chats / n)
        for n in ("session-2026-04-23-0ab84937.jsonl", "session-2025-10-05-eefc44a3.json", "parent-id/child-id.jsonl")
    )


@pytest.mark.parametrize(
    "rel",
    [
        "codex/real-localpush/rollout-2026-02-23T20-34-25-019c8bfe-ec25-79e0-97d7-bda6a9c575ff.jsonl",
        "gemini/real-vibecodingtracker/session-2026-03-27-legacy.json",
    ],
)
def test_real_hook_processes_and_the_detached_drain_export_each_span_once(rel, tmp_path) -> None:
    """Every event through a real `otel-agents hook <agent>` process, automatic drains on (Stop /
    AfterAgent / SessionEnd start the detached drain): the spool sink ends with the import's
    spans, each once."""
    from _waiting import wait_until

    agent = agent_of(rel)
    stream = codex_hooks(FIX / rel) if agent == "codex" else gemini_hooks(FIX / rel)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_AGENTS_", "OTEL_EXPORTER_OTLP"))}
    env.update(OTEL_AGENTS_HOME=str(home), OTEL_AGENTS_OTLP_ENABLED="false")
    exe = str(Path(sys.executable).parent / "otel-agents")
    for _t, payload in stream:
        p = subprocess.run(
            [exe, "hook", agent], input=json.dumps(payload).encode(), capture_output=True, env=env, timeout=60
        )
        assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    e = EXPECTED[rel]
    n = 1 + 2 * e["turns"] + e["tools"] + e["model_calls"]

    def spooled() -> list[str]:
        ids = []
        for path in sorted((home / "spans").glob("*.jsonl")):
            for line in path.read_text().splitlines():
                for rs in json.loads(line).get("resourceSpans", ()):
                    for ss in rs.get("scopeSpans", ()):
                        ids.extend(s["spanId"] for s in ss.get("spans", ()))
        return ids

    wait_until(lambda: len(spooled()) >= n, timeout=60, message=lambda: f"{len(spooled())} of {n} spans spooled")
    state = home / agent / "state" / f"{e['session_id']}.json"
    wait_until(lambda: root_exported(state), timeout=30, message="the session's root exported")
    p = subprocess.run([exe, "flush"], capture_output=True, env=env, timeout=120, text=True)  # nothing left
    assert p.returncode == 0 and f"{agent}: 0 span(s) exported" in p.stdout, p.stdout + p.stderr
    ids = spooled()
    assert len(ids) == len(set(ids)) == n


def root_exported(state: Path) -> bool:
    try:
        return "workflow" in json.loads(state.read_text())["exported"]
    except (OSError, ValueError, KeyError):
        return False


def test_span_attributes_of_each_kind(runtime, exporter, tmp_path) -> None:
    """Full attribute dicts of a model call, a tool call, a turn and its main step (Codex), and
    of a Gemini model call priced by model (its provider is the conventions' gcp.gemini)."""
    rel = "codex/real-localpush/rollout-2026-02-23T20-34-25-019c8bfe-ec25-79e0-97d7-bda6a9c575ff.jsonl"
    sid = EXPECTED[rel]["session_id"]
    export.import_files(runtime, str(tmp_path), "codex", [str(FIX / rel)])
    spans = list(exporter.get_finished_spans())
    first_chat = min(chats(spans), key=lambda s: s.start_time)
    assert dict(first_chat.attributes) == {
        A.GEN_AI_OPERATION_NAME: "chat",
        A.GEN_AI_REQUEST_MODEL: "gpt-5.3-codex",
        A.KIND: "model_call",
        A.WORKFLOW_ID: sid,
        A.GEN_AI_CONVERSATION_ID: sid,
        A.GEN_AI_USAGE_INPUT_TOKENS: 42772,  # the first token_count's cumulative total (info was null before)
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 204,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 3456,
        A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
        A.GEN_AI_PROVIDER_NAME: "openai",
        A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 124,
        A.GEN_AI_USAGE_COST_AMOUNT: pytest.approx(0.0722638, rel=1e-9),
        A.GEN_AI_USAGE_COST_CURRENCY: "USD",
        A.GEN_AI_USAGE_COST_SOURCE: "local",
    }
    (tool,) = [s for s in spans if s.attributes.get(A.GEN_AI_TOOL_CALL_ID) == "call_OIMY41RetdVChp5U51mMLGOD"]
    assert dict(tool.attributes) == {
        A.GEN_AI_OPERATION_NAME: "execute_tool",
        A.GEN_AI_TOOL_NAME: "mcp__cloud-associates__search_workflows",
        A.KIND: "tool_call",
        A.WORKFLOW_ID: sid,
        A.GEN_AI_CONVERSATION_ID: sid,
        A.GEN_AI_TOOL_CALL_ID: "call_OIMY41RetdVChp5U51mMLGOD",
        A.GEN_AI_TOOL_TYPE: "extension",
        A.STEP_NAME: "codex",
        A.GEN_AI_AGENT_NAME: "codex",
        A.PHASE_NAME: "turn",
        A.OUTCOME: "success",
    }
    e = EXPECTED[rel]
    rollup = {
        A.ROLLUP_INPUT_TOKENS: e["input_tokens"],
        A.ROLLUP_OUTPUT_TOKENS: e["output_tokens"],
        A.ROLLUP_CACHE_READ_INPUT_TOKENS: e["cache_read_tokens"],
        A.ROLLUP_CACHE_WRITE_INPUT_TOKENS: 0,
        A.ROLLUP_REASONING_OUTPUT_TOKENS: e["reasoning_tokens"],
        A.ROLLUP_COST_AMOUNT: pytest.approx(e["cost"], rel=1e-9),
        A.ROLLUP_COST_CURRENCY: "USD",
        A.ROLLUP_MODEL_CALLS: e["model_calls"],
        A.ROLLUP_UNPRICED_MODEL_CALLS: 0,
    }
    (turn,) = [s for s in spans if s.name == "phase turn"]
    assert dict(turn.attributes) == {
        A.KIND: "phase",
        A.WORKFLOW_ID: sid,
        A.GEN_AI_CONVERSATION_ID: sid,
        A.PHASE_NAME: "turn",
        A.PHASE_NUMBER: 1,
        A.WORKFLOW_NAME: "ea96e59ed9",  # the project (the rollout's working directory)
        A.WORKFLOW_TEMPLATE: "codex",
        A.OUTCOME: "success",
        **rollup,
    }
    (main,) = [s for s in spans if s.name == "invoke_agent codex"]
    assert dict(main.attributes) == {
        A.KIND: "step",
        A.WORKFLOW_ID: sid,
        A.GEN_AI_CONVERSATION_ID: sid,
        A.STEP_NAME: "main",
        A.ATTEMPT: 1,
        A.GEN_AI_OPERATION_NAME: "invoke_agent",
        A.GEN_AI_AGENT_NAME: "codex",
        A.GEN_AI_REQUEST_MODEL: "gpt-5.3-codex",
        A.PHASE_NAME: "turn",
        A.WORKFLOW_NAME: "ea96e59ed9",
        A.OUTCOME: "success",
        **rollup,
    }
    exporter.clear()
    g = "gemini/real-vibecodingtracker/session-2025-10-05-legacy.json"
    export.import_files(runtime, str(tmp_path), "gemini", [str(FIX / g)])
    first = min(chats(list(exporter.get_finished_spans())), key=lambda s: s.start_time)
    assert dict(first.attributes) == {  # tokens{input 7228, output 94, cached 0, thoughts 2659, tool 0}
        A.GEN_AI_OPERATION_NAME: "chat",
        A.GEN_AI_REQUEST_MODEL: "gemini-2.5-pro",
        A.KIND: "model_call",
        A.WORKFLOW_ID: EXPECTED[g]["session_id"],
        A.GEN_AI_CONVERSATION_ID: EXPECTED[g]["session_id"],
        A.GEN_AI_USAGE_INPUT_TOKENS: 7228,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 94 + 2659,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
        A.GEN_AI_PROVIDER_NAME: "gcp.gemini",
        A.GEN_AI_RESPONSE_ID: "0c78345f-3011-4c6f-b008-48fbfd20e619",
        A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 2659,
        # gemini-2.5-pro <= 200k input: $1.25 / M input, $10 / M output
        A.GEN_AI_USAGE_COST_AMOUNT: pytest.approx((7228 * 1.25 + 2753 * 10) / 1e6, rel=1e-9),
        A.GEN_AI_USAGE_COST_CURRENCY: "USD",
        A.GEN_AI_USAGE_COST_SOURCE: "local",
    }


@pytest.mark.parametrize("agent", ["codex", "gemini"])
def test_the_agent_hook_loads_only_the_standard_library_capture(agent, tmp_path) -> None:
    """`otel-agents hook codex|gemini` runs Claude Code's standard-library capture: no SDK, no
    exporter, no pricing, not even the adapters (so it cannot reach the network)."""
    payload = json.dumps({"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {}})
    code = (
        "import sys, io\n"
        f"sys.stdin = io.TextIOWrapper(io.BytesIO({payload.encode()!r}))\n"
        "from otel_agents import cli\n"
        f"rc = cli.main(['hook', {agent!r}])\n"
        "mods = sorted(m for m in sys.modules if m.startswith(('otel_agents', 'opentelemetry', 'genai_prices', 'urllib3', 'requests', 'grpc', 'socket')))\n"
        "sys.__stdout__.write(repr((rc, mods)))\n"
    )
    env = {**os.environ, "OTEL_AGENTS_HOME": str(tmp_path), "OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN": "0"}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    rc, mods = eval(p.stdout)
    assert rc == 0 and p.stderr == ""
    assert set(mods) <= {
        "otel_agents",
        "otel_agents.cli",
        "otel_agents.commands",
        "otel_agents.commands.hook",
        "otel_agents.claude_code",
        "otel_agents.claude_code.capture",
        "otel_agents.claude_code.layout",
        "otel_agents.claude_code.payload",
        "otel_agents.configfile",
        "otel_agents.handoff",
        "otel_agents.flags",
        "otel_agents.text",
    }, mods
    assert (tmp_path / agent / "sessions" / "s.jsonl").read_bytes().count(b"\n") == 1


def test_drain_skips_finished_sessions_and_removes_them_after_retention(runtime, exporter, tmp_path) -> None:
    rel = "codex/real-localpush/rollout-2026-02-23T13-19-38-019c8a70-dda7-7f33-98ea-f30553347322.jsonl"
    for t, p in codex_hooks(FIX / rel):
        capture.handle(json.dumps(p).encode(), t, str(tmp_path), spawn=False, agent="codex")
    assert export.drain(tmp_path, "codex", rt=runtime) == len(exporter.get_finished_spans()) > 0
    files = export.session_files(str(tmp_path), "codex", EXPECTED[rel]["session_id"])
    state = Path(files.state).read_bytes()
    assert export.drain(tmp_path, "codex", rt=runtime) == 0
    assert Path(files.state).read_bytes() == state  # skipped: not even re-read
    later = os.stat(files.spool).st_mtime_ns + 15 * 86400 * 10**9
    assert export.drain(tmp_path, "codex", rt=runtime, now_ns=later) == 0
    assert not Path(files.spool).exists() and not Path(files.state).exists()


@pytest.mark.parametrize("agent", ["codex", "gemini"])
def test_a_session_file_that_is_a_device_is_never_read(agent, tmp_path) -> None:
    """A payload may name any path as its session file: a device (endless /dev/zero) or a FIFO
    is refused, never read. The drain once read /dev/zero whole, until the kernel killed it."""
    home = tmp_path / "home"
    t0 = 1_767_225_600_000_000_000
    before, after = ("PreToolUse", "PostToolUse") if agent == "codex" else ("BeforeTool", "AfterTool")
    for i, event in enumerate((before, after, "SessionEnd")):
        p = {"session_id": "dev-1", "hook_event_name": event, "transcript_path": "/dev/zero", "cwd": "/w/p"}
        p.update(tool_name="shell", tool_input={"command": "ls"}, tool_use_id="c1", turn_id="t1")
        assert capture.handle(json.dumps(p).encode(), t0 + i * 1_000_000, str(home), spawn=False, agent=agent)
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))\n"  # 2 GiB: /dev/zero read whole dies
        "from otel_agents.agent_cli.export import drain\n"
        f"drain({str(home)!r}, {agent!r})\n"
    )
    env = {**os.environ, "OTEL_AGENTS_HOME": str(home), "OTEL_AGENTS_OTLP_ENABLED": "false"}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
