"""Dual-write failure domains: a corrupt, locked or unwritable history.db fails the analytics
sink only. The metrics JSONL gets every record through the real SinkProcessor, the broken
database is never overwritten, and ``reconcile`` backfills the store once it is fixed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_sinks import DEMO_COUNTS, DEMO_RECORDS

from otel_agents.config import load_config
from otel_agents.demo import run_demo
from otel_agents.sink import SinkProcessor
from otel_agents.sinks.analytics import AnalyticsSink
from otel_agents.sinks.metrics import MetricsSink, ReadStats, iter_records

DEMO_ROWS = {"workflow_history": 1, "phase_logs": 4, "step_executions": 5, "tool_calls": 10, "model_calls": 6}


@pytest.fixture(autouse=True)
def _drain_fully_at_shutdown(monkeypatch):
    """Let ``shutdown`` wait for the sinks to finish: no sink thread outlives its test."""
    monkeypatch.setenv("OTEL_AGENTS_EXIT_DEADLINE", "60")


def _run_through_sink_processor(
    make_runtime, home: Path, *, busy_timeout_ms: int = 200, runs: int = 1, retry_for: float = 0.5
) -> dict:
    """The demo through the real SinkProcessor with both sinks; returns its per-sink stats.
    ``retry_for``: how long the analytics sink retries a busy database (short here)."""
    cfg = load_config(home)
    proc = SinkProcessor(
        [MetricsSink(cfg), AnalyticsSink(cfg, busy_timeout_ms=busy_timeout_ms, retry_for=retry_for)], config=cfg
    )
    rt = make_runtime(config=cfg)
    rt.provider.add_span_processor(proc)
    try:
        for i in range(runs):
            run_demo(workflow_id=f"wf-{i}", pace=0)
        assert proc.force_flush(30_000)
        return proc.stats()
    finally:
        proc.shutdown()


def _metrics_complete(home: Path, runs: int = 1) -> None:
    st = ReadStats()
    records = list(iter_records(home / "metrics", stats=st))
    assert (st.corrupt, st.partial_tail) == (0, 0)
    assert len(records) == runs * DEMO_RECORDS
    assert {k: sum(1 for r in records if r["kind"] == k) for k in DEMO_COUNTS} == {
        k: runs * v for k, v in DEMO_COUNTS.items()
    }


def _reconcile(home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "otel_agents", "reconcile", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _rows(home: Path) -> dict[str, int]:
    with sqlite3.connect(home / "analytics" / "history.db") as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in DEMO_ROWS}


def test_corrupt_database_fails_analytics_only_and_is_left_alone(make_runtime, tmp_path):
    home = tmp_path / "home"
    db = home / "analytics" / "history.db"
    db.parent.mkdir(parents=True)
    garbage = b"this is not an sqlite database\n" * 200
    db.write_bytes(garbage)
    stats = _run_through_sink_processor(make_runtime, home)
    assert stats["metrics"].failures == 0 and stats["metrics"].spans > 0
    assert stats["analytics"].failures >= 1 and stats["analytics"].spans == 0
    assert str(home / "analytics" / "history.db") in stats["analytics"].last_error
    assert "file is not a database" in stats["analytics"].last_error
    _metrics_complete(home)
    assert db.read_bytes() == garbage  # never clobbered

    db.rename(db.with_name("history.db.corrupt"))  # the operator moves it aside
    out = _reconcile(home)
    assert out.returncode == 0, out.stderr
    assert "26 row(s) added, 0 already present" in out.stdout
    assert _rows(home) == DEMO_ROWS


def test_locked_database_fails_analytics_only_then_recovers(make_runtime, tmp_path):
    home = tmp_path / "home"
    AnalyticsSink(load_config(home)).export([])  # nothing to write: no database yet
    from otel_agents.analytics.schema import connect

    connect(home / "analytics" / "history.db").close()  # an empty, current store
    holder = sqlite3.connect(home / "analytics" / "history.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock throughout
    try:
        stats = _run_through_sink_processor(make_runtime, home, busy_timeout_ms=100)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert stats["metrics"].failures == 0
    assert stats["analytics"].failures >= 1 and stats["analytics"].spans == 0
    assert "database is locked" in stats["analytics"].last_error
    _metrics_complete(home)
    assert _rows(home) == dict.fromkeys(DEMO_ROWS, 0)

    out = _reconcile(home)
    assert out.returncode == 0, out.stderr
    assert _rows(home) == DEMO_ROWS
    out = _reconcile(home)  # again: nothing new
    assert "0 row(s) added, 26 already present" in out.stdout
    assert _rows(home) == DEMO_ROWS


def test_unwritable_database_fails_analytics_only(make_runtime, tmp_path):
    home = tmp_path / "home"
    (home / "analytics" / "history.db-wal").mkdir(parents=True)  # SQLite cannot create its WAL: I/O error
    stats = _run_through_sink_processor(make_runtime, home, runs=2)
    assert stats["metrics"].failures == 0
    assert stats["analytics"].failures >= 1 and stats["analytics"].spans == 0
    assert "disk I/O error" in stats["analytics"].last_error
    _metrics_complete(home, runs=2)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file modes")
def test_read_only_database_fails_analytics_only(make_runtime, tmp_path):
    home = tmp_path / "home"
    from otel_agents.analytics.schema import connect

    db = home / "analytics" / "history.db"
    connect(db).close()
    db.chmod(0o400)
    stats = _run_through_sink_processor(make_runtime, home)
    assert stats["metrics"].failures == 0
    assert stats["analytics"].failures >= 1
    _metrics_complete(home)


def test_healthy_pipeline_writes_both(make_runtime, tmp_path):
    home = tmp_path / "home"
    stats = _run_through_sink_processor(make_runtime, home, runs=2)
    assert stats["metrics"].failures == 0 and stats["analytics"].failures == 0
    _metrics_complete(home, runs=2)
    assert _rows(home) == {t: 2 * n for t, n in DEMO_ROWS.items()}
    out = _reconcile(home)
    assert "0 row(s) added, 52 already present" in out.stdout
