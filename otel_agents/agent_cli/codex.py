"""Codex CLI rollout files: turns, tool calls and model calls with their tokens.

A rollout (``${CODEX_HOME:-~/.codex}/sessions/YYYY/MM/DD/rollout-<ts>-<uuid>.jsonl``) holds
lines ``{"timestamp", "type", "payload"}``:

- ``session_meta``: the session (``id``, ``cli_version``, ``model_provider``, optional
  ``forked_from_id``); a forked or thread-spawned session's file opens with its own AND its
  ancestors' ``session_meta``, then replays the parent's history (rewritten timestamps, all
  written at once) before its own turns;
- ``turn_context``: the model (``model``) of the turn (``turn_id``, absent before ~0.4x);
- ``event_msg`` ``task_started`` / ``task_complete`` (``turn_id``): a turn's bounds; files
  without them (0.39) start a turn at each ``user_message``;
- ``response_item`` ``function_call`` / ``custom_tool_call`` / ``local_shell_call`` and their
  ``*_output`` by ``call_id``; ``web_search_call`` (no id, no output);
- ``event_msg`` ``token_count``: ``info.total_token_usage`` is CUMULATIVE; about half the
  events repeat it. One model call = one event where it moved; its tokens are the deltas.
  ``input_tokens`` includes ``cached_input_tokens``; ``output_tokens`` includes
  ``reasoning_output_tokens`` (the conventions' meanings already).

Copied history: after an ancestor's ``session_meta`` every record up to the first gap of
``REPLAY_GAP_NS`` between two records is the parent's, written in one burst: its tool calls,
turns and token counts are skipped, and the last cumulative total in it is the baseline the
session's own deltas start from. So a fork never counts its parent again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

from otel_agents.agent_cli.session import (
    ABANDONED,
    SUCCESS,
    WORKFLOW_KEY,
    Call,
    SessionData,
    ToolUse,
    Turn,
    nonneg,
    ts,
)
from otel_agents.claude_code.payload import project_name
from otel_agents.claude_code.transcript import FileCursor, read_lines

AGENT = "codex"
PROVIDER = "openai"
#: A gap this long between two records ends a fork's copied history (it is written at once).
REPLAY_GAP_NS = 1_000_000_000
TOOL_CALLS = frozenset({"function_call", "custom_tool_call", "local_shell_call"})
TOOL_OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output", "local_shell_call_output"})
#: rollout usage field -> Call.usage key
USAGE_MAP = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cached_input_tokens": "cache_read_tokens",
    "cache_write_input_tokens": "cache_write_tokens",
    "reasoning_output_tokens": "reasoning_tokens",
}


def default_paths() -> list[str]:
    home = os.environ.get("CODEX_HOME") or os.path.join(os.path.expanduser("~"), ".codex")
    return [os.path.join(home, "sessions")]


def is_session_file(path: str) -> bool:
    name = os.path.basename(path)
    return name.startswith("rollout-") and name.endswith(".jsonl")


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):
        return None  # garbage (a torn last line is never read: only whole lines are)
    return rec if isinstance(rec, dict) and isinstance(rec.get("payload"), dict) else None


def _usage(total: Any) -> dict[str, int] | None:
    if not isinstance(total, dict):
        return None
    return {key: nonneg(total.get(field)) for field, key in USAGE_MAP.items()}


class _Reader:
    def __init__(self, path: str) -> None:
        self.s = SessionData(agent=AGENT, session_id="", path=path)
        self.provider = PROVIDER
        self.model: str | None = None
        self.baseline: dict[str, int] | None = None  # the last cumulative total counted
        self.last_t: int | None = None
        self.open: dict[str, ToolUse] = {}
        self.turn: Turn | None = None
        self.by_turn_id: set[str] = set()
        self.n_calls = 0
        self.n_search = 0
        self.own_total: dict[str, int] | None = None
        self.replaying = False
        self.replay_last: int | None = None
        self.has_tasks = False  # a task_started seen: turns by turn id, else by user_message
        self.cursor = FileCursor()

    # --- state kept between drains (incremental reads) -----------------------------------------
    def to_json(self, drop: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
        """The reader as JSON; tool and model calls whose keys are in ``drop`` (exported) left out."""
        s = asdict(self.s)
        s["tools"] = [t for t in s["tools"] if t["key"] not in drop or t["call_id"] in self.open]
        s["calls"] = [c for c in s["calls"] if c["key"] not in drop]
        for t in s["tools"]:
            t["arguments"] = None  # pairing by arguments is Gemini's; keep the state small
        return {
            "v": 1,
            "s": s,
            "provider": self.provider,
            "model": self.model,
            "baseline": self.baseline,
            "last_t": self.last_t,
            "open": sorted(self.open),
            "turn": self.turn.key if self.turn is not None else None,
            "n_calls": self.n_calls,
            "n_search": self.n_search,
            "replaying": self.replaying,
            "replay_last": self.replay_last,
            "has_tasks": self.has_tasks,
            "cursor": self.cursor.to_json(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], path: str) -> _Reader:
        r = cls(path)
        s = dict(d["s"])
        r.s = SessionData(
            **{k: v for k, v in s.items() if k not in ("turns", "tools", "calls")},
            turns=[Turn(**t) for t in s["turns"]],
            tools=[ToolUse(**t) for t in s["tools"]],
            calls=[Call(**c) for c in s["calls"]],
        )
        r.provider, r.model, r.baseline, r.last_t = d["provider"], d["model"], d["baseline"], d["last_t"]
        tools = {t.call_id: t for t in r.s.tools}
        r.open = {cid: tools[cid] for cid in d["open"] if cid in tools}
        r.turn = r.s.turn(d["turn"]) if d["turn"] else None
        r.n_calls, r.n_search = int(d["n_calls"]), int(d["n_search"])
        r.replaying, r.replay_last, r.has_tasks = bool(d["replaying"]), d["replay_last"], bool(d["has_tasks"])
        r.cursor = FileCursor.from_json(d["cursor"])
        return r

    # --- turns -----------------------------------------------------------------------------
    def _close(self, outcome: str, t: int | None) -> None:
        turn = self.turn
        if turn is not None:
            turn.end = t if t is not None else (turn.last_t if turn.last_t is not None else turn.start)
            turn.outcome = outcome
            for tool in list(self.open.values()):
                if tool.parent == turn.key:
                    self._abandon(tool, turn.end)
        self.turn = None

    def _open(self, key: str, t: int | None) -> None:
        if self.turn is not None:
            self._close(ABANDONED, None)
        turn = Turn(key=key, n=len(self.s.turns) + 1, start=t, last_t=t)
        self.s.turns.append(turn)
        self.turn = turn

    def _abandon(self, tool: ToolUse, t: int | None) -> None:
        tool.end = max(t or 0, tool.start or 0) if (t is not None or tool.start is not None) else None
        tool.outcome = ABANDONED
        self.open.pop(tool.call_id, None)

    def _parent(self, t: int | None) -> str:
        if self.turn is not None:
            if t is not None:
                self.turn.last_t = max(self.turn.last_t or t, t)
            return self.turn.key
        return WORKFLOW_KEY

    # --- records -----------------------------------------------------------------------------
    def feed(self, rec: dict[str, Any]) -> None:
        kind, p = rec.get("type"), rec["payload"]
        t = ts(rec.get("timestamp"))
        if kind == "session_meta":
            sid = p.get("id") if isinstance(p.get("id"), str) else None
            if not self.s.session_id and sid:
                self.s.session_id = sid
                self.s.start = ts(p.get("timestamp")) or t
                self.s.cli_version = p.get("cli_version") if isinstance(p.get("cli_version"), str) else None
                if isinstance(p.get("cwd"), str):
                    self.s.project = project_name(p["cwd"])
                if isinstance(p.get("model_provider"), str) and p["model_provider"]:
                    self.provider = p["model_provider"]
                if isinstance(p.get("forked_from_id"), str):
                    self.s.forked_from = p["forked_from_id"]
            elif sid and sid != self.s.session_id:  # an ancestor's: its copied history follows
                self.replaying = True
                self.replay_last = t
            return
        if self.replaying:
            if t is None or self.replay_last is None or t - self.replay_last < REPLAY_GAP_NS:
                self.replay_last = t if t is not None else self.replay_last
                if kind == "event_msg" and p.get("type") == "token_count":
                    info = p.get("info")
                    total = _usage(info.get("total_token_usage")) if isinstance(info, dict) else None
                    if total is not None:
                        self.baseline = total
                elif kind == "turn_context" and isinstance(p.get("model"), str):
                    self.model = p["model"]
                return
            self.replaying = False
        if t is not None:
            self.last_t = t
            self.s.end = t if self.s.end is None else max(self.s.end, t)
        if kind == "turn_context":
            if isinstance(p.get("model"), str) and p["model"]:
                self.model = p["model"]
                self.s.model = self.s.model or self.model
            return
        if kind == "event_msg":
            if p.get("type") == "task_started":
                self.has_tasks = True
            self._event(p, t, self.has_tasks)
        elif kind == "response_item":
            self._item(p, t)

    def _event(self, p: dict[str, Any], t: int | None, has_tasks: bool) -> None:
        etype = p.get("type")
        turn_id = p.get("turn_id") if isinstance(p.get("turn_id"), str) else None
        if etype == "task_started":
            self._open(f"turn:{turn_id or len(self.s.turns) + 1}", t)
        elif etype == "task_complete":
            if self.turn is not None and (turn_id is None or self.turn.key == f"turn:{turn_id}"):
                self._close(SUCCESS, t)
        elif etype == "user_message" and not has_tasks:
            if self.turn is not None:
                self._close(SUCCESS, self.turn.last_t)
            self._open(f"turn:{len(self.s.turns) + 1}", t)
        elif etype == "token_count":
            info = p.get("info")
            total = _usage(info.get("total_token_usage")) if isinstance(info, dict) else None
            if total is None or total == self.baseline:
                return  # rate limits only, or a repeat of the cumulative total
            base = self.baseline or dict.fromkeys(total, 0)
            delta = {k: total[k] - base.get(k, 0) for k in total}
            self.baseline = total
            if any(v < 0 for v in delta.values()):  # the total went back (a reset): count it anew
                delta = dict(total)
            self.n_calls += 1
            if (self.model or "unknown") not in self.s.models:
                self.s.models.append(self.model or "unknown")
            parent = self._parent(t)
            prev = self.s.calls[-1].end if self.s.calls and self.s.calls[-1].parent == parent else None
            turn = self.s.turn(parent)
            start = prev if prev is not None else (turn.start if turn is not None else t)
            self.s.calls.append(
                Call(
                    key=f"chat:{self.n_calls}",
                    model=self.model or "unknown",
                    provider=self.provider,
                    usage=delta,
                    parent=parent,
                    start=start,
                    end=t,
                )
            )
            for k, v in delta.items():
                self.s.totals[k] = self.s.totals.get(k, 0) + v

    def _item(self, p: dict[str, Any], t: int | None) -> None:
        itype = p.get("type")
        if itype in TOOL_CALLS:
            cid = p.get("call_id") if isinstance(p.get("call_id"), str) else None
            if not cid:
                return
            name = (
                str(p["name"])
                if isinstance(p.get("name"), str)
                else ("local_shell" if itype == "local_shell_call" else "unknown")
            )
            args = p.get("arguments", p.get("input", p.get("action")))
            tool = ToolUse(key=f"tool:{cid}", call_id=cid, name=name, parent=self._parent(t), start=t, arguments=args)
            self.s.tools.append(tool)
            self.open[cid] = tool
        elif itype in TOOL_OUTPUTS:
            cid = p.get("call_id")
            done = self.open.pop(cid, None) if isinstance(cid, str) else None
            if done is not None:
                tool = done
                tool.end = max(t, tool.start or t) if t is not None else tool.start
                tool.outcome = SUCCESS
                self._parent(t)
        elif itype == "web_search_call":
            self.n_search += 1
            cid = f"web_search:{self.n_search}"
            self.s.tools.append(
                ToolUse(
                    key=f"tool:{cid}",
                    call_id=cid,
                    name="web_search",
                    parent=self._parent(t),
                    start=t,
                    end=t,
                    outcome=SUCCESS,
                )
            )

    def finish(self, closing: bool) -> SessionData:
        if closing:
            if self.turn is not None:
                self._close(ABANDONED if self.has_tasks else SUCCESS, None)
            for tool in list(self.open.values()):
                turn = self.s.turn(tool.parent)
                self._abandon(tool, turn.end if turn is not None and turn.end is not None else self.last_t)
        return self.s


def read_incremental(
    path: str, saved: dict[str, Any] | None, closing: bool = False, drop: set[str] | frozenset[str] = frozenset()
) -> tuple[SessionData, dict[str, Any]]:
    """Continue reading ``path`` where ``saved`` (a previous call's state) stopped: only the new
    whole lines are read. Returns the session so far and the state to pass next time (taken
    before ``closing`` ends what is open; ``drop``: keys already exported, left out of it).
    A file that shrank (replaced) is read again from its start."""
    same = saved and saved.get("v") == 1 and saved["s"].get("path") == path
    r = _Reader.from_json(saved, path) if same and saved else _Reader(path)
    before = r.cursor.offset
    while True:
        lines = list(read_lines(path, r.cursor))
        if r.cursor.size_seen < before:  # replaced: start over
            r = _Reader(path)
            before = 0
            continue
        for line in lines:
            rec = _record(line)
            if rec is not None:
                r.feed(rec)
        if not lines or r.cursor.offset >= r.cursor.size_seen:
            break
    state = r.to_json(drop)
    return r.finish(closing), state


def read(path: str, closing: bool = True) -> SessionData:
    """The session in the rollout ``path``; ``closing`` ends what is still open (abandoned)."""
    return read_incremental(path, None, closing)[0]
