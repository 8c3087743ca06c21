"""``otel-agents hook``: capture one Claude Code hook event from stdin.

Always exits 0 and prints nothing; standard library only. See
``otel_agents.claude_code.capture`` for what is recorded and where. ``--help`` prints the
usage and touches nothing (no stdin read, no file written).
"""

from __future__ import annotations

USAGE = """usage: otel-agents hook
       otel-agents hook codex|gemini

Capture one Claude Code hook event: Claude Code runs this command for every hook event,
with the event's JSON payload on stdin. It appends the event to
<home>/claude-code/sessions/<session>.jsonl and exits 0 without printing anything, whatever
happens (a problem is logged to <home>/claude-code/hook.log). At Stop and SessionEnd it starts
a detached drain that exports the finished spans.

<home> is $OTEL_AGENTS_HOME, else $CLAUDE_PROJECT_DIR/.otel-agents, else ./.otel-agents.
Install it with `otel-agents install-hooks claude-code`; export now with `otel-agents flush`.

`otel-agents hook codex` and `otel-agents hook gemini` capture Codex CLI and Gemini CLI events
the same way, under <home>/codex/ and <home>/gemini/ (`otel-agents install-hooks codex|gemini`).
"""
#: Agent CLIs besides Claude Code, named by the hook's first argument.
AGENTS = ("codex", "gemini")


def main(args: list[str], prog: str = "otel-agents hook") -> int:
    """Spool the payload on stdin. Other ``args`` are accepted and ignored (forward compatibility)."""
    if "-h" in args or "--help" in args:
        import sys

        sys.stdout.write(USAGE.replace("otel-agents hook", prog, 1))
        return 0
    from otel_agents.claude_code.capture import main as capture_main

    return capture_main(args[0] if args and args[0] in AGENTS else None)
