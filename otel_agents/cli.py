"""The ``otel-agents`` command. Standard library only: each subcommand's module is imported
only when that subcommand runs, so ``otel-agents hook`` stays at bare-Python start-up cost.
"""

from __future__ import annotations

import importlib
import sys

#: subcommand -> (module under otel_agents.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "run a realistic example workflow and show where its telemetry went"),
    "hook": ("hook", "capture one Claude Code hook event from stdin (always exits 0)"),
    "flush": ("flush", "build and export spans from captured Claude Code events"),
    "replay": ("replay", "send spooled spans the collector has not received yet"),
    "reconcile": ("reconcile", "backfill the analytics store from the metrics JSONL"),
    "show": ("show", "one run's span tree from the local spool, with its trace id"),
    "doctor": ("doctor", "show configuration, sink backlogs, last deliveries and errors"),
    "report": ("report", "cost, latency, error, retry and tool analytics"),
    "patterns": ("patterns", "record an automation decision for a repeated tool-call pattern"),
    "outcome": ("outcome", "record a run's estimates or outcomes (PR merged, review cycles) by workflow id"),
    "install-hooks": ("install_hooks", "install otel-agents hooks into Claude Code settings"),
    "uninstall-hooks": ("install_hooks", "remove otel-agents hooks from Claude Code settings"),
    "import": ("import_agents", "past agent-CLI sessions as traces (import claude-code|codex|gemini [PATH ...])"),
    "run": ("run", "run a program with zero-code instrumentation"),
    "live": ("live", "the workflows and agent sessions running now, refreshed in place"),
    "serve": ("serve", "the live view on a local web page (loopback only by default)"),
}


def _usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = ["usage: otel-agents <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_m, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version"):
        from otel_agents import __version__

        print(__version__)
        return 0
    name = args[0]
    entry = COMMANDS.get(name)
    if entry is None:
        print(f"otel-agents: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"otel_agents.commands.{entry[0]}")
    return int(module.main(args[1:], prog=f"otel-agents {name}") or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
