"""The executor API: context managers, decorators, start/stop/fail, threads, asyncio, set-up."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

import otel_agents as oa
from otel_agents import attributes as A


def _tree(spans):
    """{span name: parent span name} (names made unique by the tests)."""
    by_id = {s.context.span_id: s.name for s in spans}
    return {s.name: by_id.get(s.parent.span_id) if s.parent else None for s in spans}


def test_thread_pool_steps_nest_under_their_phase(runtime, exporter):
    def work(i):
        # Implicit parent: the pool's threads do not inherit the context.
        with oa.step(f"implicit-{i}"):
            pass

    with oa.workflow("w") as wf:
        with wf.phase("fan-out") as ph:
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(work, range(4)))
                list(pool.map(lambda i: ph.step(f"explicit-{i}").start().stop(), range(4)))
    tree = _tree(exporter.get_finished_spans())
    for i in range(4):
        assert tree[f"step implicit-{i}"] == "phase fan-out"
        assert tree[f"step explicit-{i}"] == "phase fan-out"
    assert tree["phase fan-out"] == "invoke_workflow w"


def test_asyncio_gather_nests_steps_and_tools(runtime, exporter):
    async def agent(i):
        with oa.step(f"agent-{i}", agent=f"a{i}"):
            await asyncio.sleep(0.001 * (4 - i))
            with oa.tool_call("Read", call_id=f"t{i}"):
                await asyncio.sleep(0.001)
            oa.record_usage("claude-haiku-4-5", provider="anthropic", input_tokens=100 * (i + 1), output_tokens=i)

    async def main():
        with oa.workflow("w") as wf:
            with wf.phase("parallel"):
                await asyncio.gather(*(agent(i) for i in range(4)))

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    for s in spans:
        if s.name == "execute_tool Read":
            i = int(s.attributes[A.GEN_AI_TOOL_CALL_ID][1:])
            assert by_id[s.parent.span_id].name == f"invoke_agent a{i}"
    steps = {s.name: s for s in spans if s.attributes[A.KIND] == "step"}
    for i in range(4):
        assert steps[f"invoke_agent a{i}"].attributes[A.ROLLUP_INPUT_TOKENS] == 100 * (i + 1)
    (phase,) = [s for s in spans if s.name == "phase parallel"]
    assert phase.attributes[A.ROLLUP_INPUT_TOKENS] == 1000
    assert phase.attributes[A.ROLLUP_MODEL_CALLS] == 4


def test_decorators_sync_async_generator(runtime, exporter):
    @oa.step("sync-step", agent="s")
    def sync_step(x):
        return x * 2

    @oa.step("async-step")
    async def async_step(x):
        await asyncio.sleep(0)
        return x + 1

    @oa.step("gen-step")
    def gen_step(n):
        yield from range(n)
        return "done"

    @oa.phase("decorated-phase", number=1)
    def phase_body():
        assert sync_step(21) == 42
        assert asyncio.run(async_step(1)) == 2
        assert list(gen_step(3)) == [0, 1, 2]

    @oa.workflow("decorated", template="t")
    def run():
        phase_body()
        return "ok"

    assert run() == "ok"
    tree = _tree(exporter.get_finished_spans())
    assert tree == {
        "invoke_agent s": "phase decorated-phase",
        "step async-step": "phase decorated-phase",
        "step gen-step": "phase decorated-phase",
        "phase decorated-phase": "invoke_workflow decorated",
        "invoke_workflow decorated": None,
    }


def test_decorator_failure_keeps_exception_type(runtime, exporter):
    @oa.workflow("w")
    def run():
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        run()
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[A.ERROR_TYPE] == "KeyError"


def test_start_stop_fail_objects(runtime, exporter):
    wf = oa.new_workflow("w", workflow_id="wf-objects").start()
    ph = wf.phase("p").start()
    st = ph.step("s").start()
    tc = st.tool_call("Edit", call_id="c1").start()
    tc.fail("String to replace not found", error_type="tool_error")
    st.stop()
    ph.stop()
    wf.stop()
    wf.stop()  # idempotent
    tool, step, phase, workflow = exporter.get_finished_spans()
    assert tool.attributes[A.ERROR_TYPE] == "tool_error"
    assert tool.attributes[A.ERROR_MESSAGE] == "String to replace not found"
    assert tool.status.description == "String to replace not found"
    assert [s.attributes[A.OUTCOME] for s in (step, phase, workflow)] == ["success"] * 3
    assert len(exporter.get_finished_spans()) == 4


def test_application_spans_nest_under_the_current_step(runtime, exporter):
    tracer = runtime.provider.get_tracer("app")
    with oa.workflow("w") as wf:
        with wf.step("s", agent="coder"):
            with tracer.start_as_current_span("anthropic.messages.create"):
                pass
    tree = _tree(exporter.get_finished_spans())
    assert tree["anthropic.messages.create"] == "invoke_agent coder"
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_workflow_nests_under_an_application_span(runtime, exporter):
    tracer = runtime.provider.get_tracer("app")
    with tracer.start_as_current_span("http request"):
        with oa.workflow("w"):
            pass
    tree = _tree(exporter.get_finished_spans())
    assert tree["invoke_workflow w"] == "http request"


def test_setup_reuses_the_applications_provider():
    code = """
