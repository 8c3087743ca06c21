"""Drives tests/live_workflow.py: a workflow in ANOTHER process, one command at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("live_workflow.py")


class Driver:
    def __init__(self, home: Path, endpoint: str, name: str = "live-demo") -> None:
        env = dict(os.environ, OTEL_AGENTS_HOME=str(home), OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
        env["OTEL_AGENTS_REPLAY_ON_START"] = "false"
        env["OTEL_AGENTS_EXIT_DEADLINE"] = "0.2"
        env["OTEL_METRICS_EXPORTER"] = "none"
        env.pop("OTEL_AGENTS_STRICT", None)  # a collector down is logged there, as it should be
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self._ack()

    def _ack(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ok", f"the workflow process said {line!r}"

    def send(self, command: str) -> None:
        """Run one command in the workflow's process; returns once it did (not once it shows)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        self._ack()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
