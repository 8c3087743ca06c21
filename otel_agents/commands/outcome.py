"""``otel-agents outcome <workflow-id> ...``: record a run's estimates or outcomes (a pull
request merged the next day) into the analytics store, by workflow id; without values,
print what is recorded for it (docs/instrumenting.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from otel_agents.flags import FALSE, TRUE


def _bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE or word in FALSE:
        return word in TRUE
    raise argparse.ArgumentTypeError(f"expected yes or no, not {text!r}")


def _named(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    from otel_agents.analytics.outcomes import NO, YES

    if raw.lower() in {YES, NO}:
        return name, raw.lower() == YES
    for cast in (int, float):
        try:
            return name, cast(raw)
        except ValueError:
            pass
    return name, raw


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Record a run's estimates and outcomes by workflow id.")
    p.add_argument("workflow_id")
    p.add_argument("--home", help="data home (default: $OTEL_AGENTS_HOME, else ./.otel-agents)")
    p.add_argument(
        "--db",
        "--store",
        dest="db",
        help="analytics store: a SQLite file or a postgresql:// URL (default: analytics.url, else"
        " <home>/analytics/history.db)",
    )
    o = p.add_argument_group("outcomes")
    o.add_argument("--pr-merged", type=_bool, metavar="yes|no")
    o.add_argument("--time-to-merge-hours", type=float, metavar="H")
    o.add_argument("--review-cycles", type=int, metavar="N")
    o.add_argument("--ci-pass-rate", type=float, metavar="0..1")
    o.add_argument("--set", type=_named, action="append", default=[], metavar="NAME=VALUE", help="any named outcome")
    e = p.add_argument_group("estimates")
    e.add_argument("--estimated-cost-usd", type=float, metavar="USD")
    e.add_argument("--estimated-tokens", type=int, metavar="N")
    e.add_argument("--estimated-duration-seconds", type=float, metavar="S")
    e.add_argument("--complexity", help="for example low, medium, high")
    e.add_argument("--ambiguity", help="for example low, medium, high")
    return p


def main(args: list[str], prog: str = "otel-agents outcome") -> int:
    ns = _parser(prog).parse_args(args)
    from otel_agents.analytics.outcomes import ESTIMATES, OUTCOMES, append, latest, open_store, rows_for
    from otel_agents.analytics.postgres import redact_url

    values = vars(ns)
    try:
        rows = rows_for(ns.workflow_id, "outcome", {**{k: values[k] for k in OUTCOMES}, **dict(ns.set)})
        rows += rows_for(ns.workflow_id, "estimate", {k: values[k] for k in ESTIMATES})
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    store = None
    try:
        store = open_store(ns.db, home=ns.home)
        if rows:
            append(store, rows)
        recorded = latest(store, ns.workflow_id)
    except Exception as exc:  # noqa: BLE001 - say why, no traceback (and no password)
        where = redact_url(ns.db) if ns.db else (store.label if store is not None else "the analytics store")
        print(f"{prog}: cannot write {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if store is not None:
            store.close()
    print(json.dumps({"workflow_id": ns.workflow_id, "recorded": recorded}, sort_keys=True))
    return 0
