"""The default spans plugin: names, kinds, full attribute dicts, cost, roll-ups, failures, ids."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import otel_agents as oa
from otel_agents import attributes as A
from otel_agents.events import SpanParent, StepEvent
from otel_agents.ids import span_id_for, trace_id_for
from otel_agents.redact import fingerprint
from otel_agents.spans import STEP_TEXT_FIELDS, USAGE_TEXT_FIELDS

SONNET = "claude-sonnet-4-5"
# Sonnet 4.5: input 3100 (2000 cache read, 100 cache write), output 500 -> $0.011475 (REFERENCE §2):
# 1000 * 3 + 2000 * 0.3 + 100 * 3.75 + 500 * 15 = 11475 per million.
COST = 0.011475


def _by_name(spans):
    return {s.name: s for s in spans}


def _rollup(inp, out, cr, cw, cost, calls, unpriced=0, reasoning=0):
    return {
        A.ROLLUP_INPUT_TOKENS: inp,
        A.ROLLUP_OUTPUT_TOKENS: out,
        A.ROLLUP_CACHE_READ_INPUT_TOKENS: cr,
        A.ROLLUP_CACHE_WRITE_INPUT_TOKENS: cw,
        A.ROLLUP_REASONING_OUTPUT_TOKENS: reasoning,
        A.ROLLUP_COST_AMOUNT: cost,
        A.ROLLUP_COST_CURRENCY: "USD",
        A.ROLLUP_MODEL_CALLS: calls,
        A.ROLLUP_UNPRICED_MODEL_CALLS: unpriced,
    }


def test_one_step_full_attribute_dicts(runtime, exporter):
    with oa.workflow("ship", workflow_id="wf-1", template="sdlc", issue_id="42", complexity="low") as wf:
        with wf.phase("build", number=2) as ph:
            with ph.step("coder", agent="coder", attempt=1, skill="edit", command="/build", model=SONNET) as st:
                st.record_usage(
                    SONNET,
                    provider="anthropic",
                    input_tokens=3100,
                    output_tokens=500,
                    cache_read_tokens=2000,
                    cache_write_tokens=100,
                    response_id="msg_1",
                )
                with st.tool_call("Bash", call_id="toolu_1", arguments={"command": "pytest"}) as tc:
                    tc.set_result("1 passed")

    chat, tool, step, phase, workflow = exporter.get_finished_spans()
    assert [chat.name, tool.name, step.name, phase.name, workflow.name] == [
        "chat claude-sonnet-4-5",
        "execute_tool Bash",
        "invoke_agent coder",
        "phase build",
        "invoke_workflow ship",
    ]
    assert chat.kind is SpanKind.CLIENT
    assert {s.kind for s in (tool, step, phase, workflow)} == {SpanKind.INTERNAL}
    assert dict(chat.attributes) == {
        A.GEN_AI_OPERATION_NAME: "chat",
        A.GEN_AI_REQUEST_MODEL: SONNET,
        A.KIND: "model_call",
        A.WORKFLOW_ID: "wf-1",
        A.GEN_AI_USAGE_INPUT_TOKENS: 3100,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 500,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 2000,
        A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 100,
        A.GEN_AI_PROVIDER_NAME: "anthropic",
        A.GEN_AI_RESPONSE_ID: "msg_1",
        A.GEN_AI_USAGE_COST_AMOUNT: COST,
        A.GEN_AI_USAGE_COST_CURRENCY: "USD",
        A.GEN_AI_USAGE_COST_SOURCE: "local",
    }
    args_len, args_hash = fingerprint({"command": "pytest"})
    res_len, res_hash = fingerprint("1 passed")
    assert dict(tool.attributes) == {
        A.GEN_AI_OPERATION_NAME: "execute_tool",
        A.GEN_AI_TOOL_NAME: "Bash",
        A.KIND: "tool_call",
        A.WORKFLOW_ID: "wf-1",
        A.GEN_AI_TOOL_CALL_ID: "toolu_1",
        A.STEP_NAME: "coder",
        A.GEN_AI_AGENT_NAME: "coder",
        A.PHASE_NAME: "build",
        A.TOOL_ARGUMENTS_LENGTH: args_len,
        A.TOOL_ARGUMENTS_SHA256: args_hash,
        A.OUTCOME: "success",
        A.TOOL_RESULT_LENGTH: res_len,
        A.TOOL_RESULT_SHA256: res_hash,
    }
    assert dict(step.attributes) == {
        A.KIND: "step",
        A.WORKFLOW_ID: "wf-1",
        A.STEP_NAME: "coder",
        A.ATTEMPT: 1,
        A.GEN_AI_OPERATION_NAME: "invoke_agent",
        A.GEN_AI_AGENT_NAME: "coder",
        A.SKILL: "edit",
        A.COMMAND: "/build",
        A.GEN_AI_REQUEST_MODEL: SONNET,
        A.PHASE_NAME: "build",
        A.WORKFLOW_NAME: "ship",
        A.OUTCOME: "success",
        **_rollup(3100, 500, 2000, 100, COST, 1),
    }
    assert dict(phase.attributes) == {
        A.KIND: "phase",
        A.WORKFLOW_ID: "wf-1",
        A.PHASE_NAME: "build",
        A.PHASE_NUMBER: 2,
        A.WORKFLOW_NAME: "ship",
        A.WORKFLOW_TEMPLATE: "sdlc",
        A.OUTCOME: "success",
        **_rollup(3100, 500, 2000, 100, COST, 1),
    }
    assert dict(workflow.attributes) == {
        A.GEN_AI_OPERATION_NAME: "invoke_workflow",
        A.GEN_AI_WORKFLOW_NAME: "ship",
        A.KIND: "workflow",
        A.WORKFLOW_ID: "wf-1",
        A.WORKFLOW_TEMPLATE: "sdlc",
        A.ISSUE_ID: "42",
        A.COMPLEXITY: "low",
        A.OUTCOME: "success",
        A.RETRY_COUNT: 0,
        **_rollup(3100, 500, 2000, 100, COST, 1),
    }
    # Tree: chat and tool under the step, step under the phase, phase under the workflow.
    assert chat.parent.span_id == step.context.span_id
    assert tool.parent.span_id == step.context.span_id
    assert step.parent.span_id == phase.context.span_id
    assert phase.parent.span_id == workflow.context.span_id
    assert workflow.parent is None
    assert {s.context.trace_id for s in (chat, tool, step, phase, workflow)} == {trace_id_for("wf-1")}


def test_provider_cost_wins_and_unknown_model_has_reason(runtime, exporter):
    with oa.workflow("w", workflow_id="wf-2") as wf:
        with wf.step("s") as st:
            st.record_usage(
                SONNET,
                provider="anthropic",
                input_tokens=3100,
                output_tokens=500,
                cache_read_tokens=2000,
                cache_write_tokens=100,
                cost=0.5,
            )
            st.record_usage("no-such-model-9", provider="anthropic", input_tokens=10, output_tokens=5)
    provider_call, unknown_call, step, workflow = exporter.get_finished_spans()
    assert provider_call.attributes[A.GEN_AI_USAGE_COST_AMOUNT] == 0.5
    assert provider_call.attributes[A.GEN_AI_USAGE_COST_SOURCE] == "provider"
    assert dict(unknown_call.attributes) == {
        A.GEN_AI_OPERATION_NAME: "chat",
        A.GEN_AI_REQUEST_MODEL: "no-such-model-9",
        A.KIND: "model_call",
        A.WORKFLOW_ID: "wf-2",
        A.GEN_AI_USAGE_INPUT_TOKENS: 10,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
        A.GEN_AI_PROVIDER_NAME: "anthropic",
        A.COST_UNAVAILABLE_REASON: "unknown_model",
    }
    # A step directly under the workflow: name "step s" (no agent), roll-ups count both calls.
    assert step.name == "step s"
    expected = _rollup(3110, 505, 2000, 100, 0.5, 2, unpriced=1)
    assert {k: step.attributes[k] for k in expected} == expected
    assert {k: workflow.attributes[k] for k in expected} == expected


def test_failure_retry_and_error_attributes(runtime, exporter):
    with oa.workflow("w", workflow_id="wf-3") as wf:
        with wf.phase("test", number=1) as ph:
            st = ph.step("tester", agent="tester", attempt=1).start()
            st.fail(TimeoutError("pytest exceeded 120s"))
            with ph.step("tester", agent="tester", attempt=2):
                pass
    first, second, phase, workflow = exporter.get_finished_spans()
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == "pytest exceeded 120s"  # never a repeat of error.type
    assert first.attributes[A.ERROR_TYPE] == "TimeoutError"
    assert first.attributes[A.ERROR_MESSAGE] == "TimeoutError: pytest exceeded 120s"
    assert first.attributes[A.OUTCOME] == "failure"
    (exc_event,) = first.events
    assert exc_event.name == "exception"
    assert exc_event.attributes["exception.type"] == "TimeoutError"
    assert exc_event.attributes["exception.message"] == "pytest exceeded 120s"
    assert second.status.status_code is StatusCode.UNSET
    assert second.attributes[A.ATTEMPT] == 2
    assert first.context.span_id != second.context.span_id
    assert workflow.attributes[A.RETRY_COUNT] == 1  # seed 002: retries = attempts - 1
    assert workflow.attributes[A.OUTCOME] == "success"


def test_exception_in_with_block_propagates_and_is_recorded(runtime, exporter):
    class Boom(RuntimeError):
        pass

    try:
        with oa.workflow("w", workflow_id="wf-4"):
            raise Boom("kaput")
    except Boom as exc:
        assert exc.__traceback__ is not None
    else:  # pragma: no cover
        raise AssertionError("the executor's exception must propagate")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    boom = f"{__name__}.test_exception_in_with_block_propagates_and_is_recorded.<locals>.Boom"
    assert span.attributes[A.ERROR_TYPE] == boom
    (event,) = span.events
    assert event.name == "exception"
    assert sorted(event.attributes) == ["exception.message", "exception.stacktrace", "exception.type"]  # no escaped
    assert event.attributes["exception.type"] == boom
    assert event.attributes["exception.message"] == "kaput"


def test_abandoned_outcome(runtime, exporter):
    with oa.workflow("w", workflow_id="wf-5") as wf:
        with wf.step("s") as st:
            st.tool_call("Read", call_id="t1").start().abandon()
    tool = exporter.get_finished_spans()[0]
    assert tool.attributes[A.OUTCOME] == "abandoned"
    assert tool.status.status_code is StatusCode.UNSET


def test_span_started_in_one_process_and_ended_in_another(make_runtime, exporter):
    """Start and end are separate hook calls; the end may come from a replayed log."""
    t_start, t_end = 1_700_000_000_000_000_000, 1_700_000_002_500_000_000
    rt = make_runtime()
    # "Process A" saw only the start; "process B" (this runtime, fresh state) gets the end.
    event = StepEvent(
        workflow_id="wf-x",
        key="workflow/step:build",
        parent_key="workflow",
        name="build",
        agent="coder",
        start_time=t_start,
        end_time=t_end,
    )
    rt.hook.step_end(event=event)
    (span,) = exporter.get_finished_spans()
    assert span.name == "invoke_agent coder"
    assert (span.start_time, span.end_time) == (t_start, t_end)
    assert span.context.trace_id == trace_id_for("wf-x")
    assert span.context.span_id == span_id_for("wf-x", "workflow/step:build")
    assert span.parent.span_id == span_id_for("wf-x", "workflow")
    assert span.parent.is_remote


def test_explicit_parent_and_times(runtime, exporter):
    parent = SpanParent(trace_id=0xABC, span_id=0xDEF)
    wf = oa.new_workflow("w", workflow_id="wf-6", start_time=10**18)
    wf.event.parent = parent
    wf.start()
    wf.event.end_time = 10**18 + 5
    wf.stop()
    (span,) = exporter.get_finished_spans()
    assert span.context.trace_id == 0xABC
    assert span.parent.span_id == 0xDEF
    assert (span.start_time, span.end_time) == (10**18, 10**18 + 5)


def test_ids_are_deterministic_across_runs(make_runtime, exporter):
    make_runtime()

    def run(**kw):
        with oa.workflow("w", workflow_id="same-id", **kw) as wf:
            with wf.phase("p") as ph:
                with ph.step("s"):
                    pass

    run()
    first = [(s.name, s.context.trace_id, s.context.span_id) for s in exporter.get_finished_spans()]
    exporter.clear()
    run()
    second = [(s.name, s.context.trace_id, s.context.span_id) for s in exporter.get_finished_spans()]
    assert first == second
    assert {t for _, t, _ in first} == {trace_id_for("same-id")}
    # Opting out: a rerun with the same workflow id is a new trace with new span ids.
    exporter.clear()
    run(deterministic_ids=False)
    third = [(s.name, s.context.trace_id, s.context.span_id) for s in exporter.get_finished_spans()]
    assert {t for _, t, _ in third}.isdisjoint({t for _, t, _ in first})
    assert {i for _, _, i in third}.isdisjoint({i for _, _, i in first})


def test_capture_content_is_opt_in_and_redacted(make_runtime, exporter, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_CAPTURE_CONTENT", "true")
    make_runtime()
    with oa.workflow("w", workflow_id="wf-7") as wf:
        with wf.step("s") as st:
            with st.tool_call("Bash", arguments={"command": "curl -H 'Authorization: Bearer abcdefghijklmnop' x"}):
                pass
    tool = exporter.get_finished_spans()[0]
    assert tool.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS] == (
        '{"command":"curl -H \'Authorization: Bearer [REDACTED]\' x"}'
    )
    assert A.TOOL_ARGUMENTS_SHA256 not in tool.attributes


def test_demo_totals_are_exact(runtime, exporter):
    from otel_agents.demo import PLAN, run_demo
    from otel_agents.pricing import price_of

    run_demo(workflow_id="demo-1", pace=0)
    spans = exporter.get_finished_spans()
    (workflow,) = [s for s in spans if s.attributes[A.KIND] == "workflow"]
    calls = []
    for spec in PLAN:
        attempts = 2 if spec.get("fail_first") else 1
        calls += [(spec["model"], u) for u in spec["usage"]] * attempts
    assert workflow.attributes[A.ROLLUP_MODEL_CALLS] == len(calls) == 6
    assert workflow.attributes[A.ROLLUP_INPUT_TOKENS] == sum(u[0] for _, u in calls) == 85600
    assert workflow.attributes[A.ROLLUP_OUTPUT_TOKENS] == sum(u[1] for _, u in calls) == 4850
    assert workflow.attributes[A.ROLLUP_CACHE_READ_INPUT_TOKENS] == sum(u[2] for _, u in calls) == 66500
    assert workflow.attributes[A.ROLLUP_CACHE_WRITE_INPUT_TOKENS] == sum(u[3] for _, u in calls) == 12000
    expected_cost = sum(
        price_of(m, "anthropic", input_tokens=i, output_tokens=o, cache_read_tokens=r, cache_write_tokens=w).total
        for m, (i, o, r, w) in calls
    )
    assert workflow.attributes[A.ROLLUP_COST_AMOUNT] == round(expected_cost, 12) == 0.1337
    assert workflow.attributes[A.RETRY_COUNT] == 1
    chat_total = sum(s.attributes[A.GEN_AI_USAGE_COST_AMOUNT] for s in spans if s.attributes[A.KIND] == "model_call")
    assert round(chat_total, 12) == 0.1337
    names = sorted({s.name for s in spans})
    assert names == [
        "chat claude-haiku-4-5",
        "chat claude-sonnet-4-5",
        "execute_tool Bash",
        "execute_tool Edit",
        "execute_tool Grep",
        "execute_tool Read",
        "invoke_agent coder",
        "invoke_agent planner",
        "invoke_agent reviewer",
        "invoke_agent tester",
        "invoke_workflow fix-cart-total",
        "phase build",
        "phase plan",
        "phase review",
        "phase test",
    ]
    errors = [s.name for s in spans if s.status.status_code is StatusCode.ERROR]
    assert errors == ["execute_tool Bash", "invoke_agent tester"]


def test_error_text_is_redacted(runtime, exporter):
    with oa.workflow("w", workflow_id="wf-8") as wf:
        with wf.step("s") as st:
            st.fail(ConnectionError("GET https://bob:hunter2@db.internal failed, token sk-ant-abcdefghijklmnop"))
    step = exporter.get_finished_spans()[0]
    expected = "ConnectionError: GET https://bob:[REDACTED]@db.internal failed, token [REDACTED]"
    assert step.attributes[A.ERROR_MESSAGE] == expected
    assert step.status.description == expected.removeprefix("ConnectionError: ")
    (event,) = step.events
    assert event.attributes["exception.message"] == "GET https://bob:[REDACTED]@db.internal failed, token [REDACTED]"


def test_lone_surrogates_become_valid_text_in_every_span(runtime, exporter):
    """A file name decoded with surrogateescape, in a name, a start attribute, an end
    attribute or a model id, would fail every sink's encoder: each becomes U+FFFD."""
    bad = "caf\udce9.py"
    with oa.workflow(f"w-{bad}", workflow_id="wf-s") as wf:
        with wf.step(bad, agent="coder") as st:
            st.record_usage(
                f"model-{bad}",
                provider="anthropic",
                input_tokens=1,
                output_tokens=1,
                attributes={"app.file": bad, "app.files": ("ok", bad)},
            )
            with st.tool_call("Read", arguments={"path": bad}):
                pass
            st.set_attribute("app.end", bad)
    spans = exporter.get_finished_spans()
    good = "caf\ufffd.py"
    for span in spans:
        for text in (span.name, *[v for v in span.attributes.values() if isinstance(v, str)]):
            text.encode("utf-8")  # no lone surrogate left anywhere
    by = _by_name(spans)
    assert f"invoke_workflow w-{good}" in by and f"chat model-{good}" in by
    step = by["invoke_agent coder"]
    assert step.attributes[A.STEP_NAME] == good and step.attributes["app.end"] == good
    chat = by[f"chat model-{good}"]
    assert chat.attributes["app.file"] == good and chat.attributes["app.files"] == ("ok", good)
    assert chat.attributes[A.GEN_AI_REQUEST_MODEL] == f"model-{good}"


