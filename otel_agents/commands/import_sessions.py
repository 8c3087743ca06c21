"""``otel-agents import claude-code [PATH ...]``: past Claude Code sessions as traces.

Each session transcript under PATH (default ``$CLAUDE_CONFIG_DIR/projects``, else
``~/.claude/projects``) becomes the hook events it implies (``claude_code.history``), spooled
with the transcript's timestamps as a live hook would have spooled them, then drained into
every configured sink: the same model, keys and deterministic span ids as a live capture.

Idempotent: a session already in the data home (captured live, or imported before) is
skipped, and an API response another session already counted (a resumed session's copies)
is counted once, by the data home's response ledger.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

USAGE = "otel-agents import claude-code [PATH ...]"


@dataclass(slots=True)
class ImportReport:
    """What one import did."""

    found: int = 0
    imported: int = 0
    skipped: int = 0
    spans: int = 0
    errors: list[str] = field(default_factory=list)


def default_paths() -> list[str]:
    """Where Claude Code keeps its transcripts."""
    base = os.environ.get("CLAUDE_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".claude")
    return [os.path.join(base, "projects")]


def _known_sessions(home: str) -> set[str]:
    """Sessions the data home already holds: a spool of their own, or responses they own."""
    import sqlite3

    from otel_agents.claude_code.ledger import ledger_path

    path = ledger_path(home)
    if not os.path.exists(path):
        return set()
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
        try:
            return {s for (s,) in con.execute("SELECT DISTINCT session FROM responses")}
        finally:
            con.close()
    except sqlite3.Error:
        return set()


def import_sessions(
    paths: list[str],
    home: str,
    *,
    rt: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import every session transcript under ``paths`` into ``home``'s sinks.

    :param rt: the runtime to export through; default ``otel_agents.setup()`` on the home's
        configuration, shut down (flushed) at the end.
    :param progress: called with (sessions done, sessions found) after each one.
    """
    from otel_agents.claude_code import capture, history
    from otel_agents.claude_code.drain import drain
    from otel_agents.claude_code.layout import append_line, session_spool
    from otel_agents.config import load_config

    out = ImportReport()
    files = history.find_transcripts(paths)
    out.found = len(files)
    own = rt is None
    if own:
        from otel_agents import telemetry

        cfg = load_config(home)
        cfg.values["exit_deadline"] = max(float(cfg.get("exit_deadline", 0.5)), 30.0)
        rt = telemetry.setup(config=cfg)
    capture_content = capture.hook_settings(home)["capture_content"]
    known = _known_sessions(home)
    try:
        for i, path in enumerate(files, 1):
            try:
                session = history.read_session(path)
                spool = session_spool(home, session.session_id) if session is not None else None
                if session is None or spool is None or os.path.exists(spool) or session.session_id in known:
                    out.skipped += 1
                    continue
                lines = b"".join(
                    json.dumps(
                        {"t": t, "e": capture.reduce_payload(e, capture_content)},
                        ensure_ascii=True,
                        separators=(",", ":"),
                    ).encode("ascii")
                    + b"\n"
                    for t, e in session.events
                )
                append_line(spool, lines)
                with rt.metrics.not_live() if rt.metrics is not None else contextlib.nullcontext():
                    # the past: its calls were measured when they happened, if at all
                    result = drain(home, session_id=session.session_id, rt=rt, deadline_s=3600.0, trigger="import")
                out.errors.extend(result.errors)
                out.spans += result.spans
                out.imported += 1
                known.add(session.session_id)
            except (OSError, ValueError) as exc:
                out.errors.append(f"{path}: {type(exc).__name__}: {exc}")
            finally:
                if progress is not None:
                    progress(i, len(files))
    finally:
        if own:
            from otel_agents import telemetry

            telemetry.flush()  # a batch command: its user waits for every record
            telemetry.shutdown()
    return out


def _bar(stream: Any) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} sessions")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


def main(args: list[str], prog: str = "otel-agents import") -> int:
    parser = argparse.ArgumentParser(prog=prog, usage=USAGE, description="Import past Claude Code sessions as traces.")
    parser.add_argument("source", choices=("claude-code",), help="what to import: claude-code")
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="transcripts or directories (default: ~/.claude/projects)"
    )
    parser.add_argument("--home", help="data home (default: $OTEL_AGENTS_HOME, else ./.otel-agents)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar, print only errors")
    parser.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is no terminal")
    ns = parser.parse_args(args)
    from otel_agents.configfile import resolve_home

    home = ns.home or resolve_home(None)
    paths = ns.paths or default_paths()
    progress = _bar(sys.stderr) if ns.progress or (not ns.quiet and sys.stderr.isatty()) else None
    result = import_sessions(paths, home, progress=progress)
    if not ns.quiet or result.errors:
        print(
            f"otel-agents import: {result.imported} session(s) imported, {result.skipped} already present, "
            f"{result.spans} span(s) exported, from {result.found} transcript(s)"
        )
        for err in result.errors:
            print(f"  error: {err}")
    return 1 if result.errors else 0
