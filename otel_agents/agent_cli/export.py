"""Spans from an agent CLI's session file and its spooled hook events: the drain and import.

For one session, ``export_session``:

1. takes the session's lock (``<home>/<agent>/state/<session>.lock``; one writer at a time);
2. loads its state (keys already exported, usage carried into the root's roll-up, the hook
   events read so far and the spool offset) and reads the new spool lines;
3. reads the session file (Codex: only its new lines, ``codex.read_incremental``; Gemini: all
   of it, ``gemini.read``) and joins the hook events to it:
   Codex tool calls by ``tool_use_id`` (= the rollout's ``call_id``) and turns by ``turn_id``;
   Gemini's ``BeforeTool``/``AfterTool`` (no id) by order, tool name and input, then to the
   chat file's ``toolCalls[].id`` the same way. Calls the file does not have come from the
   hooks alone. Every hook event is a span event on its item;
4. exports, through the core's lifecycle hooks, each finished turn not yet exported (phase
   ``turn`` > step ``main`` > tool calls and model calls) and, when the session closes, the
   root (workflow ``codex`` / ``gemini-cli``), with deterministic keys: a live drain and
   ``otel-agents import`` of the same session build the same span ids, and the state makes
   each span reach the sinks once;
5. saves the state after the sinks flushed (a crash re-exports the same ids, never loses).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from otel_agents import attributes as A, threads
from otel_agents.agent_cli import codex, gemini
from otel_agents.agent_cli.session import (
    ABANDONED,
    FAILURE,
    SUCCESS,
    WORKFLOW_KEY,
    Call,
    SessionData,
    ToolUse,
    Turn,
)
from otel_agents.claude_code import store
from otel_agents.claude_code.drain import _spooled
from otel_agents.claude_code.layout import SESSIONS_DIR, STATE_DIR, log_problem, session_file_stem
from otel_agents.events import ModelUsage, Outcome, PhaseEvent, StepEvent, ToolCallEvent, WorkflowEvent
from otel_agents.plugins import call_hook
from otel_agents.rollup import UsageTotals
from otel_agents.safety import report
from otel_agents.spans import call_cost
from otel_agents.text import digest, to_text


@dataclass(frozen=True, slots=True)
class Adapter:
    """How to read one agent CLI."""

    name: str  # the spool directory, the `hook`/`import` argument
    workflow: str  # the root span's workflow name and the agent name
    read: Callable[[str, bool], SessionData]
    default_paths: Callable[[], list[str]]
    is_session_file: Callable[[str], bool]
    tool_ids: bool  # whether hook payloads carry a tool-call id
    #: ``(path, saved state, closing, exported keys) -> (session, state)``: reads only what is new
    read_incremental: Callable[..., tuple[SessionData, dict[str, Any]]] | None = None


ADAPTERS: dict[str, Adapter] = {
    "codex": Adapter(
        "codex", "codex", codex.read, codex.default_paths, codex.is_session_file, True, codex.read_incremental
    ),
    "gemini": Adapter("gemini", "gemini-cli", gemini.read, gemini.default_paths, gemini.is_session_file, False),
}
_OUTCOMES = {SUCCESS: Outcome.SUCCESS, FAILURE: Outcome.FAILURE, ABANDONED: Outcome.ABANDONED}
_CLOSING = frozenset({"SessionEnd"})
_TURN_END = frozenset({"Stop", "AfterAgent"})
_TURN_START = frozenset({"UserPromptSubmit", "BeforeAgent"})
_PRE = frozenset({"PreToolUse", "BeforeTool"})
_POST = frozenset({"PostToolUse", "AfterTool", "PostToolUseFailure"})
_DETAIL_FIELDS = ("source", "reason", "trigger", "notification_type")


# --- files and state -----------------------------------------------------------------------------
def session_files(home: str, agent: str, session_id: str | None = None, stem: str | None = None) -> store.SessionFiles:
    stem = stem or session_file_stem(session_id or "")
    root = os.path.join(home, agent)
    state = os.path.join(root, STATE_DIR, stem)
    return store.SessionFiles(
        stem, os.path.join(root, SESSIONS_DIR, stem + ".jsonl"), state + ".json", state + ".lock", state + ".done"
    )


@dataclass(slots=True)
class Hook:
    """One spooled hook event, as much of it as the spans need."""

    t: int
    type: str
    id: str
    tool: str | None = None
    tool_use_id: str | None = None
    turn_id: str | None = None
    detail: str | None = None
    input_sha: str | None = None
    transcript: str | None = None

    def to_json(self) -> list[Any]:
        return [
            self.t,
            self.type,
            self.id,
            self.tool,
            self.tool_use_id,
            self.turn_id,
            self.detail,
            self.input_sha,
            self.transcript,
        ]


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _hook(t: int, e: dict[str, Any], eid: str) -> Hook:
    ti = e.get("tool_input")
    return Hook(
        t,
        _s(e.get("hook_event_name")) or "Unknown",
        eid,
        _s(e.get("tool_name")),
        _s(e.get("tool_use_id")),
        _s(e.get("turn_id")),
        next((v for f in _DETAIL_FIELDS if (v := _s(e.get(f))) is not None), None),
        ti.get("sha256") if isinstance(ti, dict) and isinstance(ti.get("sha256"), str) else None,
        _s(e.get("transcript_path")),
    )


@dataclass(slots=True)
class State:
    session_id: str = ""
    offset: int = 0
    hooks: list[Hook] = field(default_factory=list)
    exported: set[str] = field(default_factory=set)
    carried: UsageTotals = field(default_factory=UsageTotals)
    closed: bool = False
    path: str | None = None  # the session file
    reader: dict[str, Any] | None = None  # where an incremental read of it stopped

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "session_id": self.session_id,
            "offset": self.offset,
            "hooks": [h.to_json() for h in self.hooks],
            "exported": sorted(self.exported),
            "carried": self.carried.to_json(),
            "closed": self.closed,
            "path": self.path,
            "reader": self.reader,
        }

    @classmethod
    def load(cls, files: store.SessionFiles) -> State:
        try:
            with open(files.state, "rb") as f:
                d = json.loads(f.read())
            return cls(
                str(d.get("session_id") or ""),
                int(d.get("offset") or 0),
                [Hook(*h) for h in d.get("hooks") or ()],
                set(d.get("exported") or ()),
                UsageTotals.from_json(d.get("carried")),
                bool(d.get("closed")),
                d.get("path"),
                d.get("reader"),
            )
        except (OSError, ValueError, TypeError, KeyError):
            return cls()

    def read_spool(self, files: store.SessionFiles) -> None:
        """Apply the spool lines after ``offset``."""
        try:
            lines = list(store.read_spool(files, self.offset))
        except OSError:
            return
        for end, line in lines:
            self.offset = end
            rec = _spooled(line) if line.strip() else None
            if rec is None:
                continue
            t, e = rec
            if not self.session_id and isinstance(e.get("session_id"), str):
                self.session_id = e["session_id"]
            h = _hook(t, e, store.event_id(self.session_id, line))
            self.hooks.append(h)
            if h.transcript:
                self.path = h.transcript
            if h.type in _CLOSING:
                self.closed = True
            elif h.type in _TURN_START or h.type == "SessionStart":
                self.closed = False


# --- joining hook events to the file -------------------------------------------------------------
def _args_sha(value: Any) -> str | None:
    return None if value is None else digest(to_text(value))


def join(data: SessionData, hooks: list[Hook], agent: Adapter, closing: bool) -> dict[str, list[Hook]]:
    """Add what only the hooks know to ``data``; returns the hook events of each item key."""
    events: dict[str, list[Hook]] = {}
    tools = {t.key: t for t in data.tools}
    if agent.tool_ids:
        pairs = [(h, f"tool:{h.tool_use_id}") for h in hooks if h.tool_use_id and (h.type in _PRE or h.type in _POST)]
    else:
        pairs = _pair_by_order(data, hooks)
    for h, key in pairs:
        tool = tools.get(key)
        if tool is None:  # not in the file (yet, or no file): from the hooks alone
            turn = data.turn(f"turn:{h.turn_id}") if h.turn_id else None
            turn = turn or data.turn_at(h.t)
            tool = ToolUse(
                key=key,
                call_id=key[5:],
                name=h.tool or "unknown",
                parent=turn.key if turn else WORKFLOW_KEY,
                start=None,
            )
            tools[key] = tool
            data.tools.append(tool)
        if tool.start is None:
            tool.start = h.t
        if h.type in _POST and tool.outcome is None:
            tool.end = max(h.t, tool.start or h.t)
            tool.outcome = FAILURE if h.type == "PostToolUseFailure" else SUCCESS
        events.setdefault(key, []).append(h)
    paired = {id(h) for h, _ in pairs}
    for h in hooks:
        if id(h) in paired:
            continue
        turn = data.turn(f"turn:{h.turn_id}") if h.turn_id else None
        if turn is None and h.turn_id and h.type in _TURN_START:  # a turn the file does not have
            turn = Turn(key=f"turn:{h.turn_id}", n=len(data.turns) + 1, start=h.t, last_t=h.t)
            data.turns.append(turn)
        turn = turn or data.turn_at(h.t)
        if turn is not None and h.type in _TURN_END and turn.outcome is None:
            turn.end, turn.outcome = max(h.t, turn.start or h.t), SUCCESS
        if h.type == "SessionStart" or turn is None:
            events.setdefault(WORKFLOW_KEY, []).append(h)
        else:
            events.setdefault(turn.key, []).append(h)
    if data.start is None and hooks:
        data.start = hooks[0].t
    if hooks:
        data.end = max(data.end or 0, hooks[-1].t)
    if closing:
        for turn in data.turns:
            if turn.outcome is None:
                turn.end, turn.outcome = turn.last_t if turn.last_t is not None else turn.start, ABANDONED
        for tool in data.tools:
            if tool.outcome is None:
                parent = data.turn(tool.parent)
                end = parent.end if parent is not None and parent.end is not None else data.end
                tool.start = tool.start if tool.start is not None else end
                tool.end, tool.outcome = max(end or 0, tool.start or 0), ABANDONED
    return events


def _pair_by_order(data: SessionData, hooks: list[Hook]) -> list[tuple[Hook, str]]:
    """Gemini: Before/After paired by tool name and input (oldest open first), each pair then
    given the id of the chat file's next unclaimed tool call with that name and input."""
    claimed: set[str] = set()
    by_sig: dict[tuple[str | None, str | None], list[ToolUse]] = {}
    for t in data.tools:
        by_sig.setdefault((t.name, _args_sha(t.arguments)), []).append(t)
    open_: dict[tuple[str | None, str | None], list[str]] = {}
    out: list[tuple[Hook, str]] = []
    for h in hooks:
        if h.type not in _PRE and h.type not in _POST:
            continue
        sig = (h.tool, h.input_sha)
        if h.type in _PRE:
            cands = [t for t in by_sig.get(sig, ()) if t.key not in claimed]
            key = cands[0].key if cands else f"tool:hook-{h.id[:16]}"
            claimed.add(key)
            open_.setdefault(sig, []).append(key)
        else:
            waiting = open_.get(sig)
            if waiting:
                key = waiting.pop(0)
            else:  # an After without its Before
                cands = [t for t in by_sig.get(sig, ()) if t.key not in claimed]
                key = cands[0].key if cands else f"tool:hook-{h.id[:16]}"
                claimed.add(key)
        out.append((h, key))
    return out