_BAD = "x\udce9y"
_GOOD = "x\ufffdy"


def _make_step(field: str) -> dict:
    """Keyword arguments for workflow / phase / step / record_usage with ``field`` bad."""
    kw = {
        "workflow": {"name": "w", "workflow_id": "wf-f"},
        "phase": {"name": "p"},
        "step": {"name": "s", "agent": "a"},
        "usage": {"model": "claude-sonnet-4-5", "provider": "anthropic"},
    }
    where = {
        "workflow_id": ("workflow", "workflow_id"),
        "workflow_name": ("workflow", "name"),
        "phase_name": ("phase", "name"),
        "response_model": ("usage", "response_model"),
        "response_id": ("usage", "response_id"),
        "provider": ("usage", "provider"),
        "server_address": ("usage", "server_address"),
        "finish_reasons": ("usage", "finish_reasons"),
    }
    part, key = where.get(field, ("step", field))
    kw[part][key] = (_BAD,) if field == "finish_reasons" else _BAD
    return kw


@pytest.mark.parametrize("field", sorted(set(STEP_TEXT_FIELDS) | set(USAGE_TEXT_FIELDS) | {"usage_model"}))
def test_every_text_field_of_a_step_and_a_model_call_is_made_valid(runtime, exporter, field):
    """The step and model-call spans skip the per-attribute check when their text fields are
    ASCII: each of those fields, made invalid, must still come out as U+FFFD."""
    kw = _make_step("model" if field == "usage_model" else field)
    if field == "usage_model":
        kw["usage"]["model"] = _BAD
    elif field == "model":
        kw["step"]["model"] = _BAD
    with oa.workflow(**kw["workflow"]) as wf:
        with wf.phase(**kw["phase"]) as ph:
            with ph.step(**kw["step"]) as st:
                st.record_usage(input_tokens=1, output_tokens=1, **kw["usage"])
    texts = []
    for span in exporter.get_finished_spans():
        texts += [span.name, *[v for v in span.attributes.values() if isinstance(v, str)]]
        texts += [t for v in span.attributes.values() if isinstance(v, tuple) for t in v if isinstance(t, str)]
    for text in texts:
        text.encode("utf-8")
    assert any(_GOOD in t for t in texts), texts


