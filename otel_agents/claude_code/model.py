"""The model of one Claude Code session that drains keep between runs.

Hook events are applied in spool order; each becomes part of a span-shaped item:

- the **session** (key ``workflow``): from SessionStart (or the first event) to SessionEnd,
  or to its last event once idle for ``claude_code.idle_timeout``;
- **turns** (key ``turn:N``): from UserPromptSubmit to Stop. Work that arrives with no open
  turn (before the first prompt, or after a Stop with no new prompt, as when a Stop hook
  makes Claude continue) opens an implicit turn. A turn that never sees its Stop (an
  interrupt) ends, abandoned, at its last event when the next prompt arrives or the session
  closes;
- the **main agent's step** in each turn (key ``turn:N/main``), spanning the turn;
- **subagents** (key ``agent:{agent_id}``): SubagentStart to SubagentStop, in the turn that
  was open when they started; events carrying ``agent_id`` belong to them;
- **tool calls** (key ``tool:{tool_use_id}``): PreToolUse to PostToolUse or
  PostToolUseFailure, paired by ``tool_use_id`` however calls interleave. A Post without its
  Pre starts ``duration_ms`` before it.

Every hook event is also kept as a span event (``HookEvent``) on the item it belongs to, or,
when that item was already exported, on its nearest ancestor still to be exported.

The model is JSON: the drain state file holds it, so a drain reads only the new spool lines.
Exported items keep only what later events and responses need (keys and times).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from otel_agents.claude_code.eventset import is_known
from otel_agents.claude_code.hookmodel import AFTER as _AFTER, HANDLERS as _MORE_HANDLERS
from otel_agents.claude_code.payload import (
    ABANDONED,
    ERROR_CATEGORY_FIELD,
    FAILURE,
    PARENT_FIELD,
    SUCCESS,
    content_field as _content,
    number_field as _num,
    project_name,
    text_field as _str,
)
from otel_agents.claude_code.transcript import FileCursor, Response
from otel_agents.rollup import UsageTotals

WORKFLOW_KEY = "workflow"
_DETAIL_FIELDS = ("source", "reason", "trigger", "notification_type", ERROR_CATEGORY_FIELD)
_REOPENING = frozenset({"SessionStart", "UserPromptSubmit"})
_NS_PER_MS = 1_000_000


_COMPACTION = frozenset({"PreCompact", "PostCompact"})


@dataclass(slots=True)
class HookEvent:
    """One hook event, recorded as a span event."""

    t: int
    type: str
    id: str
    tool: str | None = None
    tool_use_id: str | None = None
    detail: str | None = None

    def to_json(self) -> list[Any]:
        return [self.t, self.type, self.id, self.tool, self.tool_use_id, self.detail]

    @classmethod
    def from_json(cls, v: list[Any]) -> HookEvent:
        return cls(*v)


@dataclass(slots=True)
class Item:
    """Fields every span-shaped item has."""

    key: str
    start: int | None = None
    end: int | None = None
    last_t: int | None = None
    outcome: str | None = None
    exported: bool = False
    events: list[HookEvent] = field(default_factory=list)
    usage: list[Response] = field(default_factory=list)

    def touch(self, t: int) -> None:
        self.last_t = t if self.last_t is None else max(self.last_t, t)

    def base_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "key": self.key,
            "start": self.start,
            "end": self.end,
            "last_t": self.last_t,
            "outcome": self.outcome,
            "exported": self.exported,
        }
        if self.events:
            d["events"] = [e.to_json() for e in self.events]
        if self.usage:
            d["usage"] = [u.to_json() for u in self.usage]
        return d

    @staticmethod
    def base_kwargs(d: dict[str, Any]) -> dict[str, Any]:
        return {
            "key": d["key"],
            "start": d.get("start"),
            "end": d.get("end"),
            "last_t": d.get("last_t"),
            "outcome": d.get("outcome"),
            "exported": bool(d.get("exported")),
            "events": [HookEvent.from_json(e) for e in d.get("events") or ()],
            "usage": [Response.from_json(u) for u in d.get("usage") or ()],
        }

    def mark_exported(self) -> None:
        self.exported = True
        self.events = []
        self.usage = []


@dataclass(slots=True)
class Turn(Item):
    """One prompt turn (a phase); its main agent's work is the step ``main_key``."""

    n: int = 0
    implicit: bool = False
    prompt: dict[str, Any] | None = None
    prompt_id: str | None = None
    #: StopFailure: the API error's category (``rate_limit``, ...), and its details
    error_type: str | None = None
    error: dict[str, Any] | None = None

    @property
    def main_key(self) -> str:
        return f"{self.key}/main"

    def to_json(self) -> dict[str, Any]:
        d = self.base_json()
        d.update(n=self.n, implicit=self.implicit)
        if not self.exported:
            d.update(prompt=self.prompt, prompt_id=self.prompt_id)
            if self.error_type is not None:
                d.update(error_type=self.error_type, error=self.error)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Turn:
        return cls(
            **cls.base_kwargs(d),
            n=int(d.get("n") or 0),
            implicit=bool(d.get("implicit")),
            prompt=d.get("prompt"),
            prompt_id=d.get("prompt_id"),
            error_type=d.get("error_type"),
            error=d.get("error"),
        )


