"""The otel-agents-openinference plugin, loaded through its entry point: whole attribute dicts.

Each span's attributes with the plugin must equal its attributes without the plugin plus
exactly the OpenInference attributes listed here: nothing else added, nothing changed.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

import otel_agents as oa
from otel_agents.plugins import new_plugin_manager

WORKFLOW_ID = "oi-test-run"


def scenario() -> None:
    """Every kind of span: chain, agent and plain steps, tools (one failing), three model calls."""
    with oa.workflow("fix-bug", workflow_id=WORKFLOW_ID, template="sdlc", session_id="sess-1") as wf:
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
                    reasoning_tokens=50,
                    cost=0.0042,
                    response_model="claude-haiku-4-5-20251001",
                )
                st.record_usage("in-house-model", provider="acme", input_tokens=10, output_tokens=2)
                with st.tool_call("Bash", call_id="toolu_1", arguments={"command": "pytest -q"}) as tc:
                    tc.set_result("3 passed")
                with st.tool_call("Read", call_id="toolu_2", arguments={"file_path": "a.py"}) as tc:
                    tc.fail(FileNotFoundError("a.py"))
            with ph.step("lint", command="/lint"):
                pass


def _run(make_runtime, exporter, monkeypatch, plugins: str) -> dict[str, dict]:
    monkeypatch.setenv("OTEL_AGENTS_PLUGINS", plugins)
    exporter.clear()
    pm = new_plugin_manager()
    make_runtime(pm)
    scenario()
    return {s.name: dict(s.attributes) for s in exporter.get_finished_spans()}


@pytest.fixture
def spans(make_runtime, exporter, monkeypatch):
    """(attributes without the plugin, with it), by span name."""

    def run():
        without = _run(make_runtime, exporter, monkeypatch, "none")
        return without, _run(make_runtime, exporter, monkeypatch, "openinference")

    return run


def test_registered_through_its_entry_point():
    (ep,) = [e for e in entry_points(group="otel_agents") if e.name == "openinference"]
    assert ep.value == "otel_agents_openinference"
    pm = new_plugin_manager()
    assert pm.has_plugin("openinference")


def _added(without: dict, with_: dict, name: str) -> dict:
    base, full = without[name], with_[name]
    assert {k: full[k] for k in base} == base, f"{name}: the plugin changed core attributes"
    return {k: v for k, v in full.items() if k not in base}


def test_attributes_with_content_capture_off(spans):
    without, with_ = spans()
    assert set(without) == set(with_)
    added = {name: _added(without, with_, name) for name in with_}
    assert added == {
        "invoke_workflow fix-bug": {"openinference.span.kind": "CHAIN"},
        "phase build": {"openinference.span.kind": "CHAIN"},
        "invoke_agent coder": {"openinference.span.kind": "AGENT"},
        "step lint": {"openinference.span.kind": "CHAIN"},
        "execute_tool Bash": {"openinference.span.kind": "TOOL", "tool.name": "Bash"},
        "execute_tool Read": {"openinference.span.kind": "TOOL", "tool.name": "Read"},
        "chat claude-sonnet-4-5": {
            "openinference.span.kind": "LLM",
            "llm.model_name": "claude-sonnet-4-5",
            "llm.provider": "anthropic",
            "llm.token_count.prompt": 3100,
            "llm.token_count.completion": 500,
            "llm.token_count.total": 3600,
            "llm.token_count.prompt_details.cache_read": 2000,
            "llm.token_count.prompt_details.cache_write": 100,
            # Sonnet 4.5: 1000 x $3 + 2000 x $0.30 + 100 x $3.75 per MTok in; 500 x $15 out.
            "llm.cost.prompt": 0.003975,
            "llm.cost.completion": 0.0075,
            "llm.cost.total": 0.011475,
        },
        "chat claude-haiku-4-5": {  # provider-reported cost: a total only
            "openinference.span.kind": "LLM",
            "llm.model_name": "claude-haiku-4-5-20251001",
            "llm.provider": "anthropic",
            "llm.token_count.prompt": 1000,
            "llm.token_count.completion": 200,
            "llm.token_count.total": 1200,
            "llm.token_count.prompt_details.cache_read": 0,
            "llm.token_count.prompt_details.cache_write": 0,
            "llm.token_count.completion_details.reasoning": 50,
            "llm.cost.total": 0.0042,
        },
        "chat in-house-model": {  # no known price: no cost
            "openinference.span.kind": "LLM",
            "llm.model_name": "in-house-model",
            "llm.provider": "acme",
            "llm.token_count.prompt": 10,
            "llm.token_count.completion": 2,
            "llm.token_count.total": 12,
            "llm.token_count.prompt_details.cache_read": 0,
            "llm.token_count.prompt_details.cache_write": 0,
        },
    }


def test_input_and_output_values_only_with_content_capture(spans, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_CAPTURE_CONTENT", "true")
    without, with_ = spans()
    assert _added(without, with_, "execute_tool Bash") == {
        "openinference.span.kind": "TOOL",
        "tool.name": "Bash",
        "input.value": '{"command":"pytest -q"}',
        "input.mime_type": "application/json",
        "output.value": "3 passed",
        "output.mime_type": "text/plain",
    }
    assert _added(without, with_, "execute_tool Read") == {
        "openinference.span.kind": "TOOL",
        "tool.name": "Read",
        "input.value": '{"file_path":"a.py"}',
        "input.mime_type": "application/json",
    }
    # Token counts are never on agent or chain spans (Phoenix sums LLM spans up the trace).
    for name in ("invoke_workflow fix-bug", "phase build", "invoke_agent coder"):
        assert not any(k.startswith("llm.") for k in with_[name])