import otel_agents
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
app = TracerProvider(); exp = InMemorySpanExporter(); app.add_span_processor(SimpleSpanProcessor(exp))
trace.set_tracer_provider(app)
rt = otel_agents.setup(with_sinks=False)
assert rt.provider is app and not rt.owns_provider
with otel_agents.workflow("w"):
    pass
print(exp.get_finished_spans()[0].name)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "invoke_workflow w"


def test_sdk_disabled_makes_everything_a_noop(tmp_path):
    code = """
import otel_agents
from opentelemetry import trace
rt = otel_agents.setup()
assert not rt.enabled
with otel_agents.workflow("w") as wf:
    with wf.phase("p") as ph:
        with ph.step("s") as st:
            st.record_usage("m", input_tokens=1)
            with st.tool_call("t"):
                pass
assert rt.pm.get_plugin("spans")._open == {}
print("noop")
"""
    env = {"OTEL_SDK_DISABLED": "true", "OTEL_AGENTS_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "noop"
    assert not any(tmp_path.iterdir())


def test_implicit_parents_end_with_their_child(runtime, exporter, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    with oa.tool_call("Read", call_id="lonely"):
        pass
    with oa.step("solo"):
        pass
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == [
        "execute_tool Read",
        "step Read",
        "invoke_workflow implicit",
        "step solo",
        "invoke_workflow implicit",
    ]
    assert runtime.spans._open == {}


def test_model_call_span_ends_before_pricing(runtime, exporter):
    import time as _time

    with oa.workflow("w") as wf:
        with wf.step("s") as st:
            t0 = _time.time_ns()
            st.record_usage("claude-haiku-4-5", provider="anthropic", input_tokens=10, output_tokens=1, start_time=t0)
            t1 = _time.time_ns()
    chat = exporter.get_finished_spans()[0]
    assert t0 <= chat.end_time <= t1


def test_hot_path_event_factories_equal_the_dataclasses():
    """The executor API builds its events without keyword arguments (``api._step_event`` and
    friends): each must give exactly what the dataclass gives for the same values, with
    every other field at its default. A field added to an event and not to its factory
    fails here (an unset slot cannot be read)."""
    import dataclasses
    import inspect

    from otel_agents import api
    from otel_agents.events import ModelUsage, StepEvent, ToolCallEvent

    for make, cls in ((api._step_event, StepEvent), (api._usage_event, ModelUsage), (api._tool_event, ToolCallEvent)):
        names = list(inspect.signature(make).parameters)
        assert set(names) <= {f.name for f in dataclasses.fields(cls)}
        values = [f"v{i}" for i in range(len(names))]
        got = make(*values)
        assert type(got) is cls
        want = cls(**dict(zip(names, values, strict=True)))
        for f in dataclasses.fields(cls):  # field by field, so a miss names the field
            assert getattr(got, f.name) == getattr(want, f.name), f.name
        assert got == want
