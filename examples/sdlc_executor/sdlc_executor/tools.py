"""Stand-in tools: they take a moment, and a flaky command times out the first time it runs."""

from __future__ import annotations

import time
from typing import Any


class DemoTimeout(TimeoutError):
    """A tool ran past its time limit."""


class Toolbox:
    """Runs the agents' tools."""

    def __init__(self, pace: float = 1.0, flaky: frozenset[str] = frozenset(), timeout_s: int = 120) -> None:
        self.pace = pace
        self.timeout_s = timeout_s
        self._flaky = set(flaky)

    def run(self, tool: str, call_id: str, arguments: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.001 * self.pace)
        command = arguments.get("command")
        if command in self._flaky:
            self._flaky.discard(command)
            raise DemoTimeout(f"{command.split()[0]} exceeded {self.timeout_s}s")
        return {"ok": True}
