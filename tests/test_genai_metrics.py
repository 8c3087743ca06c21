"""GenAI metrics: exact values for a known workflow, in memory and at a real OTLP receiver
(HTTP and gRPC, sent at process exit), live span ends only, within the exit deadline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from _otlp_receiver import GrpcReceiver, HttpReceiver, HungSocket
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_agents as oa
from otel_agents import pricing, telemetry
from otel_agents.config import load_config
from otel_agents.plugins import new_plugin_manager, set_plugin_manager

S = 1_000_000_000
T0 = 1_700_000_000 * S
SONNET = "claude-sonnet-4-5"
SONNET_DATED = "claude-sonnet-4-5-20250929"
DURATION_BUCKETS = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6]
CALL_BUCKETS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

# A known workflow, through the lifecycle hooks with explicit times (as the Claude Code drain
# and any executor replaying its own events do): workflow 10 s; agent step "coder" 3 s with
# two model calls (one priced, one of an unknown model) and two tool calls (one failed);
# a step without an agent (no invocation); a failed agent step "reviewer" with no calls.
KNOWN_WORKFLOW = textwrap.dedent(
    """
    from otel_agents.events import ModelUsage, Outcome, PhaseEvent, StepEvent, ToolCallEvent, WorkflowEvent
    from otel_agents.plugins import call_hook

    S, T0 = 1_000_000_000, 1_700_000_000 * 1_000_000_000


    def run(rt):
        h = rt.hook
        wf = WorkflowEvent(workflow_id="wf-m", key="workflow", name="ship", start_time=T0)
        call_hook(h.workflow_start, wf)
        ph = PhaseEvent(workflow_id="wf-m", key="build", parent_key="workflow", name="build", start_time=T0)
        call_hook(h.phase_start, ph)
        st = StepEvent(workflow_id="wf-m", key="build/coder", parent_key="build", name="coder", agent="coder",
                       start_time=T0 + 1 * S)
        call_hook(h.step_start, st)
        call_hook(h.model_usage, ModelUsage(
            workflow_id="wf-m", key="build/coder/c1", parent_key="build/coder", model="claude-sonnet-4-5",
            provider="anthropic", input_tokens=3100, output_tokens=500, cache_read_tokens=2000,
            cache_write_tokens=100, end_time=T0 + 2 * S))
        call_hook(h.model_usage, ModelUsage(
            workflow_id="wf-m", key="build/coder/c2", parent_key="build/coder", model="no-such-model",
            provider="acme", input_tokens=40, output_tokens=7, reasoning_tokens=3, end_time=T0 + 3 * S))
        for i, (seconds, fail) in enumerate(((0.5, False), (1.5, True))):
            tc = ToolCallEvent(workflow_id="wf-m", key=f"build/coder/t{i}", parent_key="build/coder",
                               tool_name="Bash", tool_type="function", agent="coder", start_time=T0 + 2 * S)
            call_hook(h.tool_call_start, tc)
            tc.end_time = T0 + 2 * S + int(seconds * S)
            if fail:
                tc.outcome, tc.error, tc.error_type = Outcome.FAILURE, "exit 2", "ShellError"
            call_hook(h.tool_call_end, tc)
        st.end_time = T0 + 4 * S
        call_hook(h.step_end, st)
        plain = StepEvent(workflow_id="wf-m", key="build/lint", parent_key="build", name="lint",
                          start_time=T0 + 4 * S)
        call_hook(h.step_start, plain)
        plain.end_time = T0 + 5 * S
        call_hook(h.step_end, plain)
        rv = StepEvent(workflow_id="wf-m", key="build/reviewer", parent_key="build", name="reviewer",
                       agent="reviewer", start_time=T0 + 5 * S)
        call_hook(h.step_start, rv)
        rv.end_time, rv.outcome, rv.error, rv.error_type = T0 + 5 * S + S // 4, Outcome.FAILURE, "no", "Rejected"
        call_hook(h.step_end, rv)
        ph.end_time = T0 + 9 * S
        call_hook(h.phase_end, ph)
        wf.end_time = T0 + 10 * S
        call_hook(h.workflow_end, wf)
    """
)

CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": SONNET, "gen_ai.provider.name": "anthropic"}
ACME = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "no-such-model", "gen_ai.provider.name": "acme"}
TOKENS = {"gen_ai.token.modality": "unknown"}
CODER = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "coder"}
REVIEWER = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "reviewer"}
TOOL = {
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.tool.name": "Bash",
    "gen_ai.tool.type": "function",
    "gen_ai.agent.name": "coder",
}


def _hist(counts_at: dict[float, int], bounds: list[float]) -> list[int]:
    """Bucket counts for values (value -> how many), with the SDK's (lo, hi] buckets."""
    out = [0] * (len(bounds) + 1)
    for value, n in counts_at.items():
        out[next((i for i, b in enumerate(bounds) if value <= b), len(bounds))] += n
    return out


