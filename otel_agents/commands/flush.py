"""``otel-agents flush``: build and export spans from captured Claude Code events now.

Drains every session under the home (or one, ``--session``): complete turns, tool calls and
subagents are exported, sessions that ended or have been idle for ``claude_code.idle_timeout``
are closed. Waits at most ``--timeout`` seconds (default ``claude_code.drain_deadline``).
"""

from __future__ import annotations

import argparse
import os


def main(args: list[str], prog: str = "otel-agents flush") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Build and export spans from captured Claude Code events.")
    parser.add_argument("--session", help="drain only this session id")
    parser.add_argument("--home", help="data home (default: $OTEL_AGENTS_HOME, else ./.otel-agents)")
    parser.add_argument("--timeout", type=float, help="seconds to wait at most (default: claude_code.drain_deadline)")
    parser.add_argument("--quiet", action="store_true", help="print nothing unless something failed")
    parser.add_argument("--status", action="store_true", help="only show the backlog, last drain and hook problems")
    ns = parser.parse_args(args)

    from otel_agents.claude_code.drain import drain
    from otel_agents.claude_code.layout import hook_home

    home = ns.home or hook_home()
    if ns.status:
        from otel_agents.claude_code.status import format_summary, summary

        print(format_summary(summary(home)))
        return 0
    for agent in ("codex", "gemini"):  # Codex CLI and Gemini CLI sessions (otel_agents.agent_cli)
        if os.path.isdir(os.path.join(home, agent)):
            from otel_agents.agent_cli.export import drain as drain_agent

            n = drain_agent(home, agent)
            if not ns.quiet:
                print(f"otel-agents flush: {agent}: {n} span(s) exported")
    if not os.path.isdir(os.path.join(home, "claude-code")):
        if not ns.quiet:
            print(f"otel-agents flush: no captured Claude Code events under {home}")
        return 0
    result = drain(home, session_id=ns.session, deadline_s=ns.timeout, trigger="flush")
    if not ns.quiet or result.errors:
        print(
            f"otel-agents flush: {result.sessions} session(s) drained, {result.spans} span(s) exported, "
            f"{result.closed} session(s) closed, {result.open} still open"
            + (f", {len(result.busy)} busy or out of time" if result.busy else "")
            + (f", {result.removed} expired session(s) removed" if result.removed else "")
        )
        for err in result.errors:
            print(f"  error: {err}")
    return 1 if result.errors else 0
