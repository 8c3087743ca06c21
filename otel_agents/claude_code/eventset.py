"""Every Claude Code hook event, in one place: what ``install-hooks`` installs, what the
capture knows and what ``doctor`` calls unknown. Standard library only (nothing imported).

Names from the Claude Code hooks reference (late 2026, about thirty events). A newer Claude
Code may send events missing here: the capture still records them (as a span event on the
turn or session), and ``otel-agents doctor`` lists them.
"""

from __future__ import annotations

#: Every hook event the capture knows, with what it means for the trace.
KNOWN: dict[str, str] = {
    "Setup": "session set-up (project initialisation): an event on the session",
    "SessionStart": "the session span starts (records a parent step handed down by an executor)",
    "InstructionsLoaded": "instruction files loaded: an event on the turn or session",
    "UserPromptSubmit": "a turn starts",
    "UserPromptExpansion": "a slash command or skill expanded the prompt: an event on its turn",
    "PreToolUse": "a tool call starts",
    "PermissionRequest": "a permission dialog opens: the wait is recorded on the tool call",
    "PermissionDenied": "a rule, mode or the user denied the tool call: it ends as denied",
    "PostToolUse": "a tool call ends (its own duration from duration_ms)",
    "PostToolUseFailure": "a tool call fails (or is interrupted)",
    "Notification": "a notification: an event on the turn or session",
    "SubagentStart": "a subagent step starts",
    "SubagentStop": "a subagent step ends",
    "TaskCreated": "an agent-team task starts, under the turn that created it",
    "TaskCompleted": "an agent-team task ends",
    "TeammateIdle": "a teammate went idle: an event on its task, else on the turn that started it",
    "Stop": "the turn ends",
    "StopFailure": "the turn ends on an API error: status ERROR, error.type the error's category",
    "PreCompact": "compaction starts: an event on the turn or session",
    "PostCompact": "compaction ended: an event on the turn or session",
    "Elicitation": "an MCP server asks the user for input: an event on the turn",
    "ElicitationResult": "the user answered an MCP elicitation: an event on the turn",
    "WorktreeCreate": "a worktree is created (never installed: its hook replaces Claude Code's own)",
    "WorktreeRemove": "a worktree is removed: an event on the session",
    "ConfigChange": "a settings file changed during the session: an event on the session",
    "CwdChanged": "the working directory changed: an event on the turn or session",
    "FileChanged": "a watched file changed: an event on the turn or session",
    "SessionEnd": "the session span ends",
}

#: Events ``install-hooks`` never installs: a command hook there REPLACES Claude Code's own
#: behaviour (a WorktreeCreate hook must create the worktree and print its path).
NOT_INSTALLED = frozenset({"WorktreeCreate"})

#: The events ``install-hooks`` installs, in the reference's order.
INSTALLED: tuple[str, ...] = tuple(e for e in KNOWN if e not in NOT_INSTALLED)

#: Events whose hook groups take a tool-name matcher.
TOOL_EVENTS = frozenset({"PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse", "PostToolUseFailure"})

#: Agent-team events (teammates and their tasks).
TEAM_EVENTS = frozenset({"TaskCreated", "TaskCompleted", "TeammateIdle"})


def is_known(event: object) -> bool:
    """Whether ``event`` is a hook event name the capture knows."""
    return isinstance(event, str) and event in KNOWN
