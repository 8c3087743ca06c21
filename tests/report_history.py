"""Small execution histories for report tests: records as the sinks write them, written
through the real analytics store (``AnalyticsStore.write``) into a real SQLite file.

Times are seconds after a fixed start (2027-01-15T08:00:00Z); every record gets an id, the
run's trace id (``trace-<workflow id>`` padded to 32 characters) and its outcome fields.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from otel_agents.analytics.store import AnalyticsStore

BASE_NS = 1_800_000_000 * 1_000_000_000 + 0  # 2027-01-15T08:00:00Z
DAY = 86_400.0


def trace_of(workflow_id: str) -> str:
    return hashlib.sha256(workflow_id.encode()).hexdigest()[:32]


def _iso(ns: int) -> str:
    secs, rem = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rem // 1000:06d}Z"


class History:
    """Records of workflows, phases, steps, tool calls and model calls."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._n = 0

    def _rec(self, kind: str, wid: str, start: float, end: float, outcome: str = "success", **fields: Any) -> str:
        self._n += 1
        s, e = BASE_NS + round(start * 1e9), BASE_NS + round(end * 1e9)
        rec = {
            "schema_version": 1,
            "record_id": f"{self._n:016x}",
            "kind": kind,
            "workflow_id": wid,
            "trace_id": trace_of(wid),
            "start_unix_nano": s,
            "end_unix_nano": e,
            "start_time": _iso(s),
            "end_time": _iso(e),
            "duration_ms": (end - start) * 1000.0,
            "outcome": outcome,
            "success": outcome == "success",
        }
        if outcome == "failure":
            fields.setdefault("error_type", "RuntimeError")
            fields.setdefault("error_message", "boom")
        rec.update(fields)
        self.records.append(rec)
        return rec["record_id"]

    def workflow(
        self,
        wid: str,
        start: float,
        end: float,
        *,
        name: str = "job",
        template: str = "t",
        outcome: str = "success",
        cost: float | None = None,
        unpriced: int = 0,
        calls: int = 0,
        **fields: Any,
    ) -> str:
        return self._rec(
            "workflow",
            wid,
            start,
            end,
            outcome,
            workflow_name=name,
            template=template,
            cost_usd=cost,
            unpriced_model_calls=unpriced,
            model_calls=calls,
            **fields,
        )

    def phase(
        self,
        wid: str,
        parent: str,
        name: str,
        start: float,
        end: float,
        *,
        outcome: str = "success",
        cost: float | None = None,
        unpriced: int = 0,
        calls: int = 0,
        **fields: Any,
    ) -> str:
        return self._rec(
            "phase",
            wid,
            start,
            end,
            outcome,
            parent_id=parent,
            phase_name=name,
            cost_usd=cost,
            unpriced_model_calls=unpriced,
            model_calls=calls,
            **fields,
        )

    def step(
        self,
        wid: str,
        parent: str,
        phase: str,
        name: str,
        start: float,
        end: float,
        *,
        attempt: int = 1,
        outcome: str = "success",
        cost: float | None = None,
        unpriced: int = 0,
        calls: int = 0,
        **fields: Any,
    ) -> str:
        return self._rec(
            "step",
            wid,
            start,
            end,
            outcome,
            parent_id=parent,
            phase_name=phase,
            step_name=name,
            agent=fields.pop("agent", name),
            attempt=attempt,
            cost_usd=cost,
            unpriced_model_calls=unpriced,
            model_calls=calls,
            **fields,
        )

    def tool(
        self,
        wid: str,
        parent: str,
        tool: str,
        start: float,
        end: float,
        *,
        outcome: str = "success",
        args: str = "{}",
        **fields: Any,
    ) -> str:
        step = next((r for r in self.records if r["record_id"] == parent), {})  # named like its step, as the sinks do
        for key in ("phase_name", "step_name", "agent"):
            fields.setdefault(key, step.get(key))
        return self._rec(
            "tool_call",
            wid,
            start,
            end,
            outcome,
            parent_id=parent,
            tool_name=tool,
            arguments_sha256=hashlib.sha256(args.encode()).hexdigest(),
            **fields,
        )

    def call(
        self,
        wid: str,
        parent: str,
        model: str,
        start: float,
        end: float,
        *,
        cost: float | None,
        input_tokens: int = 100,
        output_tokens: int = 10,
        outcome: str = "success",
        **fields: Any,
    ) -> str:
        fields.setdefault("provider", "anthropic")
        return self._rec(
            "model_call",
            wid,
            start,
            end,
            outcome,
            parent_id=parent,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=0,
            cache_write_tokens=0,
            cost_usd=cost,
            model_calls=1,
            unpriced_model_calls=0 if cost is not None else 1,
            **fields,
        )

    def store(self, path: Path) -> Path:
        st = AnalyticsStore(path)
        try:
            st.write(self.records)
        finally:
            st.close()
        return path