#: Every data point of the known workflow: (metric, unit, attributes) -> value, or
#: (sum, count, bucket counts) for a histogram.
EXPECTED: dict[tuple[str, str, frozenset[tuple[str, Any]]], Any] = {
    ("gen_ai.client.inference.usage.input_tokens", "{token}", frozenset({**CHAT, **TOKENS}.items())): 3100,
    ("gen_ai.client.inference.usage.input_tokens", "{token}", frozenset({**ACME, **TOKENS}.items())): 40,
    ("gen_ai.client.inference.usage.output_tokens", "{token}", frozenset({**CHAT, **TOKENS}.items())): 500,
    ("gen_ai.client.inference.usage.output_tokens", "{token}", frozenset({**ACME, **TOKENS}.items())): 7,
    ("gen_ai.client.inference.usage.cache_read.input_tokens", "{token}", frozenset({**CHAT, **TOKENS}.items())): 2000,
    ("gen_ai.client.inference.usage.cache_write.input_tokens", "{token}", frozenset({**CHAT, **TOKENS}.items())): 100,
    ("gen_ai.client.inference.usage.reasoning.output_tokens", "{token}", frozenset({**ACME, **TOKENS}.items())): 3,
    ("otel_agents.client.inference.cost", "{USD}", frozenset(CHAT.items())): 0.011475,
    (
        "otel_agents.client.inference.unpriced_calls",
        "{call}",
        frozenset({**ACME, "otel_agents.cost.unavailable_reason": "unknown_model"}.items()),
    ): 1,
    ("gen_ai.execute_tool.duration", "s", frozenset(TOOL.items())): (0.5, 1, _hist({0.5: 1}, DURATION_BUCKETS)),
    ("gen_ai.execute_tool.duration", "s", frozenset({**TOOL, "error.type": "ShellError"}.items())): (
        1.5,
        1,
        _hist({1.5: 1}, DURATION_BUCKETS),
    ),
    ("gen_ai.invoke_agent.inference_calls", "{inference_call}", frozenset(CODER.items())): (
        2,
        1,
        _hist({2: 1}, CALL_BUCKETS),
    ),
    ("gen_ai.invoke_agent.inference_calls", "{inference_call}", frozenset(REVIEWER.items())): (
        0,
        1,
        _hist({0: 1}, CALL_BUCKETS),
    ),
    ("gen_ai.invoke_agent.tool_calls", "{tool_call}", frozenset(CODER.items())): (2, 1, _hist({2: 1}, CALL_BUCKETS)),
    ("gen_ai.invoke_agent.tool_calls", "{tool_call}", frozenset(REVIEWER.items())): (0, 1, _hist({0: 1}, CALL_BUCKETS)),
    ("gen_ai.invocation.duration", "s", frozenset({**CODER, "gen_ai.invocation.is_nested": True}.items())): (
        3.0,
        1,
        _hist({3.0: 1}, DURATION_BUCKETS),
    ),
    (
        "gen_ai.invocation.duration",
        "s",
        frozenset({**REVIEWER, "gen_ai.invocation.is_nested": True, "error.type": "Rejected"}.items()),
    ): (0.25, 1, _hist({0.25: 1}, DURATION_BUCKETS)),
    (
        "gen_ai.invocation.duration",
        "s",
        frozenset(
            {
                "gen_ai.operation.name": "invoke_workflow",
                "gen_ai.workflow.name": "ship",
                "gen_ai.invocation.is_nested": False,
            }.items()
        ),
    ): (10.0, 1, _hist({10.0: 1}, DURATION_BUCKETS)),
}


