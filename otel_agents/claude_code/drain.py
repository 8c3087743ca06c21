"""The drain: spooled Claude Code hook events become spans, off the hook's path.

A drain runs detached after Stop and SessionEnd (``detached_main``), or from
``otel-agents flush`` (``drain``). For each session it:

1. takes the session's lock (one drain per session at a time);
2. loads the model (``model.Session``) from the drain state, reads only the spool lines
   after the saved offset, and applies them;
3. reads the transcripts incrementally (``transcript``) and places each new API response on
   the step that made it;
4. exports what is complete, through the core's lifecycle hooks with explicit keys and
   times, so the span engine builds the spans (names, roll-ups, deterministic ids
   from ``(session_id, key)``) and the registered sinks receive them;
5. flushes the sinks, then saves the state, so a crash re-exports (the same span ids) rather
   than loses.

Kinds (see docs/claude-code.md): session = workflow named after the project (its first
working directory's name; no name without one), template ``claude-code``; turn = phase ``turn``;
the main agent's work in a turn = step ``main`` (agent ``claude-code``); a subagent = step
with ``agent=agent_type``; a tool call = tool_call; an API response = model usage.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from otel_agents import attributes as A, pricing, threads
from otel_agents.claude_code import store
from otel_agents.claude_code.hookmodel import PERMISSION_DENIED
from otel_agents.claude_code.layout import last_drain_path, log_problem, spool_root
from otel_agents.claude_code.ledger import LEDGER_FILE, claim as ledger_claim
from otel_agents.claude_code.model import (
    WORKFLOW_KEY,
    Agent,
    HookEvent,
    Session,
    Task,
    Tool,
    Turn,
)
from otel_agents.claude_code.payload import ABANDONED, FAILURE, SUCCESS
from otel_agents.claude_code.status import note_unknown_events
from otel_agents.claude_code.transcript import FileCursor, Response, read_responses
from otel_agents.events import ModelUsage, Outcome, PhaseEvent, SpanParent, StepEvent, ToolCallEvent, WorkflowEvent
from otel_agents.foundation.files import write_private
from otel_agents.handoff import nested_file, parse_traceparent, sweep_nested
from otel_agents.ids import span_id_for
from otel_agents.plugins import call_hook
from otel_agents.redact import REDACTED
from otel_agents.rollup import UsageTotals
from otel_agents.safety import report
from otel_agents.spans import SpanEngine, call_cost
from otel_agents.text import clean_text

TEMPLATE = "claude-code"
MAIN_AGENT = "claude-code"
PROVIDER = "anthropic"
HOOK_SOURCE = "claude-code"
#: A detached drain waits this long first: the transcript may lag the Stop hook by a moment.
SETTLE_S = 0.5
_OUTCOMES = {SUCCESS: Outcome.SUCCESS, FAILURE: Outcome.FAILURE, ABANDONED: Outcome.ABANDONED}


@dataclass(slots=True)
class DrainReport:
    """What one drain did."""

    sessions: int = 0
    spans: int = 0
    closed: int = 0
    open: int = 0
    busy: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    removed: int = 0


def provider_of(model: str) -> str | None:
    """Anthropic for Claude models; ``None`` for a model served behind a custom base URL (any
    other name), so it is priced by the model alone where genai-prices knows it."""
    return PROVIDER if not model or model.startswith(("claude", "anthropic")) else None


def _content_attrs(rec: dict[str, Any] | None, text_key: str, len_key: str, sha_key: str) -> dict[str, Any]:
    """Span attributes of a spooled content record: length + sha256, and the text if captured."""
    if not rec:
        return {}
    out: dict[str, Any] = {len_key: rec["len"], sha_key: rec["sha256"]}
    text = rec.get("text")
    if isinstance(text, str):
        out[text_key] = text
    return out


def _error_text(rec: dict[str, Any] | None, what: str = "tool call failed") -> str:
    """A failure's description: the redacted text if captured, else its length and hash."""
    if not rec:
        return what
    text = rec.get("text")
    if isinstance(text, str) and text:
        return text
    return f"{what} (error text not recorded: {rec['len']} chars, sha256 {str(rec['sha256'])[:16]})"


_SHELL_TOOLS = frozenset({"Bash"})
_COMPOUND = re.compile(r"[;&|\n`$<>()]")


