"""The GenAI semantic conventions as they stand: whole attribute dicts per span kind, the
conversation id on every span of a conversation (API and Claude Code), the provider on every
model call, names only where they belong, error statuses, exceptions as log records, content
capture in the conventions' schemas, and older stored names still read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import StatusCode

import otel_agents as oa
from otel_agents import attributes as A, pricing, telemetry
from otel_agents.claude_code import capture
from otel_agents.claude_code.drain import drain
from otel_agents.config import load_config
from otel_agents.foundation.records import SpanData, build_record
from otel_agents.plugins import new_plugin_manager, set_plugin_manager
from otel_agents.redact import fingerprint

SONNET = "claude-sonnet-4-5"
COST = 0.011475  # Sonnet 4.5, input 3100 (2000 cache read, 100 cache write), output 500
GPT4O_COST = 10 * 2.5e-6 + 2 * 10e-6


def _conversation_ids(spans: Any) -> dict[str, Any]:
    """Each span's name and its ``gen_ai.conversation.id`` (None when missing)."""
    return {s.name: s.attributes.get(A.GEN_AI_CONVERSATION_ID) for s in spans}


def _assert_whole_conversation(spans: Any, conversation: str) -> None:
    """Fails if ANY span of the conversation lacks (or differs in) ``gen_ai.conversation.id``."""
    spans = list(spans)
    assert spans
    missing = {name: conv for name, conv in _conversation_ids(spans).items() if conv != conversation}
    assert missing == {}, f"spans without gen_ai.conversation.id {conversation!r}: {missing}"


def _rollup(inp: int, out: int, cr: int, cw: int, cost: float, calls: int) -> dict[str, Any]:
    return {
        A.ROLLUP_INPUT_TOKENS: inp,
        A.ROLLUP_OUTPUT_TOKENS: out,
        A.ROLLUP_CACHE_READ_INPUT_TOKENS: cr,
        A.ROLLUP_CACHE_WRITE_INPUT_TOKENS: cw,
        A.ROLLUP_REASONING_OUTPUT_TOKENS: 0,
        A.ROLLUP_COST_AMOUNT: cost,
        A.ROLLUP_COST_CURRENCY: "USD",
        A.ROLLUP_MODEL_CALLS: calls,
        A.ROLLUP_UNPRICED_MODEL_CALLS: 0,
    }


