"""Execution records: the demo's spans become exact flat records, from live spans and from
OTLP-JSON alike; bad input gives partial records, never an exception; error categories."""

from __future__ import annotations

import json
import logging
import re

import pytest
from helpers_sinks import (
    DEMO_CACHE_READ,
    DEMO_CACHE_WRITE,
    DEMO_COST,
    DEMO_COST_BY_MODEL,
    DEMO_COUNTS,
    DEMO_INPUT,
    DEMO_OUTPUT,
    demo_spans,
    hook_span,
)
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agents import attributes as A
from otel_agents.errors import CATEGORIES, categorize
from otel_agents.foundation import records as R

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


@pytest.fixture
def demo_records(make_runtime, exporter) -> list[dict]:
    return R.records_from_spans(demo_spans(make_runtime, exporter))


def _by_kind(records: list[dict], kind: str) -> list[dict]:
    return [r for r in records if r["kind"] == kind]


def test_one_record_per_workflow_phase_step_tool_and_model_call(demo_records):
    counts = {k: len(_by_kind(demo_records, k)) for k in DEMO_COUNTS}
    assert counts == DEMO_COUNTS
    for rec in demo_records:
        assert tuple(rec) == R.FIELDS
        assert rec["schema_version"] == R.SCHEMA_VERSION
        assert rec["workflow_id"] == "wf-demo"
        json.dumps(rec, allow_nan=False)  # JSON-safe


def test_ids_are_the_span_ids_and_link_the_tree(make_runtime, exporter):
    spans = demo_spans(make_runtime, exporter)
    records = R.records_from_spans(spans)
    by_id = {r["record_id"]: r for r in records}
    for span in spans:
        rec = by_id[f"{span.context.span_id:016x}"]
        assert rec["trace_id"] == f"{span.context.trace_id:032x}"
        assert rec["start_unix_nano"] == span.start_time and rec["end_unix_nano"] == span.end_time
        assert rec["duration_ms"] == round((span.end_time - span.start_time) / 1e6, 6)
        assert ISO.match(rec["start_time"]) and ISO.match(rec["end_time"])
    (wf,) = _by_kind(records, "workflow")
    assert wf["parent_id"] is None
    for ph in _by_kind(records, "phase"):
        assert ph["parent_id"] == wf["record_id"]
    for step_rec in _by_kind(records, "step"):
        assert by_id[step_rec["parent_id"]]["kind"] == "phase"
        assert by_id[step_rec["parent_id"]]["phase_name"] == step_rec["phase_name"]
    for rec in _by_kind(records, "tool_call") + _by_kind(records, "model_call"):
        assert by_id[rec["parent_id"]]["kind"] == "step"


def test_workflow_record_exact(demo_records):
    (wf,) = _by_kind(demo_records, "workflow")
    assert wf["workflow_name"] == "fix-cart-total"
    assert wf["template"] == "sdlc"
    assert wf["issue_id"] == "42"
    assert wf["complexity"] == "medium"
    assert wf["outcome"] == "success" and wf["success"] is True
    assert wf["retry_count"] == 1  # the test phase's second attempt
    assert (wf["input_tokens"], wf["output_tokens"]) == (DEMO_INPUT, DEMO_OUTPUT) == (85600, 4850)
    assert (wf["cache_read_tokens"], wf["cache_write_tokens"]) == (DEMO_CACHE_READ, DEMO_CACHE_WRITE) == (66500, 12000)
    assert wf["reasoning_tokens"] == 0
    assert wf["cost_usd"] == pytest.approx(DEMO_COST, abs=1e-12)
    assert wf["cost_source"] == "rollup"
    assert (wf["model_calls"], wf["unpriced_model_calls"]) == (6, 0)
    assert wf["error_type"] is None and wf["error_category"] is None


