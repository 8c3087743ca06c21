"""``otel-agents patterns mark <id> candidate|approved|implemented|rejected [--note TEXT]``.

Records an automation decision for a repeated tool-call pattern (its id as ``otel-agents report
--section patterns`` shows it) in the analytics store; the report shows it next to the pattern.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from otel_agents.analytics.decisions import STATUSES


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Automation decisions for repeated tool-call patterns.")
    p.add_argument("--home", help="data home (default: $OTEL_AGENTS_HOME, else ./.otel-agents)")
    p.add_argument(
        "--db",
        "--store",
        dest="db",
        help="analytics store: a SQLite file or a postgresql:// URL (default: analytics.url, else"
        " <home>/analytics/history.db)",
    )
    sub = p.add_subparsers(dest="action", required=True)
    m = sub.add_parser("mark", help="record a decision for a pattern")
    m.add_argument("pattern_id", help="the pattern's id (12 hex digits, from the report)")
    m.add_argument("status", choices=STATUSES)
    m.add_argument("--note", help="why, or what the tool is called")
    return p


def main(args: list[str], prog: str = "otel-agents patterns") -> int:
    ns = _parser(prog).parse_args(args)
    from otel_agents.analytics.decisions import mark
    from otel_agents.analytics.postgres import is_url
    from otel_agents.config import load_config, resolve_home

    home = Path(ns.home) if ns.home else resolve_home()
    url = ns.db if is_url(ns.db) else None if ns.db else load_config(home).analytics_url
    store = Path(ns.db) if ns.db and not url else home / "analytics" / "history.db"
    if url is None and not store.is_file():
        print(f"{prog}: no analytics store at {store}", file=sys.stderr)
        return 1
    try:
        done = mark(url or store, ns.pattern_id, ns.status, ns.note)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a store we cannot write: say so, no traceback
        from otel_agents.report.pgsource import PgSource

        message = str(PgSource(url).clean(exc)) if url else f"{type(exc).__name__}: {exc}"
        print(f"{prog}: cannot record the decision in {PgSource(url) if url else store}: {message}", file=sys.stderr)
        return 1
    print(f"pattern {done['pattern_id']}: {done['status']}" + (f" ({done['note']})" if done["note"] else ""))
    return 0