# --- spans -----------------------------------------------------------------------------------------
class Emitter:
    """Fires the lifecycle hooks for one session's finished, not yet exported items."""

    def __init__(self, rt: Any, agent: Adapter, data: SessionData, state: State, events: dict[str, list[Hook]]) -> None:
        self.rt, self.agent, self.d, self.state, self.events = rt, agent, data, state, events
        self.sid = data.session_id
        self.opened: set[str] = set()
        self.count = 0

    def _call(self, name: str, arg: Any) -> None:
        call_hook(getattr(self.rt.pm.hook, name), arg)

    def _start(self, name: str, ev: Any) -> None:
        self._call(name, ev)
        self.opened.add(ev.key)
        self._span_events(ev.key)

    def _end(self, name: str, ev: Any, end: int | None, outcome: str | None) -> None:
        ev.end_time = end
        ev.outcome = _OUTCOMES.get(outcome or SUCCESS, Outcome.SUCCESS)
        self._call(name, ev)
        self.opened.discard(ev.key)
        self.state.exported.add(ev.key)
        self.count += 1

    def _span_events(self, key: str) -> None:
        spans = self.rt.spans
        span = spans.span_for(self.sid, key) if spans is not None else None
        if span is None:
            return
        for h in self.events.get(key, ()):
            attrs: dict[str, Any] = {A.HOOK_EVENT_TYPE: h.type, A.HOOK_EVENT_ID: h.id, A.HOOK_SOURCE: self.agent.name}
            if h.tool:
                attrs[A.HOOK_TOOL_NAME] = h.tool
            if h.tool_use_id:
                attrs[A.HOOK_TOOL_USE_ID] = h.tool_use_id
            if h.detail:
                attrs[A.HOOK_DETAIL] = h.detail
            try:
                span.add_event(A.EVENT_HOOK, attrs, timestamp=h.t)
            except Exception as exc:  # noqa: BLE001
                report("agent_cli export: span event", exc)

    def call(self, c: Call, parent_key: str) -> None:
        u = ModelUsage(
            workflow_id=self.sid,
            conversation_id=self.sid,
            model=c.model,
            provider=c.provider,
            input_tokens=c.usage.get("input_tokens", 0),
            output_tokens=c.usage.get("output_tokens", 0),
            cache_read_tokens=c.usage.get("cache_read_tokens", 0),
            cache_write_tokens=c.usage.get("cache_write_tokens", 0),
            reasoning_tokens=c.usage.get("reasoning_tokens", 0),
            response_id=c.response_id,
            key=c.key,
            parent_key=parent_key,
            start_time=c.start if c.start is not None else c.end,
            end_time=c.end,
        )
        self._call("model_usage", u)
        self.state.exported.add(c.key)
        self.count += 1
        if not (WORKFLOW_KEY in self.opened and parent_key in self.opened):
            self.state.carried.add(u, call_cost(u))

    def tool(self, t: ToolUse, parent_key: str) -> None:
        name = self.agent.workflow
        ev = ToolCallEvent(
            workflow_id=self.sid,
            conversation_id=self.sid,
            key=t.key,
            parent_key=parent_key,
            tool_name=t.name,
            call_id=None if t.call_id.startswith(("hook-", "web_search:")) else t.call_id,
            tool_type="extension" if t.name.startswith("mcp__") else "function",
            step_name=name,
            agent=name,
            phase_name="turn",
            start_time=t.start,
        )
        self._start("tool_call_start", ev)
        if t.outcome == FAILURE:
            ev.error, ev.error_type = "tool call failed", "tool_error"
        self._end("tool_call_end", ev, t.end, t.outcome)

    def turn(self, turn: Turn) -> None:
        name = self.d.project  # the workflow's name: the project, else none (never the CLI's name)
        pe = PhaseEvent(
            workflow_id=self.sid,
            conversation_id=self.sid,
            key=turn.key,
            parent_key=WORKFLOW_KEY,
            name="turn",
            number=turn.n,
            workflow_name=name,
            template=self.agent.workflow,
            start_time=turn.start,
        )
        self._start("phase_start", pe)
        models = {c.model for c in self.d.calls if c.parent == turn.key}
        se = StepEvent(
            workflow_id=self.sid,
            conversation_id=self.sid,
            key=turn.main_key,
            parent_key=turn.key,
            name="main",
            agent=self.agent.workflow,
            model=models.pop() if len(models) == 1 else None,
            phase_name="turn",
            workflow_name=name,
            start_time=turn.start,
        )
        self._start("step_start", se)
        for t in sorted((t for t in self.d.tools if t.parent == turn.key), key=lambda t: (t.start or 0, t.key)):
            if t.key not in self.state.exported:
                self.tool(t, turn.main_key)
        for c in self.d.calls:
            if c.parent == turn.key and c.key not in self.state.exported:
                self.call(c, turn.main_key)
        self._end("step_end", se, turn.end, turn.outcome)
        self._end("phase_end", pe, turn.end, turn.outcome)

    def run(self, closing: bool) -> None:
        exported = self.state.exported
        wf: WorkflowEvent | None = None
        if closing and WORKFLOW_KEY not in exported:
            models = set(self.d.models)
            wf = WorkflowEvent(
                workflow_id=self.sid,
                conversation_id=self.sid,
                key=WORKFLOW_KEY,
                name=self.d.project or "",
                template=self.agent.workflow,
                session_id=self.sid,
                model=models.pop() if len(models) == 1 else None,
                start_time=self.d.start,
            )
            self._start("workflow_start", wf)
        for turn in self.d.turns:
            if turn.key not in exported and turn.outcome is not None:
                self.turn(turn)
        for turn in self.d.turns:  # work that arrived after its turn was exported
            if turn.key in exported:
                for t in self.d.tools:
                    if t.parent == turn.key and t.key not in exported and t.outcome is not None:
                        self.tool(t, turn.main_key)
                for c in self.d.calls:
                    if c.parent == turn.key and c.key not in exported:
                        self.call(c, turn.main_key)
        if wf is not None:
            for t in self.d.tools:
                if t.parent == WORKFLOW_KEY and t.key not in exported:
                    self.tool(t, WORKFLOW_KEY)
            for c in self.d.calls:
                if c.parent == WORKFLOW_KEY and c.key not in exported:
                    self.call(c, WORKFLOW_KEY)
            if self.rt.spans is not None and self.state.carried.model_calls:
                self.rt.spans.add_totals(self.sid, WORKFLOW_KEY, self.state.carried)
            self.state.carried = UsageTotals()
            self._end("workflow_end", wf, self.d.end, SUCCESS if self.state.closed else ABANDONED)