def test_model_call_records_carry_model_tokens_and_cost(demo_records):
    calls = _by_kind(demo_records, "model_call")
    assert sum(r["input_tokens"] for r in calls) == DEMO_INPUT
    assert sum(r["cache_read_tokens"] for r in calls) == DEMO_CACHE_READ
    by_model: dict[str, float] = {}
    for r in calls:
        by_model[r["model"]] = by_model.get(r["model"], 0.0) + r["cost_usd"]
        assert r["provider"] == "anthropic"
        assert r["cost_source"] == "local"
        assert (r["model_calls"], r["unpriced_model_calls"]) == (1, 0)
    assert by_model == pytest.approx(DEMO_COST_BY_MODEL, abs=1e-12)
    first = next(r for r in calls if r["input_tokens"] == 12400)
    assert (first["output_tokens"], first["cache_read_tokens"], first["cache_write_tokens"]) == (850, 9000, 3000)
    assert first["cost_usd"] == pytest.approx(0.0279, abs=1e-12)


def test_the_demo_failure_is_a_timeout_and_its_retry_is_attempt_two(demo_records):
    testers = sorted(
        (r for r in _by_kind(demo_records, "step") if r["step_name"] == "tester"), key=lambda r: r["attempt"]
    )
    assert [(r["attempt"], r["retry_count"], r["outcome"]) for r in testers] == [
        (1, 0, "failure"),
        (2, 1, "success"),
    ]
    failed = testers[0]
    assert failed["success"] is False
    assert failed["error_type"] == "otel_agents.demo.DemoTimeout"
    assert failed["error_message"] == "DemoTimeout: pytest exceeded 120s"
    assert failed["error_category"] == "timeout"
    assert (failed["agent"], failed["skill"], failed["command"], failed["model"]) == (
        "tester",
        "test-skill",
        "/test",
        "claude-haiku-4-5",
    )
    (bad_tool,) = [r for r in _by_kind(demo_records, "tool_call") if not r["success"]]
    assert (bad_tool["tool_name"], bad_tool["call_id"], bad_tool["error_category"]) == (
        "Bash",
        "toolu_test_1_1",
        "timeout",
    )


def test_tool_call_records_have_argument_hashes_for_redundancy_detection(demo_records):
    reads = [r for r in _by_kind(demo_records, "tool_call") if r["tool_name"] == "Read" and r["phase_name"] == "build"]
    assert len(reads) == 2  # the coder reads app/cart.py twice
    assert reads[0]["arguments_sha256"] == reads[1]["arguments_sha256"]
    assert len(reads[0]["arguments_sha256"]) == 64
    assert reads[0]["arguments_length"] == len('{"file_path":"app/cart.py"}')
    assert all(r["input_tokens"] is None and r["cost_usd"] is None for r in _by_kind(demo_records, "tool_call"))


def test_otlp_json_round_trip_gives_identical_records(make_runtime, exporter):
    spans = demo_spans(make_runtime, exporter)
    live = R.records_from_spans(spans)
    line = encode_spans(spans).to_json()  # one spool line
    rebuilt = [rec for data in R.iter_otlp_json(json.loads(line)) for rec in R.build_records(data)]
    assert rebuilt == live


def test_otlp_json_accepts_base64_ids_and_string_status():
    span = {
        "traceId": "AAECAwQFBgcICQoLDA0ODw==",  # proto3 JSON bytes: base64
        "spanId": "AAECAwQFBgc=",
        "name": "execute_tool Bash",
        "startTimeUnixNano": "1000000000",
        "endTimeUnixNano": "3500000000",
        "attributes": [
            {"key": A.GEN_AI_OPERATION_NAME, "value": {"stringValue": "execute_tool"}},
            {"key": A.GEN_AI_TOOL_NAME, "value": {"stringValue": "Bash"}},
        ],
        "status": {"code": "STATUS_CODE_ERROR", "message": "Command failed with exit code 1"},
    }
    rec = R.build_record(R.from_otlp_json(span))
    assert rec["trace_id"] == "000102030405060708090a0b0c0d0e0f"
    assert rec["record_id"] == "0001020304050607"
    assert rec["kind"] == "tool_call"  # from gen_ai.operation.name
    assert rec["duration_ms"] == 2500.0
    assert rec["start_time"] == "1970-01-01T00:00:01.000000Z"
    assert (rec["outcome"], rec["error_type"], rec["error_category"]) == ("failure", "_OTHER", "tool_failure")
    assert rec["workflow_id"] == rec["trace_id"]  # no workflow id: grouped by trace


