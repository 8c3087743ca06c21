"""Past Claude Code sessions: the hook events a transcript implies, with its own timestamps.

``otel-agents import claude-code`` spools these events exactly as the hook would have, then
drains them: the same model, the same keys, the same deterministic span ids as a live
capture. From one session's transcript (and its ``subagents/agent-*.jsonl`` files):

- ``SessionStart`` at the first entry, ``SessionEnd`` at the last;
- ``UserPromptSubmit`` at each prompt the user typed (not tool results, meta entries,
  interrupt notices or command output), and ``Stop`` at the last entry before the next prompt;
- ``PreToolUse`` at each ``tool_use`` block, ``PostToolUse`` (``PostToolUseFailure`` when
  ``is_error``) at its ``tool_result``, paired by ``tool_use_id``;
- a subagent per ``subagents/agent-<id>.jsonl`` file, and per chain of inline sidechain
  entries (older versions write Task subagents into the session's own file): ``SubagentStart``
  at its first entry and ``SubagentStop`` at its last; its tool calls carry its ``agent_id``.

Standard library only.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from otel_agents.claude_code.transcript import iso_to_ns

_NOT_PROMPTS = ("[Request interrupted", "<local-command-stdout>", "<local-command-stderr>", "Caveat: ")


@dataclass(slots=True)
class Session:
    """One past session: its id, transcript and the hook events it implies, oldest first."""

    session_id: str
    transcript: str
    cwd: str | None
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def find_transcripts(paths: list[str]) -> list[str]:
    """Session transcripts under ``paths`` (files, or directories searched recursively);
    subagent files (``subagents/agent-*.jsonl``) are read with their session, not apart."""
    out: list[str] = []
    for p in paths:
        if os.path.isfile(p):
            out.append(os.path.abspath(p))
            continue
        for f in sorted(glob.glob(os.path.join(glob.escape(p), "**", "*.jsonl"), recursive=True)):
            if os.path.basename(os.path.dirname(f)) != "subagents":
                out.append(os.path.abspath(f))
    return out


def _entries(path: str) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as f:
        for line in f:
            try:
                e = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(e, dict):
                yield e


def _blocks(e: dict[str, Any]) -> list[dict[str, Any]]:
    msg = e.get("message")
    content = msg.get("content") if isinstance(msg, dict) else None
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _prompt(e: dict[str, Any]) -> str | None:
    """The text of a prompt the user typed, or ``None`` for any other user entry."""
    if e.get("type") != "user" or e.get("isMeta") or e.get("isCompactSummary") or e.get("isSidechain"):
        return None
    msg = e.get("message")
    content = msg.get("content") if isinstance(msg, dict) else None
    if isinstance(content, list):
        if any(b.get("type") == "tool_result" for b in _blocks(e)):
            return None
        content = "\n".join(str(b.get("text") or "") for b in _blocks(e) if b.get("type") == "text")
    if not isinstance(content, str) or not content or content.startswith(_NOT_PROMPTS):
        return None
    return content


def session_id_of(path: str) -> str | None:
    """The session a transcript belongs to: its file name when that is one of the session ids
    in it (``~/.claude/projects``), else the last session id it records."""
    stem = os.path.basename(path)[: -len(".jsonl")]
    last = None
    for e in _entries(path):
        sid = e.get("sessionId")
        if isinstance(sid, str) and sid:
            if sid == stem:
                return stem
            last = sid
    return last


class _Builder:
    def __init__(self, sid: str, transcript: str) -> None:
        self.sid = sid
        self.transcript = transcript
        self.cwd: str | None = None
        self.out: list[tuple[int, int, dict[str, Any]]] = []
        self.seq = 0
        self.tool_names: dict[str, str] = {}
        self.tool_inputs: dict[str, Any] = {}
        self.tool_agents: dict[str, str | None] = {}
        self.posted: set[str] = set()

    def add(self, t: int, name: str, **fields: Any) -> None:
        payload: dict[str, Any] = {
            "session_id": self.sid,
            "transcript_path": self.transcript,
            "hook_event_name": name,
        }
        if self.cwd:
            payload["cwd"] = self.cwd
        payload.update({k: v for k, v in fields.items() if v is not None})
        self.out.append((t, self.seq, payload))
        self.seq += 1

    def tools(self, e: dict[str, Any], t: int, agent: dict[str, Any] | None) -> None:
        """Pre for each new ``tool_use`` of an assistant entry, Post for each ``tool_result``."""
        for b in _blocks(e):
            tuid = b.get("id") if b.get("type") == "tool_use" else b.get("tool_use_id")
            if not isinstance(tuid, str):
                continue
            if b.get("type") == "tool_use" and e.get("type") == "assistant" and tuid not in self.tool_names:
                self.tool_names[tuid] = str(b.get("name") or "unknown")
                self.tool_inputs[tuid] = b.get("input")
                self.add(
                    t,
                    "PreToolUse",
                    tool_name=self.tool_names[tuid],
                    tool_input=b.get("input"),
                    tool_use_id=tuid,
                    **(agent or {}),
                )
            elif b.get("type") == "tool_result" and e.get("type") == "user" and tuid not in self.posted:
                self.posted.add(tuid)
                failed = b.get("is_error") is True
                result = e.get("toolUseResult", b.get("content"))
                self.add(
                    t,
                    "PostToolUseFailure" if failed else "PostToolUse",
                    tool_name=self.tool_names.get(tuid, "unknown"),
                    tool_input=self.tool_inputs.get(tuid),
                    tool_use_id=tuid,
                    tool_response=None if failed else result,
                    error=result if failed else None,
                    **(agent or {}),
                )

    def events(self) -> list[tuple[int, dict[str, Any]]]:
        return [(t, p) for t, _, p in sorted(self.out, key=lambda x: (x[0], x[1]))]


def _inline_agents(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Inline sidechain entries by chain: entry uuid -> ``{agent_id, agent_type}``. A chain is
    named after the Task call whose prompt started it, else after its first entry."""
    tasks: dict[str, tuple[str, str]] = {}
    for e in entries:
        if e.get("type") == "assistant" and not e.get("isSidechain"):
            for b in _blocks(e):
                inp = b.get("input")
                if b.get("type") == "tool_use" and b.get("name") == "Task" and isinstance(inp, dict):
                    tasks.setdefault(
                        str(inp.get("prompt")), (str(b.get("id")), str(inp.get("subagent_type") or "subagent"))
                    )
    chains: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    for e in entries:
        uid = e.get("uuid")
        if not e.get("isSidechain") or not isinstance(uid, str):
            continue
        parent = chains.get(str(e.get("parentUuid")))
        if parent is None:
            msg = e.get("message")
            text = msg.get("content") if isinstance(msg, dict) else None
            task = tasks.get(str(text))
            if task is not None and task[0] not in used:
                used.add(task[0])
                parent = {"agent_id": f"task-{task[0]}", "agent_type": task[1]}
            else:
                parent = {"agent_id": f"sidechain-{uid}", "agent_type": "subagent"}
        chains[uid] = parent
    return chains


