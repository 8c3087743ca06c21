"""The hook contract: call order, isolation, strict mode, documentation, entry-point loading."""

from __future__ import annotations

import inspect
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

import otel_agents as oa
from otel_agents import hookimpl, hookspecs, safety
from otel_agents.plugins import new_plugin_manager

ROOT = Path(__file__).resolve().parent.parent


class Recorder:
    """Records every hook call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def workflow_start(self, event):
        self.calls.append(("workflow_start", event.name))

    @hookimpl
    def workflow_end(self, event):
        self.calls.append(("workflow_end", event.outcome.value))

    @hookimpl
    def phase_start(self, event):
        self.calls.append(("phase_start", event.name))

    @hookimpl
    def phase_end(self, event):
        self.calls.append(("phase_end", event.name))

    @hookimpl
    def step_start(self, event):
        self.calls.append(("step_start", f"{event.name}@{event.attempt}"))

    @hookimpl
    def step_end(self, event):
        self.calls.append(("step_end", f"{event.name}@{event.attempt}:{event.outcome.value}"))

    @hookimpl
    def tool_call_start(self, event):
        self.calls.append(("tool_call_start", event.call_id))

    @hookimpl
    def tool_call_end(self, event):
        self.calls.append(("tool_call_end", f"{event.call_id}:{event.outcome.value}"))

    @hookimpl
    def model_usage(self, usage):
        self.calls.append(("model_usage", f"{usage.model}:{usage.input_tokens}"))

    @hookimpl
    def span_ending(self, span):
        self.calls.append(("span_ending", span.kind))

    @hookimpl
    def register_sinks(self, config):
        self.calls.append(("register_sinks", config.home.name))
        return []

    @hookimpl
    def sink_processor(self, sinks):
        self.calls.append(("sink_processor", ",".join(s.name for s in sinks.sinks)))
        return None  # the default sinks plugin answers

    @hookimpl
    def metric_exporter(self, config):
        self.calls.append(("metric_exporter", config.home.name))
        return None  # the default sinks plugin answers


def test_exact_hook_order_over_a_whole_lifecycle(make_runtime):
    rec = Recorder()
    pm = new_plugin_manager(load_entry_points=False)
    pm.register(rec, name="recorder")
    make_runtime(pm, with_sinks=True)
    with oa.workflow("ship", workflow_id="wf") as wf:
        with wf.phase("build") as ph:
            with ph.step("coder", attempt=1) as st:
                st.record_usage("claude-sonnet-4-5", provider="anthropic", input_tokens=100, output_tokens=10)
                with st.tool_call("Bash", call_id="t1"):
                    pass
            st2 = ph.step("coder", attempt=2).start()
            st2.fail("flaky")
    # pluggy calls the last-registered implementation first: the recorder sees each *_end
    # before the spans plugin ends the span (and fires span_ending).
    assert rec.calls == [
        ("register_sinks", ".otel-agents"),
        ("sink_processor", "spool,otlp,metrics,analytics"),
        ("metric_exporter", ".otel-agents"),
        ("workflow_start", "ship"),
        ("phase_start", "build"),
        ("step_start", "coder@1"),
        ("model_usage", "claude-sonnet-4-5:100"),
        ("span_ending", "model_call"),
        ("tool_call_start", "t1"),
        ("tool_call_end", "t1:success"),
        ("span_ending", "tool_call"),
        ("step_end", "coder@1:success"),
        ("span_ending", "step"),
        ("step_start", "coder@2"),
        ("step_end", "coder@2:failure"),
        ("span_ending", "step"),
        ("phase_end", "build"),
        ("span_ending", "phase"),
        ("workflow_end", "success"),
        ("span_ending", "workflow"),
    ]
    # Every hook in the contract is exercised here: a new hook without a test fails this.
    assert {name for name, _ in rec.calls} == set(hookspecs.HOOK_NAMES)


def _raising_plugin():
    class P:
        pass

    for name in hookspecs.HOOK_NAMES:

        def impl(*args, _n=name, **kwargs):
            raise RuntimeError(f"plugin bug in {_n}")

        impl.__signature__ = inspect.signature(getattr(hookspecs, name))
        setattr(P, name, staticmethod(hookimpl(impl)))
    return P()


def test_raising_plugin_is_isolated_and_counted(make_runtime, exporter, monkeypatch, caplog):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    rec = Recorder()
    pm = new_plugin_manager(load_entry_points=False)
    pm.register(_raising_plugin(), name="raiser")
    pm.register(rec, name="recorder")
    make_runtime(pm, with_sinks=True)
    with caplog.at_level(logging.WARNING, logger="otel_agents"):
        for _ in range(3):
            with oa.workflow("ship") as wf:
                with wf.step("s") as st:
                    st.record_usage("claude-sonnet-4-5", input_tokens=1, output_tokens=1)
    # The workflow completed, the other plugins ran, every span was built.
    assert len(exporter.get_finished_spans()) == 9
    assert rec.calls.count(("workflow_end", "success")) == 3
    counts = safety.failure_counts()
    assert counts["plugin raiser: workflow_start"] == 3
    assert counts["plugin raiser: model_usage"] == 3
    assert counts["plugin raiser: register_sinks"] == 1
    # Logged once per place, not per failure.
    logged = [r.getMessage() for r in caplog.records if "plugin raiser: workflow_start" in r.getMessage()]
    assert len(logged) == 1


def test_strict_mode_reraises_under_pytest(make_runtime):
    pm = new_plugin_manager(load_entry_points=False)
    pm.register(_raising_plugin(), name="raiser")
    with pytest.raises(RuntimeError, match="plugin bug in register_sinks"):
        make_runtime(pm, with_sinks=True)


def test_every_hook_is_documented():
    docs = (ROOT / "docs" / "hooks.md").read_text()
    for name in hookspecs.HOOK_NAMES:
        spec = getattr(hookspecs, name)
        doc = inspect.getdoc(spec) or ""
        assert len(doc.splitlines()[0]) > 10, f"{name}: no summary line"
        for param in inspect.signature(spec).parameters:
            assert f":param {param}:" in doc, f"{name}: parameter {param} undocumented"
        assert re.search(rf"^#+ `{name}", docs, re.M), f"{name}: no section in docs/hooks.md"
    declared = {n for n, v in vars(hookspecs).items() if hasattr(v, "otel_agents_spec")}
    assert declared == set(hookspecs.HOOK_NAMES)


def test_budget_plugin_loads_from_its_entry_point(make_runtime, exporter, monkeypatch, caplog):
    """otel-agents-budget is a separate distribution under plugins/, installed in the venv."""
    import otel_agents_budget

    monkeypatch.setenv("OTEL_AGENTS_BUDGET_USD", "0.01")
    otel_agents_budget.reset()
    pm = new_plugin_manager()
    assert pm.has_plugin("budget")
    make_runtime(pm)
    with caplog.at_level(logging.WARNING, logger="otel_agents.budget"):
        with oa.workflow("ship", workflow_id="wf-b") as wf:
            with wf.step("s") as st:
                st.record_usage(
                    "claude-sonnet-4-5",
                    provider="anthropic",
                    input_tokens=3100,
                    output_tokens=500,
                    cache_read_tokens=2000,
                    cache_write_tokens=100,
                )
    workflow = exporter.get_finished_spans()[-1]
    (event,) = workflow.events
    assert event.name == "otel_agents.budget.exceeded"
    assert dict(event.attributes) == {
        "otel_agents.budget.usd": 0.01,
        "otel_agents.budget.cost.usd": 0.011475,
        "otel_agents.budget.workflow.name": "ship",
    }
    assert [r.getMessage() for r in caplog.records] == [
        "otel-agents-budget: workflow 'ship' (wf-b) cost $0.011475, over its budget of $0.010000"
    ]
    otel_agents_budget.reset()


def test_plugin_allow_and_block_lists(monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_DISABLE_PLUGINS", "budget")
    assert not new_plugin_manager().has_plugin("budget")
    monkeypatch.delenv("OTEL_AGENTS_DISABLE_PLUGINS")
    monkeypatch.setenv("OTEL_AGENTS_PLUGINS", "none")
    pm = new_plugin_manager()
    assert not pm.has_plugin("budget")
    assert pm.has_plugin("spans")  # default plugins are not entry points
    monkeypatch.setenv("OTEL_AGENTS_PLUGINS", "budget")
    assert new_plugin_manager().has_plugin("budget")
    monkeypatch.setenv("OTEL_AGENTS_DISABLE_PLUGINS", "spans")
    assert not new_plugin_manager().has_plugin("spans")


def test_plugins_load_lazily_and_once():
    """Importing otel_agents loads no plugin and no OpenTelemetry; the manager is built once."""
    code = (
        "import sys, otel_agents\n"
        "assert 'pluggy' not in sys.modules and 'opentelemetry' not in sys.modules, sorted(sys.modules)\n"
        "from otel_agents.plugins import get_plugin_manager\n"
        "assert get_plugin_manager() is get_plugin_manager()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
