"""Step overhead: one instrumented step against the same spans built with the bare SDK.

Both sides end in the same kind of pipeline (a BatchSpanProcessor feeding a null exporter),
and are measured interleaved, in one run, on the workflow's thread:

- ours: ``with phase.step(...)``, one ``record_usage`` (cost computed from genai-prices
  data), end: three hook calls, two spans, roll-ups, context attach/detach;
- bare: ``tracer.start_as_current_span`` for the step span and ``tracer.start_span`` for a
  CLIENT model-call span beneath it, with the same attributes, the cost already known.

With ``--metrics`` both sides also record the GenAI metrics of the step (docs/metrics-otel.md)
into an SDK meter provider (a periodic reader feeding a null exporter): ours through the
span engine, the bare side by hand, with the same instruments, values and attributes (four
token counters and the cost counter for the model call; the invocation duration and the
model and tool call counts for the step).

With ``--sinks`` every registered sink (spool, OTLP to a refused port, metrics JSONL,
analytics SQLite) is attached on our side; steps are spaced ``--gap-ms`` apart with a
sleep, as real steps waiting on a model or a tool are, so the sinks' background work
happens in between; only the time inside our calls counts. The script also reports total process CPU per step with sinks on.

Last line: ``step_overhead_ratio: X`` (target <= 1.5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

MODEL = "claude-sonnet-4-5"


class NullExporter(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


class NullMetricExporter(MetricExporter):
    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self, timeout_millis=30_000, **kwargs):
        pass


def meter_provider() -> MeterProvider:
    reader = PeriodicExportingMetricReader(NullMetricExporter(), export_interval_millis=60_000)
    return MeterProvider(metric_readers=[reader], shutdown_on_exit=False)


class BareInstruments:
    """The instruments a hand-written instrumentation would create for the same metrics."""

    def __init__(self, provider: MeterProvider) -> None:
        m = provider.get_meter("bare")
        b = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6)
        calls = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
        self.duration = m.create_histogram("gen_ai.invocation.duration", "s", explicit_bucket_boundaries_advisory=b)
        self.inference_calls = m.create_histogram(
            "gen_ai.invoke_agent.inference_calls", "{inference_call}", explicit_bucket_boundaries_advisory=calls
        )
        self.tool_calls = m.create_histogram(
            "gen_ai.invoke_agent.tool_calls", "{tool_call}", explicit_bucket_boundaries_advisory=calls
        )
        prefix = "gen_ai.client.inference.usage."
        self.input = m.create_counter(prefix + "input_tokens", "{token}")
        self.output = m.create_counter(prefix + "output_tokens", "{token}")
        self.cache_read = m.create_counter(prefix + "cache_read.input_tokens", "{token}")
        self.cache_write = m.create_counter(prefix + "cache_write.input_tokens", "{token}")
        self.cost = m.create_counter("otel_agents.client.inference.cost", "{USD}")


BARE_METRICS: BareInstruments | None = None


def bare_step(tracer, i: int) -> None:
    """What a careful hand-written instrumentation does: the step is the current span while
    it runs (so the model call, and any library span, nests under it)."""
    with tracer.start_as_current_span(
        "invoke_agent coder",
        attributes={
            "otel_agents.kind": "step",
            "otel_agents.workflow.id": "bench",
            "otel_agents.step.name": "coder",
            "otel_agents.attempt": 1,
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "coder",
            "otel_agents.phase.name": "build",
            "gen_ai.workflow.name": "bench",
        },
    ) as step:
        _bare_chat(tracer, step, i)
    m = BARE_METRICS
    if m is not None:
        agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "coder"}
        m.inference_calls.record(1, agent)
        m.tool_calls.record(0, agent)
        m.duration.record(
            (step.end_time - step.start_time) / 1e9,
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "coder",
                "gen_ai.invocation.is_nested": True,
            },
        )


def _bare_chat(tracer, step, i: int) -> None:
    chat = tracer.start_span(
        f"chat {MODEL}",
        kind=SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": MODEL,
            "otel_agents.kind": "model_call",
            "otel_agents.workflow.id": "bench",
            "gen_ai.usage.input_tokens": 3100 + i % 7,
            "gen_ai.usage.output_tokens": 500,
            "gen_ai.usage.cache_read.input_tokens": 2000,
            "gen_ai.usage.cache_write.input_tokens": 100,
            "gen_ai.provider.name": "anthropic",
            "gen_ai.usage.cost.amount": 0.011475,
            "gen_ai.usage.cost.currency": "USD",
            "gen_ai.usage.cost.source": "local",
            "gen_ai.usage.cost": 0.011475,
        },
    )
    chat.end()
    m = BARE_METRICS
    if m is not None:
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": MODEL, "gen_ai.provider.name": "anthropic"}
        m.cost.add(0.011475, attrs)
        attrs["gen_ai.token.modality"] = "unknown"
        m.input.add(3100 + i % 7, attrs)
        m.output.add(500, attrs)
        m.cache_read.add(2000, attrs)
        m.cache_write.add(100, attrs)
    step.set_attributes(
        {
            "otel_agents.outcome": "success",
            "otel_agents.rollup.input_tokens": 3100,
            "otel_agents.rollup.output_tokens": 500,
            "otel_agents.rollup.cache_read.input_tokens": 2000,
            "otel_agents.rollup.cache_write.input_tokens": 100,
            "otel_agents.rollup.reasoning.output_tokens": 0,
            "otel_agents.rollup.cost.amount": 0.011475,
            "otel_agents.rollup.cost.currency": "USD",
            "otel_agents.rollup.model_calls": 1,
            "otel_agents.rollup.unpriced_model_calls": 0,
        }
    )


def ours_step(phase, i: int) -> None:
    with phase.step("coder", agent="coder") as st:
        st.record_usage(
            MODEL,
            provider="anthropic",
            input_tokens=3100 + i % 7,
            output_tokens=500,
            cache_read_tokens=2000,
            cache_write_tokens=100,
        )


def measure(fn, arg, n: int, gap_s: float) -> float:
    """Median seconds per call over ``n`` calls, timing only inside the call."""
    times = []
    perf = time.perf_counter
    for i in range(n):
        t0 = perf()
        fn(arg, i)
        times.append(perf() - t0)
        if gap_s:
            time.sleep(gap_s)  # a real step waits on the model or a tool here, releasing the GIL
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sinks", action="store_true", help="attach every registered sink on our side")
    parser.add_argument("--metrics", action="store_true", help="both sides also record the GenAI metrics")
    parser.add_argument("--live", action="store_true", help="keep the live-state file (on with --sinks, as by default)")
    parser.add_argument("--gap-ms", type=float, default=None, help="idle time between steps (default 1 with --sinks)")
    parser.add_argument(
        "--workflow-id", default=None, help="give the workflow an id: ids then derive from keys (blake2b per span)"
    )
    ns = parser.parse_args()
    gap_s = (ns.gap_ms if ns.gap_ms is not None else (1.0 if ns.sinks else 0.0)) / 1000.0

    home = tempfile.mkdtemp(prefix="otel-agents-bench-")
    os.environ["OTEL_AGENTS_HOME"] = home
    os.environ.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # refused: nothing listens
    os.environ["OTEL_AGENTS_REPLAY_ON_START"] = "false"
    os.environ.setdefault("OTEL_AGENTS_PLUGINS", "none")  # the core alone: no third-party plugins
    if not ns.metrics:
        os.environ["OTEL_METRICS_EXPORTER"] = "none"  # spans only, as on the bare side

    import otel_agents
    from otel_agents.pricing import warm

    warm(((MODEL, "anthropic"),))

    bare_provider = TracerProvider()
    bare_provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    bare_tracer = bare_provider.get_tracer("bare")

    ours_provider = TracerProvider()
    ours_provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    global BARE_METRICS
    BARE_METRICS = BareInstruments(meter_provider()) if ns.metrics else None
    ours_meters = meter_provider() if ns.metrics else None
    extra = []
    if ns.live and not ns.sinks:
        from otel_agents.livestate import LiveState

        extra.append(LiveState(home))
    rt = otel_agents.setup(
        provider=ours_provider,
        with_sinks=ns.sinks,
        set_global=False,
        meter_provider=ours_meters,
        span_processors=extra,
    )
    wf = otel_agents.new_workflow("bench", workflow_id=ns.workflow_id).start()
    phase = wf.phase("build").start()

    # Warm up both paths.
    measure(bare_step, bare_tracer, 200, 0)
    measure(ours_step, phase, 200, 0)

    # Interleave the two sides in small blocks, so drift and other load hit both alike.
    bare_med, ours_med = [], []
    block = 100
    for _ in range(ns.rounds):
        b_times, o_times = [], []
        for _blk in range(ns.steps // block):
            b_times.append(measure(bare_step, bare_tracer, block, gap_s))
            o_times.append(measure(ours_step, phase, block, gap_s))
        bare_med.append(statistics.median(b_times))
        ours_med.append(statistics.median(o_times))
    bare_us = statistics.median(bare_med) * 1e6
    ours_us = statistics.median(ours_med) * 1e6

    cpu_per_step_us = None
    if ns.sinks:
        # Total process CPU per step with every sink on: our calls plus all background work,
        # measured after the sinks have drained.
        n = ns.steps
        for proc in rt.processors:
            getattr(proc, "force_flush", lambda *a, **k: None)()
        c0 = time.process_time()
        measure(ours_step, phase, n, gap_s)
        for proc in rt.processors:
            getattr(proc, "force_flush", lambda *a, **k: None)()
        cpu_per_step_us = (time.process_time() - c0) / n * 1e6

    phase.stop()
    wf.stop()
    otel_agents.shutdown()
    ratio = ours_us / bare_us
    print(
        f"python {sys.version.split()[0]}, {ns.rounds} rounds x {ns.steps} steps, gap {gap_s * 1000:.1f} ms, "
        f"sinks: {', '.join(getattr(s, 'name', '?') for s in rt.sinks) or 'none'}, "
        f"ids: {'derived from keys' if ns.workflow_id else 'random'}, "
        f"GenAI metrics: {'on, both sides' if ns.metrics else 'off'}, "
        f"live state: {'on' if ns.live or ns.sinks else 'off'}"
    )
    print(f"bare OpenTelemetry step (2 spans, cost known): {bare_us:8.1f} us (median of round medians)")
    print(f"otel-agents step (3 hooks, 2 spans, cost):      {ours_us:8.1f} us")
    if cpu_per_step_us is not None:
        print(f"total process CPU per step, all sinks on:       {cpu_per_step_us:8.1f} us")
    print(f"step_overhead_ratio: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