# --- one session -------------------------------------------------------------------------------------
def export_session(
    rt: Any,
    home: str,
    agent: Adapter,
    *,
    session_id: str | None = None,
    path: str | None = None,
    closing: bool = False,
    lock_timeout: float = 5.0,
) -> int:
    """Export what is finished of one session (from its spool, its file, or both); returns
    the number of spans. ``path``: the session file (import); else the one the hooks named."""
    data: SessionData | None = None
    if path is not None:
        data = agent.read(path, True)
        session_id = data.session_id
    if not session_id:
        return 0
    files = session_files(home, agent.name, session_id)
    lock = store.Lock(files.lock)
    if not lock.acquire(lock_timeout):
        return 0
    try:
        st = State.load(files)
        st.session_id = st.session_id or session_id
        if path is not None:  # import: the file is the session as it ended
            st.closed = True
        if os.path.exists(files.spool):
            st.read_spool(files)
        closing = closing or st.closed
        if data is None and st.path:
            try:
                if agent.read_incremental is not None:
                    data, st.reader = agent.read_incremental(st.path, st.reader, closing, st.exported)
                else:
                    data = agent.read(st.path, closing)
            except (OSError, ValueError) as exc:  # not written yet, or unreadable: hooks alone
                log_problem(home, "session_file", f"{agent.name}: {st.path}: {type(exc).__name__}: {exc}")
        if data is None or data.session_id != st.session_id:
            data = SessionData(agent=agent.name, session_id=st.session_id, path=st.path or "")
        elif path is not None:
            st.path = path
        events = join(data, st.hooks, agent, closing)
        em = Emitter(rt, agent, data, st, events)
        em.run(closing)
        if em.count:
            _flush(rt)
        store.write_json_atomic(files.state, st.to_json())
        return em.count
    finally:
        lock.release()