def test_spans_that_are_not_ours_give_no_record():
    data = R.SpanData(
        name="GET /",
        trace_id="a" * 32,
        span_id="b" * 16,
        parent_id=None,
        start_unix_nano=1,
        end_unix_nano=2,
        attributes={"http.method": "GET"},
    )
    assert R.build_record(data) is None
    assert R.build_records(data) == []


def test_bad_attribute_types_give_a_partial_record_and_a_log_line(caplog):
    attrs = {
        A.KIND: "step",
        A.PHASE_NUMBER: "three",
        A.ATTEMPT: "2",
        A.ROLLUP_MODEL_CALLS: 1,
        A.ROLLUP_INPUT_TOKENS: [1, 2],
        A.ROLLUP_OUTPUT_TOKENS: True,
        A.ROLLUP_COST_AMOUNT: float("nan"),
        A.OUTCOME: "exploded",
        A.STEP_NAME: 42,
    }
    data = R.SpanData(
        name="step x",
        trace_id="a" * 32,
        span_id="b" * 16,
        parent_id=None,
        start_unix_nano=5_000_000,
        end_unix_nano=1_000_000,
        attributes=attrs,
        status_code="ERROR",
        status_message="ImportError: No module named foo",
    )
    with caplog.at_level(logging.WARNING, logger="otel_agents.records"):
        rec = R.build_record(data)
    assert rec is not None
    assert rec["phase_number"] is None
    assert rec["attempt"] == 2 and rec["retry_count"] == 1
    assert rec["input_tokens"] is None and rec["output_tokens"] is None and rec["cost_usd"] is None
    assert rec["step_name"] == "42"
    assert rec["outcome"] == "failure"  # unknown outcome: from the status
    assert rec["duration_ms"] is None  # end before start
    assert rec["error_category"] == "import"
    assert "otel_agents.phase.number" in caplog.text
    json.dumps(rec, allow_nan=False)


