"""``otel-agents live``: the workflows and agent-CLI sessions running on this machine now,
refreshed in place in a terminal; periodic lines when stdout is not a terminal."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from otel_agents.commands.live_view import line, render, snapshot
from otel_agents.config import resolve_home

CLEAR = "\x1b[H\x1b[2J"


def main(args: list[str], prog: str = "otel-agents live") -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("--home", help="data home (default: $OTEL_AGENTS_HOME or ./.otel-agents)")
    p.add_argument("--interval", type=float, default=None, help="seconds between refreshes (0.5; 5 without a terminal)")
    p.add_argument("--ended", type=int, default=5, help="how many ended runs to show")
    p.add_argument("--once", action="store_true", help="print the view once and exit")
    ns = p.parse_args(args)
    home = resolve_home() if ns.home is None else ns.home
    tty = sys.stdout.isatty()
    interval = ns.interval if ns.interval is not None else (0.5 if tty else 5.0)
    if ns.once:
        print(render(snapshot(home, ended=ns.ended)))
        return 0
    seen: dict[str, str] = {}
    try:
        while True:
            snap = snapshot(home, ended=ns.ended)
            if tty:
                sys.stdout.write(CLEAR + render(snap) + "\n")
            else:
                _lines(snap, seen)
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0


def _lines(snap: dict[str, Any], seen: dict[str, str]) -> None:
    """Without a terminal: one timestamped line per run whose state changed."""
    stamp = time.strftime("%H:%M:%S", time.localtime(snap["now"]))
    for row in [*snap["running"], *snap["ended"]]:
        key = f"{row['kind']}:{row['workflow_id']}:{row['started']}"
        state = f"{row.get('phase')}|{row.get('step')}|{row.get('tool')}|{row.get('outcome')}"
        if seen.get(key) != state:
            seen[key] = state
            status = "ended" if row.get("ended") is not None else "running"
            print(f"{stamp} {status} {line(row, snap['now'])}")