def test_a_conversation_full_attribute_dicts(runtime, exporter):
    """Every span kind of a conversation, attribute by attribute, against the conventions."""
    with oa.workflow("ship", workflow_id="wf-c", session_id="conv-1", model=SONNET) as wf:
        with wf.phase("build", number=1) as ph:
            with ph.step("coder", agent="coder", model=SONNET) as st:
                st.record_usage(
                    SONNET,  # no provider given: inferred from the price table
                    input_tokens=3100,
                    output_tokens=500,
                    cache_read_tokens=2000,
                    cache_write_tokens=100,
                    response_id="msg_1",
                    finish_reasons=["end_turn"],
                    server_address="api.anthropic.com",
                    server_port=443,
                )
                with st.tool_call("Bash", call_id="toolu_1", arguments={"command": "pytest -q"}, executable="pytest"):
                    pass
                with st.tool_call("Skill", call_id="toolu_2", skill="pdf-processing"):
                    pass
            with ph.step("lint", model="gpt-4o"):  # no agent: no GenAI operation
                pass
    by = {s.name: s for s in exporter.get_finished_spans()}
    assert sorted(by) == [
        "chat claude-sonnet-4-5",
        "execute_tool Bash pytest",
        "execute_tool Skill",
        "invoke_agent coder",
        "invoke_workflow ship",
        "phase build",
        "step lint",
    ]
    _assert_whole_conversation(by.values(), "conv-1")
    base = {A.WORKFLOW_ID: "wf-c", A.GEN_AI_CONVERSATION_ID: "conv-1"}
    assert dict(by["chat claude-sonnet-4-5"].attributes) == {
        **base,
        A.GEN_AI_OPERATION_NAME: "chat",
        A.GEN_AI_PROVIDER_NAME: "anthropic",
        A.GEN_AI_REQUEST_MODEL: SONNET,
        A.KIND: "model_call",
        A.GEN_AI_USAGE_INPUT_TOKENS: 3100,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 500,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 2000,
        A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 100,
        A.GEN_AI_RESPONSE_ID: "msg_1",
        A.GEN_AI_RESPONSE_FINISH_REASONS: ("end_turn",),
        A.SERVER_ADDRESS: "api.anthropic.com",
        A.SERVER_PORT: 443,
        A.GEN_AI_USAGE_COST_AMOUNT: COST,
        A.GEN_AI_USAGE_COST_CURRENCY: "USD",
        A.GEN_AI_USAGE_COST_SOURCE: "local",
    }
    args_len, args_hash = fingerprint({"command": "pytest -q"})
    tool_base = {
        **base,
        A.GEN_AI_OPERATION_NAME: "execute_tool",
        A.KIND: "tool_call",
        A.STEP_NAME: "coder",
        A.GEN_AI_AGENT_NAME: "coder",
        A.PHASE_NAME: "build",
        A.OUTCOME: "success",
    }
    assert dict(by["execute_tool Bash pytest"].attributes) == {
        **tool_base,
        A.GEN_AI_TOOL_NAME: "Bash",
        A.GEN_AI_TOOL_CALL_ID: "toolu_1",
        A.PROCESS_EXECUTABLE_NAME: "pytest",
        A.TOOL_ARGUMENTS_LENGTH: args_len,
        A.TOOL_ARGUMENTS_SHA256: args_hash,
    }
    assert dict(by["execute_tool Skill"].attributes) == {
        **tool_base,
        A.GEN_AI_TOOL_NAME: "Skill",
        A.GEN_AI_TOOL_CALL_ID: "toolu_2",
        A.GEN_AI_SKILL_NAME: "pdf-processing",
    }
    assert dict(by["invoke_agent coder"].attributes) == {
        **base,
        A.GEN_AI_OPERATION_NAME: "invoke_agent",
        A.GEN_AI_AGENT_NAME: "coder",
        A.GEN_AI_REQUEST_MODEL: SONNET,  # an agent's requested model
        A.KIND: "step",
        A.STEP_NAME: "coder",
        A.ATTEMPT: 1,
        A.PHASE_NAME: "build",
        A.WORKFLOW_NAME: "ship",  # ours: gen_ai.workflow.name is the workflow span's alone
        A.OUTCOME: "success",
        **_rollup(3100, 500, 2000, 100, COST, 1),
    }
    assert dict(by["step lint"].attributes) == {
        **base,
        A.KIND: "step",
        A.STEP_NAME: "lint",
        A.ATTEMPT: 1,
        A.MODEL: "gpt-4o",  # not gen_ai.request.model: viewers would type it a generation
        A.PHASE_NAME: "build",
        A.WORKFLOW_NAME: "ship",
        A.OUTCOME: "success",
        **_rollup(0, 0, 0, 0, 0.0, 0),
    }
    assert dict(by["phase build"].attributes) == {
        **base,
        A.KIND: "phase",
        A.PHASE_NAME: "build",
        A.PHASE_NUMBER: 1,
        A.WORKFLOW_NAME: "ship",
        A.OUTCOME: "success",
        **_rollup(3100, 500, 2000, 100, COST, 1),
    }
    assert dict(by["invoke_workflow ship"].attributes) == {
        **base,
        A.GEN_AI_OPERATION_NAME: "invoke_workflow",
        A.GEN_AI_WORKFLOW_NAME: "ship",
        A.KIND: "workflow",
        A.SESSION_ID: "conv-1",
        A.MODEL: SONNET,  # never gen_ai.request.model on the workflow span
        A.OUTCOME: "success",
        A.RETRY_COUNT: 0,
        **_rollup(3100, 500, 2000, 100, COST, 1),
    }


