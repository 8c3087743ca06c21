"""Helpers for the metrics/analytics sink tests: the demo's spans, a workflow with exact
times, and a worker run as a real subprocess by the concurrency tests.

Run as a script: ``python helpers_sinks.py HOME PREFIX N_WORKFLOWS BIG_BYTES SINKS`` runs the
demo ``N_WORKFLOWS`` times through the real metrics sink (``SINKS`` = ``metrics``) or the metrics
and analytics sinks (``both``) into ``HOME``.
"""

from __future__ import annotations

import calendar
import os
import sys
from typing import Any

# The demo's exact numbers (otel_agents/demo.py): four phases, six model calls.
DEMO_COUNTS = {"workflow": 1, "phase": 4, "step": 5, "tool_call": 10, "model_call": 6}
DEMO_RECORDS = sum(DEMO_COUNTS.values())
DEMO_INPUT = 12400 + 18200 + 21000 + 9100 + 9100 + 15800
DEMO_OUTPUT = 850 + 1900 + 600 + 400 + 400 + 700
DEMO_CACHE_READ = 9000 + 14000 + 19500 + 6000 + 6000 + 12000
DEMO_CACHE_WRITE = 3000 + 2000 + 800 + 2500 + 2500 + 1200
# Claude Sonnet 4.5: $3 / $15 per MTok, cache read $0.30, cache write $3.75; Haiku 4.5: $1 / $5, $0.10, $1.25.
DEMO_COST_BY_PHASE = {"plan": 0.0279, "build": 0.06675, "test": 0.01265, "review": 0.0264}
DEMO_COST_BY_MODEL = {"claude-sonnet-4-5": 0.12105, "claude-haiku-4-5": 0.01265}
DEMO_COST = 0.1337


def demo_spans(make_runtime: Any, exporter: Any, workflow_id: str = "wf-demo", **runtime_kw: Any) -> list[Any]:
    """Run the real demo (pace 0) and return its finished spans."""
    from otel_agents.demo import run_demo

    make_runtime(**runtime_kw)
    run_demo(workflow_id=workflow_id, pace=0)
    spans = list(exporter.get_finished_spans())
    exporter.clear()
    return spans


def export_once(sink: Any, spans: Any) -> Any:
    """``sink.export(spans)``, then ``sink.close()`` (no descriptor or connection left open)."""
    try:
        sink.export(spans)
    finally:
        sink.close()
    return sink


def ns(iso: str) -> int:
    """``2025-11-02T15:03:00`` (UTC) as ns since the epoch."""
    import time

    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%S")) * 1_000_000_000


def _end(handle: Any, end_ns: int, error: BaseException | None = None) -> None:
    handle.event.end_time = end_ns
    if error is None:
        handle.stop()
    else:
        handle.fail(error)


def seed_002_workflow(
    make_runtime: Any, exporter: Any, workflow_id: str = "wf-seed-002", **runtime_kw: Any
) -> list[Any]:
    """Seed 002's example with exact times: one task, three attempts, two of them failed.

    Workflow 15:00:00-15:20:00 (1200 s). Phase "plan" 15:00:00-15:02:00 (120 s, one step).
    Phase "implement" 15:03:00-15:12:45 (585 s) with three attempts of step "coder":
    120 s (failed, TypeError), 95 s (failed, AssertionError), 165 s (completed).
    Phase "review" 15:13:00-15:19:00 (360 s). Phases sum to 1065 s: 135 s of idle time.
    Bottleneck: implement. Attempts: retries 2, total 380 s, wall clock 585 s, idle 205 s.
    """
    import otel_agents as oa

    make_runtime(**runtime_kw)
    wf = oa.new_workflow(
        "seed-002",
        workflow_id=workflow_id,
        template="taskplain",
        task_id="execution-telemetry",
        complexity="low",
        start_time=ns("2025-11-02T15:00:00"),
    ).start()
    plan = wf.phase("plan", number=1, start_time=ns("2025-11-02T15:00:00")).start()
    st = plan.step("planner", agent="planner", model="claude-haiku-4-5", start_time=ns("2025-11-02T15:00:10")).start()
    st.record_usage(
        "claude-haiku-4-5",
        provider="anthropic",
        input_tokens=1000,
        output_tokens=100,
        start_time=ns("2025-11-02T15:00:20"),
        end_time=ns("2025-11-02T15:00:30"),
    )
    _end(st, ns("2025-11-02T15:01:50"))
    _end(plan, ns("2025-11-02T15:02:00"))
    impl = wf.phase("implement", number=2, start_time=ns("2025-11-02T15:03:00")).start()
    attempts = [
        ("2025-11-02T15:03:00", "2025-11-02T15:05:00", TypeError("Cannot read property 'foo' of undefined")),
        ("2025-11-02T15:06:25", "2025-11-02T15:08:00", AssertionError("Expected 200, got 404")),
        ("2025-11-02T15:10:00", "2025-11-02T15:12:45", None),
    ]
    for number, (start, end, error) in enumerate(attempts, start=1):
        st = impl.step(
            "coder",
            agent="coder",
            model="claude-sonnet-4-5",
            attempt=number,
            task_id="execution-telemetry",
            start_time=ns(start),
        ).start()
        st.record_usage(
            "claude-sonnet-4-5",
            provider="anthropic",
            input_tokens=2000,
            output_tokens=300,
            cache_read_tokens=1000,
            start_time=ns(start),
            end_time=ns(start) + 5_000_000_000,
        )
        with st.tool_call(
            "Read",
            call_id=f"toolu_impl_{number}",
            arguments={"file_path": "src/types.ts"},
            start_time=ns(start) + 6_000_000_000,
        ) as tc:
            tc.event.end_time = ns(start) + 7_000_000_000
        _end(st, ns(end), error)
    _end(impl, ns("2025-11-02T15:12:45"))
    review = wf.phase("review", number=3, start_time=ns("2025-11-02T15:13:00")).start()
    st = review.step("reviewer", agent="reviewer", start_time=ns("2025-11-02T15:13:00")).start()
    _end(st, ns("2025-11-02T15:19:00"))
    _end(review, ns("2025-11-02T15:19:00"))
    _end(wf, ns("2025-11-02T15:20:00"))
    spans = list(exporter.get_finished_spans())
    exporter.clear()
    return spans


