"""The analytics sink: the real demo and seed 002's example, through the real sink, into a
real SQLite file; exact rows, aggregates, attempt views, idempotence and arrival order."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest
from helpers_sinks import (
    DEMO_CACHE_READ,
    DEMO_CACHE_WRITE,
    DEMO_COST,
    DEMO_COST_BY_MODEL,
    DEMO_COST_BY_PHASE,
    DEMO_COUNTS,
    DEMO_INPUT,
    DEMO_OUTPUT,
    demo_spans,
    export_once,
    hook_span,
    seed_002_workflow,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agents.analytics.schema import LATEST_VERSION, MIGRATIONS
from otel_agents.config import load_config
from otel_agents.sinks.analytics import AnalyticsSink
from otel_agents.sinks.metrics import MetricsSink, iter_records

TABLES = ("workflow_history", "phase_logs", "step_executions", "tool_calls", "model_calls", "hook_events")
DEMO_ROWS = {
    "workflow_history": 1,
    "phase_logs": 4,
    "step_executions": 5,
    "tool_calls": 10,
    "model_calls": 6,
    "hook_events": 0,
}
#: Columns that record when a row was written, not what it says.
WRITE_TIMES = ("created_at", "updated_at")


def _db(home: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(home / "analytics" / "history.db")
    conn.row_factory = sqlite3.Row
    return conn


def _counts(home: Path) -> dict[str, int]:
    with _db(home) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


def _dump(home: Path) -> dict[str, list[dict]]:
    """Every row of every table, minus write times, in a stable order."""
    out = {}
    with _db(home) as conn:
        for t in TABLES:
            key = "workflow_id" if t == "workflow_history" else ("event_id" if t == "hook_events" else "record_id")
            rows = [dict(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY {key}")]
            out[t] = [{k: v for k, v in r.items() if k not in WRITE_TIMES} for r in rows]
    return out


def _sink(home: Path) -> AnalyticsSink:
    return AnalyticsSink(load_config(home))


@pytest.fixture
def demo_home(make_runtime, exporter, tmp_path) -> tuple[Path, list]:
    spans = demo_spans(make_runtime, exporter)
    home = tmp_path / "home"
    sink = _sink(home)
    sink.export(spans)
    sink.close()
    return home, spans


def test_demo_rows_per_table(demo_home):
    home, _spans = demo_home
    assert _counts(home) == DEMO_ROWS


def test_demo_workflow_row_exact(demo_home):
    home, _spans = demo_home
    with _db(home) as conn:
        wf = dict(conn.execute("SELECT * FROM workflow_history").fetchone())
        phases = [dict(r) for r in conn.execute("SELECT * FROM phase_logs ORDER BY phase_number")]
    assert wf["workflow_id"] == "wf-demo"
    assert (wf["workflow_name"], wf["template"], wf["issue_id"], wf["complexity"]) == (
        "fix-cart-total",
        "sdlc",
        "42",
        "medium",
    )
    assert (wf["status"], wf["outcome"], wf["success"]) == ("completed", "success", 1)
    assert (wf["input_tokens"], wf["output_tokens"], wf["total_tokens"]) == (DEMO_INPUT, DEMO_OUTPUT, 90450)
    assert (wf["cache_read_tokens"], wf["cache_write_tokens"]) == (DEMO_CACHE_READ, DEMO_CACHE_WRITE)
    assert wf["cache_efficiency_percent"] == 77.6869  # 66500 / 85600
    assert wf["cost_usd"] == pytest.approx(DEMO_COST, abs=1e-12)
    assert json.loads(wf["cost_breakdown"]) == pytest.approx(DEMO_COST_BY_PHASE, abs=1e-12)
    assert list(json.loads(wf["cost_breakdown"])) == ["plan", "build", "test", "review"]
    assert json.loads(wf["token_breakdown"])["build"] == {
        "input": 39200,
        "output": 2500,
        "cache_read": 33500,
        "cache_write": 2800,
    }
    assert wf["retry_count"] == 1
    assert (wf["phase_count"], wf["step_count"], wf["steps_completed"], wf["steps_failed"]) == (4, 5, 4, 1)
    assert (wf["tool_call_count"], wf["tool_calls_failed"]) == (10, 1)
    assert (wf["model_call_count"], wf["unpriced_model_calls"]) == (6, 0)
    assert wf["model_used"] == "claude-sonnet-4-5"  # 4 of the 6 calls
    assert json.loads(wf["models"]) == ["claude-haiku-4-5", "claude-sonnet-4-5"]
    assert wf["error_message"] is None and wf["error_category"] is None  # it succeeded
    (reason,) = json.loads(wf["retry_reasons"])
    assert reason == {
        "phase": "test",
        "step": "tester",
        "attempt": 1,
        "error_category": "timeout",
        "error_message": "DemoTimeout: pytest exceeded 120s",
    }
    assert json.loads(wf["error_phase_distribution"]) == {"test": 1}
    # Durations are real here (pace 0): check they are consistent to the nanosecond.
    durations = json.loads(wf["phase_durations"])
    assert durations == {p["phase_name"]: round(p["duration_seconds"], 6) for p in phases}
    assert wf["bottleneck_phase"] == max(durations, key=durations.get)
    assert wf["duration_seconds"] == round((wf["end_unix_nano"] - wf["start_unix_nano"]) / 1e9, 9)
    assert wf["idle_time_seconds"] == pytest.approx(
        wf["duration_seconds"] - sum(p["duration_seconds"] for p in phases), abs=2e-6
    )
    assert wf["day"] == wf["start_time"][:10]


def test_demo_failure_rows_are_timeouts(demo_home):
    home, _spans = demo_home
    with _db(home) as conn:
        steps = [
            dict(r)
            for r in conn.execute(
                "SELECT attempt, status, error_type, error_category, agent, model, skill, command, cost_usd"
                " FROM step_executions WHERE step_name = 'tester' ORDER BY attempt"
            )
        ]
        tools = [
            dict(r)
            for r in conn.execute("SELECT tool_name, call_id, error_category FROM tool_calls WHERE status = 'failed'")
        ]
    assert steps == [
        {
            "attempt": 1,
            "status": "failed",
            "error_type": "otel_agents.demo.DemoTimeout",
            "error_category": "timeout",
            "agent": "tester",
            "model": "claude-haiku-4-5",
            "skill": "test-skill",
            "command": "/test",
            "cost_usd": 0.006325,
        },
        {
            "attempt": 2,
            "status": "completed",
            "error_type": None,
            "error_category": None,
            "agent": "tester",
            "model": "claude-haiku-4-5",
            "skill": "test-skill",
            "command": "/test",
            "cost_usd": 0.006325,
        },
    ]
    assert tools == [{"tool_name": "Bash", "call_id": "toolu_test_1_1", "error_category": "timeout"}]


def test_cost_by_model_and_model_calls_know_their_step(demo_home):
    home, _spans = demo_home
    with _db(home) as conn:
        by_model = dict(conn.execute("SELECT model, SUM(cost_usd) FROM model_calls GROUP BY model").fetchall())
        names = conn.execute(
            "SELECT phase_name, step_name, agent, COUNT(*) FROM model_calls GROUP BY 1, 2, 3 ORDER BY 1"
        ).fetchall()
    assert by_model == pytest.approx(DEMO_COST_BY_MODEL, abs=1e-12)
    assert [tuple(r) for r in names] == [
        ("build", "coder", "coder", 2),
        ("plan", "planner", "planner", 1),
        ("review", "reviewer", "reviewer", 1),
        ("test", "tester", "tester", 2),
    ]


def test_demo_attempt_views(demo_home):
    home, _spans = demo_home
    with _db(home) as conn:
        ta = dict(conn.execute("SELECT * FROM task_attempts WHERE step_name = 'tester'").fetchone())
        cycle = [dict(r) for r in conn.execute("SELECT * FROM debugging_cycles")]
        agents = {r["agent"]: dict(r) for r in conn.execute("SELECT * FROM agent_metrics")}
    assert (ta["attempts"], ta["retries"], ta["successes"], ta["failures"], ta["final_status"]) == (
        2,
        1,
        1,
        1,
        "completed",
    )
    assert ta["wall_clock_seconds"] >= ta["total_execution_seconds"] > 0
    assert ta["idle_seconds"] == pytest.approx(ta["wall_clock_seconds"] - ta["total_execution_seconds"], abs=1e-8)
    assert len(cycle) == 1
    assert {
        k: cycle[0][k]
        for k in ("phase_name", "agent", "failures", "fix_attempts", "resolved", "error_type", "error_category")
    } == {
        "phase_name": "test",
        "agent": "tester",
        "failures": 1,
        "fix_attempts": 1,
        "resolved": 1,
        "error_type": "otel_agents.demo.DemoTimeout",
        "error_category": "timeout",
    }
    assert {a: (m["attempts"], m["successes"], m["failures"], m["retries"]) for a, m in agents.items()} == {
        "planner": (1, 1, 0, 0),
        "coder": (1, 1, 0, 0),
        "tester": (2, 1, 1, 1),
        "reviewer": (1, 1, 0, 0),
    }


def test_seed_002_example_exact(make_runtime, exporter, tmp_path):
    """Seed 002: 3 attempts (120 s + 95 s + 165 s) from 15:03:00 to 15:12:45: 2 retries,
    380 s of execution, 585 s wall clock, 205 s idle."""
    spans = seed_002_workflow(make_runtime, exporter)
    home = tmp_path / "home"
    export_once(_sink(home), spans)
    with _db(home) as conn:
        wf = dict(conn.execute("SELECT * FROM workflow_history").fetchone())
        ta = dict(conn.execute("SELECT * FROM task_attempts WHERE step_name = 'coder'").fetchone())
        by_task = {
            r["level"]: dict(r)
            for r in conn.execute("SELECT * FROM task_attempts_by_task WHERE task_id = 'execution-telemetry'")
        }
        cycle = dict(conn.execute("SELECT * FROM debugging_cycles").fetchone())
    assert (ta["attempts"], ta["retries"], ta["successes"], ta["failures"]) == (3, 2, 1, 2)
    assert (ta["total_execution_seconds"], ta["wall_clock_seconds"], ta["idle_seconds"]) == (380.0, 585.0, 205.0)
    assert (ta["first_started_at"], ta["last_ended_at"]) == (
        "2025-11-02T15:03:00.000000Z",
        "2025-11-02T15:12:45.000000Z",
    )
    step = by_task["step"]
    assert (
        step["attempts"],
        step["retries"],
        step["total_execution_seconds"],
        step["wall_clock_seconds"],
        step["idle_seconds"],
    ) == (3, 2, 380.0, 585.0, 205.0)
    assert (by_task["workflow"]["attempts"], by_task["workflow"]["retries"]) == (1, 0)
    assert (
        cycle["failures"],
        cycle["fix_attempts"],
        cycle["resolved"],
        cycle["error_category"],
        cycle["duration_seconds"],
    ) == (2, 2, 1, "type", 465.0)
    assert json.loads(wf["phase_durations"]) == {"plan": 120.0, "implement": 585.0, "review": 360.0}
    assert (wf["duration_seconds"], wf["idle_time_seconds"]) == (1200.0, 135.0)
    assert (wf["bottleneck_phase"], wf["bottleneck_seconds"]) == ("implement", 585.0)
    assert wf["retry_count"] == 2
    assert wf["recovery_time_seconds"] == 465.0
    assert [r["error_category"] for r in json.loads(wf["retry_reasons"])] == ["type", "test_failure"]
    assert json.loads(wf["error_phase_distribution"]) == {"implement": 2}
    assert (wf["hour_of_day"], wf["day_of_week"], wf["day"]) == (15, 6, "2025-11-02")  # a Sunday
    assert (wf["task_id"], wf["template"], wf["complexity"]) == ("execution-telemetry", "taskplain", "low")
    assert (wf["input_tokens"], wf["output_tokens"], wf["cache_read_tokens"]) == (7000, 1000, 3000)
    assert wf["cache_efficiency_percent"] == 42.8571
    # Haiku 4.5: 1000 in, 100 out; Sonnet 4.5, three times: 1000 fresh in, 1000 cache read, 300 out.
    assert wf["cost_usd"] == pytest.approx(0.0015 + 3 * 0.0078, abs=1e-12)
    assert json.loads(wf["cost_breakdown"]) == pytest.approx({"plan": 0.0015, "implement": 0.0234, "review": 0.0})
    assert (wf["model_used"], wf["step_count"], wf["steps_failed"], wf["tool_call_count"]) == (
        "claude-sonnet-4-5",
        5,
        2,
        3,
    )


def test_replaying_the_same_spans_never_duplicates(demo_home):
    home, spans = demo_home
    before = _dump(home)
    sink = _sink(home)
    sink.export(spans)
    sink.export(spans[::-1])
    sink.close()
    assert _counts(home) == DEMO_ROWS
    assert _dump(home) == before


def test_workflow_first_then_children_gives_the_same_row(make_runtime, exporter, tmp_path):
    """Out of order (a replay): the workflow record first, its phases and steps later."""
    spans = seed_002_workflow(make_runtime, exporter)
    in_order, reordered = tmp_path / "a", tmp_path / "b"
    export_once(_sink(in_order), spans)
    workflow = [s for s in spans if s.attributes["otel_agents.kind"] == "workflow"]
    rest = [s for s in spans if s.attributes["otel_agents.kind"] != "workflow"]
    sink = _sink(reordered)
    sink.export(workflow)
    with _db(reordered) as conn:
        assert conn.execute("SELECT phase_count, bottleneck_phase FROM workflow_history").fetchone()[:] == (0, None)
    sink.export(rest[: len(rest) // 2])
    sink.export(rest[len(rest) // 2 :])
    sink.close()
    assert _dump(reordered) == _dump(in_order)


def test_dual_write_same_records_same_ids(make_runtime, exporter, tmp_path):
    spans = demo_spans(make_runtime, exporter)
    home = tmp_path / "home"
    cfg = load_config(home)
    export_once(MetricsSink(cfg), spans)
    export_once(AnalyticsSink(cfg), spans)
    jsonl = {r["record_id"]: r for r in iter_records(cfg.metrics_dir)}
    with _db(home) as conn:
        for kind, table in (
            ("phase", "phase_logs"),
            ("step", "step_executions"),
            ("tool_call", "tool_calls"),
            ("model_call", "model_calls"),
        ):
            rows = {r["record_id"]: dict(r) for r in conn.execute(f"SELECT * FROM {table}")}
            expected = {rid: r for rid, r in jsonl.items() if r["kind"] == kind}
            assert rows.keys() == expected.keys()
            for rid, row in rows.items():
                rec = expected[rid]
                assert (row["workflow_id"], row["trace_id"], row["start_unix_nano"], row["end_unix_nano"]) == (
                    rec["workflow_id"],
                    rec["trace_id"],
                    rec["start_unix_nano"],
                    rec["end_unix_nano"],
                )
                assert row["duration_seconds"] == pytest.approx(rec["duration_ms"] / 1000, abs=1e-9)
                assert row["error_category"] == rec["error_category"]
        wf = conn.execute("SELECT record_id, cost_usd FROM workflow_history").fetchone()
    (wf_rec,) = [r for r in jsonl.values() if r["kind"] == "workflow"]
    assert (wf["record_id"], wf["cost_usd"]) == (wf_rec["record_id"], wf_rec["cost_usd"])
    assert {k: sum(1 for r in jsonl.values() if r["kind"] == k) for k in DEMO_COUNTS} == DEMO_COUNTS


def test_database_is_wal_0600_and_latest_schema(demo_home):
    home, spans = demo_home
    db = home / "analytics" / "history.db"
    sink = _sink(home)
    sink.export(spans)  # keep a connection open: the WAL file exists
    try:
        with _db(home) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
            assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")] == [
                m.version for m in MIGRATIONS
            ]
        for path in (db, db.with_name("history.db-wal"), db.with_name("history.db-shm")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    finally:
        sink.close()


def test_record_from_execution_false_turns_analytics_off(make_runtime, exporter, tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_ANALYTICS_RECORD_FROM_EXECUTION", "false")
    home = tmp_path / "home"
    export_once(sink := _sink(home), demo_spans(make_runtime, exporter))
    assert not (home / "analytics").exists()
    assert sink.describe().startswith("off")
    assert sink.name == "analytics"


def test_hook_events_rows_keyed_by_event_id(tmp_path):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    hook_span(
        tracer,
        session_id="sess-9",
        events=[
            {"type": "PreToolUse", "id": "e1", "tool_use_id": "toolu_9", "time": 1_700_000_000_000_000_000},
            {"type": "PostToolUse", "id": "e2", "tool_use_id": "toolu_9", "time": 1_700_000_002_500_000_000},
        ],
    )
    home = tmp_path / "home"
    sink = _sink(home)
    sink.export(exporter.get_finished_spans())
    sink.export(exporter.get_finished_spans())  # replay
    sink.close()
    with _db(home) as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM hook_events ORDER BY time_unix_nano")]
        tool = dict(conn.execute("SELECT record_id, session_id, call_id FROM tool_calls").fetchone())
    assert [
        (r["event_id"], r["event_type"], r["session_id"], r["tool_name"], r["tool_use_id"], r["hook_source"])
        for r in rows
    ] == [
        ("e1", "PreToolUse", "sess-9", "Bash", "toolu_9", "claude-code"),
        ("e2", "PostToolUse", "sess-9", "Bash", "toolu_9", "claude-code"),
    ]
    assert rows[0]["span_id"] == tool["record_id"]
    assert rows[1]["timestamp"] == "2023-11-14T22:13:22.500000Z"
    assert json.loads(rows[0]["payload"])["otel_agents.hook.event_type"] == "PreToolUse"
    assert (tool["session_id"], tool["call_id"]) == ("sess-9", "toolu_9")


def test_session_with_turns_and_hook_events(make_runtime, exporter, tmp_path):
    """A Claude-Code-shaped run: the session is the workflow, each turn a phase named "turn";
    hook events on the tool spans. Rows without a session inherit the session's."""
    from helpers_sinks import ns

    import otel_agents as oa
    from otel_agents import attributes as A

    rt = make_runtime()
    spans_plugin = rt.pm.get_plugin("spans")
    t0 = ns("2025-06-01T09:00:00")
    sec = 1_000_000_000
    wf = oa.new_workflow("claude-code", workflow_id="sess-42", session_id="sess-42", start_time=t0).start()
    for n, (start, end) in enumerate(((0, 30), (40, 100)), start=1):
        turn = wf.phase("turn", number=n, start_time=t0 + start * sec).start()
        st = turn.step("main", agent="main", start_time=t0 + start * sec).start()
        tc = st.tool_call(
            "Bash", call_id=f"toolu_{n}", arguments={"command": "ls"}, start_time=t0 + (start + 1) * sec
        ).start()
        span = spans_plugin.span_for("sess-42", tc.key)
        span.add_event(
            A.EVENT_HOOK,
            {
                A.HOOK_EVENT_TYPE: "PreToolUse",
                A.HOOK_EVENT_ID: f"pre-{n}",
                A.HOOK_TOOL_NAME: "Bash",
                A.HOOK_TOOL_USE_ID: f"toolu_{n}",
                A.HOOK_SOURCE: "claude-code",
            },
            timestamp=t0 + (start + 1) * sec,
        )
        span.add_event(
            A.EVENT_HOOK,
            {A.HOOK_EVENT_TYPE: "Notification", A.HOOK_EVENT_ID: f"note-{n}", A.HOOK_DETAIL: "permission_prompt"},
            timestamp=t0 + (start + 2) * sec,
        )
        tc.event.end_time = t0 + (start + 3) * sec
        tc.stop()
        st.event.end_time = turn.event.end_time = t0 + end * sec
        st.stop()
        turn.stop()
    wf.event.end_time = t0 + 120 * sec
    wf.stop()
    home = tmp_path / "home"
    export_once(_sink(home), exporter.get_finished_spans())
    with _db(home) as conn:
        wf_row = dict(conn.execute("SELECT * FROM workflow_history").fetchone())
        hooks = [
            dict(r)
            for r in conn.execute(
                "SELECT event_id, event_type, detail, session_id, tool_use_id FROM hook_events ORDER BY time_unix_nano"
            )
        ]
        tool_sessions = {r[0] for r in conn.execute("SELECT session_id FROM tool_calls")}
    assert (wf_row["session_id"], wf_row["phase_count"], wf_row["idle_time_seconds"]) == ("sess-42", 2, 30.0)
    assert json.loads(wf_row["phase_durations"]) == {"turn": 90.0}
    assert hooks == [
        {
            "event_id": "pre-1",
            "event_type": "PreToolUse",
            "detail": None,
            "session_id": "sess-42",
            "tool_use_id": "toolu_1",
        },
        {
            "event_id": "note-1",
            "event_type": "Notification",
            "detail": "permission_prompt",
            "session_id": "sess-42",
            "tool_use_id": "toolu_1",
        },
        {
            "event_id": "pre-2",
            "event_type": "PreToolUse",
            "detail": None,
            "session_id": "sess-42",
            "tool_use_id": "toolu_2",
        },
        {
            "event_id": "note-2",
            "event_type": "Notification",
            "detail": "permission_prompt",
            "session_id": "sess-42",
            "tool_use_id": "toolu_2",
        },
    ]
    assert tool_sessions == {"sess-42"}