def test_step_and_model_call_strings_come_only_from_the_checked_fields(runtime, exporter):
    """Every string of a step's and a model call's span is a constant or one of the fields
    the fast check looks at: a new field must be added to STEP_TEXT_FIELDS /
    USAGE_TEXT_FIELDS, or it would skip the check."""
    from otel_agents.events import Outcome

    constants = {v for v in vars(A).values() if isinstance(v, str)} | {o.value for o in Outcome}
    constants |= {"USD", "local", "provider", "unknown_model", "invalid_usage"}  # cost currency, source, reason
    with oa.workflow("<workflow_name>", workflow_id="<workflow_id>") as wf:
        with wf.phase("<phase_name>") as ph:
            with ph.step(
                "<name>", agent="<agent>", skill="<skill>", command="<command>", model="<model>", task_id="<task_id>"
            ) as st:
                st.record_usage(
                    "claude-sonnet-4-5",
                    provider="<provider>",
                    input_tokens=1,
                    output_tokens=1,
                    response_model="<response_model>",
                    response_id="<response_id>",
                    server_address="<server_address>",
                )
    by = _by_name(exporter.get_finished_spans())
    for span in (by["invoke_agent <agent>"], by["chat claude-sonnet-4-5"]):
        for key, value in span.attributes.items():
            if isinstance(value, str):
                assert (
                    value in constants
                    or value == "claude-sonnet-4-5"
                    or (
                        value.startswith("<") and value.strip("<>") in STEP_TEXT_FIELDS + USAGE_TEXT_FIELDS + ("agent",)
                    )
                ), (span.name, key, value)
