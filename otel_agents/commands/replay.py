"""``otel-agents replay``: deliver spooled spans a sink has not received yet.

- ``otlp``: spans the collector has not acknowledged (not in the delivery ledger). Exactly
  once by span id: each batch's ids are added to the ledger right after the receiver
  acknowledges it, so a replay that is killed and started again resends only the batch
  that was in flight (and only if it was acknowledged but not yet recorded: a window of one
  ledger write). Only one replay runs at a time per data home.
- ``metrics``, ``analytics``: spans those sinks missed (a failed batch, or what was still
  queued at the exit deadline), listed in ``state/pending/``; written from the spool,
  exactly once by record id (``otel_agents.sinks.recover``). One recovery at a time.

``--sinks`` picks which (default: every enabled one; local sinks only when something is
pending for them).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

_ALL = ("otlp", "metrics", "analytics")


def _parse_sinks(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    if "all" in names:
        return list(_ALL)
    bad = [n for n in names if n not in _ALL]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown sink(s) {', '.join(bad) or '(none)'}; choose from {', '.join(_ALL)}")
    return list(dict.fromkeys(names))


def main(args: list[str], prog: str = "otel-agents replay") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Deliver spooled spans that a sink has not received yet: "
        "to the OTLP endpoint, and to the metrics JSONL and analytics store what they "
        "missed.",
    )
    parser.add_argument(
        "--sinks",
        type=_parse_sinks,
        default=None,
        metavar="LIST",
        help="comma-separated: otlp, metrics, analytics, or all (default: every enabled sink)",
    )
    parser.add_argument("--dry-run", action="store_true", help="only count what would be delivered")
    parser.add_argument("--batch", type=int, default=512, help="spans per OTLP request (default 512)")
    parser.add_argument("--no-wait", action="store_true", help="exit at once if another replay is running")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--home", help="data home (default: $OTEL_AGENTS_HOME, else ./.otel-agents)")
    ns = parser.parse_args(args)

    from otel_agents.config import load_config
    from otel_agents.sinks.spool import spool_files

    cfg = load_config(ns.home)
    explicit = ns.sinks is not None
    sinks = ns.sinks if explicit else list(_ALL)
    if not cfg["spool.enabled"]:
        print("otel-agents replay: the spool is disabled (spool.enabled = false): nothing to replay", file=sys.stderr)
        return 2
    if not spool_files(cfg.spans_dir):  # nothing was ever spooled: create nothing either
        print(f"otel-agents replay: nothing to replay: no spool at {cfg.spans_dir}")
        return 0
    status = 0
    otlp_off = "otlp" in sinks and not cfg["otlp.enabled"]
    if otlp_off and explicit:
        print("otel-agents replay: OTLP is disabled (otlp.enabled = false): nowhere to send", file=sys.stderr)
        return 2
    if "otlp" in sinks and not otlp_off:
        status = _replay_otlp(cfg, ns)  # first: its summary line is the first line of the output
    local = [s for s in sinks if s != "otlp"]
    did_local = False
    if local:
        did_local, local_status = _recover_local(cfg, local, ns, explicit)
        status = max(status, local_status)
    if otlp_off and not did_local:
        print("otel-agents replay: OTLP is disabled (otlp.enabled = false): nowhere to send", file=sys.stderr)
        return 2
    return status


def _recover_local(cfg: Any, names: list[str], ns: argparse.Namespace, explicit: bool) -> tuple[bool, int]:
    """Recovery for the metrics/analytics sinks. Returns (anything was pending, exit status)."""
    from otel_agents.sinks.pending import count_pending
    from otel_agents.sinks.recover import enabled_sinks, recover, recover_lock

    if not explicit:
        names = [n for n in names if n in enabled_sinks(cfg)]
    counts = count_pending(cfg.home)
    pending = {n: counts[n]["spans"] for n in names if n in counts}
    if not pending:
        if explicit:
            print(f"nothing pending for {', '.join(names)}")
        return False, 0
    if ns.dry_run:
        for n, c in pending.items():
            print(f"{c} spans pending for {n} would be written from the spool")
        return True, 0
    with recover_lock(cfg.home, wait=False) as got:
        if not got:
            if ns.no_wait:
                print("otel-agents replay: another recovery is running; not waiting (--no-wait)", file=sys.stderr)
                return True, 3
            print("otel-agents replay: another recovery is running; waiting for it to finish", file=sys.stderr)
    bar = None
    if not ns.quiet:
        from otel_agents.sinks.replay import Progress

        bar = Progress(sum(pending.values()), label="recover")
        bar.update(0)
    result = recover(
        cfg,
        list(pending),
        wait=True,
        min_age=0.0,
        progress=(lambda done, _total: bar.update(min(done, bar.total))) if bar else None,
    )
    if bar is not None:
        bar.update(bar.total if result.complete else bar.done)
        bar.finish()
    for n in pending:
        line = (
            f"recovered {result.delivered.get(n, 0)} of {result.pending.get(n, pending[n])} pending spans to {n} "
            f"({result.records.get(n, 0)} records written"
        )
        if result.already_present.get(n):
            line += f", {result.already_present[n]} already there"
        line += ")"
        if result.unrecoverable.get(n):
            line += f"; {result.unrecoverable[n]} not in the spool (lost: the spool missed them too)"
        if result.not_found.get(n):
            line += f"; {result.not_found[n]} not in the spool yet (their process is still running)"
        print(line)
    if result.failed:
        for n, err in sorted(result.failed.items()):
            print(f"otel-agents replay: {n}: {err}; the pending spans stay for a later run", file=sys.stderr)
        return True, 1
    if result.files_waiting:
        print(
            f"otel-agents replay: {result.files_waiting} pending file(s) are still being written by a running "
            "process; run again later",
            file=sys.stderr,
        )
    return True, 0 if result.complete or not result.error else 1


def _replay_otlp(cfg: Any, ns: argparse.Namespace) -> int:
    from otel_agents.sinks.replay import replay, replay_lock
    from otel_agents.sinks.transport import resolve_target

    target = resolve_target(cfg)
    for problem in target.problems:
        print(f"otel-agents replay: config: {problem}", file=sys.stderr)
    if ns.dry_run:  # only counts: no lock, no state written
        result = replay(cfg, progress=False, batch_spans=max(1, ns.batch), dry_run=True)
        print(
            f"{result.pending} undelivered spans would be sent to {target.describe()}"
            + (f"; {result.corrupt_lines} corrupt spool lines skipped" if result.corrupt_lines else "")
        )
        return 0
    with replay_lock(cfg.home, wait=False) as got:
        if not got:
            if ns.no_wait:
                print("otel-agents replay: another replay is running; not waiting (--no-wait)", file=sys.stderr)
                return 3
            print("otel-agents replay: another replay is running; waiting for it to finish", file=sys.stderr)
    with replay_lock(cfg.home, wait=True):
        result = replay(cfg, progress=not ns.quiet, batch_spans=max(1, ns.batch))
    print(
        f"replayed {result.sent} of {result.pending} undelivered spans to {target.describe()} "
        f"in {result.batches} batches, {result.seconds:.1f} s"
        + (f"; {result.already_delivered} were delivered meanwhile by a live sink" if result.already_delivered else "")
        + (f"; {result.rejected} rejected by the receiver" if result.rejected else "")
        + (f"; {result.corrupt_lines} corrupt spool lines skipped" if result.corrupt_lines else "")
    )
    if not result.complete:
        print(
            f"otel-agents replay: stopped early: {result.error}; {result.pending - result.sent} spans still "
            "undelivered (run it again later)",
            file=sys.stderr,
        )
        return 1
    return 0