def _sdk_points(reader: InMemoryMetricReader) -> dict[tuple[str, str, frozenset[tuple[str, Any]]], Any]:
    out: dict[tuple[str, str, frozenset[tuple[str, Any]]], Any] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            assert sm.scope.name == "otel_agents"
            for m in sm.metrics:
                for p in m.data.data_points:
                    key = (m.name, m.unit, frozenset(dict(p.attributes).items()))
                    assert key not in out
                    if hasattr(p, "bucket_counts"):
                        out[key] = (p.sum, p.count, list(p.bucket_counts))
                    else:
                        out[key] = p.value
    return out


def _any_value(v: Any) -> Any:
    return getattr(v, v.WhichOneof("value"))


def _otlp_points(requests: list[Any]) -> dict[tuple[str, str, frozenset[tuple[str, Any]]], Any]:
    """The data points of OTLP metrics requests (cumulative: the last point of a series wins)."""
    out: dict[tuple[str, str, frozenset[tuple[str, Any]]], Any] = {}
    for req in requests:
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                assert sm.scope.name == "otel_agents"
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    for p in getattr(m, kind).data_points:
                        key = (m.name, m.unit, frozenset((a.key, _any_value(a.value)) for a in p.attributes))
                        if kind == "histogram":
                            out[key] = (p.sum, p.count, list(p.bucket_counts))
                        else:
                            out[key] = p.as_int if p.WhichOneof("value") == "as_int" else p.as_double
    return out


def _approx(points: dict[Any, Any]) -> dict[Any, Any]:
    """Float sums rounded to the nanosecond (the span times are integers of nanoseconds)."""
    return {
        k: (round(v[0], 9), v[1], v[2]) if isinstance(v, tuple) else (round(v, 12) if isinstance(v, float) else v)
        for k, v in points.items()
    }


@pytest.fixture
def metered():
    """A runtime with spans in memory and the GenAI metrics on an in-memory reader."""
    pricing.load()
    pm = new_plugin_manager(load_entry_points=False)
    set_plugin_manager(pm)
    spans = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    rt = telemetry.setup(
        provider=TracerProvider(),
        config=load_config(),
        plugin_manager=pm,
        span_processors=[SimpleSpanProcessor(spans)],
        with_sinks=False,
        set_global=False,
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    return rt, spans, reader


def _run_known(rt: Any) -> None:
    ns: dict[str, Any] = {}
    exec(KNOWN_WORKFLOW, ns)
    ns["run"](rt)


def test_known_workflow_gives_exact_metrics(metered):
    rt, spans, reader = metered
    _run_known(rt)
    assert len(spans.get_finished_spans()) == 9
    assert _approx(_sdk_points(reader)) == EXPECTED


def test_timed_model_call_has_its_duration_and_error(metered):
    rt, _spans, reader = metered
    with oa.workflow("ship") as wf:
        with wf.step("coder", agent="coder") as st:
            call = st.model_call(SONNET, provider="anthropic")
            with pytest.raises(RuntimeError), call:
                call.set_usage(input_tokens=10, output_tokens=2)
                raise RuntimeError("overloaded")
    points = _sdk_points(reader)
    [(key, (total, count, _buckets))] = [
        (k, v) for k, v in points.items() if k[0] == "gen_ai.client.operation.duration"
    ]
    assert dict(key[2]) == {**CHAT, "error.type": "RuntimeError"} and count == 1 and total > 0
    assert (
        points[("gen_ai.client.inference.usage.input_tokens", "{token}", frozenset({**CHAT, **TOKENS}.items()))] == 10
    )


def test_not_live_records_no_metrics_but_builds_the_spans(metered):
    rt, spans, reader = metered
    with rt.metrics.not_live():
        _run_known(rt)
    assert len(spans.get_finished_spans()) == 9
    assert _sdk_points(reader) == {}
    with oa.metrics_not_live():  # the process runtime's, the same object
        _run_known(rt)
    assert _sdk_points(reader) == {}


def test_record_model_call_is_the_entry_point_for_other_calls(metered):
    rt, _spans, reader = metered
    rt.metrics.record_model_call(
        model=SONNET, provider="anthropic", input_tokens=3100, output_tokens=500, cache_read_tokens=2000,
        cache_write_tokens=100, cost=0.011475,
    )  # fmt: skip
    points = _sdk_points(reader)
    assert points == {
        ("gen_ai.client.inference.usage.input_tokens", "{token}", frozenset({**CHAT, **TOKENS}.items())): 3100,
        ("gen_ai.client.inference.usage.output_tokens", "{token}", frozenset({**CHAT, **TOKENS}.items())): 500,
        (
            "gen_ai.client.inference.usage.cache_read.input_tokens",
            "{token}",
            frozenset({**CHAT, **TOKENS}.items()),
        ): 2000,
        (
            "gen_ai.client.inference.usage.cache_write.input_tokens",
            "{token}",
            frozenset({**CHAT, **TOKENS}.items()),
        ): 100,
        ("otel_agents.client.inference.cost", "{USD}", frozenset(CHAT.items())): 0.011475,
    }


def test_metrics_exporter_none_switches_them_off(monkeypatch):
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    pm = new_plugin_manager(load_entry_points=False)
    rt = telemetry.setup(provider=TracerProvider(), plugin_manager=pm, with_sinks=False, set_global=False,
                         meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))  # fmt: skip
    assert rt.metrics is None and rt.spans is not None and rt.spans._metrics is None


