"""The work plan: one task per phase, with its agent, model, tools and canned model usage."""

from __future__ import annotations

from dataclasses import dataclass, field

SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"


@dataclass(frozen=True)
class CannedUsage:
    """What the stand-in model reports for one call (Anthropic style: input excludes cache)."""

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


@dataclass(frozen=True)
class Task:
    """One phase's work: the agent that does it, its model, its model calls and its tools."""

    phase: str
    agent: str
    model: str
    calls: tuple[CannedUsage, ...]
    tools: tuple[tuple[str, dict], ...] = field(default=())
    streaming: bool = False


PLAN: tuple[Task, ...] = (
    Task(
        "plan",
        "planner",
        SONNET,
        calls=(CannedUsage(400, 850, 9000, 3000),),
        tools=(("Read", {"file_path": "README.md"}), ("Grep", {"pattern": "def checkout"})),
    ),
    Task(
        "build",
        "coder",
        SONNET,
        calls=(CannedUsage(2200, 1900, 14000, 2000), CannedUsage(700, 600, 19500, 800)),
        tools=(
            ("Read", {"file_path": "app/cart.py"}),
            ("Edit", {"file_path": "app/cart.py", "old_string": "total - discount"}),
            ("Read", {"file_path": "app/cart.py"}),
            ("Bash", {"command": "ruff check app"}),
        ),
        streaming=True,
    ),
    Task(
        "test",
        "tester",
        HAIKU,
        calls=(CannedUsage(600, 400, 6000, 2500),),
        tools=(("Bash", {"command": "pytest -q tests/test_cart.py"}),),
    ),
    Task(
        "review",
        "reviewer",
        SONNET,
        calls=(CannedUsage(2600, 700, 12000, 1200),),
        tools=(("Bash", {"command": "git diff --stat"}), ("Read", {"file_path": "app/cart.py"})),
    ),
)

#: Commands that time out the first time they run (the flaky test run).
FLAKY_COMMANDS = frozenset({"pytest -q tests/test_cart.py"})
