"""The spool's fast OTLP/JSON encoder is byte-identical to the official encoder (the
reference), over varied real SDK spans, and much faster."""

from __future__ import annotations

import json
import math
import random
import time

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from otel_agents.sinks.spool_encoder import encode_line, encode_line_official

KINDS = list(SpanKind)
STRINGS = [
    "",
    "plain",
    "ünïcødé ✓",
    'quote " backslash \\ slash /',
    "tab\tnl\ncr\r\x00\x1f\x7f",
    "emoji 🚀",
    "\u2028\u2029",
    "x" * 300,
]
FLOATS = [0.0, -0.0, 0.1, 1e300, -1e-300, 3.141592653589793, 2.5, float("nan"), float("inf"), float("-inf"), 1e16]
INTS = [0, 1, -1, 2**31, 2**63 - 1, -(2**63), 3100]


def _value(rng: random.Random):
    kind = rng.randrange(9)
    if kind == 0:
        return rng.choice(STRINGS)
    if kind == 1:
        return rng.choice(INTS)
    if kind == 2:
        return rng.choice(FLOATS)
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return tuple(rng.choice(STRINGS) for _ in range(rng.randrange(4)))
    if kind == 5:
        return [rng.choice(INTS) for _ in range(rng.randrange(4))]
    if kind == 6:
        return tuple(rng.choice(FLOATS) for _ in range(rng.randrange(4)))
    if kind == 7:
        return [rng.random() < 0.5 for _ in range(rng.randrange(3))]
    return rng.random() * 1000


def _attrs(rng: random.Random, n: int) -> dict:
    keys = ["gen_ai.usage.input_tokens", "otel_agents.kind", "k", "ключ", "a.b.c", 'with "quote"', ""]
    out = {}
    for i in range(n):
        key = rng.choice(keys) + (str(i) if rng.random() < 0.7 else "")
        out[key] = _value(rng)
    return out


def _ctx(rng: random.Random, remote: bool) -> SpanContext:
    ts = TraceState([("vendor", "v1"), ("other", "x-y")]) if rng.random() < 0.3 else TraceState()
    return SpanContext(
        rng.getrandbits(128) or 1,
        rng.getrandbits(64) or 1,
        is_remote=remote,
        trace_flags=TraceFlags(rng.randrange(2)),
        trace_state=ts,
    )


def _make_spans(seed: int, n: int):
    rng = random.Random(seed)
    exp = InMemorySpanExporter()
    resources = [
        Resource.create({"service.name": "svc-a", "n": 1, "tags": ("x", "y")}),
        Resource({"service.name": "svc-b"}, schema_url="https://opentelemetry.io/schemas/1.21.0"),
        Resource({}),
    ]
    providers = []
    for res in resources:
        tp = TracerProvider(
            resource=res,
            span_limits=SpanLimits(max_span_attributes=12, max_events=3, max_links=2, max_event_attributes=4),
        )
        tp.add_span_processor(SimpleSpanProcessor(exp))
        providers.append(tp)
    tracers = []
    for tp in providers:
        tracers.append(tp.get_tracer("otel_agents", "0.1.0"))
        tracers.append(tp.get_tracer("other.scope"))
        tracers.append(
            tp.get_tracer(
                "schema.scope", "2", schema_url="https://example/schema", attributes={"scope.attr": "v", "n": 2}
            )
        )
        tracers.append(tp.get_tracer(""))
    for i in range(n):
        tr = rng.choice(tracers)
        parent = None
        if rng.random() < 0.3:
            parent = trace.set_span_in_context(trace.NonRecordingSpan(_ctx(rng, remote=rng.random() < 0.5)))
        links = [
            Link(_ctx(rng, remote=rng.random() < 0.5), _attrs(rng, rng.randrange(3)) or None)
            for _ in range(rng.randrange(4))
        ]
        name = rng.choice(STRINGS + [f"step {i}"])
        with tr.start_as_current_span(
            name,
            context=parent,
            kind=rng.choice(KINDS),
            links=links,
            attributes=_attrs(rng, rng.randrange(16)),
            record_exception=False,
            set_status_on_exception=False,
        ) as sp:
            for _ in range(rng.randrange(5)):
                sp.add_event(
                    rng.choice(STRINGS),
                    _attrs(rng, rng.randrange(6)),
                    timestamp=rng.choice([None, 0, 1, 1795312167198729943]),
                )
            r = rng.random()
            if r < 0.2:
                sp.set_status(Status(StatusCode.ERROR, rng.choice(STRINGS)))
            elif r < 0.3:
                sp.set_status(Status(StatusCode.OK))
            elif r < 0.4:
                sp.set_status(Status(StatusCode.ERROR))
    return list(exp.get_finished_spans())


