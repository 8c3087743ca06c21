"""What the newer Claude Code hook events mean for a session's model (``model.Session``).

- **PermissionRequest**: the permission dialog opened for a tool call (paired by
  ``tool_use_id``, else with the newest open call of that tool in that step, else with the
  next one to start). The wait runs to the tool's own start, which is the Post time minus
  ``duration_ms``: the tool call's span then covers the tool's own time, and the wait is
  recorded on it (``otel_agents.permission.wait_ms`` and an ``otel_agents.permission_wait``
  event). Without ``duration_ms`` only the hook event is recorded.
- **PermissionDenied**: the tool call ends there, as denied (failure, ``error.type``
  ``permission_denied``).
- **StopFailure**: the open turn ends with status ERROR; ``error.type`` is the API error's
  category (``rate_limit``, ``authentication_failed``, ...).
- **TaskCreated** / **TaskCompleted**: an agent-team task, a step under the turn that created
  it (whenever it ends). **TeammateIdle**: an event on the teammate's open task, else on the
  turn that first gave it a task.

Handlers take the session (duck-typed: this module is imported by ``model``), the receive
time, the spooled event and its ``HookEvent``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_agents.claude_code.payload import (
    ERROR_CATEGORY_FIELD,
    FAILURE,
    SUCCESS,
    content_field,
    number_field,
    text_field,
)

_NS_PER_MS = 1_000_000
#: ``error.type`` of a tool call a permission rule, mode or user denied.
PERMISSION_DENIED = "permission_denied"


def _latest_open(s: Any, step_key: str, name: str | None, *, unpermitted: bool = False) -> Any:
    """The newest open tool call of ``name`` in the step ``step_key``, or ``None``."""
    best = None
    for tool in s.tools.values():
        if tool.end is not None or tool.parent != step_key or (name is not None and tool.name != name):
            continue
        if unpermitted and tool.perm_t is not None:
            continue
        if best is None or (tool.start or 0) >= (best.start or 0):
            best = tool
    return best


def _tool_for(s: Any, t: int, e: dict[str, Any], ev: Any, *, unpermitted: bool = False) -> Any:
    """The tool call a permission event is about: by ``tool_use_id``, else the newest open
    call of that tool in the event's step; ``None`` when there is none (or it was exported)."""
    if ev.tool_use_id:
        return s._tool(ev.tool_use_id, e, t)
    return _latest_open(s, s._step_for(e, t), ev.tool, unpermitted=unpermitted)


def on_permission_request(s: Any, t: int, e: dict[str, Any], ev: Any) -> None:
    tool = _tool_for(s, t, e, ev, unpermitted=True)
    if tool is None:
        step = s._step_for(e, t)
        if not ev.tool_use_id:  # the call has not started yet: its PreToolUse takes it
            s.pending_perms.append([t, step, ev.tool])
        s.attach(ev, s.step(step))
        return
    if tool.perm_t is None:
        tool.perm_t = t
    if ev.tool and tool.name == "unknown":
        tool.name = ev.tool
    tool.touch(t)
    s._touch_step(tool.parent, t)
    s.attach(ev, tool)


def on_pre_tool(s: Any, t: int, e: dict[str, Any], ev: Any) -> None:
    """After the usual PreToolUse: a PermissionRequest that came first joins this call."""
    if not s.pending_perms:
        return
    step = s._step_for(e, t)
    for i, (pt, pstep, pname) in enumerate(s.pending_perms):
        if pstep == step and pname == ev.tool:
            tool = s.tools.get(ev.tool_use_id) if ev.tool_use_id else _latest_open(s, step, ev.tool)
            if tool is not None and tool.perm_t is None:
                tool.perm_t = pt
                del s.pending_perms[i]
            return


