"""``otel-agents import <agent> [PATH ...]``: traces from an agent CLI's session files alone.

One trace per session, with the same deterministic ids as the live hook capture: importing
twice, or importing what the hooks already captured, sends nothing twice (the session's state
under ``<home>/<agent>/state/`` records what was exported). ``AGENTS`` maps each agent to its
importer; other modules may add theirs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

#: agent -> (importer(ns) -> exit code, help)
AGENTS: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {}


def _agent_cli(ns: argparse.Namespace) -> int:
    from otel_agents import telemetry
    from otel_agents.agent_cli import export
    from otel_agents.config import load_config

    roots = ns.paths or export.ADAPTERS[ns.agent].default_paths()
    paths = export.session_paths(ns.agent, roots)
    cfg = load_config(ns.home)
    rt = telemetry.setup(config=cfg)
    bar = None
    if not ns.quiet and paths:
        from otel_agents.sinks.replay import Progress

        class Files(Progress):
            """The replay progress bar, counting session files."""

            def line(self) -> str:
                return super().line().replace(" spans", " files")

        bar = Files(len(paths), label=f"import {ns.agent}")
        bar.update(0)
    try:
        sessions, spans, errors = export.import_files(
            rt, str(cfg.home), ns.agent, paths, progress=bar.update if bar is not None else None
        )
    finally:
        if bar is not None:
            bar.finish()
        telemetry.flush()  # a batch command: its user waits for every record
        telemetry.shutdown()
    for e in errors:
        print(f"otel-agents import: {e}", file=sys.stderr)
    print(f"imported {sessions} {ns.agent} session(s) from {len(paths)} file(s): {spans} new span(s)")
    return 1 if errors else 0


AGENTS["codex"] = (_agent_cli, "Codex CLI rollouts (default ${CODEX_HOME:-~/.codex}/sessions)")
AGENTS["gemini"] = (_agent_cli, "Gemini CLI chat files (default ~/.gemini/tmp)")


def _claude_code(ns: argparse.Namespace) -> int:
    from otel_agents.commands import import_sessions

    flags = [
        *(["--home", ns.home] if ns.home else []),
        *(["-q"] if ns.quiet else []),
        *(["--progress"] if ns.progress else []),
    ]
    return import_sessions.main(["claude-code", *ns.paths, *flags])


AGENTS["claude-code"] = (_claude_code, "Claude Code transcripts (default ~/.claude/projects)")


def main(args: list[str], prog: str = "otel-agents import") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Build traces from an agent's session files.")
    parser.add_argument("agent", choices=sorted(AGENTS), help="; ".join(f"{k}: {v[1]}" for k, v in AGENTS.items()))
    parser.add_argument("paths", nargs="*", metavar="PATH", help="session files or directories to search")
    parser.add_argument("--home", help="otel-agents home (default: $OTEL_AGENTS_HOME or ./.otel-agents)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.add_argument("--progress", action="store_true", help="the progress bar even when stderr is no terminal")
    ns = parser.parse_args(args)
    return AGENTS[ns.agent][0](ns)