def _flush(rt: Any) -> None:
    flush = getattr(rt.provider, "force_flush", None)  # the sinks write before the state says so
    if callable(flush):
        try:
            flush()
        except Exception as exc:  # noqa: BLE001
            report("agent_cli export: flush", exc)


def spooled_sessions(home: str, agent: str) -> list[str]:
    """The session file stems with a spool under ``<home>/<agent>/sessions``."""
    d = os.path.join(home, agent, SESSIONS_DIR)
    try:
        return sorted(e.name[: -len(".jsonl")] for e in os.scandir(d) if e.name.endswith(".jsonl"))
    except OSError:
        return []


def _spool_session_id(home: str, agent: str, stem: str, st: State) -> str | None:
    files = session_files(home, agent, stem=stem)
    if st.session_id:
        return st.session_id
    try:
        for _end, line in store.read_spool(files, 0):
            rec = _spooled(line)
            if rec is not None and isinstance(rec[1].get("session_id"), str):
                return str(rec[1]["session_id"])
    except OSError:
        pass
    return None


def drain(home: str | os.PathLike[str], agent: str, *, rt: Any = None, now_ns: int | None = None) -> int:
    """Export every spooled session of ``agent`` under ``home`` (closing those idle for
    ``claude_code.idle_timeout``); returns the number of spans. A finished session whose spool
    has not grown is skipped, and removed after ``spool.retention_days``."""
    from otel_agents import telemetry
    from otel_agents.config import load_config

    home = os.fspath(home)
    own = rt is None
    if own:
        rt = telemetry.setup(config=load_config(home))
    idle_ns = int(float(rt.config.get("claude_code.idle_timeout", 3600.0)) * 1e9)
    retention_ns = int(float(rt.config.get("spool.retention_days", 14)) * 86400 * 1e9)
    now = now_ns if now_ns is not None else time.time_ns()
    ad = ADAPTERS[agent]
    n = 0
    try:
        for stem in spooled_sessions(home, agent):
            files = session_files(home, agent, stem=stem)
            st = State.load(files)
            sid = _spool_session_id(home, agent, stem, st)
            if not sid:
                continue
            try:
                spool = os.stat(files.spool)
                mtime = spool.st_mtime_ns
                if st.closed and WORKFLOW_KEY in st.exported and spool.st_size == st.offset:
                    if now - mtime > retention_ns:
                        store.remove_session(files)
                    continue
                n += export_session(rt, home, ad, session_id=sid, closing=now - mtime >= idle_ns)
            except Exception as exc:  # noqa: BLE001 - one bad session must not stop the others
                report(f"agent_cli drain: {agent}", exc)
    finally:
        if own:
            telemetry.shutdown()
    return n


