"""Timed model calls: ``model_call`` handles, the module-level form and the decorator."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import otel_agents as oa
from otel_agents import attributes as A
from otel_agents.api import Step

SONNET_USAGE = {"input_tokens": 3100, "output_tokens": 500, "cache_read_tokens": 2000, "cache_write_tokens": 100}
SONNET_COST = 0.011475  # genai-prices, Claude Sonnet 4.5 (see test_pricing)
GPT4O_COST = 4.5e-05  # 10 input, 2 output at $2.50 / $10 per million


def _spans(exporter):
    return {s.name: s for s in exporter.get_finished_spans()}


def _call_attrs(wid: str, model: str, provider: str, outcome: str, **extra) -> dict:
    return {
        A.GEN_AI_OPERATION_NAME: "chat",
        A.GEN_AI_REQUEST_MODEL: model,
        A.KIND: "model_call",
        A.WORKFLOW_ID: wid,
        A.GEN_AI_PROVIDER_NAME: provider,
        A.OUTCOME: outcome,
        **extra,
    }


def _sonnet_usage_attrs() -> dict:
    return {
        A.GEN_AI_USAGE_INPUT_TOKENS: 3100,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 500,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 2000,
        A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 100,
        A.GEN_AI_USAGE_COST_AMOUNT: SONNET_COST,
        A.GEN_AI_USAGE_COST_CURRENCY: "USD",
        A.GEN_AI_USAGE_COST_SOURCE: "local",
    }


def _rollup(span) -> tuple:
    a = span.attributes
    return (
        a[A.ROLLUP_INPUT_TOKENS],
        a[A.ROLLUP_OUTPUT_TOKENS],
        a[A.ROLLUP_CACHE_READ_INPUT_TOKENS],
        a[A.ROLLUP_CACHE_WRITE_INPUT_TOKENS],
        a[A.ROLLUP_COST_AMOUNT],
        a[A.ROLLUP_MODEL_CALLS],
        a[A.ROLLUP_UNPRICED_MODEL_CALLS],
    )


def test_with_block_times_the_call_and_rolls_up_like_record_usage(runtime, exporter):
    with oa.workflow("w", workflow_id="wf-mc") as wf:
        with wf.phase("build") as ph:
            with ph.step("coder") as st:
                before = time.time_ns()
                with st.model_call("claude-sonnet-4-5", provider="anthropic") as call:
                    time.sleep(0.03)
                    call.set_usage(**SONNET_USAGE)
                after = time.time_ns()
                st.record_usage("claude-sonnet-4-5", provider="anthropic", **SONNET_USAGE)  # the same, after the fact
    chat, after_fact = [s for s in exporter.get_finished_spans() if s.name == "chat claude-sonnet-4-5"]
    assert chat.kind is SpanKind.CLIENT
    assert before <= chat.start_time and chat.end_time <= after
    assert 30_000_000 <= chat.end_time - chat.start_time <= after - before
    assert dict(chat.attributes) == _call_attrs(
        "wf-mc", "claude-sonnet-4-5", "anthropic", "success", **_sonnet_usage_attrs()
    )
    # the same call recorded after the fact: the same attributes but the outcome, and no duration
    assert dict(after_fact.attributes) == {k: v for k, v in chat.attributes.items() if k != A.OUTCOME}
    assert after_fact.start_time == after_fact.end_time
    spans = _spans(exporter)
    assert chat.parent.span_id == spans["step coder"].context.span_id
    for name in ("step coder", "phase build", "invoke_workflow w"):
        assert _rollup(spans[name]) == (6200, 1000, 4000, 200, 2 * SONNET_COST, 2, 0), name


def test_start_stop_and_explicit_times(runtime, exporter):
    with oa.workflow("w", workflow_id="wf-ss") as wf:
        with wf.step("s") as st:
            call = st.model_call("gpt-4o", provider="openai").start()
            t_start = call._start_time
            call.set_usage(input_tokens=10)
            call.set_usage(output_tokens=2)  # set_usage adds up keywords, the last value wins
            t_before_stop = time.time_ns()
            call.stop()
            call.stop()  # once
            fixed = st.model_call("gpt-4o", provider="openai")
            fixed.set_usage(input_tokens=10, output_tokens=2, start_time=1_000, end_time=2_000)
            fixed.stop()
    chats = [s for s in exporter.get_finished_spans() if s.name == "chat gpt-4o"]
    assert len(chats) == 2
    assert chats[0].start_time == t_start and t_before_stop <= chats[0].end_time
    assert (chats[1].start_time, chats[1].end_time) == (1_000, 2_000)
    assert call.usage is not None and (call.usage.input_tokens, call.usage.output_tokens) == (10, 2)
    assert _rollup(_spans(exporter)["step s"]) == (20, 4, 0, 0, 2 * GPT4O_COST, 2, 0)


def test_fail_records_the_error_and_still_rolls_up_usage(runtime, exporter):
    with oa.workflow("w", workflow_id="wf-f") as wf:
        with wf.step("s") as st:
            with pytest.raises(TimeoutError):
                with st.model_call("gpt-4o", provider="openai") as call:
                    call.set_usage(input_tokens=10, output_tokens=2)
                    raise TimeoutError("read timed out")
            other = st.model_call("gpt-4o", provider="openai").start()
            other.set_usage(input_tokens=10, output_tokens=2)
            other.fail("overloaded", error_type="overloaded_error")
    first, second = [s for s in exporter.get_finished_spans() if s.name == "chat gpt-4o"]
    usage = {
        A.GEN_AI_USAGE_INPUT_TOKENS: 10,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 2,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
        A.GEN_AI_USAGE_COST_AMOUNT: GPT4O_COST,
        A.GEN_AI_USAGE_COST_CURRENCY: "USD",
        A.GEN_AI_USAGE_COST_SOURCE: "local",
    }
    assert dict(first.attributes) == _call_attrs(
        "wf-f",
        "gpt-4o",
        "openai",
        "failure",
        **usage,
        **{A.ERROR_TYPE: "TimeoutError", A.ERROR_MESSAGE: "TimeoutError: read timed out"},
    )
    assert first.status.status_code is StatusCode.ERROR
    (event,) = first.events
    assert (event.name, event.attributes["exception.type"]) == ("exception", "TimeoutError")
    assert dict(second.attributes) == _call_attrs(
        "wf-f",
        "gpt-4o",
        "openai",
        "failure",
        **usage,
        **{A.ERROR_TYPE: "overloaded_error", A.ERROR_MESSAGE: "overloaded"},
    )
    step = _spans(exporter)["step s"]
    assert step.attributes[A.OUTCOME] == "success"  # the step caught it
    assert _rollup(step) == (20, 4, 0, 0, 2 * GPT4O_COST, 2, 0)


def test_a_call_without_usage_has_no_tokens_and_no_invented_cost(runtime, exporter):
    with oa.workflow("w", workflow_id="wf-n") as wf:
        with wf.step("s") as st:
            with st.model_call("claude-sonnet-4-5", provider="anthropic"):
                pass
            with st.model_call("claude-sonnet-4-5", provider="anthropic") as call:
                call.set_usage(**SONNET_USAGE)
    bare, priced = [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    assert dict(bare.attributes) == _call_attrs(
        "wf-n", "claude-sonnet-4-5", "anthropic", "success", **{A.COST_UNAVAILABLE_REASON: "no_usage"}
    )
    assert priced.attributes[A.GEN_AI_USAGE_COST_AMOUNT] == SONNET_COST
    # counted as a call, and as one whose cost the total leaves out
    assert _rollup(_spans(exporter)["step s"]) == (3100, 500, 2000, 100, SONNET_COST, 2, 1)


def test_module_level_model_call_finds_its_parent(runtime, exporter):
    with oa.workflow("w", workflow_id="wf-m"):
        with oa.step("s"):
            with oa.model_call("gpt-4o", provider="openai") as call:
                assert oa.current_model_call() is call
                call.set_usage(input_tokens=10, output_tokens=2)
            assert oa.current_model_call() is None
    spans = _spans(exporter)
    assert spans["chat gpt-4o"].parent.span_id == spans["step s"].context.span_id
    assert _rollup(spans["invoke_workflow w"]) == (10, 2, 0, 0, GPT4O_COST, 1, 0)


def test_model_call_outside_a_workflow_gets_an_implicit_one(runtime, exporter, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")  # it warns
    with oa.model_call("gpt-4o", provider="openai") as call:
        call.set_usage(input_tokens=10, output_tokens=2)
    spans = _spans(exporter)
    assert sorted(spans) == ["chat gpt-4o", "invoke_workflow implicit"]
    assert spans["chat gpt-4o"].parent.span_id == spans["invoke_workflow implicit"].context.span_id
    assert _rollup(spans["invoke_workflow implicit"]) == (10, 2, 0, 0, GPT4O_COST, 1, 0)


class Reply:
    def __init__(self, text: str, prompt_tokens: int, completion_tokens: int) -> None:
        self.text, self.prompt_tokens, self.completion_tokens = text, prompt_tokens, completion_tokens


def _from_reply(reply: Reply) -> dict:
    return {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens}


def test_decorator_with_an_extractor_sync_and_async(runtime, exporter):
    @oa.model_call("gpt-4o", provider="openai", usage=_from_reply)
    def ask(prompt: str) -> Reply:
        time.sleep(0.01)
        return Reply("sync", 10, 2)

    @oa.model_call("gpt-4o", provider="openai", usage=_from_reply)
    async def ask_async(prompt: str) -> Reply:
        await asyncio.sleep(0.01)
        return Reply("async", 10, 2)

    assert inspect.iscoroutinefunction(ask_async) and ask.__name__ == "ask"
    with oa.workflow("w", workflow_id="wf-d"):
        with oa.step("s"):
            assert ask("hi").text == "sync"
            assert asyncio.run(ask_async("hi")).text == "async"
    chats = [s for s in exporter.get_finished_spans() if s.name == "chat gpt-4o"]
    assert len(chats) == 2
    for chat in chats:
        assert chat.end_time - chat.start_time >= 10_000_000
        assert chat.attributes[A.GEN_AI_USAGE_COST_AMOUNT] == GPT4O_COST
    assert _rollup(_spans(exporter)["step s"]) == (20, 4, 0, 0, 2 * GPT4O_COST, 2, 0)


def test_decorator_reporting_through_current_model_call(runtime, exporter):
    @oa.model_call("claude-sonnet-4-5", provider="anthropic")
    def ask() -> str:
        oa.current_model_call().set_usage(**SONNET_USAGE)
        return "ok"

    @oa.model_call("claude-sonnet-4-5", provider="anthropic")
    async def ask_async() -> str:
        await asyncio.sleep(0)
        oa.current_model_call().set_usage(**SONNET_USAGE)
        return "ok"

    with oa.workflow("w", workflow_id="wf-c"):
        with oa.step("s"):
            assert ask() == "ok"
            assert asyncio.run(ask_async()) == "ok"
    assert _rollup(_spans(exporter)["step s"]) == (6200, 1000, 4000, 200, 2 * SONNET_COST, 2, 0)


def test_decorated_call_that_raises_is_a_failed_call(runtime, exporter):
    @oa.model_call("gpt-4o", provider="openai", usage=_from_reply)
    async def ask() -> Reply:
        oa.current_model_call().set_usage(input_tokens=10)  # what the provider counted before failing
        raise ConnectionError("reset")

    with oa.workflow("w", workflow_id="wf-e"):
        with oa.step("s"):
            with pytest.raises(ConnectionError):
                asyncio.run(ask())
    chat = _spans(exporter)["chat gpt-4o"]
    assert (chat.attributes[A.OUTCOME], chat.attributes[A.ERROR_TYPE]) == ("failure", "ConnectionError")
    assert chat.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] == 10


def test_an_extractor_that_fails_loses_the_usage_not_the_call(runtime, exporter, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")

    @oa.model_call("gpt-4o", provider="openai", usage=lambda reply: {"input_tokens": reply.missing})
    def ask() -> Reply:
        return Reply("x", 10, 2)

    with oa.workflow("w", workflow_id="wf-x"):
        with oa.step("s"):
            assert ask().text == "x"
    chat = _spans(exporter)["chat gpt-4o"]
    assert chat.attributes[A.OUTCOME] == "success"
    assert chat.attributes[A.COST_UNAVAILABLE_REASON] == "no_usage"


def test_set_usage_takes_exactly_record_usage_keywords(runtime):
    keywords = {p.name for p in inspect.signature(Step.record_usage).parameters.values() if p.kind is p.KEYWORD_ONLY}
    assert {"provider", "input_tokens", "output_tokens", "start_time", "end_time", "attributes"} <= keywords
    with oa.workflow("w"):
        with oa.step("s") as st:
            call = st.model_call("gpt-4o")
            call.set_usage(**{k: None for k in ("response_model", "response_id")})
            with pytest.raises(TypeError, match="inputs_tokens"):
                call.set_usage(inputs_tokens=3)
            with pytest.raises(TypeError, match="bogus"):
                oa.model_call("gpt-4o", bogus=1)
            call.stop()


def test_concurrent_calls_in_threads_each_time_their_own(runtime, exporter):
    with oa.workflow("w", workflow_id="wf-t") as wf:
        with wf.step("s") as st:

            def one(ms: int) -> None:
                with st.model_call("gpt-4o", provider="openai") as call:
                    time.sleep(ms / 1000)
                    call.set_usage(input_tokens=10, output_tokens=2)

            threads = [threading.Thread(target=one, args=(ms,)) for ms in (10, 40)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    durations = sorted(s.end_time - s.start_time for s in exporter.get_finished_spans() if s.name == "chat gpt-4o")
    assert durations[0] >= 10_000_000 and durations[1] >= 40_000_000
    assert _rollup(_spans(exporter)["step s"]) == (20, 4, 0, 0, 2 * GPT4O_COST, 2, 0)