def read_session(path: str, session_id: str | None = None) -> Session | None:
    """The hook events one transcript implies (``None``: no timestamped entry in it)."""
    sid = session_id or session_id_of(path)
    if not sid:
        return None
    entries = list(_entries(path))
    b = _Builder(sid, path)
    chains = _inline_agents(entries)
    spans: dict[str, list[int]] = {}  # agent_id -> [first, last] entry time
    agent_types: dict[str, str] = {}
    first = last = None
    turn_last: int | None = None
    model = next(
        (
            m
            for e in entries
            if e.get("type") == "assistant"
            and isinstance(e.get("message"), dict)
            and isinstance(m := e["message"].get("model"), str)
            and m != "<synthetic>"
        ),
        None,
    )
    for e in entries:
        t = iso_to_ns(e.get("timestamp"))
        if t is None:
            continue
        if b.cwd is None and isinstance(e.get("cwd"), str):
            b.cwd = e["cwd"]
        if first is None:
            first = t
            b.add(t, "SessionStart", source="startup", model=model)
        last = max(last or t, t)
        agent = chains.get(str(e.get("uuid"))) if e.get("isSidechain") else None
        if agent is not None:
            span = spans.setdefault(agent["agent_id"], [t, t])
            span[1] = max(span[1], t)
            agent_types[agent["agent_id"]] = agent["agent_type"]
            b.tools(e, t, {"agent_id": agent["agent_id"], "agent_type": agent["agent_type"]})
            continue
        prompt = _prompt(e)
        if prompt is not None:
            if turn_last is not None:
                b.add(turn_last, "Stop", stop_hook_active=False)
            b.add(t, "UserPromptSubmit", prompt=prompt)
            turn_last = t
            continue
        b.tools(e, t, None)
        if turn_last is not None:
            turn_last = max(turn_last, t)
    if first is None or last is None:
        return None
    sub_dir = os.path.join(os.path.dirname(path), sid, "subagents")
    for f in sorted(glob.glob(os.path.join(glob.escape(sub_dir), "agent-*.jsonl"))):
        aid = os.path.basename(f)[len("agent-") : -len(".jsonl")]
        agent = {"agent_id": aid, "agent_type": "subagent"}
        for e in _entries(f):
            t = iso_to_ns(e.get("timestamp"))
            if t is None:
                continue
            span = spans.setdefault(aid, [t, t])
            span[0], span[1] = min(span[0], t), max(span[1], t)
            b.tools(e, t, agent)
        if aid in spans:
            agent_types[aid] = "subagent"
            spans[aid].append(1)  # marks a file of its own
    for aid, span in spans.items():
        a = {"agent_id": aid, "agent_type": agent_types.get(aid, "subagent")}
        b.add(span[0], "SubagentStart", **a)
        path_ = os.path.join(sub_dir, f"agent-{aid}.jsonl") if len(span) > 2 else None
        b.add(span[1], "SubagentStop", agent_transcript_path=path_, stop_hook_active=False, **a)
        last = max(last, span[1])
    if turn_last is not None:
        b.add(max(turn_last, last), "Stop", stop_hook_active=False)
    b.add(last, "SessionEnd", reason="other")
    s = Session(sid, path, b.cwd)
    s.events = b.events()
    return s
