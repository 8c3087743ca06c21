"""``otel-agents report``: cost, latency, error, retry and tool analytics (docs/report.md).

Reads ``<home>/analytics/history.db`` (rebuilt first from the metrics JSONL, else the span
spool, when it is missing) and prints the report as text, JSON or CSV, or writes it as one
HTML file (default ``<home>/report.html``).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path
from typing import Any


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Cost, latency, error, retry and tool analytics.")
    p.add_argument("--home", help="data home (default: $OTEL_AGENTS_HOME, else ./.otel-agents)")
    p.add_argument(
        "--db",
        "--store",
        dest="db",
        help="analytics store: a SQLite file or a postgresql:// URL (default: analytics.url, else"
        " <home>/analytics/history.db)",
    )
    p.add_argument("--format", "-f", choices=("text", "json", "csv", "html"), default="text")
    p.add_argument("--output", "-o", help="write here instead of stdout (html: default <home>/report.html)")
    p.add_argument(
        "--rows",
        choices=("attempts", "tasks", "steps", "patterns", "scores", "outcomes", "trends"),
        default=None,
        help="csv: one row per step attempt (default), per task, per pattern, per run (scores, outcomes) or per day"
        " (trends); --section patterns, scores, outcomes or trends alone selects its rows",
    )
    p.add_argument(
        "--section",
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help="only these sections: cost, latency, errors, attempts, tools, patterns, scores, trends, outcomes"
        " (default: all)",
    )
    p.add_argument("--top", type=int, default=10, help="entries in the top-N lists (default 10)")
    g = p.add_argument_group("filters (each may be repeated)")
    g.add_argument("--since", help="from this time: YYYY-MM-DD, ISO 8601, or 30m/24h/7d/2w ago")
    g.add_argument("--until", help="before this time (a bare date includes that day)")
    g.add_argument("--template", action="append", default=[], help="workflow template")
    g.add_argument("--model", action="append", default=[], help="model")
    g.add_argument("--status", action="append", default=[], help="workflow status: completed, failed, abandoned")
    g.add_argument("--session", action="append", default=[], help="session id")
    g.add_argument("--machine", action="append", default=[], help="machine (host.name) that ran the workflow")
    g.add_argument("--service", action="append", default=[], help="service (service.name) of the workflow")
    c = p.add_argument_group("cache")
    c.add_argument("--no-cache", action="store_true", help="do not keep the columnar cache next to the store")
    c.add_argument("--rebuild-cache", action="store_true", help="rebuild the columnar cache from scratch")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress messages on stderr")
    return p


def _progress(quiet: bool) -> Any:
    if quiet:
        return None

    def say(message: str) -> None:
        print(f"otel-agents report: {message}", file=sys.stderr, flush=True)

    return say


def ensure_store(home: Path, store: Path, *, quiet: bool = False) -> bool:
    """True when ``store`` exists, after rebuilding it from ``home``'s JSONL or spool if needed."""
    if store.is_file():
        return True
    from otel_agents.report.rebuild import rebuild_store

    if not quiet:
        print(f"otel-agents report: no analytics store at {store}; rebuilding it", file=sys.stderr, flush=True)
    done = rebuild_store(home, store, stream=io.StringIO() if quiet else None)
    return done is not None and store.is_file()


