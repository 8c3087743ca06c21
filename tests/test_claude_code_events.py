"""Every Claude Code hook event, captured with its meaning: permission waits and denials,
API errors that end a turn, agent-team tasks, the one list of events ``install-hooks``
installs, and ``doctor`` naming events a newer Claude Code sends.

Payloads go through the hook's own ``capture.handle`` with chosen receive times (so the
expected times are exact); the drain exports to an InMemorySpanExporter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from opentelemetry.trace import StatusCode

from otel_agents import attributes as A
from otel_agents.claude_code import capture, eventset, settings
from otel_agents.claude_code.drain import drain
from otel_agents.claude_code.status import format_summary, summary
from otel_agents.ids import span_id_for

OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")
T0 = 1_760_000_000_000_000_000  # ns
S = 1_000_000_000
MS = 1_000_000


def home() -> str:
    return os.environ["OTEL_AGENTS_HOME"]


def ev(sid: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "session_id": sid,
        "transcript_path": "/nonexistent/transcript.jsonl",
        "cwd": "/home/dev/proj",
        "hook_event_name": name,
        **fields,
    }


def tool_ev(sid: str, name: str, tuid: str | None, tool: str = "Bash", **fields: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"tool_name": tool, "tool_input": {"command": "make deploy"}, **fields}
    if tuid is not None:
        extra["tool_use_id"] = tuid
    return ev(sid, name, **extra)


def spool(events: list[tuple[int, dict[str, Any]]]) -> None:
    for t, payload in events:
        assert capture.handle(json.dumps(payload).encode(), t, home(), spawn=False) is not None


def spans_by_name(exporter: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for s in exporter.get_finished_spans():
        out.setdefault(s.name, []).append(s)
    return out


def hook_types(span: Any) -> list[str]:
    return [e.attributes[A.HOOK_EVENT_TYPE] for e in span.events if e.name == A.EVENT_HOOK]


def fp(value: Any) -> tuple[int, str]:
    rec = capture.content_record(value, False)
    return rec["len"], rec["sha256"]  # type: ignore[return-value]


def tool_attrs(sid: str, tuid: str, outcome: str, **extra: Any) -> dict[str, Any]:
    alen, asha = fp({"command": "make deploy"})
    attrs = {
        A.GEN_AI_OPERATION_NAME: "execute_tool",
        A.GEN_AI_TOOL_NAME: "Bash",
        A.KIND: "tool_call",
        A.WORKFLOW_ID: sid,
        A.GEN_AI_CONVERSATION_ID: sid,
        A.GEN_AI_TOOL_CALL_ID: tuid,
        A.GEN_AI_TOOL_TYPE: "function",
        A.STEP_NAME: "claude-code",
        A.GEN_AI_AGENT_NAME: "claude-code",
        A.PHASE_NAME: "turn",
        A.TOOL_ARGUMENTS_LENGTH: alen,
        A.TOOL_ARGUMENTS_SHA256: asha,
        A.OUTCOME: outcome,
    }
    attrs.update(extra)
    return attrs


# --- permissions ---------------------------------------------------------------------------------------
def test_permission_wait_is_recorded_and_the_tool_span_is_the_tools_own_time(runtime, exporter) -> None:
    sid = "sess-perm"
    spool(
        [
            (T0, ev(sid, "UserPromptSubmit", prompt="deploy")),
            (T0 + 1 * S, tool_ev(sid, "PreToolUse", "t1")),
            (T0 + 1 * S + 100 * MS, tool_ev(sid, "PermissionRequest", "t1")),
            (T0 + 5 * S, tool_ev(sid, "PostToolUse", "t1", tool_response={"ok": True}, duration_ms=1500)),
            (T0 + 6 * S, ev(sid, "Stop")),
            (T0 + 7 * S, ev(sid, "SessionEnd", reason="exit")),
        ]
    )
    drain(home(), rt=runtime)
    (tool,) = spans_by_name(exporter)["execute_tool Bash"]
    # the tool's own time: Post minus duration_ms; the 2.4 s before it waited for the user
    assert (tool.start_time, tool.end_time) == (T0 + 3500 * MS, T0 + 5 * S)
    rlen, rsha = fp({"ok": True})
    assert dict(tool.attributes) == tool_attrs(
        sid, "t1", "success", **{A.TOOL_RESULT_LENGTH: rlen, A.TOOL_RESULT_SHA256: rsha, A.PERMISSION_WAIT_MS: 2400.0}
    )
    assert hook_types(tool) == ["PreToolUse", "PermissionRequest", "PostToolUse"]
    (wait,) = [e for e in tool.events if e.name == A.EVENT_PERMISSION_WAIT]
    assert (wait.timestamp, dict(wait.attributes)) == (T0 + 1 * S + 100 * MS, {A.PERMISSION_WAIT_MS: 2400.0})
    assert tool.status.status_code is StatusCode.UNSET


def test_permission_request_without_duration_is_an_event_only(runtime, exporter) -> None:
    sid = "sess-perm-nodur"
    spool(
        [
            (T0, ev(sid, "UserPromptSubmit", prompt="deploy")),
            (T0 + 1 * S, tool_ev(sid, "PreToolUse", "t1")),
            (T0 + 2 * S, tool_ev(sid, "PermissionRequest", "t1")),
            (T0 + 5 * S, tool_ev(sid, "PostToolUse", "t1", tool_response="done")),
            (T0 + 6 * S, ev(sid, "SessionEnd")),
        ]
    )
    drain(home(), rt=runtime)
    (tool,) = spans_by_name(exporter)["execute_tool Bash"]
    assert (tool.start_time, tool.end_time) == (T0 + 1 * S, T0 + 5 * S)
    assert A.PERMISSION_WAIT_MS not in tool.attributes
    assert [e.name for e in tool.events] == [A.EVENT_HOOK] * 3
    assert hook_types(tool) == ["PreToolUse", "PermissionRequest", "PostToolUse"]


def test_permission_request_without_tool_use_id_joins_the_call_that_starts_next(runtime, exporter) -> None:
    sid = "sess-perm-old"
    spool(
        [
            (T0, ev(sid, "UserPromptSubmit", prompt="deploy")),
            (T0 + 1 * S, tool_ev(sid, "PermissionRequest", None)),
            (T0 + 2 * S, tool_ev(sid, "PreToolUse", "t1")),
            (T0 + 4 * S, tool_ev(sid, "PostToolUse", "t1", tool_response="done", duration_ms=500)),
            (T0 + 6 * S, ev(sid, "SessionEnd")),
        ]
    )
    drain(home(), rt=runtime)
    (tool,) = spans_by_name(exporter)["execute_tool Bash"]
    assert (tool.start_time, tool.end_time) == (T0 + 3500 * MS, T0 + 4 * S)
    assert tool.attributes[A.PERMISSION_WAIT_MS] == 2500.0


def test_a_denied_permission_ends_the_tool_call_as_denied(runtime, exporter) -> None:
    sid = "sess-denied"
    spool(
        [
            (T0, ev(sid, "UserPromptSubmit", prompt="deploy")),
            (T0 + 1 * S, tool_ev(sid, "PreToolUse", "t1")),
            (T0 + 2 * S, tool_ev(sid, "PermissionRequest", "t1")),
            (T0 + 3 * S, tool_ev(sid, "PermissionDenied", "t1", reason="rm -rf is not allowed")),
            (T0 + 4 * S, ev(sid, "Stop")),
            (T0 + 5 * S, ev(sid, "SessionEnd")),
        ]
    )
    drain(home(), rt=runtime)
    (tool,) = spans_by_name(exporter)["execute_tool Bash"]
    assert (tool.start_time, tool.end_time) == (T0 + 1 * S, T0 + 3 * S)
    rlen, rsha = fp("rm -rf is not allowed")
    message = f"permission denied (error text not recorded: {rlen} chars, sha256 {rsha[:16]})"
    assert dict(tool.attributes) == tool_attrs(
        sid,
        "t1",
        "failure",
        **{A.PERMISSION_DECISION: "denied", A.ERROR_TYPE: "permission_denied", A.ERROR_MESSAGE: message},
    )
    assert tool.status.status_code is StatusCode.ERROR
    assert hook_types(tool) == ["PreToolUse", "PermissionRequest", "PermissionDenied"]
    # the reason can quote the command: only its length and hash are spooled
    spooled = [json.loads(line)["e"] for line in open(capture.session_spool(home(), sid))]
    assert spooled[3]["reason"] == {"len": rlen, "sha256": rsha}


# --- API errors -----------------------------------------------------------------------------------------------
def test_stop_failure_ends_its_turn_with_status_error_and_the_error_category(runtime, exporter) -> None:
    sid = "sess-stopfail"
    spool(
        [
            (T0, ev(sid, "UserPromptSubmit", prompt="x")),
            (T0 + 2 * S, ev(sid, "StopFailure", error="rate_limit", error_details="429 Too Many Requests")),
            (T0 + 3 * S, ev(sid, "UserPromptSubmit", prompt="again")),
            (T0 + 4 * S, ev(sid, "Stop")),
            (T0 + 5 * S, ev(sid, "SessionEnd")),
        ]
    )
    drain(home(), rt=runtime)
    by = spans_by_name(exporter)
    first, second = sorted(by["phase turn"], key=lambda s: s.start_time)
    assert (first.start_time, first.end_time) == (T0, T0 + 2 * S)
    assert first.status.status_code is StatusCode.ERROR
    dlen, dsha = fp("429 Too Many Requests")
    message = f"API error: rate_limit (error text not recorded: {dlen} chars, sha256 {dsha[:16]})"
    assert (first.attributes[A.OUTCOME], first.attributes[A.ERROR_TYPE]) == ("failure", "rate_limit")
    assert first.attributes[A.ERROR_MESSAGE] == message
    assert hook_types(first) == ["UserPromptSubmit", "StopFailure"]
    assert first.events[1].attributes[A.HOOK_DETAIL] == "rate_limit"
    main = next(s for s in by["invoke_agent claude-code"] if s.parent.span_id == first.context.span_id)
    assert (main.status.status_code, main.attributes[A.ERROR_TYPE]) == (StatusCode.ERROR, "rate_limit")
    assert second.status.status_code is StatusCode.UNSET and second.attributes[A.OUTCOME] == "success"


def test_stop_failure_starts_a_drain_and_keeps_only_a_category_word() -> None:
    assert "StopFailure" in capture.DRAIN_EVENTS
    assert capture.reduce_payload(ev("s", "StopFailure", error="server_error"), False)["error_category"] == (
        "server_error"
    )
    reduced = capture.reduce_payload(ev("s", "StopFailure", error="boom: see /home/me/secret"), False)
    assert "error_category" not in reduced and set(reduced["error"]) == {"len", "sha256"}  # type: ignore[arg-type]


# --- agent teams ---------------------------------------------------------------------------------------------------
def test_agent_team_tasks_nest_under_the_turn_that_created_them(runtime, exporter) -> None:
    sid = "sess-team"
    team = {"teammate_name": "alice", "team_name": "web"}
    spool(
        [
            (T0, ev(sid, "UserPromptSubmit", prompt="build it with a team")),
            (T0 + 1 * S, ev(sid, "TaskCreated", task_id="task-1", task_subject="write tests", **team)),
            (T0 + 2 * S, ev(sid, "Stop")),
            (T0 + 3 * S, ev(sid, "UserPromptSubmit", prompt="status?")),
            (T0 + 4 * S, ev(sid, "TeammateIdle", **team)),
            (T0 + 5 * S, ev(sid, "TaskCompleted", task_id="task-1", **team)),
            (T0 + 6 * S, ev(sid, "TeammateIdle", **team)),
            (T0 + 7 * S, ev(sid, "Stop")),
            (T0 + 8 * S, ev(sid, "SessionEnd")),
        ]
    )
    drain(home(), rt=runtime)
    by = spans_by_name(exporter)
    (task,) = by["invoke_agent alice"]
    first = next(s for s in by["phase turn"] if s.attributes[A.PHASE_NUMBER] == 1)
    second = next(s for s in by["phase turn"] if s.attributes[A.PHASE_NUMBER] == 2)
    assert task.parent.span_id == first.context.span_id == span_id_for(sid, "turn:1")
    assert (task.start_time, task.end_time) == (T0 + 1 * S, T0 + 5 * S)
    assert task.attributes[A.TASK_ID] == "task-1" and task.attributes[A.TEAM_NAME] == "web"
    assert task.attributes[A.STEP_NAME] == "task" and task.attributes[A.OUTCOME] == "success"
    assert hook_types(task) == ["TaskCreated", "TeammateIdle", "TaskCompleted"]
    # idle after its task ended: on the turn that started the teammate, not the turn open then
    assert hook_types(first) == ["UserPromptSubmit", "Stop", "TeammateIdle"]
    assert first.events[-1].timestamp == T0 + 6 * S
    assert hook_types(second) == ["UserPromptSubmit", "Stop"]


# --- the list of events ---------------------------------------------------------------------------------------------
def test_install_hooks_installs_every_event_from_the_one_list(tmp_path) -> None:
    wanted = {
        "PermissionRequest",
        "PermissionDenied",
        "StopFailure",
        "UserPromptExpansion",
        "PostCompact",
        "SubagentStart",
        "TaskCreated",
        "TaskCompleted",
        "TeammateIdle",
        "WorktreeRemove",
        "ConfigChange",
        "Elicitation",
        "Setup",
    }
    assert wanted <= set(eventset.KNOWN) and len(eventset.KNOWN) >= 28
    assert settings.EVENTS == eventset.INSTALLED
    p = subprocess.run(
        [OTEL_AGENTS, "install-hooks", "claude-code", "--dir", str(tmp_path), "--command", "otel-agents hook"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    hooks = json.loads((tmp_path / ".claude" / "settings.json").read_text())["hooks"]
    assert set(hooks) == set(eventset.KNOWN) - {"WorktreeCreate"}  # its hook would replace Claude Code's own
    assert {e for e, groups in hooks.items() if "matcher" in groups[0]} == set(eventset.TOOL_EVENTS)
    assert f"for {len(eventset.INSTALLED)} events" in p.stdout


def test_doctor_names_events_a_newer_claude_code_sends(runtime, exporter) -> None:
    sid = "sess-future"
    spool(
        [
            (T0, ev(sid, "UserPromptSubmit", prompt="x")),
            (T0 + 1 * S, ev(sid, "BrandNewEvent", detail_flag=True)),
            (T0 + 2 * S, ev(sid, "Elicitation", mcp_server_name="jira")),
            (T0 + 3 * S, ev(sid, "Stop")),
        ]
    )
    drain(home(), rt=runtime)
    info = summary(home())
    assert info["unknown_events"] == ["BrandNewEvent"]
    assert "does not know (a newer Claude Code?): BrandNewEvent;" in format_summary(info)
    (turn,) = spans_by_name(exporter)["phase turn"]
    assert hook_types(turn) == ["UserPromptSubmit", "BrandNewEvent", "Elicitation", "Stop"]
    p = subprocess.run([OTEL_AGENTS, "doctor"], capture_output=True, text=True, timeout=60)
    assert "BrandNewEvent" in p.stdout
