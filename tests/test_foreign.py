"""Model calls recorded by frameworks' own instrumentation count once, in every figure.

Real packages at the versions pinned in the ``test`` extra, offline: pydantic-ai
(``FunctionModel``, ``Agent.instrument_all``) and LangGraph with a fake chat model traced by
``openinference-instrumentation-langchain``. Each test compares our roll-ups, the
execution-metrics JSONL and the report with the framework's own totals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from pydantic_ai import Agent  # the test extra pins it: never skipped
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.usage import RequestUsage

import otel_agents as oa
from otel_agents import attributes as A
from otel_agents.report import build_report
from otel_agents.sinks.metrics import iter_records
from otel_agents.sinks.spool import iter_records as spool_records, iter_spans, spool_files

ROLLUP_KEYS = {
    A.ROLLUP_INPUT_TOKENS: "input_tokens",
    A.ROLLUP_OUTPUT_TOKENS: "output_tokens",
    A.ROLLUP_MODEL_CALLS: "model_calls",
    A.ROLLUP_COST_AMOUNT: "cost",
}


def _rollup(span: Any) -> dict[str, Any]:
    return {name: span.attributes.get(key) for key, name in ROLLUP_KEYS.items()}


def _ours(exporter: Any, kind: str) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.attributes.get(A.KIND) == kind]


def _flush(rt: Any) -> None:
    for proc in rt.processors:
        proc.force_flush()


def _report(rt: Any) -> dict[str, Any]:
    cost = build_report(rt.config.analytics_db, use_cache=False)["cost"]
    return {k: cost[k] for k in ("total_usd", "model_calls", "input_tokens", "output_tokens")}


def _records(rt: Any, kind: str) -> list[dict[str, Any]]:
    return [r for r in iter_records(rt.config.metrics_dir) if r["kind"] == kind]


# --- pydantic-ai --------------------------------------------------------------------------------

#: (input, output) tokens of each model request the agent makes: a tool call, then the answer.
REQUESTS = [(1200, 80), (1500, 40)]


def _agent(record: bool = False) -> Agent:
    """A calculator agent on a FunctionModel that reports ``gpt-4o`` (a model genai-prices
    prices, so pydantic-ai computes each call's cost). ``record``: the function also records
    each call through otel-agents, as an application that maps its model function does."""
    calls = {"n": 0}

    def model(messages: Any, info: Any) -> ModelResponse:
        i = calls["n"] % len(REQUESTS)
        calls["n"] += 1
        inp, out = REQUESTS[i]
        if record:
            oa.record_usage("gpt-4o", provider="openai", input_tokens=inp, output_tokens=out)
        if i == 0:
            parts: list[Any] = [ToolCallPart("add", {"a": 1, "b": 2})]
        else:
            parts = [TextPart("3")]
        return ModelResponse(parts=parts, usage=RequestUsage(input_tokens=inp, output_tokens=out), model_name="gpt-4o")

    agent = Agent(FunctionModel(model, model_name="gpt-4o"), name="calc")

    @agent.tool_plain
    def add(a: int, b: int) -> int:
        return a + b

    return agent


@pytest.fixture
def instrumented(make_runtime):
    """A runtime with every sink, and pydantic-ai instrumented on its tracer provider."""
    rt = make_runtime(with_sinks=True)
    Agent.instrument_all(InstrumentationSettings(tracer_provider=rt.provider))
    yield rt
    Agent.instrument_all(False)


def _run_agent(agent: Agent, runs: int = 1) -> list[Any]:
    usages = []
    with oa.workflow("calc", workflow_id="wf-calc") as wf:
        with wf.phase("solve") as ph:
            for _ in range(runs):
                with ph.step("answer", agent="calc"):
                    usages.append(agent.run_sync("what is 1+2?").usage)
    return usages


def _framework_totals(usages: list[Any]) -> dict[str, Any]:
    return {
        "input_tokens": sum(u.input_tokens for u in usages),
        "output_tokens": sum(u.output_tokens for u in usages),
        "model_calls": sum(u.requests for u in usages),
        "cost": float(sum((u.cost for u in usages), Decimal(0))),
    }


def test_pydantic_ai_calls_count_in_rollups_jsonl_and_report(instrumented, exporter):
    usages = _run_agent(_agent())
    want = _framework_totals(usages)
    assert want == {"input_tokens": 2700, "output_tokens": 120, "model_calls": 2, "cost": 0.00795}
    # every roll-up: step, phase and workflow
    for kind in (A.KIND_STEP, A.KIND_PHASE, A.KIND_WORKFLOW):
        (span,) = _ours(exporter, kind)
        assert _rollup(span) == want, kind
    _flush(instrumented)
    # execution-metrics JSONL: one record per model call, under our step
    calls = _records(instrumented, A.KIND_MODEL_CALL)
    assert [
        (r["input_tokens"], r["output_tokens"], r["step_name"], r["phase_name"], r["workflow_id"]) for r in calls
    ] == [
        (1200, 80, "answer", "solve", "wf-calc"),
        (1500, 40, "answer", "solve", "wf-calc"),
    ]
    assert sum(r["cost_usd"] for r in calls) == pytest.approx(want["cost"], abs=1e-15)
    (wf,) = _records(instrumented, A.KIND_WORKFLOW)
    assert (wf["model_calls"], wf["input_tokens"], wf["cost_usd"]) == (2, 2700, 0.00795)
    # the analytics store and the report
    assert _report(instrumented) == {"total_usd": 0.00795, "model_calls": 2, "input_tokens": 2700, "output_tokens": 120}


def test_a_call_recorded_by_us_and_by_pydantic_ai_counts_once(instrumented, exporter):
    """The application records each model call itself (inside pydantic-ai's own chat span):
    without deduplication the report said twice the calls and twice the tokens."""
    usages = _run_agent(_agent(record=True), runs=2)
    want = _framework_totals(usages)
    assert want["model_calls"] == 4
    (wf,) = _ours(exporter, A.KIND_WORKFLOW)
    assert _rollup(wf) == want
    chats = [
        s
        for s in exporter.get_finished_spans()
        if s.instrumentation_scope.name == "pydantic-ai" and s.name.startswith("chat")
    ]
    ours = _ours(exporter, A.KIND_MODEL_CALL)
    assert len(chats) == len(ours) == 4
    _flush(instrumented)
    assert _report(instrumented) == {
        "total_usd": want["cost"],
        "model_calls": 4,
        "input_tokens": 5400,
        "output_tokens": 240,
    }
    calls = _records(instrumented, A.KIND_MODEL_CALL)
    assert sorted(r["record_id"] for r in calls) == sorted(f"{s.context.span_id:016x}" for s in ours)
    # the analytics store has one row per model call
    import sqlite3

    with sqlite3.connect(instrumented.config.analytics_db) as con:
        assert con.execute("SELECT count(*), sum(input_tokens) FROM model_calls").fetchone() == (4, 5400)


def test_a_timed_call_around_a_framework_call_counts_once_with_the_framework_usage(instrumented, exporter):
    """Our timed model call given no usage, with pydantic-ai's chat span inside it: one call,
    with pydantic-ai's tokens and cost."""

    def model(messages: Any, info: Any) -> ModelResponse:
        return ModelResponse(
            parts=[TextPart("3")], usage=RequestUsage(input_tokens=700, output_tokens=30), model_name="gpt-4o"
        )

    agent = Agent(FunctionModel(model, model_name="gpt-4o"), name="calc")
    with oa.workflow("calc", workflow_id="wf-timed") as wf:
        with wf.step("answer") as st:
            with st.model_call("gpt-4o", provider="openai"):
                usage = agent.run_sync("1+2?").usage
    (wf_span,) = _ours(exporter, A.KIND_WORKFLOW)
    assert (
        _rollup(wf_span)
        == _framework_totals([usage])
        == {
            "input_tokens": 700,
            "output_tokens": 30,
            "model_calls": 1,
            "cost": 0.00205,
        }
    )
    _flush(instrumented)
    assert _report(instrumented) == {"total_usd": 0.00205, "model_calls": 1, "input_tokens": 700, "output_tokens": 30}


def _spool_spans(rt: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in spool_files(rt.config.spans_dir):
        for _offset, _end, request in spool_records(path):
            assert request is not None
            out.extend(iter_spans(request))
    return out


def _attr_keys(span: dict[str, Any]) -> set[str]:
    return {kv["key"] for kv in span.get("attributes", [])}


def test_framework_content_is_kept_out_of_our_files_unless_capture_is_on(instrumented, exporter):
    _run_agent(_agent())
    _flush(instrumented)
    spans = _spool_spans(instrumented)
    chats = [s for s in spans if s["name"] == "chat gpt-4o" and A.FOREIGN_ROLE in _attr_keys(s)]
    assert len(chats) == 2
    content = {A.GEN_AI_INPUT_MESSAGES, A.GEN_AI_OUTPUT_MESSAGES, A.PYDANTIC_AI_ALL_MESSAGES, "final_result"}
    for s in spans:
        assert not (_attr_keys(s) & content), s["name"]
    tool = next(s for s in spans if s["name"] == "execute_tool add")
    assert not (_attr_keys(tool) & {A.GEN_AI_TOOL_CALL_ARGUMENTS, A.GEN_AI_TOOL_CALL_RESULT})
    # the application's own exporter still gets the framework's spans as they were
    app_chat = next(s for s in exporter.get_finished_spans() if s.name == "chat gpt-4o")
    assert A.GEN_AI_INPUT_MESSAGES in app_chat.attributes


def test_framework_content_is_redacted_when_capture_is_on(make_runtime, monkeypatch):
    from otel_agents.config import load_config

    monkeypatch.setenv("OTEL_AGENTS_CAPTURE_CONTENT", "1")
    config = load_config()
    assert config.values.get("capture_content")
    rt = make_runtime(with_sinks=True, config=config)
    Agent.instrument_all(InstrumentationSettings(tracer_provider=rt.provider))
    try:
        secret = "sk-ant-api03-" + "A" * 40

        def model(messages: Any, info: Any) -> ModelResponse:
            return ModelResponse(
                parts=[TextPart("ok")], usage=RequestUsage(input_tokens=10, output_tokens=2), model_name="gpt-4o"
            )

        agent = Agent(FunctionModel(model, model_name="gpt-4o"), name="calc")
        with oa.workflow("w"), oa.step("s"):
            agent.run_sync(f"my key is {secret}")
    finally:
        Agent.instrument_all(False)
    _flush(rt)
    spans = _spool_spans(rt)
    chat = next(s for s in spans if s["name"] == "chat gpt-4o")
    attrs = {kv["key"]: kv["value"] for kv in chat["attributes"]}
    text = attrs[A.GEN_AI_INPUT_MESSAGES]["stringValue"]
    assert "my key is" in text and secret not in text


# --- response ids -----------------------------------------------------------------------------


@pytest.mark.parametrize("foreign_first", [True, False])
def test_the_same_response_id_counts_once_whatever_ends_first(runtime, exporter, foreign_first):
    tracer = runtime.provider.get_tracer("some.framework")
    with oa.workflow("w", workflow_id="wf-rid") as wf:
        with wf.step("s") as st:
            if not foreign_first:
                st.record_usage("gpt-4o", provider="openai", input_tokens=1000, output_tokens=100, response_id="resp-1")
            with tracer.start_as_current_span("chat gpt-4o") as span:
                span.set_attributes(
                    {
                        A.GEN_AI_OPERATION_NAME: A.OP_CHAT,
                        A.GEN_AI_REQUEST_MODEL: "gpt-4o",
                        A.GEN_AI_PROVIDER_NAME: "openai",
                        A.GEN_AI_RESPONSE_ID: "resp-1",
                        A.GEN_AI_USAGE_INPUT_TOKENS: 1000,
                        A.GEN_AI_USAGE_OUTPUT_TOKENS: 100,
                    }
                )
            if foreign_first:
                st.record_usage("gpt-4o", provider="openai", input_tokens=1000, output_tokens=100, response_id="resp-1")
    price = float(calc_price(Usage(input_tokens=1000, output_tokens=100), "gpt-4o", provider_id="openai").total_price)
    (wf_span,) = _ours(exporter, A.KIND_WORKFLOW)
    assert _rollup(wf_span) == {"input_tokens": 1000, "output_tokens": 100, "model_calls": 1, "cost": price}
    (ours,) = _ours(exporter, A.KIND_MODEL_CALL)
    (theirs,) = [s for s in exporter.get_finished_spans() if s.instrumentation_scope.name == "some.framework"]
    if foreign_first:
        assert ours.attributes[A.DUPLICATE_OF] == f"{theirs.context.span_id:016x}"
    else:
        assert A.DUPLICATE_OF not in ours.attributes


def test_our_own_calls_with_one_response_id_are_left_as_they_were(runtime, exporter):
    with oa.workflow("w") as wf, wf.step("s") as st:
        for _ in range(2):
            st.record_usage("gpt-4o", provider="openai", input_tokens=10, output_tokens=1, response_id="resp-2")
    assert [A.DUPLICATE_OF in s.attributes for s in _ours(exporter, A.KIND_MODEL_CALL)] == [False, False]
    (wf_span,) = _ours(exporter, A.KIND_WORKFLOW)
    assert _rollup(wf_span)["model_calls"] == 2


def test_agent_run_totals_above_counted_calls_are_not_counted_again(runtime, exporter):
    """An agent-run span carrying the usage of the calls beneath it (older pydantic-ai, other
    frameworks) is an aggregate: its calls count, it does not."""
    tracer = runtime.provider.get_tracer("some.framework")
    usage = {A.GEN_AI_REQUEST_MODEL: "gpt-4o", A.GEN_AI_USAGE_INPUT_TOKENS: 10, A.GEN_AI_USAGE_OUTPUT_TOKENS: 1}
    with oa.workflow("w") as wf, wf.step("s"):
        with tracer.start_as_current_span("invoke_agent a") as run:
            for _ in range(3):
                with tracer.start_as_current_span("chat gpt-4o") as chat:
                    chat.set_attributes(usage)
            run.set_attributes({A.GEN_AI_USAGE_INPUT_TOKENS: 30, A.GEN_AI_USAGE_OUTPUT_TOKENS: 3})
    (wf_span,) = _ours(exporter, A.KIND_WORKFLOW)
    assert (_rollup(wf_span)["model_calls"], _rollup(wf_span)["input_tokens"]) == (3, 30)


# --- LangGraph with OpenInference ----------------------------------------------------------


def test_langgraph_calls_traced_by_openinference_count_in_rollups_and_report(make_runtime, exporter):
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage
    from langgraph.graph import END, START, MessagesState, StateGraph
    from openinference.instrumentation.langchain import LangChainInstrumentor

    class FakeGpt(FakeMessagesListChatModel):
        """A fake chat model that says which model it stands for (so genai-prices prices it)."""

        model_name: str = "gpt-4o-mini"

        @property
        def _llm_type(self) -> str:
            return "fake"

        @property
        def _identifying_params(self) -> dict[str, Any]:
            return {"model_name": self.model_name}

    tokens = [(1000, 200), (3000, 500)]
    llm = FakeGpt(
        responses=[
            AIMessage(text, usage_metadata={"input_tokens": i, "output_tokens": o, "total_tokens": i + o})
            for text, (i, o) in zip(("draft", "final"), tokens, strict=True)
        ]
    )

    def node(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("draft", node)
    graph.add_node("review", node)
    graph.add_edge(START, "draft")
    graph.add_edge("draft", "review")
    graph.add_edge("review", END)
    app = graph.compile()

    rt = make_runtime(with_sinks=True)
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=rt.provider)
    try:
        with oa.workflow("review", workflow_id="wf-lg") as wf:
            with wf.step("graph"):
                out = app.invoke({"messages": [("user", "write it")]})
    finally:
        instrumentor.uninstrument()
    assert [m.content for m in out["messages"]] == ["write it", "draft", "final"]
    # the framework's own totals: its LLM spans
    llm_spans = [s for s in exporter.get_finished_spans() if s.attributes.get("openinference.span.kind") == "LLM"]
    framework = (
        sum(s.attributes[A.OI_LLM_TOKEN_COUNT_PROMPT] for s in llm_spans),
        sum(s.attributes[A.OI_LLM_TOKEN_COUNT_COMPLETION] for s in llm_spans),
        len(llm_spans),
    )
    assert framework == (4000, 700, 2)
    price = sum(float(calc_price(Usage(input_tokens=i, output_tokens=o), "gpt-4o-mini").total_price) for i, o in tokens)
    for kind in (A.KIND_STEP, A.KIND_WORKFLOW):
        (span,) = _ours(exporter, kind)
        assert _rollup(span) == {"input_tokens": 4000, "output_tokens": 700, "model_calls": 2, "cost": round(price, 12)}
    _flush(rt)
    calls = _records(rt, A.KIND_MODEL_CALL)
    assert [(r["model"], r["input_tokens"], r["output_tokens"], r["step_name"]) for r in calls] == [
        ("gpt-4o-mini", 1000, 200, "graph"),
        ("gpt-4o-mini", 3000, 500, "graph"),
    ]
    assert _report(rt) == {"total_usd": round(price, 6), "model_calls": 2, "input_tokens": 4000, "output_tokens": 700}
    # OpenInference's content attributes stay out of our files (capture is off)
    for s in _spool_spans(rt):
        keys = _attr_keys(s)
        assert not any(k.startswith("llm.input_messages.") or k in ("input.value", "output.value") for k in keys)


def test_a_provider_set_up_twice_counts_each_foreign_call_once(make_runtime, exporter):
    from otel_agents import telemetry

    rt = make_runtime()
    telemetry.setup(provider=rt.provider, config=rt.config, plugin_manager=rt.pm, with_sinks=False, set_global=False)
    tracer = rt.provider.get_tracer("some.framework")
    with oa.workflow("w") as wf, wf.step("s"):
        with tracer.start_as_current_span("chat") as chat:
            chat.set_attributes({A.GEN_AI_REQUEST_MODEL: "gpt-4o", A.GEN_AI_USAGE_INPUT_TOKENS: 5})
    (wf_span,) = _ours(exporter, A.KIND_WORKFLOW)
    assert _rollup(wf_span)["model_calls"] == 1


def _token_sums(reader: Any) -> dict[str, int | float]:
    """Every GenAI counter's total over all attribute sets (tokens, cost)."""
    sums: dict[str, int | float] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name.startswith(("gen_ai.client.inference.usage.", "otel_agents.client.inference.cost")):
                    sums[metric.name] = sum(p.value for p in metric.data.data_points)
    return sums


def test_framework_calls_reach_the_genai_metrics_once(make_runtime, exporter):
    """The GenAI metrics count each model call once: pydantic-ai's own calls, and calls both
    pydantic-ai and the application recorded."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    rt = make_runtime(with_sinks=True, meter_provider=MeterProvider(metric_readers=[reader]))
    Agent.instrument_all(InstrumentationSettings(tracer_provider=rt.provider))
    try:
        usages = _run_agent(_agent()) + _run_agent(_agent(record=True))
    finally:
        Agent.instrument_all(False)
    want = _framework_totals(usages)
    assert want["model_calls"] == 4
    sums = _token_sums(reader)
    assert sums["gen_ai.client.inference.usage.input_tokens"] == want["input_tokens"] == 5400
    assert sums["gen_ai.client.inference.usage.output_tokens"] == want["output_tokens"] == 240
    assert sums["otel_agents.client.inference.cost"] == pytest.approx(want["cost"], abs=1e-12)