@pytest.mark.parametrize("seed", range(12))
def test_byte_identical_to_the_official_encoder(seed):
    spans = _make_spans(seed, 60)
    # whole batch (several resources and scopes interleaved), and one span per line
    assert encode_line(spans) == encode_line_official(spans)
    for sp in spans[:20]:
        assert encode_line([sp]) == encode_line_official([sp])


def test_edge_values_identical_and_valid_json():
    exp = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exp))
    tr = tp.get_tracer("t")
    values = {
        "nan": float("nan"),
        "inf": float("inf"),
        "ninf": float("-inf"),
        "neg0": -0.0,
        "big": 2**63 - 1,
        "small": -(2**63),
        "empty_tuple": (),
        "empty_str": "",
        "bools": (True, False),
        "none_in_seq": ("a", None, "b"),
        "lone surrogate": "\ud800x",
        "bytes": b"raw",
    }
    with tr.start_as_current_span("edge", attributes=values) as sp:
        sp.add_event("e", {"x": 1})
    with tr.start_as_current_span(""):
        pass
    spans = list(exp.get_finished_spans())
    assert encode_line(spans) == encode_line_official(spans)
    doc = json.loads(encode_line(spans).decode("utf-8", "surrogatepass"))
    attrs = {a["key"]: a["value"] for a in doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]}
    assert attrs["nan"] == {"doubleValue": "NaN"} and attrs["big"] == {"intValue": str(2**63 - 1)}
    assert math.copysign(1, attrs["neg0"]["doubleValue"]) == -1


def test_resource_and_scope_caches_follow_the_objects():
    # two providers with different resources encoded alternately: no stale cached fragment
    lines = []
    for name in ("one", "two", "one"):
        exp = InMemorySpanExporter()
        tp = TracerProvider(resource=Resource({"service.name": name}))
        tp.add_span_processor(SimpleSpanProcessor(exp))
        with tp.get_tracer(name).start_as_current_span("s"):
            pass
        spans = list(exp.get_finished_spans())
        assert encode_line(spans) == encode_line_official(spans)
        lines.append(json.loads(encode_line(spans)))
    assert [d["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"] for d in lines] == [
        "one",
        "two",
        "one",
    ]


def test_much_faster_than_the_official_encoder(make_runtime, monkeypatch):
    """Our own spans (a workflow of steps, as the spool sees them): at least 4x faster."""
    import otel_agents as oa

    rt = make_runtime()
    with oa.workflow("w", workflow_id="wf-fast") as wf:
        for i in range(200):
            with wf.step(f"s{i}", agent="a", key=f"s{i}"):
                pass
    spans = list(rt.processors[0].span_exporter.get_finished_spans())
    assert len(spans) == 201
    assert encode_line(spans) == encode_line_official(spans)

    def best(fn):
        times = []
        for _ in range(5):
            t0 = time.thread_time()
            fn(spans)
            times.append(time.thread_time() - t0)
        return min(times)

    fast, official = best(encode_line), best(encode_line_official)
    assert fast * 4 < official, (fast / len(spans), official / len(spans))
