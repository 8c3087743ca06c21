"""``python -m sdlc_executor [--issue 42] [--run-id ID] [--pace 1.0]``."""

from __future__ import annotations

import argparse
import sys

from sdlc_executor.executor import SDLCExecutor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sdlc_executor", description="Fix one issue: plan, build, test, review.")
    parser.add_argument("--issue", default="42", help="the issue to work on")
    parser.add_argument("--run-id", default=None, help="an id for this run")
    parser.add_argument("--pace", type=float, default=1.0, help="scale the simulated work (0: as fast as possible)")
    ns = parser.parse_args(argv)
    report = SDLCExecutor(pace=ns.pace).run(ns.issue, run_id=ns.run_id)
    print(
        f"issue {report.issue_id}: {'done' if report.ok else 'failed'}, "
        f"{len(report.steps)} steps, {report.retries} retries"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
