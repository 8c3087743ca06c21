"""Loading genai-prices' data (0.1 to 0.3 s) is never part of the application's spans.

Each test runs in a fresh interpreter: the data loads once per process, so only a new
process shows the first model call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from otel_agents.config import load_config
from otel_agents.sinks.spool import iter_records, iter_spans, spool_files

# Sonnet 4.5: input 3100 (2000 cache read, 100 cache write), output 500 (docs: REFERENCE).
USAGE = "input_tokens=3100, output_tokens=500, cache_read_tokens=2000, cache_write_tokens=100"
COST = 0.011475


def _run(code: str, home: Path) -> str:
    env = {**os.environ, "OTEL_AGENTS_HOME": str(home), "OTEL_AGENTS_OTLP_ENABLED": "false"}
    env.pop("PYTEST_CURRENT_TEST", None)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_first_step_is_not_billed_for_loading_prices(tmp_path):
    code = f"""
        import json, time
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import otel_agents
        from otel_agents import pricing

        exp = InMemorySpanExporter()
        otel_agents.setup(provider=TracerProvider(), span_processors=[SimpleSpanProcessor(exp)],
                          with_sinks=False, set_global=False)
        with otel_agents.workflow("w") as wf:
            with wf.step("first") as st:
                time.sleep(0.05)
                loaded_before = pricing.loaded()
                st.record_usage("claude-sonnet-4-5", provider="anthropic", {USAGE})
        assert pricing.wait_loaded(30)
        spans = {{s.name: s for s in exp.get_finished_spans()}}
        print(json.dumps({{
            "loaded_before": loaded_before,
            "names": sorted(spans),
            "step_ms": (spans["step first"].end_time - spans["step first"].start_time) / 1e6,
            "call_cost": spans["chat claude-sonnet-4-5"].attributes["gen_ai.usage.cost.amount"],
            "step_cost": spans["step first"].attributes["otel_agents.rollup.cost.amount"],
            "workflow_cost": spans["invoke_workflow w"].attributes["otel_agents.rollup.cost.amount"],
            "unpriced": spans["invoke_workflow w"].attributes["otel_agents.rollup.unpriced_model_calls"],
            "calls": spans["invoke_workflow w"].attributes["otel_agents.rollup.model_calls"],
            "input": spans["invoke_workflow w"].attributes["otel_agents.rollup.input_tokens"],
        }}))
    """
    got = json.loads(_run(code, tmp_path / "home"))
    assert got["loaded_before"] is False  # the call did arrive while the data was loading
    assert got["names"] == ["chat claude-sonnet-4-5", "invoke_workflow w", "step first"]
    assert 50.0 <= got["step_ms"] <= 55.0, got["step_ms"]
    assert got["call_cost"] == got["step_cost"] == got["workflow_cost"] == COST
    assert (got["unpriced"], got["calls"], got["input"]) == (0, 1, 3100)


def test_spans_waiting_for_prices_reach_the_spool_at_exit(tmp_path):
    """A short script that exits right after its workflow still exports it, priced."""
    home = tmp_path / "home"
    code = f"""
        import otel_agents
        from otel_agents import pricing
        with otel_agents.workflow("w", workflow_id="wf-exit") as wf:
            with wf.step("s") as st:
                st.record_usage("claude-sonnet-4-5", provider="anthropic", {USAGE})
                st.record_usage("no-such-model-xyz", input_tokens=7, output_tokens=1)
        print(pricing.loaded())
    """
    assert _run(code, home).strip() == "False"
    spans = {}
    for path in spool_files(load_config(home).spans_dir):
        for _o, _e, doc in iter_records(path):
            for s in iter_spans(doc):
                spans[s["name"]] = {a["key"]: next(iter(a["value"].values())) for a in s["attributes"]}
    assert sorted(spans) == ["chat claude-sonnet-4-5", "chat no-such-model-xyz", "invoke_workflow w", "step s"]
    assert spans["chat claude-sonnet-4-5"]["gen_ai.usage.cost.amount"] == COST
    assert "gen_ai.usage.cost.amount" not in spans["chat no-such-model-xyz"]
    assert spans["chat no-such-model-xyz"]["otel_agents.cost.unavailable_reason"] == "unknown_model"
    for name in ("step s", "invoke_workflow w"):
        assert spans[name]["otel_agents.rollup.cost.amount"] == COST
        assert spans[name]["otel_agents.rollup.unpriced_model_calls"] == "1"  # OTLP-JSON: int64 as text
        assert spans[name]["otel_agents.rollup.input_tokens"] == "3107"