def test_the_conversation_check_fails_on_a_span_without_the_id(runtime, exporter):
    """The check itself: a span recorded in another process with no conversation id is caught."""
    from otel_agents.events import StepEvent

    with oa.workflow("w", workflow_id="wf-x", session_id="conv-x") as wf:
        with wf.step("s"):
            pass
        # a step whose start was seen elsewhere, under a parent not open here: nothing to inherit
        runtime.hook.step_end(event=StepEvent(workflow_id="wf-x", key="elsewhere", parent_key="gone", name="late"))
    spans = exporter.get_finished_spans()
    assert _conversation_ids(spans) == {"step s": "conv-x", "step late": None, "invoke_workflow w": "conv-x"}
    with pytest.raises(AssertionError, match="step late"):
        _assert_whole_conversation(spans, "conv-x")
    # ... and its event's conversation_id is how a replayed span keeps it
    exporter.clear()
    ev = StepEvent(workflow_id="wf-x", key="elsewhere2", parent_key="gone", name="late", conversation_id="conv-x")
    runtime.hook.step_end(event=ev)
    _assert_whole_conversation(exporter.get_finished_spans(), "conv-x")


def test_model_calls_and_threads_inherit_the_conversation(runtime, exporter):
    """Implicit parents (decorators, ``record_usage`` at module level, ``model_call``) too."""

    @oa.step("plan", agent="planner")
    def plan() -> None:
        oa.record_usage("gpt-4o", provider="openai", input_tokens=10, output_tokens=2)
        with oa.model_call("gpt-4o") as call:
            call.set_usage(input_tokens=10, output_tokens=2)
        with oa.tool_call("Read"):
            pass

    with oa.workflow("w", session_id="conv-2"):
        with oa.phase("p"):
            plan()
    spans = exporter.get_finished_spans()
    assert len(spans) == 6
    _assert_whole_conversation(spans, "conv-2")


def test_no_conversation_no_id(runtime, exporter):
    with oa.workflow("w") as wf:
        with wf.step("s") as st:
            st.record_usage("gpt-4o", provider="openai", input_tokens=10, output_tokens=2)
    assert set(_conversation_ids(exporter.get_finished_spans()).values()) == {None}