# --- a real receiver, a real process exit --------------------------------------------------------
CHILD = (
    KNOWN_WORKFLOW
    + """
import sys, time
import otel_agents as oa
from otel_agents import pricing
pricing.load()
rt = oa.setup()
assert rt.metrics is not None and rt.metrics.pipeline is not None
run(rt)
print(time.monotonic(), flush=True)  # the workflow is done: exit starts now
"""
)


def _child(tmp_path: Path, env: dict[str, str], script: str = CHILD) -> tuple[subprocess.CompletedProcess[str], float]:
    path = tmp_path / "child.py"
    path.write_text(script)
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_EXPORTER_OTLP", "OTEL_METRIC"))}
    full.update(env, OTEL_AGENTS_HOME=str(tmp_path / "home"), OTEL_AGENTS_REPLAY_ON_START="false")
    proc = subprocess.run([sys.executable, str(path)], env=full, capture_output=True, text=True, timeout=60)
    ended = time.monotonic()
    assert proc.returncode == 0, proc.stderr
    return proc, ended


def test_metrics_reach_a_real_http_receiver_at_exit_with_exact_values(tmp_path):
    with HttpReceiver() as rec:
        _child(tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{rec.port}"})
        # the default interval is 60 s: what arrived was sent by the exit
        assert _approx(_otlp_points(rec.metrics())) == EXPECTED
        assert len(rec.counts()) == 9  # and the spans, to /v1/traces of the same base URL
        [res] = {
            tuple((a.key, _any_value(a.value)) for a in r.resource.attributes)
            for r in rec.metrics()[0].resource_metrics
        }
        assert ("service.name", "child") in res


def test_metrics_reach_a_real_grpc_receiver_with_exact_values(tmp_path):
    with GrpcReceiver() as rec:
        _child(
            tmp_path,
            {
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": rec.endpoint,
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
                "OTEL_AGENTS_OTLP_ENABLED": "false",
            },
        )
        assert _approx(_otlp_points(rec.metrics())) == EXPECTED


def test_delta_temporality_is_honoured(tmp_path):
    with HttpReceiver() as rec:
        _child(
            tmp_path,
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{rec.port}",
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
            },
        )
        [req] = rec.metrics()
        temporalities = {
            getattr(m, m.WhichOneof("data")).aggregation_temporality
            for rm in req.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        }
        assert temporalities == {1}  # AGGREGATION_TEMPORALITY_DELTA
        assert _approx(_otlp_points(rec.metrics())) == EXPECTED