def hook_span(tracer: Any, *, session_id: str, events: list[dict[str, Any]], big: int = 0) -> None:
    """A finished Claude-Code-like tool span carrying hook events (``otel_agents.hook_event``)."""
    from otel_agents import attributes as A

    span = tracer.start_span(
        "execute_tool Bash",
        attributes={
            A.KIND: A.KIND_TOOL_CALL,
            A.GEN_AI_TOOL_NAME: "Bash",
            A.GEN_AI_TOOL_CALL_ID: events[0].get("tool_use_id", ""),
            A.SESSION_ID: session_id,
            A.WORKFLOW_ID: session_id,
        },
    )
    for ev in events:
        attrs = {A.HOOK_EVENT_TYPE: ev["type"], A.HOOK_TOOL_NAME: "Bash", A.HOOK_SOURCE: "claude-code"}
        if "id" in ev:
            attrs[A.HOOK_EVENT_ID] = ev["id"]
        if "tool_use_id" in ev:
            attrs[A.HOOK_TOOL_USE_ID] = ev["tool_use_id"]
        if big:
            attrs["payload.sample"] = "x" * big
        span.add_event(A.EVENT_HOOK, attrs, timestamp=ev.get("time"))
    span.end()


def _worker(home: str, prefix: str, n: int, big: int, sinks: str) -> None:
    """Run the demo ``n`` times through the real metrics (and analytics) sinks into ``home``."""
    os.environ["OTEL_AGENTS_HOME"] = home
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_agents import telemetry
    from otel_agents.config import load_config
    from otel_agents.demo import run_demo
    from otel_agents.plugins import new_plugin_manager, set_plugin_manager
    from otel_agents.sinks.analytics import AnalyticsSink
    from otel_agents.sinks.metrics import MetricsSink

    exporter = InMemorySpanExporter()
    pm = new_plugin_manager(load_entry_points=False)
    set_plugin_manager(pm)
    cfg = load_config(home)
    provider = TracerProvider()
    telemetry.setup(
        provider=provider,
        config=cfg,
        plugin_manager=pm,
        span_processors=[SimpleSpanProcessor(exporter)],
        with_sinks=False,
        set_global=False,
    )
    tracer = provider.get_tracer("helpers")
    metrics, analytics = MetricsSink(cfg), (AnalyticsSink(cfg) if sinks == "both" else None)
    for i in range(n):
        run_demo(workflow_id=f"{prefix}-{i}", pace=0)
        if big:
            hook_span(
                tracer,
                session_id=f"{prefix}-{i}",
                big=big,
                events=[
                    {"type": "PreToolUse", "id": f"{prefix}-{i}-pre", "tool_use_id": f"toolu-{prefix}-{i}"},
                    {"type": "PostToolUse", "id": f"{prefix}-{i}-post", "tool_use_id": f"toolu-{prefix}-{i}"},
                ],
            )
        spans = exporter.get_finished_spans()
        exporter.clear()
        metrics.export(spans)
        if analytics is not None:
            analytics.export(spans)
    metrics.close()
    if analytics is not None:
        analytics.close()


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])


def run_workers(home: Any, procs: int, n: int, big: int, sinks: str) -> None:
    """Start ``procs`` real worker processes at once and wait for them; fail on any error."""
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    env = {
        **os.environ,
        "OTEL_AGENTS_STRICT": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])),
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    workers = [
        subprocess.Popen(
            [sys.executable, os.path.join(here, "helpers_sinks.py"), str(home), f"p{i}", str(n), str(big), sinks],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(procs)
    ]
    errors = []
    for w in workers:
        _out, err = w.communicate(timeout=600)
        if w.returncode != 0:
            errors.append(err.decode(errors="replace")[-3000:])
    assert not errors, errors[0]