def main(args: list[str], prog: str = "otel-agents report") -> int:
    ns = _parser(prog).parse_args(args)
    from otel_agents.config import resolve_home
    from otel_agents.report import FilterError, Filters, ReportEngine, render

    home = Path(ns.home) if ns.home else resolve_home()
    from otel_agents.analytics.postgres import is_url, redact_url

    url = ns.db if is_url(ns.db) else None
    if ns.db is None:
        from otel_agents.config import load_config

        url = load_config(home).analytics_url
    store = Path(ns.db) if ns.db and not url else home / "analytics" / "history.db"
    try:
        filters = Filters.parse(
            since=ns.since,
            until=ns.until,
            templates=ns.template,
            models=ns.model,
            statuses=ns.status,
            sessions=ns.session,
            machines=ns.machine,
            services=ns.service,
        )
    except FilterError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if ns.top < 1:
        print(f"{prog}: --top must be at least 1", file=sys.stderr)
        return 2
    from otel_agents.report.engine import SECTIONS

    sections = tuple(dict.fromkeys(x.strip() for v in ns.section for x in v.split(",") if x.strip())) or SECTIONS
    unknown = [x for x in sections if x not in SECTIONS]
    if unknown:
        print(f"{prog}: unknown section {', '.join(unknown)}: use {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    sections = tuple(x for x in SECTIONS if x in sections)
    if url is None and not ensure_store(home, store, quiet=ns.quiet):
        print(
            f"{prog}: no analytics data: no store at {store}, and nothing to rebuild it from under "
            f"{home / 'metrics'} or {home / 'spans'}",
            file=sys.stderr,
        )
        return 1
    try:
        engine = ReportEngine(
            url or store,
            use_cache=not ns.no_cache,
            rebuild_cache=ns.rebuild_cache,
            progress=_progress(ns.quiet),
            cache_dir=home / "analytics",
        )
    except Exception as exc:  # noqa: BLE001 - a store we cannot read: say so, no traceback
        where = redact_url(url) if url else store
        message = f"{type(exc).__name__}: {exc}"
        if url:
            from otel_agents.report.pgsource import PgSource

            message = str(PgSource(url).clean(RuntimeError(message))).removeprefix("RuntimeError: ")
        print(f"{prog}: cannot read {where}: {message}", file=sys.stderr)
        return 1
    with engine:
        if not filters.empty:
            engine.apply(filters)
        if ns.format == "csv":
            if ns.rows is None:
                ns.rows = (
                    sections[0]
                    if len(sections) == 1 and sections[0] in ("patterns", "scores", "outcomes", "trends")
                    else "attempts"
                )
            if not engine.meta()["matched"] and not ns.quiet:
                print(f"otel-agents report: nothing matches the filters: {_describe(filters)}", file=sys.stderr)
            if ns.rows == "patterns":
                return _write_patterns_csv(engine, ns)
            return _write_csv(engine, ns)
        report = engine.report(top=ns.top, sections=sections)
        if not report["meta"]["matched"] and ns.format != "text" and not ns.quiet:
            print(f"otel-agents report: nothing matches the filters: {_describe(filters)}", file=sys.stderr)
        text = render(report, ns.format)
    out = ns.output or (str(home / "report.html") if ns.format == "html" else None)
    if out is None:
        sys.stdout.write(text)
        return 0
    _write_private(Path(out), text)
    if not ns.quiet:
        print(f"otel-agents report: wrote {out}", file=sys.stderr)
    return 0


def _describe(filters: Any) -> str:
    return "; ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in filters.describe().items() if v)


def _write_patterns_csv(engine: Any, ns: argparse.Namespace) -> int:
    from otel_agents.report.csvout import write_patterns_csv

    section = engine.report(top=ns.top, sections=("patterns",))["patterns"]
    buf = io.StringIO(newline="")
    n = write_patterns_csv(section, buf)
    if ns.output:
        _write_private(Path(ns.output), buf.getvalue())
        if not ns.quiet:
            print(f"otel-agents report: wrote {n:,} row{'' if n == 1 else 's'} to {ns.output}", file=sys.stderr)
    else:
        sys.stdout.write(buf.getvalue())
    return 0


def _write_csv(engine: Any, ns: argparse.Namespace) -> int:
    from otel_agents.report.csvout import write_csv

    ns.rows = ns.rows or "attempts"
    if ns.output:
        fd = os.open(ns.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            n = write_csv(engine.con, f, ns.rows)
        if not ns.quiet:
            print(f"otel-agents report: wrote {n:,} row{'' if n == 1 else 's'} to {ns.output}", file=sys.stderr)
    else:
        write_csv(engine.con, sys.stdout, ns.rows)
    return 0


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` as a 0600 file (a report is the analytics data: private,
    whatever the umask); a missing parent is created 0700."""
    from otel_agents.foundation.files import write_private

    write_private(path, text.encode("utf-8"))


def demo_report(home: Path, store: Path) -> int:
    """``otel-agents demo``'s ending: ``<home>/report.html``, then the terminal report."""
    from otel_agents.report import ReportEngine, render

    if not ensure_store(home, store, quiet=True):
        print("otel-agents demo: no analytics data to report on", file=sys.stderr)
        return 1
    with ReportEngine(store) as engine:
        report = engine.report()
    html = home / "report.html"
    _write_private(html, render(report, "html"))
    print(f"\nHTML report: {html}\n")
    sys.stdout.write(render(report, "text"))
    return 0
