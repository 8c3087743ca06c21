"""``otel-agents hook``: capture one Claude Code hook event from stdin.

Always exits 0 and prints nothing; standard library only. See
``otel_agents.claude_code.capture`` for what is recorded and where.
"""

from __future__ import annotations


def main(args: list[str], prog: str = "otel-agents hook") -> int:
    """Spool the payload on stdin. ``args`` are accepted and ignored (forward compatibility)."""
    from otel_agents.claude_code.capture import main as capture_main

    return capture_main()
