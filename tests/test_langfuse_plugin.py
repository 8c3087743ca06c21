"""The otel-agents-langfuse plugin, loaded through its entry point: whole attribute dicts.

Each span's attributes with the plugin must equal its attributes without the plugin plus
exactly the Langfuse attributes listed here. Usage and cost only on generations.
"""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest

import otel_agents as oa
from otel_agents.plugins import new_plugin_manager

WORKFLOW_ID = "lf-test-run"


def scenario() -> None:
    """Every kind of span: chain, agent and plain steps, a tool, three model calls."""
    with oa.workflow("fix-bug", workflow_id=WORKFLOW_ID, template="sdlc") as wf:
        with wf.phase("build", number=1) as ph:
            with ph.step("coder", agent="coder", model="claude-sonnet-4-5") as st:
                st.record_usage(
                    "claude-sonnet-4-5",
                    provider="anthropic",
                    input_tokens=3100,
                    output_tokens=500,
                    cache_read_tokens=2000,
                    cache_write_tokens=100,
                )
                st.record_usage(
                    "claude-haiku-4-5",
                    provider="anthropic",
                    input_tokens=1000,
                    output_tokens=200,
                    cost=0.0042,
                    response_model="claude-haiku-4-5-20251001",
                )
                st.record_usage("in-house-model", provider="acme", input_tokens=10, output_tokens=2)
                with st.tool_call("Bash", call_id="toolu_1", arguments={"command": "pytest -q"}) as tc:
                    tc.set_result("3 passed")
            with ph.step("lint", command="/lint"):
                pass


@pytest.fixture
def spans(make_runtime, exporter, monkeypatch):
    """(attributes without the plugin, with it), by span name."""

    def run_with(plugins: str) -> dict[str, dict]:
        monkeypatch.setenv("OTEL_AGENTS_PLUGINS", plugins)
        exporter.clear()
        make_runtime(new_plugin_manager())
        scenario()
        return {s.name: dict(s.attributes) for s in exporter.get_finished_spans()}

    return run_with("none"), run_with("langfuse")


def test_registered_through_its_entry_point():
    (ep,) = [e for e in entry_points(group="otel_agents") if e.name == "langfuse"]
    assert ep.value == "otel_agents_langfuse"
    assert new_plugin_manager().has_plugin("langfuse")


def test_attributes(spans):
    without, with_ = spans
    assert set(without) == set(with_)
    added = {}
    for name, full in with_.items():
        base = without[name]
        assert {k: full[k] for k in base} == base, f"{name}: the plugin changed core attributes"
        added[name] = {k: v for k, v in full.items() if k not in base}
    for attrs in added.values():  # JSON strings, compared as data
        for key in ("langfuse.observation.usage_details", "langfuse.observation.cost_details"):
            if key in attrs:
                attrs[key] = json.loads(attrs[key])
    assert added == {
        "invoke_workflow fix-bug": {"langfuse.observation.type": "chain"},
        "phase build": {"langfuse.observation.type": "chain"},
        "invoke_agent coder": {"langfuse.observation.type": "agent"},
        "step lint": {"langfuse.observation.type": "span"},
        "execute_tool Bash": {"langfuse.observation.type": "tool"},
        "chat claude-sonnet-4-5": {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "claude-sonnet-4-5",
            "langfuse.observation.usage_details": {
                "input": 1000,
                "input_cache_read": 2000,
                "input_cache_creation": 100,
                "output": 500,
                "total": 3600,
            },
            "langfuse.observation.cost_details": {"input": 0.003975, "output": 0.0075, "total": 0.011475},
        },
        "chat claude-haiku-4-5": {  # provider-reported cost: a total only
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "claude-haiku-4-5-20251001",
            "langfuse.observation.usage_details": {
                "input": 1000,
                "input_cache_read": 0,
                "input_cache_creation": 0,
                "output": 200,
                "total": 1200,
            },
            "langfuse.observation.cost_details": {"total": 0.0042},
        },
        "chat in-house-model": {  # no known price: no cost details
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "in-house-model",
            "langfuse.observation.usage_details": {
                "input": 10,
                "input_cache_read": 0,
                "input_cache_creation": 0,
                "output": 2,
                "total": 12,
            },
        },
    }


def test_usage_keys_add_up_and_never_sit_on_agent_spans(spans):
    _without, with_ = spans
    usage = json.loads(with_["chat claude-sonnet-4-5"]["langfuse.observation.usage_details"])
    assert sum(v for k, v in usage.items() if k != "total") == usage["total"]
    for name, attrs in with_.items():
        if not name.startswith("chat "):
            assert "langfuse.observation.usage_details" not in attrs
            assert "langfuse.observation.cost_details" not in attrs
            assert not any(k.startswith("gen_ai.usage.") for k in attrs), name