def test_a_span_that_cannot_be_converted_is_reported_and_the_batch_kept(make_runtime, exporter, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    spans = demo_spans(make_runtime, exporter)
    assert len(R.records_from_spans([object(), *spans])) == len(spans)
    from otel_agents import safety

    assert safety.failure_counts() == {"execution records": 1}


def test_hook_events_become_hook_event_records():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    hook_span(
        provider.get_tracer("t"),
        session_id="sess-1",
        events=[
            {"type": "PreToolUse", "id": "ev-pre", "tool_use_id": "toolu_1", "time": 1_700_000_000_000_000_000},
            {"type": "PostToolUse", "tool_use_id": "toolu_1", "time": 1_700_000_001_000_000_000},
        ],
    )
    (span,) = exporter.get_finished_spans()
    records = R.records_from_spans([span])
    assert [r["kind"] for r in records] == ["tool_call", "hook_event", "hook_event"]
    tool, pre, post = records
    assert pre["record_id"] == "ev-pre"
    assert len(post["record_id"]) == 32  # no event id: a deterministic one
    assert R.records_from_spans([span])[2]["record_id"] == post["record_id"]
    for ev, kind in ((pre, "PreToolUse"), (post, "PostToolUse")):
        assert ev["event_type"] == kind
        assert ev["parent_id"] == tool["record_id"]
        assert (ev["session_id"], ev["tool_name"], ev["call_id"], ev["hook_source"]) == (
            "sess-1",
            "Bash",
            "toolu_1",
            "claude-code",
        )
        assert ev["event_attributes"][A.HOOK_EVENT_TYPE] == kind
    assert pre["start_time"] == "2023-11-14T22:13:20.000000Z"


@pytest.mark.parametrize(
    ("error_type", "message", "kind", "category"),
    [
        ("ModuleNotFoundError", "No module named 'requests'", None, "import"),
        (None, "ImportError: cannot import name 'x' from 'y'", None, "import"),
        ("ConnectionRefusedError", "[Errno 111] Connection refused", None, "connection"),
        (None, "httpx.ConnectError: connection reset by peer", None, "connection"),
        ("DemoTimeout", "pytest exceeded 120s", None, "timeout"),
        ("TimeoutError", "3 tests failed", None, "timeout"),  # the type wins over the message
        (None, "Command timed out after 30 s", "tool_call", "timeout"),
        ("SyntaxError", "invalid syntax (cart.py, line 3)", None, "syntax"),
        ("TypeError", "unsupported operand type(s)", None, "type"),
        ("AttributeError", "'NoneType' object has no attribute 'x'", None, "type"),
        ("FileNotFoundError", "[Errno 2] No such file or directory: 'a'", None, "file"),
        ("PermissionError", "Permission denied", None, "file"),
        ("AssertionError", "Expected 200, got 404", None, "test_failure"),
        (None, "FAILED tests/test_cart.py::test_total - 3 failed", None, "test_failure"),
        ("RateLimitError", "Error code: 429", None, "rate_limit"),
        (None, "429 Too Many Requests", "tool_call", "rate_limit"),
        ("CalledProcessError", "returned non-zero exit status 2", None, "tool_failure"),
        ("_OTHER", "something odd", "tool_call", "tool_failure"),
        ("ValueError", "bad value", None, "other"),
        (None, None, None, "other"),
    ],
)
def test_error_categories(error_type, message, kind, category):
    assert categorize(error_type, message, kind=kind) == category
    assert category in CATEGORIES


def test_content_capture_keeps_a_hash_for_redundancy_detection(make_runtime, exporter, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_CAPTURE_CONTENT", "true")
    from otel_agents.config import load_config

    records = R.records_from_spans(demo_spans(make_runtime, exporter, config=load_config()))
    reads = [r for r in _by_kind(records, "tool_call") if r["tool_name"] == "Read" and r["phase_name"] == "build"]
    assert len(reads) == 2
    assert reads[0]["arguments_sha256"] == reads[1]["arguments_sha256"] is not None
    assert reads[0]["arguments_length"] == len('{"file_path":"app/cart.py"}')


from hypothesis import (  # noqa: E402
    given,
    settings,
    strategies as st,
)

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_attr = st.fixed_dictionaries(
    {
        "key": st.sampled_from(
            [
                A.KIND,
                A.PHASE_NUMBER,
                A.OUTCOME,
                A.ROLLUP_MODEL_CALLS,
                A.ROLLUP_COST_AMOUNT,
                A.GEN_AI_OPERATION_NAME,
                A.ERROR_TYPE,
            ]
        ),
        "value": st.dictionaries(
            st.sampled_from(["stringValue", "intValue", "doubleValue", "boolValue", "arrayValue"]), _json, max_size=1
        )
        | _json,
    }
)
_span = st.fixed_dictionaries(
    {},
    optional={
        "traceId": _json | st.just("0" * 31 + "1"),
        "spanId": _json | st.just("0" * 15 + "2"),
        "name": _json,
        "startTimeUnixNano": _json,
        "endTimeUnixNano": _json,
        "status": _json | st.fixed_dictionaries({"code": _json, "message": _json}),
        "attributes": st.lists(_attr, max_size=5) | _json,
        "events": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.just(A.EVENT_HOOK) | _json,
                    "timeUnixNano": _json,
                    "attributes": st.lists(_attr, max_size=3) | _json,
                }
            ),
            max_size=2,
        )
        | _json,
    },
)


@settings(max_examples=300, deadline=None)
@given(_span)
def test_malformed_otlp_json_never_raises(span):
    records = R.build_records(R.from_otlp_json(span))
    for rec in records:
        assert tuple(rec) == R.FIELDS
        json.dumps(rec, allow_nan=False, default=str)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["resourceSpans", "x"]),
        _json
        | st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "resource": _json,
                    "scopeSpans": _json
                    | st.lists(
                        st.fixed_dictionaries({}, optional={"spans": _json | st.lists(_span, max_size=2)}), max_size=2
                    ),
                },
            ),
            max_size=2,
        ),
    )
)
def test_malformed_otlp_requests_never_raise(request):
    for data in R.iter_otlp_json(request):
        R.build_records(data)