def test_provider_is_inferred_from_the_price_table_else_other(runtime, exporter):
    with oa.workflow("w") as wf:
        with wf.step("s") as st:
            st.record_usage("gpt-4o", input_tokens=10, output_tokens=2)
            st.record_usage("gemini-2.5-pro", input_tokens=10, output_tokens=2)
            st.record_usage("no-such-model-9", input_tokens=10, output_tokens=2)
            st.record_usage("no-such-model-9", provider="acme", input_tokens=10, output_tokens=2)
    calls = [s for s in exporter.get_finished_spans() if s.attributes[A.KIND] == "model_call"]
    assert [c.attributes[A.GEN_AI_PROVIDER_NAME] for c in calls] == ["openai", "gcp.gen_ai", "_OTHER", "acme"]
    assert calls[0].attributes[A.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(GPT4O_COST, rel=1e-12)
    assert A.GEN_AI_USAGE_COST_AMOUNT not in calls[2].attributes  # unknown: no cost, never 0


def test_claude_code_session_workflow_name_and_conversation(tmp_path, runtime, exporter):
    """A captured Claude Code session: every span carries the session id as its conversation;
    the workflow is named after the project; a subagent's id is ours, not gen_ai.agent.id;
    finish reasons come from the transcript; calls after a compaction say so."""
    sid = "sess-conv"
    home = str(tmp_path / "home")
    tr, sub = tmp_path / "t.jsonl", tmp_path / "sub.jsonl"
    t0 = 1_800_000_000_000_000_000

    def entry(mid: str, ns: int, stop: str, tools: tuple[str, ...] = ()) -> dict[str, Any]:
        from datetime import datetime, timezone

        ts = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        content = [{"type": "tool_use", "id": t, "name": "Task", "input": {}} for t in tools] or [
            {"type": "text", "text": "ok"}
        ]
        usage = {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        msg = {"id": mid, "model": SONNET, "role": "assistant", "content": content, "usage": usage, "stop_reason": stop}
        return {"type": "assistant", "requestId": f"req_{mid}", "timestamp": ts, "message": msg}

    s = 1_000_000_000
    tr.write_text(
        json.dumps(entry("m1", t0 + 2 * s, "tool_use", ("tTask",)))
        + "\n"
        + json.dumps(entry("m2", t0 + 9 * s, "end_turn"))
        + "\n"
    )
    sub.write_text(json.dumps(entry("s1", t0 + 4 * s, "end_turn")) + "\n")
    agent = {"agent_id": "a1", "agent_type": "Explore"}
    events = [
        ("SessionStart", {"source": "startup"}),
        ("UserPromptSubmit", {"prompt": "explore"}),
        ("PreToolUse", {"tool_name": "Task", "tool_use_id": "tTask", "tool_input": {}}),
        ("SubagentStart", agent),
        ("SubagentStop", {**agent, "agent_transcript_path": str(sub)}),
        ("PostToolUse", {"tool_name": "Task", "tool_use_id": "tTask", "tool_response": "ok"}),
        ("PreCompact", {"trigger": "auto"}),
        ("Stop", {}),
        ("SessionEnd", {"reason": "exit"}),
    ]
    for i, (name, fields) in enumerate(events):
        payload = {
            "session_id": sid,
            "transcript_path": str(tr),
            "cwd": "/home/dev/shop-api",
            "hook_event_name": name,
            **fields,
        }
        capture.handle(json.dumps(payload).encode(), t0 + (i + 1) * s, home, spawn=False)
    assert drain(home, rt=runtime, now_ns=t0 + 20 * s).errors == []
    spans = exporter.get_finished_spans()
    assert sorted(x.name for x in spans) == [
        "chat claude-sonnet-4-5",
        "chat claude-sonnet-4-5",
        "chat claude-sonnet-4-5",
        "execute_tool Task",
        "invoke_agent Explore",
        "invoke_agent claude-code",
        "invoke_workflow shop-api",
        "phase turn",
    ]
    _assert_whole_conversation(spans, sid)
    by = {x.name: x for x in spans}
    root = by["invoke_workflow shop-api"]
    assert root.attributes[A.GEN_AI_WORKFLOW_NAME] == "shop-api"
    for x in spans:
        if x is not root:
            assert A.GEN_AI_WORKFLOW_NAME not in x.attributes, x.name
    for name in ("phase turn", "invoke_agent claude-code", "invoke_agent Explore"):
        assert by[name].attributes[A.WORKFLOW_NAME] == "shop-api"
    explore = by["invoke_agent Explore"]
    assert explore.attributes[A.AGENT_ID] == "a1" and "gen_ai.agent.id" not in explore.attributes
    chats = sorted((x for x in spans if x.name.startswith("chat")), key=lambda x: x.attributes[A.GEN_AI_RESPONSE_ID])
    assert [
        (
            c.attributes[A.GEN_AI_RESPONSE_ID],
            c.attributes[A.GEN_AI_RESPONSE_FINISH_REASONS],
            c.attributes.get(A.GEN_AI_CONVERSATION_COMPACTED),
        )
        for c in chats
    ] == [("m1", ("tool_use",), None), ("m2", ("end_turn",), True), ("s1", ("end_turn",), None)]


def test_a_claude_code_session_without_a_project_has_no_workflow_name(tmp_path, runtime, exporter):
    home = str(tmp_path / "home")
    for i, name in enumerate(("SessionStart", "SessionEnd")):
        payload = {"session_id": "s-np", "transcript_path": "/none.jsonl", "hook_event_name": name}
        capture.handle(json.dumps(payload).encode(), 1_000_000_000_000 + i, home, spawn=False)
    drain(home, rt=runtime)
    (root,) = exporter.get_finished_spans()
    assert root.name == "invoke_workflow"
    assert A.GEN_AI_WORKFLOW_NAME not in root.attributes
    assert root.attributes[A.GEN_AI_CONVERSATION_ID] == "s-np"


def test_error_status_never_repeats_error_type(runtime, exporter):
    with oa.workflow("w") as wf:
        wf.step("a").start().fail(ValueError())  # no message
        wf.step("b").start().fail(ValueError("bad input"))
        wf.step("c").start().fail("quota_exceeded", error_type="quota_exceeded")
        wf.step("d").start().fail("disk full", error_type="io_error")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    got = {
        n: (spans[n].status.status_code, spans[n].status.description, spans[n].attributes[A.ERROR_TYPE])
        for n in ("step a", "step b", "step c", "step d")
    }
    assert got == {
        "step a": (StatusCode.ERROR, None, "ValueError"),
        "step b": (StatusCode.ERROR, "bad input", "ValueError"),
        "step c": (StatusCode.ERROR, None, "quota_exceeded"),
        "step d": (StatusCode.ERROR, "disk full", "io_error"),
    }


def _runtime_with_logs(exporter: Any) -> tuple[telemetry.Runtime, InMemoryLogRecordExporter]:
    pricing.load()
    logs = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    pm = new_plugin_manager(load_entry_points=False)
    set_plugin_manager(pm)
    rt = telemetry.setup(
        provider=TracerProvider(),
        config=load_config(),
        plugin_manager=pm,
        span_processors=[SimpleSpanProcessor(exporter)],
        with_sinks=False,
        set_global=False,
        logger_provider=provider,
    )
    return rt, logs


@pytest.mark.parametrize(
    ("opt_in", "as_event", "as_log"), [("", True, False), ("logs", False, True), ("logs/dup", True, True)]
)
def test_exceptions_as_log_records_when_asked(exporter, monkeypatch, opt_in, as_event, as_log):
    monkeypatch.setenv("OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN", opt_in)
    _rt, logs = _runtime_with_logs(exporter)
    with oa.workflow("w") as wf:
        wf.step("s").start().fail(ValueError("bad token sk-ant-abcdefghijklmnop"))
    step = next(s for s in exporter.get_finished_spans() if s.name == "step s")
    assert [e.name for e in step.events] == (["exception"] if as_event else [])
    records = [r.log_record for r in logs.get_finished_logs()]
    assert len(records) == (1 if as_log else 0)
    if as_log:
        (rec,) = records
        attrs = dict(rec.attributes)
        assert (rec.event_name, rec.severity_text, rec.span_id, rec.trace_id) == (
            "exception",
            "ERROR",
            step.context.span_id,
            step.context.trace_id,
        )
        assert attrs[A.EXCEPTION_TYPE] == "ValueError"
        assert attrs[A.EXCEPTION_MESSAGE] == "bad token [REDACTED]"
        assert attrs[A.EXCEPTION_STACKTRACE].endswith("ValueError: bad token [REDACTED]\n")


_SYSTEM = "You are terse. Key sk-ant-abcdefghijklmnop"
_INPUT = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_9", "name": "weather", "input": {"city": "Paris"}}],
    },
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "rainy"}]},
]
_OUTPUT = "Rainy, 14 °C."
_WANT = {
    A.GEN_AI_SYSTEM_INSTRUCTIONS: [{"type": "text", "content": "You are terse. Key [REDACTED]"}],
    A.GEN_AI_INPUT_MESSAGES: [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "name": "weather", "id": "toolu_9", "arguments": {"city": "Paris"}}],
        },
        {"role": "user", "parts": [{"type": "tool_call_response", "id": "toolu_9", "result": "rainy"}]},
    ],
    A.GEN_AI_OUTPUT_MESSAGES: [
        {"role": "assistant", "parts": [{"type": "text", "content": "Rainy, 14 °C."}], "finish_reason": "end_turn"}
    ],
}


