"""A Claude Code session nests under the executor step that started it.

A fake ``claude`` executable (a script) replays a recorded hook stream
(``tests/fixtures/claude-code/basic-session``, a copy of the shared fixture) through real
``otel-agents hook`` processes, with the environment Claude Code gives its hooks: its own,
minus every ``OTEL_*`` variable. The executor hands the session its step with
``step.subprocess_env()``; the session's spans must come out in the executor's trace, under
that step, and its tokens and cost roll up into the step, phase and workflow in the analytics
store and the report. A session started without it keeps its own trace.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from otel_agents import api, attributes as A
from otel_agents.analytics.store import AnalyticsStore
from otel_agents.claude_code.drain import drain
from otel_agents.foundation.records import normalize_record
from otel_agents.handoff import PARENT_ENV, TRACEPARENT_ENV, parent_context, parse_traceparent
from otel_agents.ids import span_id_for, trace_id_for

OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")
FIXTURE = Path(__file__).parent / "fixtures" / "claude-code" / "basic-session"
SONNET = "claude-sonnet-4-5-20250929"
#: The fixture session's totals (its README): input includes cache reads and writes.
INPUT, OUTPUT, CACHE_READ, CACHE_WRITE = 76375, 505, 71320, 5020

FAKE_CLAUDE = textwrap.dedent(
    """\
    #!{python}
    # A stand-in for `claude -p`: sends a recorded hook stream to the hooks, as Claude Code
    # does: one `otel-agents hook` process per event, OTEL_* variables removed.
    import json, os, subprocess, sys
    fixture, session_id = sys.argv[1], sys.argv[2]
    text = open(os.path.join(fixture, "events.jsonl")).read().replace("{{FIXTURE_DIR}}", fixture)
    env = {{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}}
    env["CLAUDE_PROJECT_DIR"] = os.getcwd()
    for line in text.splitlines():
        if line.strip():
            event = json.loads(line)
            event["session_id"] = session_id
            p = subprocess.run([{hook!r}, "hook"], input=json.dumps(event).encode(), env=env, capture_output=True)
            assert (p.returncode, p.stdout, p.stderr) == (0, b"", b""), p
    print("done")
    """
)


@pytest.fixture
def claude(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "claude"
    path.parent.mkdir()
    path.write_text(FAKE_CLAUDE.format(python=sys.executable, hook=OTEL_AGENTS))
    path.chmod(0o755)
    return path


def home() -> Path:
    return Path(os.environ["OTEL_AGENTS_HOME"])


def no_auto_drain(data_home: Path) -> None:
    """The hook reads this from the home's config.toml (Claude Code drops OTEL_* variables)."""
    data_home.mkdir(parents=True, exist_ok=True)
    (data_home / "config.toml").write_text("[claude_code]\nauto_drain = false\n")


def price() -> float:
    usage = Usage(
        input_tokens=INPUT, output_tokens=OUTPUT, cache_read_tokens=CACHE_READ, cache_write_tokens=CACHE_WRITE
    )
    return float(calc_price(usage, model_ref=SONNET, provider_id="anthropic").total_price)


def test_subprocess_env_hands_over_the_step_span(runtime) -> None:
    wf = api.new_workflow("sdlc", workflow_id="wf-env", runtime=runtime)
    with wf, wf.phase("build") as ph, ph.step("coder", agent="coder") as st:
        env = st.subprocess_env({"PATH": "/usr/bin"})
        span = runtime.spans.span_for("wf-env", st.key)
        ctx = span.get_span_context()
    assert set(env) == {"PATH", PARENT_ENV, TRACEPARENT_ENV}
    assert not PARENT_ENV.startswith("OTEL_")  # Claude Code passes every other variable to its hooks
    assert env[TRACEPARENT_ENV] == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"
    assert parent_context(env[PARENT_ENV]) == {
        "traceparent": env[TRACEPARENT_ENV],
        "workflow_id": "wf-env",
        "key": st.key,
        "home": os.path.abspath(runtime.config.home),
    }
    assert parse_traceparent(env[TRACEPARENT_ENV]) == (trace_id_for("wf-env"), span_id_for("wf-env", st.key))


