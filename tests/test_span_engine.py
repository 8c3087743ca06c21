"""The span engine is core: the runtime owns it, ``SpanView`` and ``UsageTotals`` are public,
one ``UsageTotals`` adds and merges every roll-up, and no plugin is handed the runtime."""

from __future__ import annotations

import otel_agents
from otel_agents import attributes as A
from otel_agents.events import ModelUsage
from otel_agents.hookspecs import hookimpl
from otel_agents.plugins import new_plugin_manager
from otel_agents.rollup import SpanView, UsageTotals
from otel_agents.spans import SpanEngine


def test_span_view_and_usage_totals_are_exported() -> None:
    assert (otel_agents.SpanView, otel_agents.UsageTotals) == (SpanView, UsageTotals)
    assert {"SpanView", "UsageTotals"} <= set(otel_agents.__all__)


def test_usage_totals_add_price_later_merge_and_json() -> None:
    call = ModelUsage(
        workflow_id="w",
        model="m",
        input_tokens=100,
        output_tokens=20,
        cache_read_tokens=60,
        cache_write_tokens=10,
        reasoning_tokens=7,
    )
    t = UsageTotals()
    t.add(call, 0.5)
    t.add(call, None)  # unpriced: counted, no cost
    t.add(call, 0.0)
    t.add_cost(0.25)  # the price of the call just added with 0.0
    assert t == UsageTotals(
        input_tokens=300,
        output_tokens=60,
        cache_read_tokens=180,
        cache_write_tokens=30,
        reasoning_tokens=21,
        cost=0.75,
        model_calls=3,
        unpriced_model_calls=1,
    )
    other = UsageTotals(
        input_tokens=1,
        output_tokens=2,
        cache_read_tokens=3,
        cache_write_tokens=4,
        reasoning_tokens=5,
        cost=0.125,
        model_calls=6,
        unpriced_model_calls=7,
    )
    t.merge(other)
    assert t == UsageTotals(
        input_tokens=301,
        output_tokens=62,
        cache_read_tokens=183,
        cache_write_tokens=34,
        reasoning_tokens=26,
        cost=0.875,
        model_calls=9,
        unpriced_model_calls=8,
    )
    assert t.to_json() == {
        "input_tokens": 301,
        "output_tokens": 62,
        "cache_read_tokens": 183,
        "cache_write_tokens": 34,
        "reasoning_tokens": 26,
        "cost": 0.875,
        "model_calls": 9,
        "unpriced_model_calls": 8,
    }
    assert UsageTotals.from_json(t.to_json()) == t
    assert UsageTotals.from_json(None) == UsageTotals()


class _HasBind:
    """A plugin with a method named ``bind``: not an extension point, never called with the runtime."""

    def __init__(self) -> None:
        self.bound: list[object] = []
        self.views: list[SpanView] = []

    def bind(self, rt: object) -> None:
        self.bound.append(rt)

    @hookimpl
    def span_ending(self, span: SpanView) -> None:
        self.views.append(span)


def test_the_runtime_owns_the_engine_and_binds_no_plugin(make_runtime, exporter) -> None:
    pm = new_plugin_manager(load_entry_points=False)
    plugin = _HasBind()
    pm.register(plugin, name="has-bind")
    rt = make_runtime(pm)
    assert isinstance(rt.spans, SpanEngine) and rt.spans is pm.get_plugin("spans")
    assert plugin.bound == []
    with otel_agents.workflow("w", runtime=rt) as wf:
        with wf.step("s") as st:
            assert rt.spans.span_for(wf.workflow_id, st.key) is st._span() is not None
            otel_agents.record_usage("gpt-4o", input_tokens=10, output_tokens=2, reasoning_tokens=1, cost=0.5)
    assert all(
        isinstance(v, SpanView) and (v.totals is None or isinstance(v.totals, UsageTotals)) for v in plugin.views
    )
    rolled = UsageTotals(10, 2, 0, 0, 1, 0.5, 1, 0).to_json()
    assert [(v.kind, v.totals and v.totals.to_json()) for v in plugin.views] == [
        ("model_call", None),
        ("step", rolled),
        ("workflow", rolled),
    ]
    assert {
        s.name: s.attributes[A.ROLLUP_REASONING_OUTPUT_TOKENS]
        for s in exporter.get_finished_spans()
        if A.ROLLUP_REASONING_OUTPUT_TOKENS in s.attributes
    } == {"step s": 1, "invoke_workflow w": 1}


def test_without_the_spans_plugin_the_runtime_has_no_engine(make_runtime, monkeypatch) -> None:
    monkeypatch.setenv("OTEL_AGENTS_DISABLE_PLUGINS", "spans")
    rt = make_runtime(new_plugin_manager(load_entry_points=False))
    assert rt.spans is None
