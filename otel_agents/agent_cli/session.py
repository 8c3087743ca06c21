"""The trace model an agent-CLI adapter reads from a session file (standard library only).

One ``SessionData`` per session: turns, tool calls and model calls, each with a key that is
deterministic for the session (span ids derive from ``(session_id, key)``), so a live drain
and ``otel-agents import`` of the same file build the same spans.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otel_agents.claude_code.transcript import iso_to_ns

WORKFLOW_KEY = "workflow"
SUCCESS, FAILURE, ABANDONED = "success", "failure", "abandoned"
#: Token fields of ``Call.usage``, with the semantic-convention meaning (input includes cache).
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")

__all__ = [
    "ABANDONED",
    "FAILURE",
    "SUCCESS",
    "USAGE_KEYS",
    "WORKFLOW_KEY",
    "Call",
    "SessionData",
    "ToolUse",
    "Turn",
    "iso_to_ns",
]


@dataclass(slots=True)
class Turn:
    """One prompt turn: ``key`` is ``turn:<turn id>`` (Codex) or ``turn:<message id>`` (Gemini)."""

    key: str
    n: int
    start: int | None
    end: int | None = None
    outcome: str | None = None  # None while the turn is open
    last_t: int | None = None

    @property
    def main_key(self) -> str:
        return f"{self.key}/main"


@dataclass(slots=True)
class ToolUse:
    """One tool call, keyed ``tool:<call id>``."""

    key: str
    call_id: str
    name: str
    parent: str  # a turn key, or WORKFLOW_KEY
    start: int | None
    end: int | None = None
    outcome: str | None = None
    arguments: object = None  # the raw arguments, when the file has them (pairing hooks)


@dataclass(slots=True)
class Call:
    """One model call, keyed ``chat:<id>``; ``usage`` has ``USAGE_KEYS``."""

    key: str
    model: str
    provider: str
    usage: dict[str, int]
    parent: str
    start: int | None
    end: int | None
    response_id: str | None = None


@dataclass(slots=True)
class SessionData:
    """What one session file says."""

    agent: str
    session_id: str
    path: str
    start: int | None = None
    end: int | None = None
    model: str | None = None
    turns: list[Turn] = field(default_factory=list)
    tools: list[ToolUse] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # every model of its calls, first seen first
    forked_from: str | None = None
    cli_version: str | None = None
    #: the project the session ran in (its working directory's name), if the file says
    project: str | None = None
    #: the session's own token totals (Codex: final cumulative minus the copied parent's)
    totals: dict[str, int] = field(default_factory=dict)

    def turn(self, key: str) -> Turn | None:
        return next((t for t in self.turns if t.key == key), None)

    def turn_at(self, t: int | None) -> Turn | None:
        """The turn whose time window holds ``t``."""
        if t is None:
            return None
        for turn in reversed(self.turns):
            if turn.start is not None and turn.start <= t and (turn.end is None or t <= turn.end):
                return turn
        return None


def ts(value: object) -> int | None:
    """An ISO timestamp as ns since the epoch (``None`` if absent or malformed)."""
    return iso_to_ns(value)


def nonneg(value: object) -> int:
    """A token count: a non-negative int, else 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return 0
    try:
        return int(value)
    except (OverflowError, ValueError):
        return 0
