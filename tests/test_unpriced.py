"""Unknown cost is unknown, never $0: a model call without a price has no cost, and every
roll-up above it counts it, from the spans through the records, the metrics JSONL and the
analytics store, and on the Claude Code path."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest

import otel_agents
from otel_agents import attributes as A
from otel_agents.config import load_config
from otel_agents.foundation.records import records_from_spans
from otel_agents.sinks.analytics import AnalyticsSink
from otel_agents.sinks.metrics import MetricsSink, iter_records

SONNET_COST = 0.011475  # Sonnet 4.5: input 3100 (2000 cache read, 100 cache write), output 500
ROLLUP_KEYS = (
    A.ROLLUP_INPUT_TOKENS,
    A.ROLLUP_OUTPUT_TOKENS,
    A.ROLLUP_CACHE_READ_INPUT_TOKENS,
    A.ROLLUP_CACHE_WRITE_INPUT_TOKENS,
    A.ROLLUP_MODEL_CALLS,
    A.ROLLUP_UNPRICED_MODEL_CALLS,
)


def _run_mixed(runtime) -> str:
    """plan: one unknown model; build: one priced call and one invalid usage; review: no call."""
    wf = otel_agents.new_workflow("costs", runtime=runtime)
    with wf:
        with wf.phase("plan", number=1) as ph, ph.step("a", agent="planner") as st:
            st.record_usage("no-such-model-9", provider="anthropic", input_tokens=1000, output_tokens=50)
        with wf.phase("build", number=2) as ph, ph.step("b", agent="coder") as st:
            st.record_usage(
                "claude-sonnet-4-5",
                provider="anthropic",
                input_tokens=3100,
                output_tokens=500,
                cache_read_tokens=2000,
                cache_write_tokens=100,
            )
            # Anthropic's own input_tokens (cache left out): cannot be priced
            st.record_usage(
                "claude-sonnet-4-5", provider="anthropic", input_tokens=500, output_tokens=10, cache_read_tokens=2000
            )
        with wf.phase("review", number=3) as ph, ph.step("c", agent="reviewer"):
            pass
    return wf.workflow_id


def _rollup(span) -> dict:
    a = dict(span.attributes)
    return {k: a.get(k) for k in (*ROLLUP_KEYS, A.ROLLUP_COST_AMOUNT, A.ROLLUP_COST_CURRENCY)}


def _expected(inp, out, cr, cw, calls, unpriced, cost):
    base = dict(zip(ROLLUP_KEYS, (inp, out, cr, cw, calls, unpriced), strict=True))
    base[A.ROLLUP_COST_AMOUNT] = cost
    base[A.ROLLUP_COST_CURRENCY] = None if cost is None else "USD"
    return base


EXPECTED = {  # span name -> roll-up
    "invoke_agent planner": _expected(1000, 50, 0, 0, 1, 1, None),
    "phase plan": _expected(1000, 50, 0, 0, 1, 1, None),
    "invoke_agent coder": _expected(3600, 510, 4000, 100, 2, 1, SONNET_COST),
    "phase build": _expected(3600, 510, 4000, 100, 2, 1, SONNET_COST),
    "invoke_agent reviewer": _expected(0, 0, 0, 0, 0, 0, 0.0),  # no call at all: a true $0
    "phase review": _expected(0, 0, 0, 0, 0, 0, 0.0),
    "invoke_workflow costs": _expected(4600, 560, 4000, 100, 3, 2, SONNET_COST),
}


def test_unpriced_calls_have_no_cost_and_every_rollup_counts_them(runtime, exporter, caplog):
    caplog.set_level(logging.WARNING, logger="otel_agents")
    wid = _run_mixed(runtime)
    spans = {s.name: s for s in exporter.get_finished_spans() if not s.name.startswith("chat")}
    assert {name: _rollup(spans[name]) for name in EXPECTED} == EXPECTED
    for name in ("invoke_agent planner", "phase plan"):  # every call beneath unpriced: no cost at all
        assert A.ROLLUP_COST_AMOUNT not in spans[name].attributes
        assert A.ROLLUP_COST_CURRENCY not in spans[name].attributes
    chats = [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    unknown, priced, invalid = chats
    assert dict(unknown.attributes) == {
        A.GEN_AI_OPERATION_NAME: "chat",
        A.GEN_AI_REQUEST_MODEL: "no-such-model-9",
        A.KIND: "model_call",
        A.WORKFLOW_ID: wid,
        A.GEN_AI_PROVIDER_NAME: "anthropic",
        A.GEN_AI_USAGE_INPUT_TOKENS: 1000,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 50,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
        A.COST_UNAVAILABLE_REASON: "unknown_model",
    }
    assert dict(invalid.attributes) == {
        A.GEN_AI_OPERATION_NAME: "chat",
        A.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
        A.KIND: "model_call",
        A.WORKFLOW_ID: wid,
        A.GEN_AI_PROVIDER_NAME: "anthropic",
        A.GEN_AI_USAGE_INPUT_TOKENS: 500,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 10,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 2000,
        A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
        A.COST_UNAVAILABLE_REASON: "invalid_usage",
    }
    assert priced.attributes[A.GEN_AI_USAGE_COST_AMOUNT] == SONNET_COST
    # The invalid usage is named, with its fix, once.
    (warning,) = [r for r in caplog.records if "cannot be priced" in r.getMessage()]
    assert "ModelUsage.anthropic_tokens(response.usage)" in warning.getMessage()
    assert "ModelUsage.from_anthropic" in warning.getMessage()


def test_a_second_invalid_usage_is_not_logged_again(runtime, exporter, caplog):
    from otel_agents import pricing

    caplog.set_level(logging.WARNING, logger="otel_agents")
    before = pricing.invalid_usage_count()
    with otel_agents.new_workflow("w", runtime=runtime) as wf, wf.step("s") as st:
        for _ in range(3):
            st.record_usage(
                "claude-sonnet-4-5", provider="anthropic", input_tokens=1, output_tokens=1, cache_write_tokens=5
            )
    assert pricing.invalid_usage_count() - before == 3
    assert len([r for r in caplog.records if "cannot be priced" in r.getMessage()]) <= 1


def _check_records(records: list[dict], wid: str) -> None:
    by_name = {r["name"]: r for r in records if r["kind"] != "model_call"}
    for name, exp in EXPECTED.items():
        r = by_name[name]
        got = (
            r["input_tokens"],
            r["output_tokens"],
            r["cache_read_tokens"],
            r["cache_write_tokens"],
            r["model_calls"],
            r["unpriced_model_calls"],
            r["cost_usd"],
            r["cost_source"],
        )
        cost = exp[A.ROLLUP_COST_AMOUNT]
        assert got == (*(exp[k] for k in ROLLUP_KEYS), cost, None if cost is None else "rollup"), name
    calls = [
        (
            r["model"],
            r["cost_usd"],
            r["cost_source"],
            r["cost_unavailable_reason"],
            r["model_calls"],
            r["unpriced_model_calls"],
        )
        for r in records
        if r["kind"] == "model_call"
    ]
    assert calls == [
        ("no-such-model-9", None, None, "unknown_model", 1, 1),
        ("claude-sonnet-4-5", SONNET_COST, "local", None, 1, 0),
        ("claude-sonnet-4-5", None, None, "invalid_usage", 1, 1),
    ]
    assert {r["workflow_id"] for r in records} == {wid}


def test_records_and_metrics_jsonl_keep_unknown_cost_null(runtime, exporter, tmp_path):
    wid = _run_mixed(runtime)
    spans = exporter.get_finished_spans()
    _check_records(records_from_spans(spans), wid)
    home = tmp_path / "home"
    sink = MetricsSink(load_config(home))
    sink.export(spans)
    sink.close()
    lines = [json.loads(line) for f in sorted((home / "metrics").iterdir()) for line in f.read_text().splitlines()]
    _check_records(lines, wid)
    _check_records(list(iter_records(home / "metrics")), wid)


def _rows(db: Path, sql: str, *args) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def test_analytics_rows_keep_unknown_cost_null(runtime, exporter, tmp_path):
    wid = _run_mixed(runtime)
    home = tmp_path / "home"
    sink = AnalyticsSink(load_config(home))
    sink.export(exporter.get_finished_spans())
    sink.close()
    db = home / "analytics" / "history.db"
    (wf,) = _rows(db, "SELECT * FROM workflow_history")
    assert (wf["workflow_id"], wf["cost_usd"], wf["model_call_count"], wf["unpriced_model_calls"]) == (
        wid,
        SONNET_COST,
        3,
        2,
    )
    # the plan phase's cost is unknown, the review phase's a true zero
    assert json.loads(wf["cost_breakdown"]) == {"plan": None, "build": SONNET_COST, "review": 0.0}
    assert [
        (r["phase_name"], r["cost_usd"], r["model_calls"], r["unpriced_model_calls"])
        for r in _rows(db, "SELECT * FROM phase_logs ORDER BY phase_number")
    ] == [("plan", None, 1, 1), ("build", SONNET_COST, 2, 1), ("review", 0.0, 0, 0)]
    assert [
        (r["step_name"], r["cost_usd"], r["model_calls"], r["unpriced_model_calls"])
        for r in _rows(db, "SELECT * FROM step_executions ORDER BY start_unix_nano")
    ] == [("a", None, 1, 1), ("b", SONNET_COST, 2, 1), ("c", 0.0, 0, 0)]
    assert [
        (r["model"], r["cost_usd"], r["cost_source"], r["cost_unavailable_reason"])
        for r in _rows(db, "SELECT * FROM model_calls ORDER BY start_unix_nano, rowid")
    ] == [
        ("no-such-model-9", None, None, "unknown_model"),
        ("claude-sonnet-4-5", SONNET_COST, "local", None),
        ("claude-sonnet-4-5", None, None, "invalid_usage"),
    ]
    views = {r["step_name"]: r["cost_usd"] for r in _rows(db, "SELECT * FROM task_attempts")}
    assert views == {"a": None, "b": SONNET_COST, "c": 0.0}
    assert {r["agent"]: r["cost_usd"] for r in _rows(db, "SELECT * FROM agent_metrics")} == {
        "planner": None,
        "coder": SONNET_COST,
        "reviewer": 0.0,
    }


def test_a_workflow_whose_calls_are_all_unpriced_has_no_cost_anywhere(runtime, exporter, tmp_path):
    with otel_agents.new_workflow("dark", runtime=runtime) as wf, wf.step("s") as st:
        st.record_usage("no-such-model-9", provider="anthropic", input_tokens=10, output_tokens=1)
        st.record_usage("claude-sonnet-4-5", provider="anthropic", input_tokens=1, output_tokens=1, cache_read_tokens=2)
    spans = exporter.get_finished_spans()
    for s in spans:
        assert A.ROLLUP_COST_AMOUNT not in s.attributes and A.GEN_AI_USAGE_COST_AMOUNT not in s.attributes, s.name
    root = next(s for s in spans if s.parent is None)
    assert (root.attributes[A.ROLLUP_MODEL_CALLS], root.attributes[A.ROLLUP_UNPRICED_MODEL_CALLS]) == (2, 2)
    home = tmp_path / "home"
    for sink in (MetricsSink(load_config(home)), AnalyticsSink(load_config(home))):
        sink.export(spans)
        sink.close()
    wf_rec = next(r for r in iter_records(home / "metrics") if r["kind"] == "workflow")
    assert (wf_rec["cost_usd"], wf_rec["cost_source"], wf_rec["model_calls"], wf_rec["unpriced_model_calls"]) == (
        None,
        None,
        2,
        2,
    )
    (row,) = _rows(home / "analytics" / "history.db", "SELECT * FROM workflow_history")
    assert (row["cost_usd"], row["model_call_count"], row["unpriced_model_calls"]) == (None, 2, 2)
    assert row["cost_breakdown"] is None  # no phase


def test_an_unknown_provider_is_priced_by_the_model_alone(runtime, exporter):
    with otel_agents.new_workflow("gw", runtime=runtime) as wf, wf.step("s") as st:
        st.record_usage(
            "claude-sonnet-4-5",
            provider="my-gateway",
            input_tokens=3100,
            output_tokens=500,
            cache_read_tokens=2000,
            cache_write_tokens=100,
        )
        # a provider genai-prices knows, without this model: no price rather than another's
        st.record_usage("claude-sonnet-4-5", provider="openai", input_tokens=3100, output_tokens=500)
    gateway, openai = [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    assert (gateway.attributes[A.GEN_AI_USAGE_COST_AMOUNT], gateway.attributes[A.GEN_AI_USAGE_COST_SOURCE]) == (
        SONNET_COST,
        "local",
    )
    assert gateway.attributes[A.GEN_AI_PROVIDER_NAME] == "my-gateway"
    assert openai.attributes[A.COST_UNAVAILABLE_REASON] == "unknown_model"
    assert A.GEN_AI_USAGE_COST_AMOUNT not in openai.attributes


# --- the Claude Code path: usage exported in an earlier drain is carried into the session ------------
def _session(tmp_path: Path, sid: str, models: tuple[str, str]):
    from test_claude_code import assistant, ev, hook_env, post, pre, send

    tr = tmp_path / f"{sid}.jsonl"
    now = time.time_ns()
    env = hook_env()
    tr.write_text(json.dumps(assistant("m1", "r1", now, (4, 100, 1000, 2000), tools=("t1",), model=models[0])) + "\n")
    send(
        [
            ev(sid, "SessionStart", tr),
            ev(sid, "UserPromptSubmit", tr, prompt="x"),
            pre(sid, "t1", tr=tr),
            post(sid, "t1", tr=tr),
            ev(sid, "Stop", tr),
        ],
        env,
    )
    return tr, now, env


def _claude_code(runtime, exporter, tmp_path, sid, models):
    from test_claude_code import assistant, ev, send

    from otel_agents.claude_code.drain import drain

    data_home = Path(os.environ["OTEL_AGENTS_HOME"])
    tr, now, env = _session(tmp_path, sid, models)
    drain(data_home, rt=runtime)  # the first turn is exported now: its usage is carried
    with open(tr, "a") as f:
        f.write(json.dumps(assistant("m2", "r2", now, (1, 7, 0, 3000), model=models[1])) + "\n")
    send([ev(sid, "UserPromptSubmit", tr, prompt="y"), ev(sid, "Stop", tr), ev(sid, "SessionEnd", tr)], env)
    drain(data_home, rt=runtime)
    spans = exporter.get_finished_spans()
    return next(s for s in spans if s.parent is None), [s for s in spans if s.name.startswith("chat")]


def test_claude_code_session_with_only_unpriced_calls_has_no_cost(runtime, exporter, tmp_path):
    root, chats = _claude_code(runtime, exporter, tmp_path, "sess-dark", ("nvidia/nemotron-x", "nvidia/nemotron-x"))
    assert [c.attributes[A.COST_UNAVAILABLE_REASON] for c in chats] == ["unknown_model", "unknown_model"]
    assert (root.attributes[A.ROLLUP_MODEL_CALLS], root.attributes[A.ROLLUP_UNPRICED_MODEL_CALLS]) == (2, 2)
    assert root.attributes[A.ROLLUP_INPUT_TOKENS] == 3004 + 3001
    assert A.ROLLUP_COST_AMOUNT not in root.attributes


def test_claude_code_session_partly_priced_has_the_priced_sum_and_the_count(runtime, exporter, tmp_path):
    from genai_prices import Usage, calc_price

    root, chats = _claude_code(
        runtime, exporter, tmp_path, "sess-half", ("nvidia/nemotron-x", "claude-sonnet-4-5-20250929")
    )
    priced = float(
        calc_price(
            Usage(input_tokens=3001, output_tokens=7, cache_read_tokens=3000),
            model_ref="claude-sonnet-4-5-20250929",
            provider_id="anthropic",
        ).total_price
    )
    assert [c.attributes.get(A.GEN_AI_USAGE_COST_AMOUNT) for c in chats] == [None, priced]
    assert (root.attributes[A.ROLLUP_MODEL_CALLS], root.attributes[A.ROLLUP_UNPRICED_MODEL_CALLS]) == (2, 1)
    assert root.attributes[A.ROLLUP_COST_AMOUNT] == pytest.approx(priced, abs=1e-15)