def import_files(
    rt: Any, home: str, agent: str, paths: Iterable[str], progress: Callable[[int], None] | None = None
) -> tuple[int, int, list[str]]:
    """Export each session file in ``paths``: ``(sessions, spans, errors)``."""
    ad = ADAPTERS[agent]
    sessions = spans = 0
    errors: list[str] = []
    metrics = getattr(rt, "metrics", None)
    for i, path in enumerate(paths, 1):
        try:
            # the past: its calls were measured when they happened, if at all
            with metrics.not_live() if metrics is not None else contextlib.nullcontext():
                spans += export_session(rt, home, ad, path=path, closing=True)
            sessions += 1
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
            errors.append(f"{path}: {type(exc).__name__}: {exc}")
        if progress is not None:
            progress(i)
    return sessions, spans, errors


def session_paths(agent: str, roots: Iterable[str]) -> list[str]:
    """Every session file under ``roots`` (files are taken as they are), sorted."""
    ad = ADAPTERS[agent]
    out: list[str] = []
    for root in roots:
        if os.path.isfile(root):
            out.append(root)
            continue
        for d, _dirs, names in os.walk(root):
            out.extend(p for p in (os.path.join(d, n) for n in names) if ad.is_session_file(p))
    return sorted(out)


def detached_main(home: str, session_id: str, agent: str) -> None:
    """The drain the hook starts (already detached): export one session, within the deadline."""
    from otel_agents.claude_code.drain import SETTLE_S
    from otel_agents.config import load_config

    deadline = float(load_config(home).get("claude_code.drain_deadline", 10.0))
    watchdog = threading.Timer(deadline + 2.0, os._exit, (0,))
    watchdog.daemon = True
    threads.start(watchdog)
    time.sleep(SETTLE_S)
    try:
        from otel_agents import telemetry

        rt = telemetry.setup(config=load_config(home))
        try:
            export_session(rt, home, ADAPTERS[agent], session_id=session_id, lock_timeout=deadline / 2)
        finally:
            telemetry.shutdown()
    except BaseException as exc:  # noqa: BLE001 - nobody to raise to
        log_problem(home, "drain", f"{agent}: {type(exc).__name__}: {exc}")
