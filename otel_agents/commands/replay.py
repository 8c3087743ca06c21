"""``otel-agents replay``: send spooled spans the collector has not received yet.

Exactly once by span id: each batch's ids are added to the delivery ledger right after the
receiver acknowledges it, so a replay that is killed and started again resends only the
batch that was in flight (and only if it was acknowledged but not yet recorded: a window
of one ledger write). Only one replay runs at a time per data home.
"""

from __future__ import annotations

import argparse
import sys


def main(args: list[str], prog: str = "otel-agents replay") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Send undelivered spooled spans to the OTLP endpoint.")
    parser.add_argument("--dry-run", action="store_true", help="only count what would be sent")
    parser.add_argument("--batch", type=int, default=512, help="spans per request (default 512)")
    parser.add_argument("--no-wait", action="store_true", help="exit at once if another replay is running")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    ns = parser.parse_args(args)

    from otel_agents.config import load_config
    from otel_agents.sinks.replay import replay, replay_lock
    from otel_agents.sinks.transport import resolve_target

    cfg = load_config()
    if not cfg["spool.enabled"]:
        print("otel-agents replay: the spool is disabled (spool.enabled = false): nothing to replay", file=sys.stderr)
        return 2
    if not cfg["otlp.enabled"]:
        print("otel-agents replay: OTLP is disabled (otlp.enabled = false): nowhere to send", file=sys.stderr)
        return 2
    target = resolve_target(cfg)
    for problem in target.problems:
        print(f"otel-agents replay: config: {problem}", file=sys.stderr)
    with replay_lock(cfg.home, wait=False) as got:
        if not got:
            if ns.no_wait:
                print("otel-agents replay: another replay is running; not waiting (--no-wait)", file=sys.stderr)
                return 3
            print("otel-agents replay: another replay is running; waiting for it to finish", file=sys.stderr)
    with replay_lock(cfg.home, wait=True):
        result = replay(cfg, progress=not ns.quiet and not ns.dry_run, batch_spans=max(1, ns.batch),
                        dry_run=ns.dry_run)
    if ns.dry_run:
        print(f"{result.pending} undelivered spans would be sent to {target.describe()}"
              + (f"; {result.corrupt_lines} corrupt spool lines skipped" if result.corrupt_lines else ""))
        return 0
    print(f"replayed {result.sent} of {result.pending} undelivered spans to {target.describe()} "
          f"in {result.batches} batches, {result.seconds:.1f} s"
          + (f"; {result.already_delivered} were delivered meanwhile by a live sink" if result.already_delivered else "")
          + (f"; {result.rejected} rejected by the receiver" if result.rejected else "")
          + (f"; {result.corrupt_lines} corrupt spool lines skipped" if result.corrupt_lines else ""))
    if not result.complete:
        print(f"otel-agents replay: stopped early: {result.error}; {result.pending - result.sent} spans still "
              "undelivered (run it again later)", file=sys.stderr)
        return 1
    return 0