def _plain(value: Any) -> Any:
    """A log record's structured attribute (tuples for lists) as plain JSON values."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize(
    ("mode", "capture_content", "on_span", "on_event"),
    [
        (None, False, False, False),  # the default: no content anywhere
        (None, True, True, False),  # capture_content alone: on the span
        ("NO_CONTENT", True, False, False),  # the conventions' variable wins
        ("SPAN_ONLY", False, True, False),
        ("EVENT_ONLY", False, False, True),
        ("SPAN_AND_EVENT", False, True, True),
    ],
)
def test_content_capture_in_the_conventions_form(exporter, monkeypatch, mode, capture_content, on_span, on_event):
    if mode is not None:
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", mode)
    monkeypatch.setenv("OTEL_AGENTS_CAPTURE_CONTENT", "true" if capture_content else "false")
    _rt, logs = _runtime_with_logs(exporter)
    with oa.workflow("w", session_id="conv-3") as wf:
        with wf.step("s", agent="a") as st:
            st.record_usage(
                SONNET,
                provider="anthropic",
                input_tokens=100,
                output_tokens=10,
                response_id="msg_7",
                finish_reasons=["end_turn"],
                system_instructions=_SYSTEM,
                input_messages=_INPUT,
                output_messages=_OUTPUT,
            )
    chat = next(s for s in exporter.get_finished_spans() if s.name.startswith("chat"))
    content_keys = set(_WANT)
    on = {k: json.loads(v) for k, v in chat.attributes.items() if k in content_keys}
    assert on == (_WANT if on_span else {})
    records = [r.log_record for r in logs.get_finished_logs()]
    if not on_event:
        assert records == []
        return
    (rec,) = records
    assert rec.event_name == "gen_ai.client.inference.operation.details"
    assert (rec.trace_id, rec.span_id) == (chat.context.trace_id, chat.context.span_id)
    assert {k: _plain(v) for k, v in rec.attributes.items()} == {
        A.GEN_AI_OPERATION_NAME: "chat",
        A.GEN_AI_PROVIDER_NAME: "anthropic",
        A.GEN_AI_REQUEST_MODEL: SONNET,
        A.GEN_AI_RESPONSE_ID: "msg_7",
        A.GEN_AI_CONVERSATION_ID: "conv-3",
        A.GEN_AI_RESPONSE_FINISH_REASONS: ["end_turn"],
        **_WANT,
    }


def test_the_tracer_names_its_schema(runtime, exporter):
    with oa.workflow("w"):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.instrumentation_scope.schema_url == A.SCHEMA_URL == "https://opentelemetry.io/schemas/1.44.0"


def test_records_read_the_new_names_and_older_stored_ones():
    """A phase's workflow name moved to our namespace and the Langfuse-only cost total is
    gone: records of new spans and of spans stored by older versions read the same."""

    def rec(attrs: dict[str, Any]) -> dict[str, Any]:
        r = build_record(SpanData("x", "ab" * 16, "cd" * 8, None, 1, 2, attributes=attrs))
        assert r is not None
        return r

    phase = {A.KIND: "phase", A.WORKFLOW_ID: "wf", A.PHASE_NAME: "build"}
    assert rec({**phase, A.WORKFLOW_NAME: "ship"})["workflow_name"] == "ship"
    assert rec({**phase, A.GEN_AI_WORKFLOW_NAME: "ship"})["workflow_name"] == "ship"  # older spool
    call = {A.KIND: "model_call", A.WORKFLOW_ID: "wf", A.GEN_AI_REQUEST_MODEL: SONNET}
    assert rec({**call, A.GEN_AI_USAGE_COST_AMOUNT: 0.25})["cost_usd"] == 0.25
    assert rec({**call, "gen_ai.usage.cost": 0.25})["cost_usd"] == 0.25  # older spool: the total only
    wf = {A.KIND: "workflow", A.WORKFLOW_ID: "wf", A.GEN_AI_WORKFLOW_NAME: "ship"}
    assert rec({**wf, A.MODEL: SONNET})["model"] == SONNET
    assert rec({**wf, A.GEN_AI_REQUEST_MODEL: SONNET})["model"] == SONNET  # older spool


def test_budget_plugin_attributes_are_namespaced():
    import otel_agents_budget

    src = Path(otel_agents_budget.__file__).read_text()
    assert '"budget.usd"' not in src.replace('get("budget.usd")', "") and '"cost.usd"' not in src
    assert all(k.startswith("otel_agents.budget.") for k in (A.BUDGET_USD, A.BUDGET_COST_USD, A.BUDGET_WORKFLOW_NAME))


def test_anthropic_sdk_blocks_become_parts():
    """The Anthropic SDK's own content blocks (objects, not dicts) map to the schema's parts."""
    from anthropic.types import TextBlock, ToolUseBlock

    from otel_agents.genai_content import output_messages

    blocks = [
        TextBlock(type="text", text="Checking."),
        ToolUseBlock(type="tool_use", id="toolu_1", name="w", input={"a": 1}),
    ]
    assert output_messages([{"role": "assistant", "content": blocks}], ("tool_use",)) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Checking."},
                {"type": "tool_call", "name": "w", "id": "toolu_1", "arguments": {"a": 1}},
            ],
            "finish_reason": "tool_use",
        }
    ]


def test_claude_code_tool_refinements_with_content_capture(tmp_path, make_runtime, exporter, monkeypatch):
    """With content captured, a Skill call names its skill and a one-command Bash call its
    program; a compound command, or no captured content, names none (never a guess)."""
    monkeypatch.setenv("OTEL_AGENTS_CAPTURE_CONTENT", "true")
    runtime = make_runtime()
    home = str(tmp_path / "home")
    calls = [
        ("t1", "Bash", {"command": "pytest -q tests"}),
        ("t2", "Bash", {"command": "cd app && make"}),
        ("t3", "Skill", {"skill": "pdf-processing"}),
    ]
    events: list[dict[str, Any]] = [{"hook_event_name": "SessionStart"}, {"hook_event_name": "UserPromptSubmit"}]
    for tuid, tool, args in calls:
        common = {"tool_name": tool, "tool_use_id": tuid, "tool_input": args}
        events += [{"hook_event_name": "PreToolUse", **common}, {"hook_event_name": "PostToolUse", **common}]
    events += [{"hook_event_name": "Stop"}, {"hook_event_name": "SessionEnd"}]
    for i, e in enumerate(events):
        payload = {"session_id": "s-r", "transcript_path": "/none.jsonl", "cwd": "/w/proj", **e}
        capture.handle(json.dumps(payload).encode(), 1_000_000_000_000 + i * 1_000_000, home, spawn=False)
    drain(home, rt=runtime)
    tools = {
        s.attributes[A.GEN_AI_TOOL_CALL_ID]: s
        for s in exporter.get_finished_spans()
        if s.name.startswith("execute_tool")
    }
    got = {
        k: (s.name, s.attributes.get(A.PROCESS_EXECUTABLE_NAME), s.attributes.get(A.GEN_AI_SKILL_NAME))
        for k, s in tools.items()
    }
    assert got == {
        "t1": ("execute_tool Bash pytest", "pytest", None),
        "t2": ("execute_tool Bash", None, None),
        "t3": ("execute_tool Skill", None, "pdf-processing"),
    }
    _assert_whole_conversation(exporter.get_finished_spans(), "s-r")


def test_claude_code_prompt_is_the_turns_first_model_call_input_with_capture(
    tmp_path, make_runtime, exporter, monkeypatch
):
    """With content captured, a turn's prompt is the input of its first model call, in the
    conventions' form (gen_ai.input.messages); later calls of the turn carry none, and without
    capture no call carries content."""
    session_file = tmp_path / "s-p.jsonl"

    def entry(mid: str, ts: str) -> dict[str, Any]:
        usage = {"input_tokens": 10, "output_tokens": 5}
        msg = {"id": mid, "model": "claude-sonnet-4-5", "role": "assistant", "content": [], "usage": usage}
        return {"type": "assistant", "sessionId": "s-p", "timestamp": ts, "uuid": mid, "message": msg}

    session_file.write_text(
        json.dumps(entry("msg_1", "2026-01-01T00:00:01Z"))
        + "\n"
        + json.dumps(entry("msg_2", "2026-01-01T00:00:02Z"))
        + "\n"
    )
    t0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
    events = [
        ({"hook_event_name": "SessionStart"}, t0),
        ({"hook_event_name": "UserPromptSubmit", "prompt": "fix the flaky test"}, t0 + 500_000_000),
        ({"hook_event_name": "Stop"}, t0 + 3_000_000_000),
        ({"hook_event_name": "SessionEnd"}, t0 + 4_000_000_000),
    ]

    def chats(capture_on: bool) -> list[Any]:
        monkeypatch.setenv("OTEL_AGENTS_CAPTURE_CONTENT", "true" if capture_on else "false")
        exporter.clear()
        home = str(tmp_path / f"home-{capture_on}")
        runtime = make_runtime()
        for e, t in events:
            payload = {"session_id": "s-p", "transcript_path": str(session_file), "cwd": "/w/proj", **e}
            capture.handle(json.dumps(payload).encode(), t, home, spawn=False)
        drain(home, rt=runtime)
        return sorted(
            (s for s in exporter.get_finished_spans() if s.name.startswith("chat")), key=lambda s: s.start_time
        )

    first, second = chats(True)
    assert json.loads(first.attributes[A.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "fix the flaky test"}]}
    ]
    assert A.GEN_AI_INPUT_MESSAGES not in second.attributes
    assert all(A.GEN_AI_INPUT_MESSAGES not in s.attributes for s in chats(False))
