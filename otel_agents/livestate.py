"""What is running now: a small per-process live-state file under the data home.

Finished spans cannot show what is running, so ``LiveState`` (a span processor) also sees
span STARTS. On the workflow's thread it only appends the span to a deque (``on_start`` /
``on_end``: no lock, no I/O, nothing waits). A daemon thread wakes every
``WRITE_INTERVAL_S``, reads the queued spans' attributes and, when something changed,
replaces ``<home>/live/<pid>.json`` atomically (temporary file + ``os.replace``): each
workflow of the process with its current phase, step and tool call in flight, tokens and
cost so far, and, once ended, its outcome. The file is local, so it shows the same whether
the collector is up, down or hung. Ended workflows age out of it (``ENDED_TTL_S``, at most
``KEEP_ENDED``); readers (``otel-agents live`` / ``serve``) remove the files of processes
that are gone once their last update is older than ``ENDED_TTL_S``.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from otel_agents import attributes as A, forksafe, threads
from otel_agents.foundation.files import write_private
from otel_agents.safety import report

LIVE_DIR = "live"
WRITE_INTERVAL_S = 0.2
ENDED_TTL_S = 600.0
KEEP_ENDED = 20
_TRACKED = {A.KIND_PHASE: "phase", A.KIND_STEP: "step", A.KIND_TOOL_CALL: "tool"}
_LABEL = {A.KIND_PHASE: A.PHASE_NAME, A.KIND_STEP: A.STEP_NAME, A.KIND_TOOL_CALL: A.GEN_AI_TOOL_NAME}


def live_dir(home: str | os.PathLike[str]) -> Path:
    return Path(home) / LIVE_DIR


class LiveState:
    """A span processor keeping ``<home>/live/<pid>.json`` current (see the module doc)."""

    def __init__(
        self, home: str | os.PathLike[str], *, interval: float = WRITE_INTERVAL_S, ended_ttl: float = ENDED_TTL_S
    ) -> None:
        self.home = Path(home)
        self.interval = interval
        self.ended_ttl = ended_ttl
        self._stop = threading.Event()
        self._tick_lock = forksafe.Lock()
        self._closed = False
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        """(Re)start for this process: a forked child keeps none of its parent's runs."""
        self.pid = os.getpid()
        self.path = live_dir(self.home) / f"{self.pid}.json"
        self._q: collections.deque[tuple[bool, Any]] = collections.deque()
        self._runs: dict[int, dict[str, Any]] = {}
        self._open: dict[int, dict[str, list[tuple[int, str, float]]]] = {}  # trace -> kind -> stack
        self._dirty = False
        if not self._closed:
            self._thread = threads.start_daemon(self._loop, "otel-agents-live")  # signals blocked

    # --- SpanProcessor: the workflow's thread only appends ----------------------------------
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self._q.append((True, span))

    def _on_ending(self, span: Any) -> None:
        return None

    def on_end(self, span: Any) -> None:
        self._q.append((False, span))

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.tick()
        return True

    def shutdown(self) -> None:
        """Write the last state (ended runs stay visible until they age out)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self.tick(final=True)

    # --- the writer thread ----------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - reported by tick (strict mode re-raises); keep going
                continue

    def tick(self, final: bool = False) -> None:
        """Apply the queued starts and ends; write the file if anything changed."""
        with self._tick_lock:
            self._tick(final)

    def _tick(self, final: bool) -> None:
        try:
            q = self._q
            while q:
                started, span = q.popleft()
                self._apply(started, span)
            self._expire(time.time())
            if self._dirty or final:
                self._write(final)
        except Exception as exc:  # noqa: BLE001 - the live view must never cost the workflow
            report("live state", exc)

    def _apply(self, started: bool, span: Any) -> None:
        attrs = span.attributes or {}
        kind = attrs.get(A.KIND)
        if kind is None:
            return
        trace = span.context.trace_id
        if kind == A.KIND_MODEL_CALL:
            if not started:
                self._usage(trace, attrs)
            return
        run = self._runs.get(trace)
        if run is None:
            run = self._runs[trace] = _new_run(trace, attrs, span.start_time)
        if kind == A.KIND_WORKFLOW:
            if started:
                run.update(_new_run(trace, attrs, span.start_time))
            else:
                _end_run(run, attrs, span.end_time)
                self._open.pop(trace, None)
            self._dirty = True
            return
        field = _TRACKED.get(kind)
        if field is None:
            return
        stacks = self._open.setdefault(trace, {})
        stack = stacks.setdefault(field, [])
        sid = span.context.span_id
        if started:
            stack.append((sid, str(attrs.get(_LABEL[kind], "") or span.name), span.start_time / 1e9))
        else:
            stack[:] = [entry for entry in stack if entry[0] != sid]
        top = stack[-1] if stack else None
        run[field] = top[1] if top else None
        run[field + "_started"] = top[2] if top else None
        self._dirty = True

    def _usage(self, trace: int, attrs: Any) -> None:
        run = self._runs.get(trace)
        if run is None or run["ended"] is not None:
            return
        run["model_calls"] += 1
        run["input_tokens"] += int(attrs.get(A.GEN_AI_USAGE_INPUT_TOKENS) or 0)
        run["output_tokens"] += int(attrs.get(A.GEN_AI_USAGE_OUTPUT_TOKENS) or 0)
        cost = attrs.get(A.GEN_AI_USAGE_COST_AMOUNT)
        if cost is None:
            run["unpriced_model_calls"] += 1
        else:
            run["cost_usd"] = round(run["cost_usd"] + float(cost), 9)
        self._dirty = True

    def _expire(self, now: float) -> None:
        ended = sorted((r["ended"], t) for t, r in self._runs.items() if r["ended"] is not None)  # oldest first
        drop = [t for e, t in ended if now - e > self.ended_ttl]
        drop += [t for _e, t in ended[: max(0, len(ended) - KEEP_ENDED)] if t not in drop]
        for t in drop:
            del self._runs[t]
            self._open.pop(t, None)
            self._dirty = True

    def _write(self, final: bool) -> None:
        self._dirty = False
        doc = {
            "pid": self.pid,
            "program": os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python",
            "updated": time.time(),
            "exited": final,
            "runs": sorted(self._runs.values(), key=lambda r: r["started"]),
        }
        write_private(self.path, json.dumps(doc, separators=(",", ":")).encode("utf-8"))  # 0600, in 0700


def _new_run(trace: int, attrs: Any, start_ns: int | None) -> dict[str, Any]:
    return {
        "workflow_id": attrs.get(A.WORKFLOW_ID),
        "name": attrs.get(A.GEN_AI_WORKFLOW_NAME) or attrs.get(A.WORKFLOW_NAME),
        "template": attrs.get(A.WORKFLOW_TEMPLATE),
        "trace_id": f"{trace:032x}",
        "started": (start_ns or time.time_ns()) / 1e9,
        "phase": None,
        "phase_started": None,
        "step": None,
        "step_started": None,
        "tool": None,
        "tool_started": None,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "model_calls": 0,
        "unpriced_model_calls": 0,
        "ended": None,
        "outcome": None,
    }


def _end_run(run: dict[str, Any], attrs: Any, end_ns: int | None) -> None:
    """The workflow span's own roll-ups are the final figures."""
    run["ended"] = (end_ns or time.time_ns()) / 1e9
    run["outcome"] = attrs.get(A.OUTCOME)
    run["phase"] = run["step"] = run["tool"] = None
    run["phase_started"] = run["step_started"] = run["tool_started"] = None
    for key, attr in (
        ("input_tokens", A.ROLLUP_INPUT_TOKENS),
        ("output_tokens", A.ROLLUP_OUTPUT_TOKENS),
        ("model_calls", A.ROLLUP_MODEL_CALLS),
        ("unpriced_model_calls", A.ROLLUP_UNPRICED_MODEL_CALLS),
    ):
        value = attrs.get(attr)
        if value is not None:
            run[key] = int(value)
    cost = attrs.get(A.ROLLUP_COST_AMOUNT)
    if cost is not None:
        run["cost_usd"] = float(cost)
