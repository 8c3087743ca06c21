"""``otel-agents install-hooks claude-code`` and ``otel-agents uninstall-hooks claude-code``.

Merges otel-agents' ``hook`` command into Claude Code's settings for every hook event
(``--project``: ``.claude/settings.json``, the default; ``--local``:
``.claude/settings.local.json``; ``--user``: ``~/.claude/settings.json``), keeping every
other hook; idempotent. Uninstall removes exactly ours.
"""

from __future__ import annotations

import argparse
import sys


def main(args: list[str], prog: str = "otel-agents install-hooks") -> int:
    uninstalling = prog.endswith("uninstall-hooks")
    parser = argparse.ArgumentParser(
        prog=prog,
        description=("Remove otel-agents hooks from" if uninstalling else "Install otel-agents hooks into")
        + " Claude Code settings.",
    )
    parser.add_argument("agent", choices=["claude-code"], help="the agent whose settings to change")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--project", dest="scope", action="store_const", const="project",
                       help=".claude/settings.json in the project (default)")
    scope.add_argument("--local", dest="scope", action="store_const", const="local",
                       help=".claude/settings.local.json in the project (not committed)")
    scope.add_argument("--user", dest="scope", action="store_const", const="user", help="~/.claude/settings.json")
    parser.add_argument("--dir", help="project directory (default: the current directory)")
    if not uninstalling:
        parser.add_argument("--command", help="hook command line (default: this installation's `otel-agents hook`)")
        parser.add_argument("--timeout", type=int, help="seconds Claude Code waits for the hook at most (default 3)")
    ns = parser.parse_args(args)

    from otel_agents.claude_code import settings

    path = settings.settings_path(ns.scope or "project", ns.dir)
    try:
        if uninstalling:
            n = settings.uninstall(path)
            print(f"removed {n} otel-agents hook(s) from {path}" if n else f"no otel-agents hooks in {path}")
        else:
            changed = settings.install(path, ns.command, ns.timeout or settings.DEFAULT_TIMEOUT)
            events = len(settings.EVENTS)
            print(f"installed otel-agents hooks for {events} events in {path}" if changed
                  else f"otel-agents hooks already installed in {path}")
    except settings.SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    return 0