def test_the_session_nests_under_the_step_in_the_executors_trace(runtime, exporter, claude, tmp_path) -> None:
    no_auto_drain(home())
    project = tmp_path / "project"
    project.mkdir()
    wf = api.new_workflow("sdlc", workflow_id="wf-nest", runtime=runtime)
    with wf, wf.phase("build") as ph, ph.step("coder", agent="coder") as st:
        p = subprocess.run(
            [str(claude), str(FIXTURE), "sess-nested"], env=st.subprocess_env(), cwd=project, capture_output=True
        )
        step_key = st.key
    assert p.returncode == 0, p.stderr
    assert not (project / ".otel-agents").exists()  # the hook wrote to the executor's home
    report = drain(home(), rt=runtime)
    assert (report.sessions, report.closed, report.errors) == (1, 1, [])

    spans = exporter.get_finished_spans()
    step = next(s for s in spans if s.name == "invoke_agent coder")
    session = next(
        s for s in spans if s.attributes.get(A.KIND) == A.KIND_WORKFLOW and s.attributes[A.WORKFLOW_ID] != "wf-nest"
    )
    assert {s.context.trace_id for s in spans} == {trace_id_for("wf-nest")}
    assert session.parent.span_id == step.context.span_id == span_id_for("wf-nest", step_key)
    assert (session.attributes[A.PARENT_WORKFLOW_ID], session.attributes[A.PARENT_KEY]) == ("wf-nest", step_key)
    ids = {s.context.span_id for s in spans}
    assert all(s.parent is None or s.parent.span_id in ids for s in spans)  # no orphan
    assert [s.name for s in spans if s.parent is None] == ["invoke_workflow sdlc"]  # one root
    ours = [s for s in spans if s.attributes.get(A.WORKFLOW_ID) == "sess-nested"]
    assert len(ours) == 12 == len({s.context.span_id for s in ours})  # the fixture's spans, once each
    chats = [s for s in ours if s.name == f"chat {SONNET}"]
    assert (
        sum(c.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] for c in chats),
        sum(c.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] for c in chats),
    ) == (INPUT, OUTPUT)
    assert session.attributes[A.ROLLUP_INPUT_TOKENS] == INPUT
    # the step's span ended before the session was drained: its own roll-up holds none of it
    assert step.attributes[A.ROLLUP_MODEL_CALLS] == 0


def test_a_session_started_otherwise_keeps_its_own_trace(runtime, exporter, claude, tmp_path) -> None:
    project = tmp_path / "project"
    no_auto_drain(project / ".otel-agents")
    project.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in (PARENT_ENV, TRACEPARENT_ENV)}
    p = subprocess.run([str(claude), str(FIXTURE), "sess-alone"], env=env, cwd=project, capture_output=True)
    assert p.returncode == 0, p.stderr
    drain(project / ".otel-agents", rt=runtime)
    spans = exporter.get_finished_spans()
    assert len(spans) == 12 and {s.context.trace_id for s in spans} == {trace_id_for("sess-alone")}
    (root,) = [s for s in spans if s.parent is None]
    assert root.name == "invoke_workflow shop-api" and A.PARENT_WORKFLOW_ID not in root.attributes


EXECUTOR = textwrap.dedent(
    """\
    import subprocess, sys
    import otel_agents
    otel_agents.setup()
    wf = otel_agents.new_workflow("sdlc", workflow_id="wf-roll", template="sdlc")
    with wf, wf.phase("build", number=1) as ph, ph.step("coder", agent="coder") as st:
        st.record_usage("claude-sonnet-4-5", provider="anthropic", input_tokens=1000, output_tokens=100)
        subprocess.run([sys.argv[1], sys.argv[2], "sess-roll"], env=st.subprocess_env(), check=True)
    otel_agents.shutdown()
    """
)