def on_post_tool(s: Any, t: int, e: dict[str, Any], ev: Any) -> None:
    """After the usual PostToolUse(Failure): the tool's own start, when a permission wait came first."""
    tool = s.tools.get(ev.tool_use_id) if ev.tool_use_id else None
    dur = number_field(e.get("duration_ms"))
    if tool is None or tool.perm_t is None or dur is None:
        return
    own = min(max(tool.perm_t, t - int(dur * _NS_PER_MS)), t)
    tool.perm_wait = own - tool.perm_t
    tool.start = own
    tool.end = max(t, own)


def on_permission_denied(s: Any, t: int, e: dict[str, Any], ev: Any) -> None:
    tool = _tool_for(s, t, e, ev)
    if tool is None and not ev.tool_use_id:
        tool = s._tool(f"anon-{ev.id}", e, t)
    if tool is None:  # its call was exported already
        s.attach(ev, s.step(s.owners[ev.tool_use_id]))
        return
    if ev.tool:
        tool.name = ev.tool
    if tool.start is None:
        tool.start = t
    if tool.arguments is None:
        tool.arguments = content_field(e.get("tool_input"))
    tool.end = max(t, tool.start)
    tool.outcome = FAILURE
    tool.denied = True
    tool.deny_reason = content_field(e.get("reason"))
    tool.touch(t)
    s._touch_step(tool.parent, t)
    s.attach(ev, tool)


def on_stop_failure(s: Any, t: int, e: dict[str, Any], ev: Any) -> None:
    turn = s.open_turn
    if turn is None:
        s.attach(ev, s)
        return
    turn.touch(t)
    s._close_turn(turn, FAILURE, t)
    turn.error_type = text_field(e.get(ERROR_CATEGORY_FIELD)) or "_OTHER"
    turn.error = content_field(e.get("error_details")) or content_field(e.get("error"))
    s.attach(ev, turn)


def _task(s: Any, t: int, e: dict[str, Any], ev: Any) -> Any:
    task = s.task(text_field(e.get("task_id")) or f"anon-{ev.id}", t)
    mate, team = text_field(e.get("teammate_name")), text_field(e.get("team_name"))
    if mate:
        task.teammate = mate
        if task.turn:
            s.teammates.setdefault(mate, task.turn)
    if team:
        task.team = team
    turn = s.turn_by_key(task.turn)
    if turn is not None and turn.end is None:
        turn.touch(t)
    return task


def on_task_created(s: Any, t: int, e: dict[str, Any], ev: Any) -> None:
    task = _task(s, t, e, ev)
    if task.start is None or t < task.start:
        task.start = t
    s.attach(ev, task)


def on_task_completed(s: Any, t: int, e: dict[str, Any], ev: Any) -> None:
    task = _task(s, t, e, ev)
    if task.end is None:
        task.end = max(t, task.start or t)
        task.outcome = SUCCESS
    s.attach(ev, task)


def on_teammate_idle(s: Any, t: int, e: dict[str, Any], ev: Any) -> None:
    mate = text_field(e.get("teammate_name"))
    target = None
    if mate:
        open_tasks = [k for k in s.tasks.values() if k.teammate == mate and k.end is None]
        target = max(open_tasks, key=lambda k: k.start or 0) if open_tasks else s.turn_by_key(s.teammates.get(mate, ""))
    if target is None:
        target = s.open_turn or s
    target.touch(t)
    s.attach(ev, target)


Handler = Callable[[Any, int, dict[str, Any], Any], None]

#: Handlers of events ``model`` has none for.
HANDLERS: dict[str, Handler] = {
    "PermissionRequest": on_permission_request,
    "PermissionDenied": on_permission_denied,
    "StopFailure": on_stop_failure,
    "TaskCreated": on_task_created,
    "TaskCompleted": on_task_completed,
    "TeammateIdle": on_teammate_idle,
}
#: Handlers that run after ``model``'s own for the same event.
AFTER: dict[str, Handler] = {
    "PreToolUse": on_pre_tool,
    "PostToolUse": on_post_tool,
    "PostToolUseFailure": on_post_tool,
}