@dataclass(slots=True)
class Agent(Item):
    """One subagent run (a step with ``agent=agent_type``)."""

    agent_id: str = ""
    agent_type: str = "subagent"
    turn: str = ""
    transcript: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = self.base_json()
        d.update(agent_id=self.agent_id, agent_type=self.agent_type, turn=self.turn, transcript=self.transcript)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Agent:
        return cls(
            **cls.base_kwargs(d),
            agent_id=d.get("agent_id") or "",
            agent_type=d.get("agent_type") or "subagent",
            turn=d.get("turn") or "",
            transcript=d.get("transcript"),
        )


@dataclass(slots=True)
class Tool(Item):
    """One tool call, paired by ``tool_use_id``."""

    tool_use_id: str = ""
    name: str = "unknown"
    parent: str = ""
    arguments: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    interrupted: bool = False
    #: PermissionRequest time; the wait until the tool's own start (known from duration_ms)
    perm_t: int | None = None
    perm_wait: int | None = None
    #: PermissionDenied: the call never ran; the denial's reason (a content record)
    denied: bool = False
    deny_reason: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        d = self.base_json()
        if self.perm_t is not None or self.denied:
            d.update(perm_t=self.perm_t, perm_wait=self.perm_wait, denied=self.denied, deny_reason=self.deny_reason)
        d.update(
            tool_use_id=self.tool_use_id,
            name=self.name,
            parent=self.parent,
            arguments=self.arguments,
            result=self.result,
            error=self.error,
            interrupted=self.interrupted,
        )
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Tool:
        return cls(
            **cls.base_kwargs(d),
            tool_use_id=d.get("tool_use_id") or "",
            name=d.get("name") or "unknown",
            parent=d.get("parent") or "",
            arguments=d.get("arguments"),
            result=d.get("result"),
            error=d.get("error"),
            interrupted=bool(d.get("interrupted")),
            perm_t=d.get("perm_t"),
            perm_wait=d.get("perm_wait"),
            denied=bool(d.get("denied")),
            deny_reason=d.get("deny_reason"),
        )


@dataclass(slots=True)
class Task(Item):
    """One agent-team task (TaskCreated to TaskCompleted), under the turn that created it."""

    task_id: str = ""
    turn: str = ""
    teammate: str | None = None
    team: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = self.base_json()
        d.update(task_id=self.task_id, turn=self.turn, teammate=self.teammate, team=self.team)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Task:
        return cls(
            **cls.base_kwargs(d),
            task_id=d.get("task_id") or "",
            turn=d.get("turn") or "",
            teammate=d.get("teammate"),
            team=d.get("team"),
        )