def _rows(db: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        cols = "input_tokens, output_tokens, cost_usd, nested_runs, nested_input_tokens, nested_cost_usd"
        return {
            "step": dict(
                conn.execute(f"SELECT {cols}, model_calls FROM step_executions WHERE step_name = 'coder'").fetchone()
            ),
            "phase": dict(
                conn.execute(
                    f"SELECT {cols}, model_calls, tokens_used FROM phase_logs WHERE phase_name = 'build'"
                ).fetchone()
            ),
            "workflow": dict(
                conn.execute(
                    f"SELECT {cols}, model_call_count, total_tokens FROM workflow_history WHERE workflow_id = 'wf-roll'"
                ).fetchone()
            ),
            "session": dict(
                conn.execute(
                    "SELECT parent_id, input_tokens, cost_usd FROM workflow_history WHERE workflow_id = 'sess-roll'"
                ).fetchone()
            ),
        }
    finally:
        conn.close()


def test_the_sessions_tokens_and_cost_roll_up_into_step_phase_and_workflow(claude, tmp_path) -> None:
    no_auto_drain(home())
    env = {**os.environ, "OTEL_AGENTS_OTLP_ENABLED": "false", "OTEL_AGENTS_EXIT_DEADLINE": "20"}
    p = subprocess.run(
        [sys.executable, "-c", EXECUTOR, str(claude), str(FIXTURE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    # a report before the session is stored: its cache holds the step, phase and run without it
    p = subprocess.run(
        [OTEL_AGENTS, "report", "--format", "json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    p = subprocess.run([OTEL_AGENTS, "flush"], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "1 session(s) closed" in p.stdout, p.stdout + p.stderr

    own = float(
        calc_price(
            Usage(input_tokens=1000, output_tokens=100), model_ref="claude-sonnet-4-5", provider_id="anthropic"
        ).total_price
    )
    session_cost = price()
    db = home() / "analytics" / "history.db"
    rows = _rows(db)
    step_id = f"{span_id_for('wf-roll', 'workflow/phase:build#1/step:coder@1#1'):016x}"
    assert rows["session"]["parent_id"] == step_id
    assert rows["session"]["input_tokens"] == INPUT
    assert rows["session"]["cost_usd"] == pytest.approx(session_cost, abs=1e-12)
    nested = {"nested_runs": 1, "nested_input_tokens": INPUT}
    for level, calls in (("step", "model_calls"), ("phase", "model_calls"), ("workflow", "model_call_count")):
        row = rows[level]
        assert {k: row[k] for k in nested} == nested, level
        assert (row["input_tokens"], row["output_tokens"], row[calls]) == (1000 + INPUT, 100 + OUTPUT, 1 + 5), level
        assert row["cost_usd"] == pytest.approx(own + session_cost, abs=1e-12), level
        assert row["nested_cost_usd"] == pytest.approx(session_cost, abs=1e-12), level
    assert rows["phase"]["tokens_used"] == rows["workflow"]["total_tokens"] == 1000 + INPUT + 100 + OUTPUT

    # the report's run and phase figures include the session
    p = subprocess.run(
        [OTEL_AGENTS, "report", "--format", "json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    cost = json.loads(p.stdout)["cost"]
    top = {w["workflow_id"]: w["cost_usd"] for w in cost["top_workflows"]}
    assert top["wf-roll"] == pytest.approx(own + session_cost, abs=1e-6)
    phases = {p["phase_name"]: p["cost_usd"] for p in cost["top_phases"]}
    assert phases["build"] == pytest.approx(own + session_cost, abs=1e-6)
    assert cost["total_usd"] == pytest.approx(own + session_cost, abs=1e-6)  # each model call once

    # replaying every record changes nothing; nor does writing them in the other order
    before = _rows(db)
    p = subprocess.run(
        [OTEL_AGENTS, "reconcile", "--from-spool", "--overwrite"], env=env, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0 and _rows(db) == before, p.stdout + p.stderr
    records = [
        normalize_record(json.loads(line))
        for path in sorted((home() / "metrics").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    assert {r["workflow_id"] for r in records} == {"wf-roll", "sess-roll"}
    for order in (records[::-1], sorted(records, key=lambda r: r["workflow_id"] != "sess-roll")):
        other = tmp_path / f"other-{len(list(tmp_path.glob('other-*')))}.db"
        store = AnalyticsStore(other)
        try:
            for r in order:
                store.write([r])
        finally:
            store.close()
        assert _rows(other) == before


# --- the step's span roll-up: a session drained before the step ended ---------------------------

ROLLUP_KEYS = (
    A.ROLLUP_INPUT_TOKENS,
    A.ROLLUP_OUTPUT_TOKENS,
    A.ROLLUP_CACHE_READ_INPUT_TOKENS,
    A.ROLLUP_CACHE_WRITE_INPUT_TOKENS,
    A.ROLLUP_REASONING_OUTPUT_TOKENS,
    A.ROLLUP_COST_AMOUNT,
    A.ROLLUP_COST_CURRENCY,
    A.ROLLUP_MODEL_CALLS,
    A.ROLLUP_UNPRICED_MODEL_CALLS,
    A.NESTED_SESSIONS,
)
STEP_KEY = "workflow/phase:build#1/step:coder@1#1"


def _own_cost() -> float:
    usage = Usage(input_tokens=1000, output_tokens=100)
    return float(calc_price(usage, model_ref="claude-sonnet-4-5", provider_id="anthropic").total_price)


def _rollup(included: bool) -> dict[str, Any]:
    """The roll-up of the executor's step, phase and workflow: its own call, plus the session's
    five when it is included."""
    n = 1 if included else 0
    out: dict[str, Any] = {
        A.ROLLUP_INPUT_TOKENS: 1000 + n * INPUT,
        A.ROLLUP_OUTPUT_TOKENS: 100 + n * OUTPUT,
        A.ROLLUP_CACHE_READ_INPUT_TOKENS: n * CACHE_READ,
        A.ROLLUP_CACHE_WRITE_INPUT_TOKENS: n * CACHE_WRITE,
        A.ROLLUP_REASONING_OUTPUT_TOKENS: 0,
        A.ROLLUP_COST_AMOUNT: round(_own_cost() + n * price(), 12),
        A.ROLLUP_COST_CURRENCY: "USD",
        A.ROLLUP_MODEL_CALLS: 1 + n * 5,
        A.ROLLUP_UNPRICED_MODEL_CALLS: 0,
    }
    return out


def _run_executor(make_runtime, exporter, claude, tmp_path, monkeypatch, *, drain_first: bool) -> dict[str, Any]:
    """An executor's step runs the fake ``claude -p``; the session is drained before the step
    ends (``drain_first``) or after. Returns what each sink holds."""
    from otel_agents.report import build_report
    from otel_agents.sinks.metrics import iter_records

    monkeypatch.setenv("OTEL_AGENTS_OTLP_ENABLED", "false")
    no_auto_drain(home())
    project = tmp_path / "project"
    project.mkdir()
    rt = make_runtime(with_sinks=True)
    wf = api.new_workflow("sdlc", workflow_id="wf-order", template="sdlc", runtime=rt)
    with wf, wf.phase("build", number=1) as ph, ph.step("coder", agent="coder") as st:
        st.record_usage("claude-sonnet-4-5", provider="anthropic", input_tokens=1000, output_tokens=100)
        p = subprocess.run(
            [str(claude), str(FIXTURE), "sess-order"], env=st.subprocess_env(), cwd=project, capture_output=True
        )
        assert p.returncode == 0, p.stderr
        assert st.key == STEP_KEY
        if drain_first:  # `claude -p` returned and its session was drained: the step is still open
            assert drain(home(), rt=rt).closed == 1
    if not drain_first:
        assert drain(home(), rt=rt).closed == 1
    for proc in rt.processors:
        proc.force_flush()

    spans = {
        s.attributes[A.KIND]: s
        for s in exporter.get_finished_spans()
        if s.attributes.get(A.WORKFLOW_ID) == "wf-order" and s.attributes.get(A.KIND) != A.KIND_MODEL_CALL
    }
    records = {
        r["kind"]: r
        for r in iter_records(rt.config.metrics_dir)
        if r["workflow_id"] == "wf-order" and r["kind"] in (A.KIND_STEP, A.KIND_PHASE, A.KIND_WORKFLOW)
    }
    db = rt.config.analytics_db
    cost = build_report(db, use_cache=False)["cost"]
    return {
        "spans": {k: {a: s.attributes.get(a) for a in ROLLUP_KEYS if a in s.attributes} for k, s in spans.items()},
        "records": {
            k: {
                f: r.get(f)
                for f in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd")
                + ("model_calls", "unpriced_model_calls", "nested_sessions")
            }
            for k, r in records.items()
        },
        "store": _store_totals(db),
        "report": {
            "total_usd": cost["total_usd"],
            "model_calls": cost["model_calls"],
            "workflow": {w["workflow_id"]: w["cost_usd"] for w in cost["top_workflows"]}["wf-order"],
            "phase": {p["phase_name"]: p["cost_usd"] for p in cost["top_phases"]}["build"],
        },
        "nested_files": sorted(p.name for p in (home() / "claude-code" / "nested").rglob("*") if p.is_file()),
        "db": db,
        "rt": rt,
    }


def _store_totals(db: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    try:
        cols = "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd"
        q = {
            "step": f"SELECT {cols}, model_calls FROM step_executions WHERE step_name = 'coder'",
            "phase": f"SELECT {cols}, model_calls, tokens_used FROM phase_logs WHERE phase_name = 'build'",
            "workflow": f"SELECT {cols}, model_call_count, total_tokens FROM workflow_history WHERE workflow_id = 'wf-order'",
        }
        out = {k: list(conn.execute(sql).fetchone()) for k, sql in q.items()}
        for row in out.values():
            row[4] = round(row[4], 12)
        return out
    finally:
        conn.close()


def _step_sessions(db: Path) -> Any:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT nested_sessions FROM step_executions WHERE step_name = 'coder'").fetchone()[0]
    finally:
        conn.close()


def _expected_store() -> dict[str, Any]:
    t = _rollup(True)
    row = [
        t[A.ROLLUP_INPUT_TOKENS],
        t[A.ROLLUP_OUTPUT_TOKENS],
        t[A.ROLLUP_CACHE_READ_INPUT_TOKENS],
        t[A.ROLLUP_CACHE_WRITE_INPUT_TOKENS],
        t[A.ROLLUP_COST_AMOUNT],
        t[A.ROLLUP_MODEL_CALLS],
    ]
    total = t[A.ROLLUP_INPUT_TOKENS] + t[A.ROLLUP_OUTPUT_TOKENS]
    return {"step": row, "phase": [*row, total], "workflow": [*row, total]}


def _expected_report() -> dict[str, Any]:
    cost = round(_own_cost() + price(), 6)
    return {
        "total_usd": pytest.approx(cost, abs=1e-6),
        "model_calls": 6,
        "workflow": pytest.approx(cost, abs=1e-6),
        "phase": pytest.approx(cost, abs=1e-6),
    }


def _record_totals(rollup: dict[str, Any], sessions: list[str] | None) -> dict[str, Any]:
    return {
        "input_tokens": rollup[A.ROLLUP_INPUT_TOKENS],
        "output_tokens": rollup[A.ROLLUP_OUTPUT_TOKENS],
        "cache_read_tokens": rollup[A.ROLLUP_CACHE_READ_INPUT_TOKENS],
        "cache_write_tokens": rollup[A.ROLLUP_CACHE_WRITE_INPUT_TOKENS],
        "cost_usd": rollup[A.ROLLUP_COST_AMOUNT],
        "model_calls": rollup[A.ROLLUP_MODEL_CALLS],
        "unpriced_model_calls": 0,
        "nested_sessions": sessions,
    }


def test_a_session_drained_before_the_step_ends_is_in_its_span_rollups(
    make_runtime, exporter, claude, tmp_path, monkeypatch
) -> None:
    got = _run_executor(make_runtime, exporter, claude, tmp_path, monkeypatch, drain_first=True)
    included = _rollup(True)
    # the step's span names the session it includes; phase and workflow roll it up from the step
    assert got["spans"] == {
        A.KIND_STEP: {**included, A.NESTED_SESSIONS: ("sess-order",)},
        A.KIND_PHASE: included,
        A.KIND_WORKFLOW: included,
    }
    assert got["records"] == {
        A.KIND_STEP: _record_totals(included, ["sess-order"]),
        A.KIND_PHASE: _record_totals(included, None),
        A.KIND_WORKFLOW: _record_totals(included, None),
    }
    # the store keeps the step's own figures (the session once), and the report shows them once
    assert got["store"] == _expected_store()
    assert _step_sessions(got["db"]) == '["sess-order"]'
    assert got["report"] == _expected_report()
    assert got["nested_files"] == []  # the step took the session's totals


def test_a_session_drained_after_the_step_ended_is_in_the_store_only(
    make_runtime, exporter, claude, tmp_path, monkeypatch
) -> None:
    got = _run_executor(make_runtime, exporter, claude, tmp_path, monkeypatch, drain_first=False)
    own = _rollup(False)
    assert got["spans"] == {A.KIND_STEP: own, A.KIND_PHASE: own, A.KIND_WORKFLOW: own}
    assert got["records"] == {k: _record_totals(own, None) for k in (A.KIND_STEP, A.KIND_PHASE, A.KIND_WORKFLOW)}
    # the same store and report totals as when the step's span included it: once each
    assert got["store"] == _expected_store()
    assert _step_sessions(got["db"]) is None
    assert got["report"] == _expected_report()
    # the totals the drain left for the step stay until the spool's retention, then go
    assert len(got["nested_files"]) == 1
    later = time.time_ns() + 15 * 86400 * 10**9  # past the default 14 days
    drain(home(), rt=got["rt"], now_ns=later)
    assert list((home() / "claude-code" / "nested").iterdir()) == []


def test_a_step_skips_totals_it_cannot_read(runtime, exporter) -> None:
    from otel_agents.handoff import nested_dir

    wf = api.new_workflow("sdlc", workflow_id="wf-bad", runtime=runtime)
    with wf, wf.phase("build") as ph, ph.step("coder", agent="coder") as st:
        st.subprocess_env()
        folder = Path(nested_dir(os.path.abspath(runtime.config.home), "wf-bad", st.key))
        folder.mkdir(parents=True)
        bad = {"x.json": b"{not json", "y.json": b'{"session_id":"s","totals":{"input_tokens":"many"}}'}
        for name, data in bad.items():
            (folder / name).write_bytes(data)
    (step,) = [s for s in exporter.get_finished_spans() if s.name == "invoke_agent coder"]
    assert (step.attributes[A.ROLLUP_MODEL_CALLS], A.NESTED_SESSIONS in step.attributes) == (0, False)
    assert sorted(p.name for p in folder.iterdir()) == ["x.json", "y.json"]  # left for the sweep