def test_exit_waits_no_longer_than_the_exit_deadline_for_metrics_and_spans(tmp_path):
    """A collector that accepts and never answers, for the spans and the metrics: exit takes
    one exit deadline, shared, not one each."""
    with HungSocket() as hung:
        proc, ended = _child(
            tmp_path,
            {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{hung.port}", "OTEL_AGENTS_EXIT_DEADLINE": "2.0"},
        )
        exit_took = ended - float(proc.stdout.split()[-1])
        assert exit_took < 3.0, exit_took  # one after the other: 4 s


def test_an_applications_meter_provider_is_used(tmp_path):
    script = (
        KNOWN_WORKFLOW
        + """
import json
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
import otel_agents as oa
from otel_agents import pricing
pricing.load()
reader = InMemoryMetricReader()
mp = MeterProvider(metric_readers=[reader])
metrics.set_meter_provider(mp)
rt = oa.setup()
assert rt.metrics.meter_provider is mp and rt.metrics.pipeline is None
run(rt)
data = reader.get_metrics_data()
print(json.dumps(sorted({m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics})))
"""
    )
    with HttpReceiver() as rec:
        proc, _ = _child(tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{rec.port}"}, script)
        assert json.loads(proc.stdout.splitlines()[-1]) == sorted({k[0] for k in EXPECTED})
        assert rec.metrics() == []  # nothing of ours: the application's provider exports them


def test_metrics_endpoint_resolution():
    from otel_agents.sinks.otlp_metrics import MetricsSettings
    from otel_agents.sinks.transport import GRPC_METHODS, resolve_target

    def target(env: dict[str, str]) -> Any:
        return resolve_target(MetricsSettings(load_config(environ=env)), "metrics")

    assert target({}).endpoint == "http://localhost:4318/v1/metrics" and not target({}).explicit
    assert target({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/otlp"}).endpoint == "http://c:4318/otlp/v1/metrics"
    # the spans' own endpoint is not the metrics'
    assert target({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:9/v1/traces"}).endpoint == (
        "http://localhost:4318/v1/metrics"
    )
    both = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:1/x"}
    assert target(both).endpoint == "http://m:1/x"
    grpc = target({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert (grpc.protocol, grpc.endpoint, grpc.grpc_method) == ("grpc", "http://c:4317", GRPC_METHODS["metrics"])
    assert load_config(environ={"OTEL_METRIC_EXPORT_INTERVAL": "5000"})["otel_metrics.interval"] == 5.0


def test_live_claude_code_capture_records_metrics_once(metered, tmp_path):
    """Hook events captured live (real ``otel-agents hook`` processes), turned into spans by
    the drain: their model calls and tool calls count, once; a drain with nothing new adds
    nothing."""
    from test_claude_code import assistant, ev, home, post, pre, price, send

    from otel_agents.claude_code.drain import drain

    rt, spans, reader = metered
    sid = "sess-metrics"
    tr = tmp_path / "t.jsonl"
    now = time.time_ns()
    tr.write_text(
        json.dumps(assistant("m1", "r1", now, (4, 100, 1000, 2000), tools=("t1",)))
        + "\n"
        + json.dumps(assistant("m2", "r2", now, (1, 7, 0, 3000)))
        + "\n"
    )
    send(
        [
            ev(sid, "SessionStart", tr),
            ev(sid, "UserPromptSubmit", tr, prompt="x"),
            pre(sid, "t1", tr=tr),
            post(sid, "t1", tr=tr),
            ev(sid, "Stop", tr),
            ev(sid, "SessionEnd", tr),
        ]
    )
    drain(home(), rt=rt)
    assert drain(home(), rt=rt).spans == 0
    points = _sdk_points(reader)
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": SONNET_DATED, "gen_ai.provider.name": "anthropic"}
    names = ("input_tokens", "output_tokens", "cache_read.input_tokens", "cache_write.input_tokens")
    usage = [
        points[(f"gen_ai.client.inference.usage.{n}", "{token}", frozenset({**chat, **TOKENS}.items()))] for n in names
    ]
    assert usage == [6005, 107, 5000, 1000]
    cost = points[("otel_agents.client.inference.cost", "{USD}", frozenset(chat.items()))]
    assert cost == pytest.approx(price(6005, 107, 5000, 1000), rel=1e-12)
    [(_sum, tool_count, _b)] = [v for k, v in points.items() if k[0] == "gen_ai.execute_tool.duration"]
    assert tool_count == 1
    assert sum(v[1] for k, v in points.items() if k[0] == "gen_ai.invocation.duration") >= 2  # session, main agent


def test_a_failing_metrics_path_never_reaches_the_workflow(metered, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    from otel_agents import safety

    rt, spans, _reader = metered

    class Broken:
        def add(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("exporter bug")

    rt.metrics.cost = Broken()
    with oa.workflow("ship") as wf, wf.step("coder", agent="coder") as st:
        st.record_usage(SONNET, provider="anthropic", input_tokens=10, output_tokens=1)
    assert len(spans.get_finished_spans()) == 3
    assert safety.failure_counts()["GenAI metrics"] == 1