@dataclass(slots=True)
class Session(Item):
    """One session: the root item, its turns, subagents, open tool calls and reading state."""

    session_id: str = ""
    offset: int = 0
    lines: int = 0
    bad_lines: int = 0
    dropped_events: int = 0
    model: str | None = None
    transcript: str | None = None
    closed: bool = False
    end_reason: str | None = None
    #: the project (the session's first working directory's name): the workflow's name
    project: str | None = None
    #: when the conversation was first compacted (PreCompact/PostCompact), ns
    compacted_at: int | None = None
    turns: list[Turn] = field(default_factory=list)
    agents: dict[str, Agent] = field(default_factory=dict)
    tools: dict[str, Tool] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # tool_use_id -> step key
    cursors: dict[str, FileCursor] = field(default_factory=dict)
    last_target: dict[str, str] = field(default_factory=dict)  # transcript path -> step key
    #: response key -> [step key it was placed on (None: not counted here), its usage so far]
    assigned: dict[str, list[Any]] = field(default_factory=dict)
    #: "tool name\nsha256 of its input" -> open calls without a tool_use_id, oldest first
    unpaired: dict[str, list[str]] = field(default_factory=dict)
    late: list[tuple[str, Response]] = field(default_factory=list)  # usage for exported steps
    #: usage exported outside the session span's process, carried into its roll-up
    carried: UsageTotals = field(default_factory=UsageTotals)
    spans_exported: int = 0
    last_drain: int | None = None
    #: the executor step this session was started under (``otel_agents.handoff``)
    parent: dict[str, str] | None = None
    tasks: dict[str, Task] = field(default_factory=dict)
    #: teammate name -> the turn key that first gave it a task
    teammates: dict[str, str] = field(default_factory=dict)
    #: PermissionRequests without a tool_use_id not yet matched to a call: [t, step key, tool]
    pending_perms: list[list[Any]] = field(default_factory=list)
    #: hook event names this capture does not know (a newer Claude Code): name -> count
    unknown_events: dict[str, int] = field(default_factory=dict)

    # --- JSON ----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        d = self.base_json()
        d.update(
            v=1,
            session_id=self.session_id,
            offset=self.offset,
            lines=self.lines,
            bad_lines=self.bad_lines,
            dropped_events=self.dropped_events,
            model=self.model,
            transcript=self.transcript,
            closed=self.closed,
            end_reason=self.end_reason,
            project=self.project,
            compacted_at=self.compacted_at,
            turns=[t.to_json() for t in self.turns],
            agents={k: a.to_json() for k, a in self.agents.items()},
            tools={k: t.to_json() for k, t in self.tools.items()},
            owners=self.owners,
            cursors={k: c.to_json() for k, c in self.cursors.items()},
            last_target=self.last_target,
            assigned=self.assigned,
            unpaired=self.unpaired,
            late=[[k, r.to_json()] for k, r in self.late],
            carried=self.carried.to_json(),
            spans_exported=self.spans_exported,
            last_drain=self.last_drain,
        )
        if self.parent is not None:
            d["parent"] = self.parent
        if self.tasks or self.teammates:
            d.update(tasks={k: t.to_json() for k, t in self.tasks.items()}, teammates=self.teammates)
        if self.pending_perms:
            d["pending_perms"] = self.pending_perms
        if self.unknown_events:
            d["unknown_events"] = self.unknown_events
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Session:
        return cls(
            **cls.base_kwargs(d),
            session_id=d.get("session_id") or "",
            offset=int(d.get("offset") or 0),
            lines=int(d.get("lines") or 0),
            bad_lines=int(d.get("bad_lines") or 0),
            dropped_events=int(d.get("dropped_events") or 0),
            model=d.get("model"),
            transcript=d.get("transcript"),
            closed=bool(d.get("closed")),
            end_reason=d.get("end_reason"),
            project=d.get("project"),
            compacted_at=d.get("compacted_at"),
            turns=[Turn.from_json(t) for t in d.get("turns") or ()],
            agents={k: Agent.from_json(a) for k, a in (d.get("agents") or {}).items()},
            tools={k: Tool.from_json(t) for k, t in (d.get("tools") or {}).items()},
            owners=dict(d.get("owners") or {}),
            cursors={k: FileCursor.from_json(c) for k, c in (d.get("cursors") or {}).items()},
            last_target=dict(d.get("last_target") or {}),
            assigned=_assigned(d.get("assigned")),
            unpaired={k: list(v) for k, v in (d.get("unpaired") or {}).items()},
            late=[(k, Response.from_json(r)) for k, r in d.get("late") or ()],
            carried=UsageTotals.from_json(d.get("carried")),
            spans_exported=int(d.get("spans_exported") or 0),
            last_drain=d.get("last_drain"),
            parent=d.get("parent"),
            tasks={k: Task.from_json(t) for k, t in (d.get("tasks") or {}).items()},
            teammates=dict(d.get("teammates") or {}),
            pending_perms=list(d.get("pending_perms") or ()),
            unknown_events=dict(d.get("unknown_events") or {}),
        )

    # --- lookups -------------------------------------------------------------------------------
    @property
    def open_turn(self) -> Turn | None:
        if self.turns and self.turns[-1].end is None:
            return self.turns[-1]
        return None

    def turn_by_key(self, key: str) -> Turn | None:
        if key.startswith("turn:"):
            try:
                n = int(key[5:].split("/", 1)[0])
            except ValueError:
                return None
            if 1 <= n <= len(self.turns):
                return self.turns[n - 1]
        return None

    def step(self, key: str) -> Item | None:
        """The item behind a step key (``turn:N/main`` gives the turn), or the session."""
        if key == WORKFLOW_KEY:
            return self
        if key.startswith("agent:"):
            return self.agents.get(key[6:])
        if key.startswith("task:"):
            return self.tasks.get(key[5:])
        return self.turn_by_key(key)

    def step_done(self, key: str) -> bool:
        """Whether the step ``key`` has ended (its usage is final once read)."""
        item = self.step(key)
        return item is None or item.end is not None or item.exported

    def step_exported(self, key: str) -> bool:
        item = self.step(key)
        return item is not None and item.exported

    # --- applying events ---------------------------------------------------------------------------
    def _new_turn(self, t: int, implicit: bool) -> Turn:
        cur = self.open_turn
        if cur is not None:
            self._close_turn(cur, ABANDONED)
        n = len(self.turns) + 1
        turn = Turn(key=f"turn:{n}", start=t, last_t=t, n=n, implicit=implicit)
        self.turns.append(turn)
        return turn

    def _close_turn(self, turn: Turn, outcome: str, t: int | None = None) -> None:
        turn.end = t if t is not None else (turn.last_t if turn.last_t is not None else turn.start)
        turn.outcome = outcome

    def _work_turn(self, t: int) -> Turn:
        return self.open_turn or self._new_turn(t, implicit=True)

    def _agent(self, agent_id: str, t: int, agent_type: str | None) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            turn = self._work_turn(t)
            agent = Agent(
                key=f"agent:{agent_id}",
                start=t,
                last_t=t,
                agent_id=agent_id,
                agent_type=agent_type or "subagent",
                turn=turn.key,
            )
            self.agents[agent_id] = agent
        elif agent_type and agent.agent_type == "subagent":
            agent.agent_type = agent_type
        agent.touch(t)
        return agent

    def _step_for(self, e: dict[str, Any], t: int) -> str:
        aid = _str(e.get("agent_id"))
        if aid is not None:
            return self._agent(aid, t, _str(e.get("agent_type"))).key
        turn = self._work_turn(t)
        turn.touch(t)
        return turn.main_key

    def _touch_step(self, key: str, t: int) -> None:
        item = self.step(key)
        if item is None:
            return
        item.touch(t)
        if isinstance(item, Agent):
            turn = self.turn_by_key(item.turn)
            if turn is not None and turn.end is None:
                turn.touch(t)

    def attach(self, ev: HookEvent, item: Item | None) -> None:
        """Keep ``ev`` for ``item``'s span, or for its nearest ancestor not yet exported."""
        while item is not None and item.exported:
            item = self._ancestor(item)
        if item is None:
            self.dropped_events += 1
            return
        item.events.append(ev)

    def _ancestor(self, item: Item) -> Item | None:
        if isinstance(item, Tool):
            return self.step(item.parent)
        if isinstance(item, (Agent, Task)):
            return self.turn_by_key(item.turn) or self
        if isinstance(item, Turn):
            return self
        return None

    def task(self, task_id: str, t: int) -> Task:
        """The agent-team task ``task_id`` (created in the open, else the last, turn if new)."""
        task = self.tasks.get(task_id)
        if task is None:
            turn = self.open_turn or (self.turns[-1] if self.turns else None)
            task = Task(key=f"task:{task_id}", start=t, last_t=t, task_id=task_id, turn=turn.key if turn else "")
            self.tasks[task_id] = task
        task.touch(t)
        return task

    def _tool(self, tuid: str, e: dict[str, Any], t: int) -> Tool | None:
        """The open tool call for ``tuid`` (created if new), or ``None`` if already exported."""
        tool = self.tools.get(tuid)
        if tool is not None:
            return tool
        if tuid in self.owners:
            return None
        parent = self._step_for(e, t)
        tool = Tool(key=f"tool:{tuid}", tool_use_id=tuid, parent=parent)
        self.tools[tuid] = tool
        self.owners[tuid] = parent
        return tool

    def apply(self, t: int, e: dict[str, Any], event_id: str) -> None:
        """Apply one spooled hook event received at ``t`` (ns)."""
        etype = _str(e.get("hook_event_name")) or "Unknown"
        tool_name = _str(e.get("tool_name"))
        tuid = _str(e.get("tool_use_id"))
        detail = next((v for f in _DETAIL_FIELDS if (v := _str(e.get(f))) is not None), None)
        ev = HookEvent(t, etype, event_id, tool_name, tuid, detail)
        if self.start is None:
            self.start = t
        self.touch(t)
        if _str(e.get("agent_id")) is None and (path := _str(e.get("transcript_path"))):
            self.transcript = path
        if self.project is None and (cwd := _str(e.get("cwd"))):
            self.project = project_name(cwd)
        if self.compacted_at is None and etype in _COMPACTION:
            self.compacted_at = t
        if self.closed and etype in _REOPENING:
            self.closed = False
            self.end = None
            self.outcome = None
        handler = _HANDLERS.get(etype)
        if handler is not None:
            handler(self, t, e, ev)
            after = _AFTER.get(etype)
            if after is not None:
                after(self, t, e, ev)
            return
        if not is_known(etype):
            self.unknown_events[etype] = self.unknown_events.get(etype, 0) + 1
        # Anything else (compaction, notifications, unknown events): a span event where it happened.
        aid = _str(e.get("agent_id"))
        if aid is not None:
            self.attach(ev, self._agent(aid, t, _str(e.get("agent_type"))))
        else:
            turn = self.open_turn
            if turn is not None:
                turn.touch(t)
            self.attach(ev, turn or self)

    def _on_session_start(self, t: int, e: dict[str, Any], ev: HookEvent) -> None:
        model = _str(e.get("model"))
        if model:
            self.model = model
        parent = e.get(PARENT_FIELD)
        if self.parent is None and isinstance(parent, dict) and not self.exported:
            self.parent = {k: v for k, v in parent.items() if isinstance(k, str) and isinstance(v, str)}
        self.attach(ev, self)

    def _on_session_end(self, t: int, e: dict[str, Any], ev: HookEvent) -> None:
        self.closed = True
        self.end = t
        self.end_reason = _str(e.get("reason"))
        self.outcome = SUCCESS
        self.attach(ev, self)

    def _on_prompt(self, t: int, e: dict[str, Any], ev: HookEvent) -> None:
        turn = self._new_turn(t, implicit=False)
        turn.prompt = _content(e.get("prompt"))
        turn.prompt_id = _str(e.get("prompt_id"))
        self.attach(ev, turn)

    def _on_stop(self, t: int, e: dict[str, Any], ev: HookEvent) -> None:
        turn = self.open_turn
        if turn is None:
            self.attach(ev, self)
            return
        turn.touch(t)
        self._close_turn(turn, SUCCESS, t)
        self.attach(ev, turn)

    def _on_pre_tool(self, t: int, e: dict[str, Any], ev: HookEvent) -> None:
        tuid = ev.tool_use_id or f"anon-{ev.id}"
        if ev.tool_use_id is None:  # older Claude Code: its Post pairs by tool name and input
            self.unpaired.setdefault(_call_fingerprint(ev.tool, e), []).append(tuid)
        tool = self._tool(tuid, e, t)
        if tool is None:  # a replayed Pre for an exported call
            self.attach(ev, self.step(self.owners[tuid]))
            return
        if tool.start is None or t < tool.start:
            tool.start = t
        tool.touch(t)
        if ev.tool:
            tool.name = ev.tool
        args = _content(e.get("tool_input"))
        if args is not None:
            tool.arguments = args
        self._touch_step(tool.parent, t)
        self.attach(ev, tool)

    def _on_post_tool(self, t: int, e: dict[str, Any], ev: HookEvent) -> None:
        tuid = ev.tool_use_id or self._pair_anonymous(ev, e)
        tool = self._tool(tuid, e, t)
        if tool is None:
            self.attach(ev, self.step(self.owners[tuid]))
            return
        if tool.start is None:
            dur = _num(e.get("duration_ms"))
            tool.start = max(0, t - int(dur * _NS_PER_MS)) if dur is not None else t
        if ev.tool:
            tool.name = ev.tool
        if tool.arguments is None:
            tool.arguments = _content(e.get("tool_input"))
        tool.end = max(t, tool.start)
        tool.touch(t)
        if ev.type == "PostToolUseFailure":
            tool.error = _content(e.get("error"))
            tool.interrupted = e.get("is_interrupt") is True
            tool.outcome = ABANDONED if tool.interrupted else FAILURE
        else:
            tool.result = _content(e.get("tool_response"))
            tool.outcome = SUCCESS
        self._touch_step(tool.parent, t)
        self.attach(ev, tool)

    def _pair_anonymous(self, ev: HookEvent, e: dict[str, Any]) -> str:
        """The oldest open call without ``tool_use_id`` of the same tool and input, else of the
        same tool (some tools' Post carries a normalised input), else a new one."""
        for k in self.unpaired:  # drop calls that ended or were exported meanwhile
            self.unpaired[k] = [t for t in self.unpaired[k] if t in self.tools and self.tools[t].end is None]
        self.unpaired = {k: v for k, v in self.unpaired.items() if v}
        fp = _call_fingerprint(ev.tool, e)
        if fp not in self.unpaired:
            same_tool = [k for k in self.unpaired if k.split("\n", 1)[0] == (ev.tool or "")]
            if not same_tool:
                return f"anon-{ev.id}"
            fp = min(same_tool, key=lambda k: (self.tools[self.unpaired[k][0]].start or 0, k))
        queue = self.unpaired[fp]
        tuid = queue.pop(0)
        if not queue:
            del self.unpaired[fp]
        return tuid

    def _on_subagent_start(self, t: int, e: dict[str, Any], ev: HookEvent) -> None:
        aid = _str(e.get("agent_id")) or f"anon-{ev.id}"
        agent = self._agent(aid, t, _str(e.get("agent_type")))
        if agent.start is None or t < agent.start:
            agent.start = t
        self.attach(ev, agent)

    def _on_subagent_stop(self, t: int, e: dict[str, Any], ev: HookEvent) -> None:
        aid = _str(e.get("agent_id"))
        if aid is None:  # older Claude Code names no subagent: an event, not an empty step
            turn = self.open_turn
            if turn is not None:
                turn.touch(t)
            self.attach(ev, turn or self)
            return
        agent = self._agent(aid, t, _str(e.get("agent_type")))
        path = _str(e.get("agent_transcript_path"))
        if path:
            agent.transcript = path
        if agent.end is None:
            agent.end = t
            agent.outcome = SUCCESS
        self._touch_step(agent.key, t)
        self.attach(ev, agent)

    # --- usage ---------------------------------------------------------------------------------------
    def place(self, resp: Response, path: str, agent_id: str | None) -> str:
        """The step key an API response belongs to.

        A subagent's own transcript: that subagent. Otherwise, in order: the step that made a
        tool call the response requested (``tool_use`` ids pair exactly); the turn (or, for a
        sidechain entry, the subagent) whose time window holds the response's timestamp; the
        step of the previous response of the same file; the open or last turn; the session.
        """
        if agent_id is not None and agent_id in self.agents:
            return self.agents[agent_id].key
        for tuid in resp.tool_use_ids:
            owner = self.owners.get(tuid)
            if owner is not None:
                return owner
        ts = resp.end if resp.end is not None else resp.start
        if ts is not None:
            for turn in reversed(self.turns):
                if turn.start is not None and turn.start <= ts and (turn.end is None or ts <= turn.end):
                    if resp.sidechain:
                        for agent in self.agents.values():
                            if (
                                agent.turn == turn.key
                                and agent.start is not None
                                and agent.start <= ts
                                and (agent.end is None or ts <= agent.end)
                            ):
                                return agent.key
                    return turn.main_key
        last = self.last_target.get(path)
        if last is not None:
            return last
        last_turn = self.open_turn or (self.turns[-1] if self.turns else None)
        return last_turn.main_key if last_turn is not None else WORKFLOW_KEY

    def assign(self, resp: Response, path: str, agent_id: str | None, counted_elsewhere: bool = False) -> None:
        """Place a response once: pending on its step, or ``late`` if that was exported.

        A response seen again (its entries interleaved with others, or read by a later drain)
        keeps the field-wise maximum of its usage: merged into it while it is pending, else
        its increase is exported as ``late`` usage of the same step. ``counted_elsewhere``:
        another session of the data home owns it (a resumed session's copy).
        """
        prev = self.assigned.get(resp.key)
        if prev is not None:
            self._grow(resp, prev)
            return
        if counted_elsewhere or resp.model == "<synthetic>":  # <synthetic>: no API call
            self.assigned[resp.key] = [None, {}]
            return
        target = self.place(resp, path, agent_id)
        self.last_target[path] = target
        self.assigned[resp.key] = [target, dict(resp.usage)]
        item = self.step(target)
        if item is None or item.exported:
            self.late.append((target, resp))
        else:
            item.usage.append(resp)

    def _grow(self, resp: Response, prev: list[Any]) -> None:
        target, seen = prev
        if target is None or not isinstance(seen, dict):
            return
        grown = {k: v - seen.get(k, 0) for k, v in resp.usage.items() if v > seen.get(k, 0)}
        if not grown:
            return
        for k in grown:
            seen[k] = resp.usage[k]
        item = self.step(target)
        pending = [r for r in (item.usage if item is not None and not item.exported else ()) if r.key == resp.key]
        pending += [r for k, r in self.late if k == target and r.key.split("#", 1)[0] == resp.key]
        if pending:
            pending[-1].merge({k: pending[-1].usage.get(k, 0) + v for k, v in grown.items()}, resp.end, [])
            return
        n = sum(1 for k in self.assigned if k.startswith(resp.key + "#")) + 1
        self.assigned[f"{resp.key}#{n}"] = [None, {}]
        extra = Response(f"{resp.key}#{n}", resp.message_id, resp.request_id, resp.model, grown, resp.end, resp.end)
        self.late.append((target, extra))

    # --- closing ------------------------------------------------------------------------------------
    def close_all(self) -> None:
        """Close every open item as abandoned (the session is closing)."""
        for turn in self.turns:
            if turn.end is None:
                self._close_turn(turn, ABANDONED)
        for agent in [*self.agents.values(), *self.tasks.values()]:
            if agent.end is None:
                agent.end = agent.last_t if agent.last_t is not None else agent.start
                agent.outcome = ABANDONED
        for tool in self.tools.values():
            if tool.end is None:
                step = self.step(tool.parent)
                start = tool.start if tool.start is not None else (self.last_t or 0)
                end = step.end if step is not None and step.end is not None else self.last_t
                tool.start = start
                tool.end = max(start, end or start)
                tool.outcome = ABANDONED
        if self.end is None:
            self.end = self.last_t
            self.outcome = ABANDONED
        self.closed = True


def _call_fingerprint(tool: str | None, e: dict[str, Any]) -> str:
    """What pairs a Pre and a Post without ``tool_use_id``: the tool's name and its input's sha256."""
    args = _content(e.get("tool_input"))
    return f"{tool or ''}\n{args['sha256'] if args is not None else ''}"


def _assigned(value: Any) -> dict[str, list[Any]]:
    """The saved ``assigned`` map (a plain list of keys in older states: no usage to grow)."""
    if isinstance(value, dict):
        return {str(k): list(v) for k, v in value.items()}
    return {str(k): [None, {}] for k in value or ()}


_HANDLERS = {
    "SessionStart": Session._on_session_start,
    "SessionEnd": Session._on_session_end,
    "UserPromptSubmit": Session._on_prompt,
    "Stop": Session._on_stop,
    "PreToolUse": Session._on_pre_tool,
    "PostToolUse": Session._on_post_tool,
    "PostToolUseFailure": Session._on_post_tool,
    "SubagentStart": Session._on_subagent_start,
    "SubagentStop": Session._on_subagent_stop,
}
# The newer events (permissions, API errors, agent teams): ``hookmodel``.
_HANDLERS.update(_MORE_HANDLERS)