def _refinements(tool: str, arguments: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """``(gen_ai.skill.name, process.executable.name)`` of a tool call, from its captured
    arguments (only with content capture on: otherwise the hook kept no text). A shell
    command gives its program only when it is one simple command."""
    text = arguments.get("text") if arguments else None
    if not isinstance(text, str) or tool not in _SHELL_TOOLS and tool != "Skill":
        return None, None
    import json

    try:
        args = json.loads(text)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(args, dict):
        return None, None
    if tool == "Skill":
        skill = args.get("skill")
        return (skill if isinstance(skill, str) and skill and REDACTED not in skill else None), None
    command = args.get("command")
    if not isinstance(command, str) or _COMPOUND.search(command):
        return None, None
    import shlex

    try:
        words = [w for w in shlex.split(command) if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", w)]
    except ValueError:
        return None, None
    program = os.path.basename(words[0]) if words else ""
    return None, (program if program and REDACTED not in program else None)


class _Emitter:
    """Fires the lifecycle hooks for one session's complete items."""

    def __init__(self, rt: Any, session: Session) -> None:
        self.rt = rt
        self.s = session
        self.sid = session.session_id
        self.hook = rt.pm.hook
        self.spans: SpanEngine | None = rt.spans  # None when span building is off
        self.opened: set[str] = set()
        self.count = 0
        parent = session.parent
        #: (trace id, step span id) of the executor step the session was started under
        self.nest = parse_traceparent(parent.get("traceparent")) if parent else None
        self.priced = False  # the price data was loaded before this drain's model calls

    # --- plumbing ----------------------------------------------------------------------------
    def _call(self, name: str, arg: Any) -> None:
        nest = self.nest
        if nest is not None:  # in the executor's trace, under its step (see docs/claude-code.md)
            if arg.key == WORKFLOW_KEY:
                arg.parent = SpanParent(trace_id=nest[0], span_id=nest[1])
            elif arg.parent_key is not None:
                arg.parent = SpanParent(trace_id=nest[0], span_id=span_id_for(self.sid, arg.parent_key))
        call_hook(getattr(self.hook, name), arg)  # each implementation isolated: never raises

    def _start(self, name: str, ev: Any) -> None:
        self._call(name, ev)
        self.opened.add(ev.key)

    def _end(self, name: str, ev: Any, end: int | None, outcome: str | None) -> None:
        ev.end_time = end
        if ev.outcome is None:
            ev.outcome = _OUTCOMES.get(outcome or SUCCESS, Outcome.SUCCESS)
        self._call(name, ev)
        self.opened.discard(ev.key)
        self.count += 1

    def _events(self, key: str, events: list[HookEvent]) -> None:
        if not events or self.spans is None:
            return
        span = self.spans.span_for(self.sid, key)
        if span is None:
            return
        for ev in events:
            attrs: dict[str, Any] = {A.HOOK_EVENT_TYPE: ev.type, A.HOOK_EVENT_ID: ev.id, A.HOOK_SOURCE: HOOK_SOURCE}
            if ev.tool:
                attrs[A.HOOK_TOOL_NAME] = ev.tool
            if ev.tool_use_id:
                attrs[A.HOOK_TOOL_USE_ID] = ev.tool_use_id
            if ev.detail:
                attrs[A.HOOK_DETAIL] = ev.detail
            try:
                span.add_event(A.EVENT_HOOK, attrs, timestamp=ev.t)
            except Exception as exc:  # noqa: BLE001
                report("claude_code drain: span event", exc)

    # --- items ---------------------------------------------------------------------------------------
    def usage(self, parent_key: str, resp: Response) -> None:
        item = self.s.step(parent_key)
        end = resp.end if resp.end is not None else (item.end if item is not None else None)
        start = resp.start if resp.start is not None else end
        if item is not None and item.start is not None:  # clocks disagree: keep it inside its parent
            lo, hi = item.start, item.end if item.end is not None else max(item.start, end or item.start)
            end = min(max(end if end is not None else hi, lo), hi)
            start = min(max(start if start is not None else end, lo), end)
        # the captured prompt is the input of the turn's first model call (the conventions'
        # gen_ai.input.messages, written as content capture says; never without capture)
        prompt = item.prompt.get("text") if isinstance(item, Turn) and item.prompt else None
        first = isinstance(prompt, str) and bool(item.usage) and item.usage[0] is resp  # type: ignore[union-attr]
        u = ModelUsage(
            **resp.tokens(),
            input_messages=[prompt] if first else None,
            workflow_id=self.sid,
            model=resp.model or "unknown",
            provider=provider_of(resp.model),
            response_id=resp.message_id or None,
            key=f"chat:{resp.key}",
            parent_key=parent_key,
            start_time=start,
            end_time=end,
            conversation_id=self.sid,
            finish_reasons=(resp.stop_reason,) if resp.stop_reason else None,
        )
        compacted = self.s.compacted_at
        if compacted is not None and end is not None and end >= compacted:  # answered after it
            u.attributes[A.GEN_AI_CONVERSATION_COMPACTED] = True
        self._call("model_usage", u)
        self.count += 1
        if not (WORKFLOW_KEY in self.opened and parent_key in self.opened):
            self.s.carried.add(u, call_cost(u))

    def tool(self, tool: Tool) -> None:
        step = self.s.step(tool.parent)
        agent = step.agent_type if isinstance(step, Agent) else MAIN_AGENT
        attrs = _content_attrs(
            tool.arguments, A.GEN_AI_TOOL_CALL_ARGUMENTS, A.TOOL_ARGUMENTS_LENGTH, A.TOOL_ARGUMENTS_SHA256
        )
        ev = ToolCallEvent(
            workflow_id=self.sid,
            key=tool.key,
            parent_key=tool.parent,
            tool_name=tool.name,
            call_id=None if tool.tool_use_id.startswith("anon-") else tool.tool_use_id,
            tool_type="extension" if tool.name.startswith("mcp__") else "function",
            step_name=agent,
            agent=agent,
            phase_name="turn",
            start_time=tool.start,
            attributes=attrs,
            conversation_id=self.sid,
        )
        ev.skill, ev.executable = _refinements(tool.name, tool.arguments)
        self._start("tool_call_start", ev)
        self._events(tool.key, tool.events)
        self._permission(tool, ev)
        ev.attributes.update(
            _content_attrs(tool.result, A.GEN_AI_TOOL_CALL_RESULT, A.TOOL_RESULT_LENGTH, A.TOOL_RESULT_SHA256)
        )
        if tool.denied:
            ev.error = _error_text(tool.deny_reason, "permission denied")
            ev.error_type = PERMISSION_DENIED
        elif tool.outcome == FAILURE:
            ev.error = _error_text(tool.error)
            ev.error_type = "tool_error"
        self._end("tool_call_end", ev, tool.end, tool.outcome)
        self.s.tools.pop(tool.tool_use_id, None)
        tool.mark_exported()

    def _permission(self, tool: Tool, ev: ToolCallEvent) -> None:
        """A permission wait or denial on the tool call's span."""
        if tool.denied:
            ev.attributes[A.PERMISSION_DECISION] = "denied"
        if tool.perm_t is None or tool.perm_wait is None:
            return  # no wait, or not measurable: the PermissionRequest hook event says it happened
        wait_ms = round(tool.perm_wait / 1e6, 3)
        ev.attributes[A.PERMISSION_WAIT_MS] = wait_ms
        span = self.spans.span_for(self.sid, tool.key) if self.spans is not None else None
        if span is not None:
            try:
                span.add_event(A.EVENT_PERMISSION_WAIT, {A.PERMISSION_WAIT_MS: wait_ms}, timestamp=tool.perm_t)
            except Exception as exc:  # noqa: BLE001
                report("claude_code drain: span event", exc)

    def task(self, task: Task) -> None:
        """An agent-team task: a step under the turn that created it."""
        attrs: dict[str, Any] = {A.TEAM_NAME: task.team} if task.team else {}
        ev = StepEvent(
            workflow_id=self.sid,
            key=task.key,
            parent_key=task.turn or WORKFLOW_KEY,
            name="task",
            agent=task.teammate or "teammate",
            task_id=None if task.task_id.startswith("anon-") else task.task_id,
            phase_name="turn",
            workflow_name=self.s.project,
            conversation_id=self.sid,
            start_time=task.start,
            attributes=attrs,
        )
        self._start("step_start", ev)
        self._events(task.key, task.events)
        self._end("step_end", ev, task.end, task.outcome)
        task.mark_exported()

    def _tasks(self, turn_key: str, closing: bool) -> None:
        for task in sorted(self.s.tasks.values(), key=lambda k: (k.start or 0, k.key)):
            if task.turn == turn_key and not task.exported and (task.end is not None or closing):
                self.task(task)

    def _tools_of(self, step_key: str, closing: bool) -> list[Tool]:
        return sorted(
            (t for t in self.s.tools.values() if t.parent == step_key and (t.end is not None or closing)),
            key=lambda t: (t.start or 0, t.key),
        )

    def agent(self, agent: Agent, closing: bool) -> None:
        ev = StepEvent(
            workflow_id=self.sid,
            key=agent.key,
            parent_key=agent.turn,
            name=agent.agent_type,
            agent=agent.agent_type,
            phase_name="turn",
            workflow_name=self.s.project,
            start_time=agent.start,
            attributes={A.AGENT_ID: agent.agent_id},  # transient: not a gen_ai.agent.id
            conversation_id=self.sid,
        )
        self._start("step_start", ev)
        self._events(agent.key, agent.events)
        for tool in self._tools_of(agent.key, closing):
            self.tool(tool)
        for resp in agent.usage:
            self.usage(agent.key, resp)
        self._end("step_end", ev, agent.end, agent.outcome)
        agent.mark_exported()

    def turn(self, turn: Turn, closing: bool) -> None:
        attrs = _content_attrs(turn.prompt, A.PROMPT_TEXT, A.PROMPT_LENGTH, A.PROMPT_SHA256)
        if turn.prompt_id:
            attrs[A.PROMPT_ID] = turn.prompt_id
        pe = PhaseEvent(
            workflow_id=self.sid,
            key=turn.key,
            parent_key=WORKFLOW_KEY,
            name="turn",
            number=turn.n,
            workflow_name=self.s.project,
            template=TEMPLATE,
            start_time=turn.start,
            attributes=attrs,
            conversation_id=self.sid,
        )
        self._start("phase_start", pe)
        self._events(turn.key, turn.events)
        se = StepEvent(
            workflow_id=self.sid,
            key=turn.main_key,
            parent_key=turn.key,
            name="main",
            agent=MAIN_AGENT,
            model=self.s.model,
            phase_name="turn",
            workflow_name=self.s.project,
            start_time=turn.start,
            conversation_id=self.sid,
        )
        self._start("step_start", se)
        for tool in self._tools_of(turn.main_key, closing):
            self.tool(tool)
        for resp in turn.usage:
            self.usage(turn.main_key, resp)
        if turn.error_type is not None:  # StopFailure: the turn ended on an API error
            for failed in (se, pe):
                failed.error = _error_text(turn.error, f"API error: {turn.error_type}")
                failed.error_type = turn.error_type
        self._end("step_end", se, turn.end, turn.outcome)
        for agent in sorted(self.s.agents.values(), key=lambda a: (a.start or 0, a.key)):
            if agent.turn == turn.key and not agent.exported and (agent.end is not None or closing):
                self.agent(agent, closing)
        self._tasks(turn.key, closing)
        self._end("phase_end", pe, turn.end, turn.outcome)
        turn.mark_exported()

    # --- the session -------------------------------------------------------------------------------------
    def run(self, closing: bool) -> None:
        s = self.s
        wf: WorkflowEvent | None = None
        if closing and self.nest is not None and not s.exported:
            # the totals left for the executor's step must be final: no call may wait for its price
            self.priced = pricing.ready(_PRICES_WAIT_S)
        if closing:
            s.close_all()
            if not s.exported:
                wf = WorkflowEvent(
                    workflow_id=self.sid,
                    key=WORKFLOW_KEY,
                    name=s.project or "",
                    template=TEMPLATE,
                    session_id=self.sid,
                    model=s.model,
                    start_time=s.start,
                    attributes=_parent_attrs(s.parent),
                )
                self._start("workflow_start", wf)
        for turn in s.turns:
            if not turn.exported and turn.end is not None:
                self.turn(turn, closing)
        for agent in sorted(s.agents.values(), key=lambda a: (a.start or 0, a.key)):
            if not agent.exported and agent.end is not None and s.step_exported(agent.turn):
                self.agent(agent, closing)
        for tool in sorted(s.tools.values(), key=lambda t: (t.start or 0, t.key)):
            if tool.end is not None and s.step_exported(tool.parent):
                self.tool(tool)
        for task in sorted(s.tasks.values(), key=lambda k: (k.start or 0, k.key)):
            if not task.exported and (task.end is not None or closing) and (s.step_exported(task.turn) or wf):
                self.task(task)
        late, s.late = s.late, []
        for parent_key, resp in late:
            self.usage(parent_key, resp)
        if wf is not None:
            for resp in s.usage:
                self.usage(WORKFLOW_KEY, resp)
            self._events(WORKFLOW_KEY, s.events)
            self._carry()
            self._leave_totals()
            self._end("workflow_end", wf, s.end, s.outcome)
            s.mark_exported()
        s.spans_exported += self.count

    def _carry(self) -> None:
        """Usage exported by earlier drains joins the session span's roll-up."""
        c = self.s.carried
        if self.spans is None or not c.model_calls:
            return
        self.spans.add_totals(self.sid, WORKFLOW_KEY, c)
        self.s.carried = UsageTotals()

    def _leave_totals(self) -> None:
        """A session started under an executor's step: its final totals, for that step's
        span roll-up if the step has not ended yet (``handoff.take_nested``)."""
        parent = self.s.parent
        if self.nest is None or self.spans is None or not parent or not self.priced:
            return  # the analytics store adds the session to the step
        totals = self.spans.totals_for(self.sid, WORKFLOW_KEY)
        home = parent.get("home") or getattr(getattr(self.rt, "config", None), "home", None)
        if totals is None or not home:
            return
        try:
            path = nested_file(os.path.abspath(home), parent["workflow_id"], parent["key"], self.sid)
            write_private(path, json.dumps({"session_id": self.sid, "totals": totals.to_json()}).encode())
        except OSError as exc:
            report("claude_code drain: nested totals", exc)


#: How long a drain closing a nested session waits for the price data (then the step leaves it out).
_PRICES_WAIT_S = 10.0


def _parent_attrs(parent: dict[str, str] | None) -> dict[str, Any]:
    """The executor step a session was started under, as attributes of its span."""
    if not parent or parse_traceparent(parent.get("traceparent")) is None:
        return {}
    return {A.PARENT_WORKFLOW_ID: parent["workflow_id"], A.PARENT_KEY: parent["key"]}


# --- reading ----------------------------------------------------------------------------------------------
def _apply_spool(s: Session, files: store.SessionFiles) -> None:
    for end, line in store.read_spool(files, s.offset):
        s.offset = end
        if not line.strip():
            continue
        s.lines += 1
        rec = _spooled(line)
        if rec is None:
            # A write cut short by a full disk, then the next event on the same line: the
            # hook's lines are ASCII JSON starting with {"t":, which cannot occur inside one.
            s.bad_lines += 1
            cut = line.rfind(b'{"t":')
            rec = _spooled(line[cut:]) if cut > 0 else None
            if rec is None:
                continue
            line = line[cut:]
        t, e = rec
        if not s.session_id and isinstance(e.get("session_id"), str):
            s.session_id = e["session_id"]
        s.apply(t, e, store.event_id(s.session_id, line))


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _spooled(line: bytes) -> tuple[int, dict[str, Any]] | None:
    """``(receive ns, event)`` of one spool line, or ``None`` if it is not one. Lone
    surrogates (a spool written by an older hook) become U+FFFD."""
    import json

    try:
        rec = json.loads(line)
        t, e = rec["t"], rec["e"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    if isinstance(t, bool) or not isinstance(t, int) or not isinstance(e, dict):
        return None
    if _SURROGATE.search(line):
        e = _clean(e)
    return t, e


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def ledger_path_of(files: store.SessionFiles) -> str:
    """The data home's response ledger, beside the session's state directory."""
    return os.path.join(os.path.dirname(os.path.dirname(files.state)), LEDGER_FILE)


def _transcripts(s: Session) -> list[tuple[str, str | None]]:
    """(path, agent_id) of every transcript to read: subagents' first, then the session's."""
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for agent in s.agents.values():
        path = agent.transcript
        if not path and s.transcript:
            path = os.path.join(
                os.path.dirname(s.transcript), s.session_id, "subagents", f"agent-{agent.agent_id}.jsonl"
            )
        if path and path not in seen:
            seen.add(path)
            out.append((path, agent.agent_id))
    if s.transcript and s.transcript not in seen:
        out.append((s.transcript, None))
    return out


def _read_usage(s: Session, closing: bool, ledger: str | None = None) -> None:
    """Read the new transcript lines and place their responses; ``ledger`` (``ledger.ledger_path``)
    skips the responses another session of the data home already counted."""
    for path, agent_id in _transcripts(s):
        cursor = s.cursors.get(path) or FileCursor()
        found: list[Response] = []
        try:
            found.extend(read_responses(path, cursor))
        except (OSError, ValueError):
            continue  # missing, unreadable, not a file, or not yet written: a later drain reads it
        finally:
            s.cursors[path] = cursor
        pending = cursor.open
        if pending is not None and (closing or s.step_done(s.place(pending, path, agent_id))):
            found.append(pending)
            cursor.open = None
        new = [r.key for r in found if r.key not in s.assigned and r.model != "<synthetic>"]
        foreign: set[str] = set()
        if ledger and new:
            try:
                foreign = ledger_claim(ledger, s.session_id, new)
            except (OSError, sqlite3.Error) as exc:  # counted here rather than not at all
                report("claude_code drain: response ledger", exc)
        for resp in found:
            s.assign(resp, path, agent_id, resp.key in foreign)


# --- one session, all sessions --------------------------------------------------------------------------------
@dataclass(slots=True)
class _Pending:
    files: store.SessionFiles
    lock: store.Lock
    session: Session


def _drain_one(
    rt: Any, files: store.SessionFiles, now: int, idle_ns: int, report_: DrainReport, lock_timeout: float
) -> _Pending | None:
    lock = store.Lock(files.lock)
    if not lock.acquire(lock_timeout):
        report_.busy.append(files.stem)
        return None
    try:
        s = store.load_state(files) or Session(key=WORKFLOW_KEY)
        was_exported = s.exported
        _apply_spool(s, files)
        if not s.session_id:  # nothing readable yet
            lock.release()
            return None
        closing = s.closed or (s.last_t is not None and now - s.last_t >= idle_ns)
        if closing and not s.closed:
            s.end_reason = s.end_reason or "idle_timeout"
        _read_usage(s, closing, ledger_path_of(files))
        emitter = _Emitter(rt, s)
        emitter.run(closing)
        s.last_drain = now
        report_.sessions += 1
        report_.spans += emitter.count
        if s.exported and not was_exported:
            report_.closed += 1
        if not s.closed:
            report_.open += 1
        return _Pending(files, lock, s)
    except BaseException:
        lock.release()
        raise


def drain(
    home: str | os.PathLike[str],
    *,
    session_id: str | None = None,
    rt: Any = None,
    now_ns: int | None = None,
    deadline_s: float | None = None,
    wait_for: str | None = None,
    trigger: str = "api",
) -> DrainReport:
    """Drain one session (``session_id``) or every session under ``home``.

    The budget splits in two halves: reading and building spans (sessions left when it runs
    out wait for the next drain), then the sinks writing them (their exit deadline).

    :param rt: the runtime to export through; default ``otel_agents.setup()`` on the home's
        configuration, with its sinks, shut down (flushed) before the state is saved.
    :param now_ns: the current time (tests); decides which idle sessions close.
    :param deadline_s: overall budget; default ``claude_code.drain_deadline``.
    :param wait_for: in a sweep of every session, the one session whose lock is worth waiting
        for (the detached drain's own); another drain already holds the others.
    :param trigger: who ran it (``automatic``, ``flush``, ``api``), saved with its time in
        ``claude-code/last-drain.json`` for ``otel-agents flush --status`` and ``doctor``.
    """
    from otel_agents.config import load_config

    home = os.fspath(home)
    t0 = time.monotonic()
    own = rt is None
    cfg = rt.config if rt is not None else load_config(home)
    deadline = float(deadline_s if deadline_s is not None else cfg.get("claude_code.drain_deadline", 10.0))
    if own:
        from otel_agents import telemetry

        # Off the hook's path, the sinks may take half the drain's budget to write what it
        # exported (the 0.5 s default is for exits on a workflow's path). A collector that
        # hangs costs that much; what OTLP could not take stays in the spool for replay.
        cfg.values["exit_deadline"] = max(float(cfg.get("exit_deadline", 0.5)), deadline / 2)
        rt = telemetry.setup(config=cfg)
    idle_ns = int(float(cfg.get("claude_code.idle_timeout", 3600.0)) * 1e9)
    retention_ns = int(float(cfg.get("spool.retention_days", 14)) * 86400 * 1e9)
    now = now_ns if now_ns is not None else time.time_ns()
    result = DrainReport()
    if not rt.enabled:
        return result
    if session_id is not None:
        candidates = [store.SessionFiles.for_session(home, session_id)]
    else:
        candidates = store.list_sessions(home)
    pending: list[_Pending] = []
    try:
        wait_stem = store.SessionFiles.for_session(home, wait_for).stem if wait_for is not None else None
        for files in candidates:
            remaining = deadline / 2 - (time.monotonic() - t0)
            if remaining <= 0:
                result.busy.append(files.stem)
                continue
            if store.is_done(files):
                if now - os.stat(files.done).st_mtime_ns > retention_ns:
                    store.remove_session(files)
                    result.removed += 1
                continue
            if not os.path.exists(files.spool):
                continue
            try:
                lock_wait = remaining if wait_stem is None or files.stem == wait_stem else 0.0
                p = _drain_one(rt, files, now, idle_ns, result, lock_wait)
            except Exception as exc:  # noqa: BLE001 - one bad session must not stop the others
                result.errors.append(f"{files.stem}: {type(exc).__name__}: {exc}")
                report("claude_code drain", exc)
                continue
            if p is not None:
                pending.append(p)
                if p.session.unknown_events:
                    note_unknown_events(home, sorted(p.session.unknown_events), p.session.last_t or now)
        if session_id is None:  # a sweep: totals left for steps that had ended already
            sweep_nested(home, now, retention_ns)
    finally:
        if own:
            from otel_agents import telemetry

            telemetry.shutdown()
        for p in pending:
            try:
                s = p.session
                done = (
                    s.closed
                    and s.exported
                    and not s.tools
                    and all(a.exported for a in s.agents.values())
                    and all(t.exported for t in s.turns)
                    and all(k.exported for k in s.tasks.values())
                    and not s.late
                )
                store.save_state(p.files, s, done)
            except Exception as exc:  # noqa: BLE001
                result.errors.append(f"{p.files.stem}: saving state: {exc}")
                report("claude_code drain: save", exc)
            finally:
                p.lock.release()
        _record(home, result, trigger)
    return result


def _record(home: str, result: DrainReport, trigger: str) -> None:
    """Save when this drain ran and what it did (never raises; nothing when nothing is captured)."""
    if not os.path.isdir(spool_root(home)):
        return
    try:
        store.write_json_atomic(
            last_drain_path(home),
            {
                "t": time.time_ns(),
                "trigger": trigger,
                "sessions": result.sessions,
                "spans": result.spans,
                "closed": result.closed,
                "open": result.open,
                "busy": len(result.busy),
                "errors": result.errors[:5],
            },
        )
    except Exception as exc:  # noqa: BLE001
        report("claude_code drain: last-drain record", exc)


def detached_main(home: str, session_id: str) -> None:
    """The body of the drain the hook starts at Stop and SessionEnd (already detached).

    Waits ``SETTLE_S`` for the transcript to catch up, drains every session that needs it,
    and exits within ``claude_code.drain_deadline`` whatever the sinks do.
    """
    try:
        os.nice(5)
    except OSError:
        pass
    from otel_agents.config import load_config

    deadline = float(load_config(home).get("claude_code.drain_deadline", 10.0))
    watchdog = threading.Timer(deadline + 2.0, os._exit, (0,))
    watchdog.daemon = True
    threads.start(watchdog)
    time.sleep(SETTLE_S)
    try:
        drain(home, deadline_s=deadline, wait_for=session_id, trigger="automatic")
    except BaseException as exc:  # noqa: BLE001 - nobody to raise to
        log_problem(home, "drain", f"{type(exc).__name__}: {exc}")
