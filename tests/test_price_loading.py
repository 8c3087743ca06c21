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
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=60
    )
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
                t0 = time.time_ns()
                time.sleep(0.05)
                slept = time.time_ns() - t0
                st.record_usage("claude-sonnet-4-5", provider="anthropic", {USAGE})
        assert pricing.wait_loaded(30)
        spans = {{s.name: s for s in exp.get_finished_spans()}}
        print(json.dumps({{
            "names": sorted(spans),
            "slept_ms": slept / 1e6,
            "step_ms": (spans["step first"].end_time - spans["step first"].start_time) / 1e6,
            "workflow_ms": (spans["invoke_workflow w"].end_time - spans["invoke_workflow w"].start_time) / 1e6,
            "call_cost": spans["chat claude-sonnet-4-5"].attributes["gen_ai.usage.cost.amount"],
            "step_cost": spans["step first"].attributes["otel_agents.rollup.cost.amount"],
            "workflow_cost": spans["invoke_workflow w"].attributes["otel_agents.rollup.cost.amount"],
            "unpriced": spans["invoke_workflow w"].attributes["otel_agents.rollup.unpriced_model_calls"],
            "calls": spans["invoke_workflow w"].attributes["otel_agents.rollup.model_calls"],
            "input": spans["invoke_workflow w"].attributes["otel_agents.rollup.input_tokens"],
        }}))
    """
    got = json.loads(_run(code, tmp_path / "home"))
    assert got["names"] == ["chat claude-sonnet-4-5", "invoke_workflow w", "step first"]
    # 50 ms plus at most 5 ms of ours; a busy machine may wake the sleep late: that is the
    # application's time, so the bound is on what the step adds to the sleep as it happened
    assert 50.0 <= got["step_ms"] <= got["slept_ms"] + 5.0, (got["step_ms"], got["slept_ms"])
    assert got["workflow_ms"] <= got["slept_ms"] + 6.0, got["workflow_ms"]  # the load is not in it either
    assert got["call_cost"] == got["step_cost"] == got["workflow_cost"] == COST
    assert (got["unpriced"], got["calls"], got["input"]) == (0, 1, 3100)


# Through the hooks directly (a replay, a bridge), nothing waits for the load: a model call
# that comes first is priced once it has loaded, and its span and the spans above it end then,
# with the times they ended at.
HOOKS = f"""
    import time
    from otel_agents import pricing
    from otel_agents.events import ModelUsage, Outcome, StepEvent, WorkflowEvent
    from otel_agents.telemetry import get_runtime

    hook = get_runtime().hook
    wf = WorkflowEvent(workflow_id="wf-hooks", key="workflow", name="w")
    hook.workflow_start(event=wf)
    st = StepEvent(workflow_id="wf-hooks", key="workflow/step:s", parent_key="workflow", name="s")
    hook.step_start(event=st)
    t0 = time.time_ns()
    hook.model_usage(usage=ModelUsage(workflow_id="wf-hooks", key="workflow/step:s/chat:1", parent_key=st.key,
                                      model="claude-sonnet-4-5", provider="anthropic", {USAGE},
                                      start_time=t0 - 1_000_000, end_time=t0))
    hook.model_usage(usage=ModelUsage(workflow_id="wf-hooks", key="workflow/step:s/chat:2", parent_key=st.key,
                                      model="no-such-model-xyz", input_tokens=7, output_tokens=1))
    loaded_before = pricing.loaded()
    for ev, end in ((st, hook.step_end), (wf, hook.workflow_end)):
        ev.outcome = Outcome.SUCCESS
        end(event=ev)
    t1 = time.time_ns()
"""


def _spooled(home: Path) -> dict[str, dict]:
    spans = {}
    for path in spool_files(load_config(home).spans_dir):
        for _o, _e, doc in iter_records(path):
            for s in iter_spans(doc):
                attrs = {a["key"]: next(iter(a["value"].values())) for a in s["attributes"]}
                spans[s["name"]] = {
                    "attrs": attrs,
                    "start": int(s["startTimeUnixNano"]),
                    "end": int(s["endTimeUnixNano"]),
                }
    return spans


def test_a_call_that_comes_before_the_prices_is_priced_when_they_load(tmp_path):
    home = tmp_path / "home"
    code = (
        HOOKS
        + """
    print(loaded_before, t1)
    """
    )  # exits at once: the spans still reach the spool, priced (the exit waits for the load)
    out = _run(code, home).split()
    assert out[0] == "False"  # the calls did come first
    t1 = int(out[1])
    spans = _spooled(home)
    assert sorted(spans) == ["chat claude-sonnet-4-5", "chat no-such-model-xyz", "invoke_workflow w", "step s"]
    sonnet, unknown = spans["chat claude-sonnet-4-5"]["attrs"], spans["chat no-such-model-xyz"]["attrs"]
    assert sonnet["gen_ai.usage.cost.amount"] == COST
    assert "gen_ai.usage.cost.amount" not in unknown
    assert unknown["otel_agents.cost.unavailable_reason"] == "unknown_model"
    assert spans["chat claude-sonnet-4-5"]["end"] - spans["chat claude-sonnet-4-5"]["start"] == 1_000_000
    for name in ("step s", "invoke_workflow w"):
        attrs = spans[name]["attrs"]
        assert attrs["otel_agents.rollup.cost.amount"] == COST
        assert attrs["otel_agents.rollup.unpriced_model_calls"] == "1"  # OTLP-JSON: int64 as text
        assert attrs["otel_agents.rollup.model_calls"] == "2"
        assert attrs["otel_agents.rollup.input_tokens"] == "3107"
        assert spans[name]["end"] <= t1  # ended when the hooks said, not when the prices came


def test_a_child_forked_while_the_prices_load_never_hangs_nor_guesses(tmp_path):
    home = tmp_path / "home"
    code = f"""
        import os
        import otel_agents
        otel_agents.setup()  # the load starts in the background: fork in the middle of it
        pid = os.fork()
        with otel_agents.workflow("child" if pid == 0 else "parent") as wf:
            with wf.step("s") as st:
                st.record_usage("claude-sonnet-4-5", provider="anthropic", {USAGE})
        if pid == 0:
            otel_agents.shutdown()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print(status)
    """
    assert _run(code, home).strip() == "0"
    spans = _spooled(home)  # by name: the chat and step spans of both
    assert sorted(spans) == ["chat claude-sonnet-4-5", "invoke_workflow child", "invoke_workflow parent", "step s"]
    assert spans["invoke_workflow parent"]["attrs"]["otel_agents.rollup.cost.amount"] == COST
    child = spans["invoke_workflow child"]["attrs"]
    # forked after the import: priced; in the middle of it: unpriced (no cost at all), never $0
    assert (child.get("otel_agents.rollup.cost.amount"), child["otel_agents.rollup.unpriced_model_calls"]) in (
        (COST, "0"),
        (None, "1"),
    )
