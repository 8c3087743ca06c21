"""Schema migrations: a version-1 store with data is upgraded in place (rows kept, new
columns filled), several processes upgrading at once do it once, and a store from a newer
version is refused without being touched."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_sinks import demo_spans

from otel_agents.analytics.schema import LATEST_VERSION, MIGRATIONS, SchemaTooNew, connect, migrate
from otel_agents.config import load_config
from otel_agents.sink_contract import DeliveryError
from otel_agents.sinks.analytics import AnalyticsSink


def _v1_store(db: Path) -> None:
    """A store as version 1 wrote it, with one workflow and one failed step."""
    conn = connect(db, migrate_schema=False)
    assert migrate(conn, target=1) == [1]
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO workflow_history (workflow_id, workflow_name, template, status, outcome, success, start_time,"
        " end_time, start_unix_nano, end_unix_nano, duration_seconds, cost_usd, retry_count, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            "wf-old",
            "legacy",
            "sdlc",
            "failed",
            "failure",
            0,
            "2024-03-01T10:00:00.000000Z",
            "2024-03-01T10:10:00.000000Z",
            1709287200000000000,
            1709287800000000000,
            600.0,
            0.5,
            1,
            "2024-03-01T10:10:00Z",
            "2024-03-01T10:10:00Z",
        ),
    )
    for attempt, outcome in ((1, "failure"), (2, "failure")):
        conn.execute(
            "INSERT INTO step_executions (record_id, workflow_id, phase_name, step_name, agent, attempt, status,"
            " outcome, success, start_time, end_time, start_unix_nano, end_unix_nano, duration_seconds,"
            " error_category, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                f"{attempt:016x}",
                "wf-old",
                "test",
                "tester",
                "tester",
                attempt,
                "failed",
                outcome,
                0,
                f"2024-03-01T10:0{attempt}:00.000000Z",
                f"2024-03-01T10:0{attempt}:30.000000Z",
                1709287200000000000 + attempt * 60_000_000_000,
                1709287200000000000 + attempt * 60_000_000_000 + 30_000_000_000,
                30.0,
                "timeout",
                "2024-03-01T10:10:00Z",
                "2024-03-01T10:10:00Z",
            ),
        )
    conn.execute("COMMIT")
    conn.close()


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def test_version_1_store_is_upgraded_in_place(make_runtime, exporter, tmp_path):
    home = tmp_path / "home"
    db = home / "analytics" / "history.db"
    _v1_store(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert "day" not in _columns(conn, "workflow_history")
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'model_calls'").fetchone() is None

    sink = AnalyticsSink(load_config(home))
    sink.export(demo_spans(make_runtime, exporter))  # opening migrates, then writes
    sink.close()

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION == 7
        assert [
            tuple(r[:2]) for r in conn.execute("SELECT version, description FROM schema_migrations ORDER BY 1")
        ] == [(m.version, m.description) for m in MIGRATIONS]
        for table in ("workflow_history", "phase_logs", "step_executions", "tool_calls", "model_calls"):
            assert "day" in _columns(conn, table)
        # the old rows are kept, and their new column filled from what they had
        assert conn.execute(
            "SELECT workflow_name, status, cost_usd, retry_count, day FROM workflow_history"
            " WHERE workflow_id = 'wf-old'"
        ).fetchone() == ("legacy", "failed", 0.5, 1, "2024-03-01")
        assert conn.execute(
            "SELECT COUNT(*), MIN(day) FROM step_executions WHERE workflow_id = 'wf-old'"
        ).fetchone() == (2, "2024-03-01")
        # the new views see old and new rows alike
        old = conn.execute(
            "SELECT attempts, retries, failures, total_execution_seconds, wall_clock_seconds,"
            " idle_seconds FROM task_attempts WHERE workflow_id = 'wf-old'"
        ).fetchone()
        assert old == (2, 1, 2, 60.0, 90.0, 30.0)
        assert conn.execute(
            "SELECT resolved, fix_attempts, error_category FROM debugging_cycles WHERE workflow_id = 'wf-old'"
        ).fetchone() == (0, 1, "timeout")
        assert conn.execute("SELECT COUNT(*) FROM model_calls WHERE workflow_id = 'wf-demo'").fetchone() == (6,)
        assert conn.execute("SELECT COUNT(*) FROM workflow_history").fetchone() == (2,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_migrating_twice_is_a_no_op(tmp_path):
    db = tmp_path / "history.db"
    conn = connect(db)
    assert migrate(conn) == []
    assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone() == (len(MIGRATIONS),)
    conn.close()


def test_concurrent_openers_migrate_exactly_once(tmp_path):
    db = tmp_path / "analytics" / "history.db"
    _v1_store(db)
    code = (
        "import sys; from otel_agents.analytics.schema import connect; "
        "c = connect(sys.argv[1]); print(c.execute('PRAGMA user_version').fetchone()[0]); c.close()"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _out, err in results]
    assert [out.strip() for out, _err in results] == [str(LATEST_VERSION)] * 6
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")] == [
            m.version for m in MIGRATIONS
        ]
        assert conn.execute("SELECT COUNT(*) FROM step_executions").fetchone() == (2,)


def test_a_newer_store_is_refused_and_left_untouched(make_runtime, exporter, tmp_path):
    home = tmp_path / "home"
    db = home / "analytics" / "history.db"
    connect(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 7}")
    digest = hashlib.sha256(db.read_bytes()).hexdigest()

    with pytest.raises(SchemaTooNew, match="newer than this otel-agents"):
        connect(db)
    sink = AnalyticsSink(load_config(home))
    with pytest.raises(DeliveryError, match="newer than this otel-agents"):
        sink.export(demo_spans(make_runtime, exporter))
    sink.close()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
