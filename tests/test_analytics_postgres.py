"""The PostgreSQL analytics store (``analytics.url``), against a real private server: the same
rows as SQLite, idempotent upserts, the machine on every row, migrations (concurrent, older,
newer), reconcile, and no password in any output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers_sinks import DEMO_COST, demo_spans, run_workers

from otel_agents.analytics import postgres as pg
from otel_agents.analytics.schema import LATEST_VERSION, MIGRATIONS, SchemaTooNew
from otel_agents.analytics.store import AnalyticsStore
from otel_agents.config import load_config
from otel_agents.sink_contract import DeliveryError
from otel_agents.sinks.analytics import AnalyticsSink
from otel_agents.sinks.metrics import MetricsSink

TABLES = ("workflow_history", "phase_logs", "step_executions", "tool_calls", "model_calls", "hook_events")
KEYS = {"workflow_history": "workflow_id", "hook_events": "event_id"}
NOT_CONTENT = ("created_at", "updated_at", "seq")


def _pg_dump(url: str) -> dict[str, list[dict[str, Any]]]:
    out = {}
    with psycopg.connect(url) as conn:
        for t in TABLES:
            cur = conn.execute(f"SELECT * FROM {t} ORDER BY {KEYS.get(t, 'record_id')}")
            names = [d.name for d in cur.description]
            out[t] = [{k: v for k, v in zip(names, r, strict=True) if k not in NOT_CONTENT} for r in cur.fetchall()]
    return out


def _sqlite_dump(path: Path) -> dict[str, list[dict[str, Any]]]:
    import sqlite3

    out = {}
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        for t in TABLES:
            rows = conn.execute(f"SELECT * FROM {t} ORDER BY {KEYS.get(t, 'record_id')}")
            out[t] = [{k: v for k, v in dict(r).items() if k not in NOT_CONTENT} for r in rows]
    return out


def _pg_config(home: Path, url: str, **env: str) -> Any:
    return load_config(home, environ={"OTEL_AGENTS_ANALYTICS_URL": url, **env})


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


def test_same_rows_as_sqlite_and_idempotent(make_runtime, exporter, tmp_path, pg_url):
    spans = demo_spans(make_runtime, exporter)
    lite = AnalyticsSink(load_config(tmp_path / "lite"))
    lite._store.host_name = "laptop-1"
    lite.export(spans)
    lite.close()
    sink = AnalyticsSink(_pg_config(tmp_path / "pg", pg_url))
    assert isinstance(sink._store, pg.PgAnalyticsStore)
    sink._store.host_name = "laptop-1"
    sink.export(spans)
    sink.export(spans)  # a retry, a replay: no duplicate
    sink.close()
    want = _sqlite_dump(tmp_path / "lite" / "analytics" / "history.db")
    got = _pg_dump(pg_url)
    assert got == want
    assert _counts(pg_url) == {
        "workflow_history": 1,
        "phase_logs": 4,
        "step_executions": 5,
        "tool_calls": 10,
        "model_calls": 6,
        "hook_events": 0,
    }
    wf = got["workflow_history"][0]
    assert abs(wf["cost_usd"] - DEMO_COST) < 1e-12
    assert {r["host_name"] for t in TABLES for r in got[t]} == {"laptop-1"}
    assert {r["service_name"] for t in TABLES for r in got[t]} == {wf["service_name"]} and wf["service_name"]
    assert not (tmp_path / "pg" / "analytics").exists()  # nothing written to a local file


def test_reconcile_writes_into_postgresql_once(make_runtime, exporter, tmp_path, pg_url):
    home = tmp_path / "home"
    spans = demo_spans(make_runtime, exporter)
    MetricsSink(load_config(home)).export(spans)
    env = {**os.environ, "OTEL_AGENTS_HOME": str(home), "OTEL_AGENTS_ANALYTICS_URL": pg_url}
    cmd = [sys.executable, "-m", "otel_agents", "reconcile", "--quiet"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "reconcile: 26 row(s) added, 0 already present, 26 record(s) in 1 transaction(s)"
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert second.stdout.strip() == "reconcile: 0 row(s) added, 26 already present, 26 record(s) in 1 transaction(s)"
    assert _counts(pg_url)["step_executions"] == 5
    assert pg_url.split("@")[0].split(":")[-1] not in first.stdout + first.stderr  # no password


def test_eight_processes_write_exactly_once(tmp_path, pg_url, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_ANALYTICS_URL", pg_url)
    procs, n = 8, 5
    run_workers(tmp_path / "home", procs, n, 0, "both")
    total = procs * n
    assert _counts(pg_url) == {
        "workflow_history": total,
        "phase_logs": 4 * total,
        "step_executions": 5 * total,
        "tool_calls": 10 * total,
        "model_calls": 6 * total,
        "hook_events": 0,
    }
    with psycopg.connect(pg_url) as conn:
        cost = conn.execute("SELECT SUM(cost_usd) FROM workflow_history").fetchone()[0]
        seqs = conn.execute("SELECT COUNT(DISTINCT seq), COUNT(*) FROM step_executions").fetchone()
    assert abs(cost - total * DEMO_COST) < 1e-9
    assert seqs == (5 * total, 5 * total)
    assert not (tmp_path / "home" / "analytics").exists()


_MIGRATE = "import sys; from otel_agents.analytics.postgres import PgAnalyticsStore as S; s = S(sys.argv[1]); print(s.version()); s.close()"


def test_machines_migrating_at_once_migrate_exactly_once(pg_url):
    procs = [
        subprocess.Popen([sys.executable, "-c", _MIGRATE, pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [o.decode().strip() for o, _e in outs] == [str(LATEST_VERSION)] * 6, [e.decode()[-2000:] for _o, e in outs]
    with psycopg.connect(pg_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in MIGRATIONS]


def test_older_schema_is_migrated_and_keeps_its_rows(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as raw:
        conn = pg.PgConn(raw)
        assert pg.migrate(conn, target=1) == [1]
        conn.execute(
            "INSERT INTO step_executions (record_id, workflow_id, status, created_at, updated_at)"
            " VALUES ('old', 'w', 'completed', 'x', 'x')"
        )
    store = pg.PgAnalyticsStore(pg_url, host_name="m2")
    try:
        assert store.version() == LATEST_VERSION
        store.write([{"kind": "step", "record_id": "new", "workflow_id": "w", "outcome": "success"}])
    finally:
        store.close()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT record_id, host_name, day FROM step_executions ORDER BY record_id").fetchall()
    assert rows == [("new", "m2", None), ("old", None, None)]


def test_newer_schema_is_never_written(tmp_path, pg_url):
    with psycopg.connect(pg_url, autocommit=True) as raw:
        pg.migrate(pg.PgConn(raw))
        raw.execute("INSERT INTO schema_migrations VALUES (%s, 'future', 'x')", (LATEST_VERSION + 5,))
    store = pg.PgAnalyticsStore(pg_url)
    with pytest.raises(SchemaTooNew):
        store.write([{"kind": "step", "record_id": "r", "workflow_id": "w"}])
    store.close()
    sink = AnalyticsSink(_pg_config(tmp_path, pg_url))
    with pytest.raises(DeliveryError):
        sink.write_records([{"kind": "step", "record_id": "r", "workflow_id": "w"}])
    sink.close()
    assert _counts(pg_url)["step_executions"] == 0


def test_no_password_in_doctor_where_or_sink_description(tmp_path, pg_url, pg_server):
    home = tmp_path / "home"
    env = {**os.environ, "OTEL_AGENTS_HOME": str(home), "OTEL_AGENTS_ANALYTICS_URL": pg_url}
    secret = pg_url.split("@")[0].rsplit(":", 1)[1]
    out = subprocess.run(
        [sys.executable, "-m", "otel_agents", "doctor"], env=env, capture_output=True, text=True, timeout=120
    )
    assert secret not in out.stdout + out.stderr
    assert pg.redact_url(pg_url) in out.stdout
    assert pg.redact_url(pg_url) == pg_url.replace(":" + secret, "")
    sink = AnalyticsSink(_pg_config(home, pg_url))
    assert sink.describe() == f"execution records upserted into PostgreSQL {pg.redact_url(pg_url)}"
    sink.close()
    assert pg.redact_url("postgresql://h/db?user=u&password=p&sslmode=require") == (
        "postgresql://h/db?user=u&sslmode=require"
    )
    assert not any(secret in p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())


def test_sqlite_stays_the_default(tmp_path):
    sink = AnalyticsSink(load_config(tmp_path))
    assert type(sink._store) is AnalyticsStore
    assert sink.describe() == f"execution records upserted into SQLite {tmp_path / 'analytics' / 'history.db'}"
