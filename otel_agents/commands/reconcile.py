"""``otel-agents reconcile``: backfill the analytics store from the metrics JSONL.

After an analytics outage (database locked, corrupt, read-only, or analytics switched off
for a while) the metrics JSONL still has every execution record. This reads it and upserts
every record into the analytics store (``analytics/history.db``, or the PostgreSQL of ``analytics.url``): records already there are left as they are, so
running it twice, or on a store that missed nothing, adds nothing. ``--from-spool`` reads
the OTLP-JSON span spool instead.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(value: str) -> str:
    if not _DATE.match(value):
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {value!r}")
    return value


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Backfill the analytics store from the metrics JSONL.")
    p.add_argument("--home", help="data home (default: $OTEL_AGENTS_HOME or ./.otel-agents)")
    p.add_argument("--since", type=_date, metavar="YYYY-MM-DD", help="only metrics files from this UTC day on")
    p.add_argument("--until", type=_date, metavar="YYYY-MM-DD", help="only metrics files up to this UTC day")
    p.add_argument("--from-spool", action="store_true", help="read the OTLP-JSON span spool instead of the JSONL")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="rewrite rows that already exist from their records (default: insert missing rows only)",
    )
    p.add_argument("--batch-size", type=int, default=1000, help="records per transaction (default 1000)")
    p.add_argument("--quiet", action="store_true", help="print only the summary line")
    return p


def main(args: list[str], prog: str = "otel-agents reconcile") -> int:
    ns = _parser(prog).parse_args(args)
    if ns.batch_size < 1:
        print(f"{prog}: --batch-size must be at least 1", file=sys.stderr)
        return 2

    from otel_agents.analytics.backfill import BackfillResult, backfill, records_from_metrics, records_from_spool
    from otel_agents.analytics.postgres import open_store
    from otel_agents.analytics.schema import SchemaTooNew
    from otel_agents.config import load_config
    from otel_agents.sinks.analytics import analytics_enabled

    config = load_config(Path(ns.home) if ns.home else None)
    result = BackfillResult()
    if ns.from_spool:
        source = config.spans_dir
        records = records_from_spool(source, stats=result.read)
    else:
        source = config.metrics_dir
        records = records_from_metrics(source, since=ns.since, until=ns.until, stats=result.read)
    if not source.exists():
        print(f"reconcile: nothing to do: {source} does not exist")
        return 0
    if not analytics_enabled(config) and not ns.quiet:
        print(
            "reconcile: note: analytics is off in the configuration (live runs do not write it); "
            "backfilling anyway, as asked"
        )
    store = open_store(config)
    db = store.path if type(store).__name__ == "AnalyticsStore" else store.label  # never a password
    try:
        backfill(store, records, result=result, batch_size=ns.batch_size, overwrite=ns.overwrite)
    except SchemaTooNew as exc:
        print(f"reconcile: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a CLI reports, it does not trace back
        print(f"reconcile: cannot write {db}: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(
            f"reconcile: {result.records} records were written before the failure; "
            "fix the database and run reconcile again (it is safe to repeat)",
            file=sys.stderr,
        )
        return 1
    finally:
        store.close()

    rd = result.read
    new = result.new_rows
    added = sum(new.values())
    if not ns.quiet:
        print(f"reconcile: read {rd.records} records from {rd.files} file(s) in {source}")
        if rd.corrupt or rd.partial_tail:
            print(f"  skipped {rd.corrupt} corrupt line(s) and {rd.partial_tail} partial trailing line(s)")
        for problem in rd.problems[:10]:
            print(f"  {problem}")
        print(f"analytics {db}:")
        label = "rows written" if ns.overwrite else "new rows"
        print(f"  {label}: " + ", ".join(f"{t} +{n}" for t, n in new.items()))
        print(f"  already present: {result.already_present} record(s); unusable: {result.skipped}")
        print(f"  workflow aggregates recomputed: {result.workflows_refreshed}")
    print(
        f"reconcile: {added} row(s) {'written' if ns.overwrite else 'added'}, {result.already_present} already present, "
        f"{result.records} record(s) in {result.batches} transaction(s)"
    )
    return 0
