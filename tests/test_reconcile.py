"""``otel-agents reconcile``: backfills the analytics store from the metrics JSONL (or the
spool) as a real CLI process, exactly, idempotently, and with what it did printed."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from helpers_sinks import DEMO_RECORDS, demo_spans, export_once, seed_002_workflow
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans

from otel_agents.config import load_config
from otel_agents.sinks.analytics import AnalyticsSink
from otel_agents.sinks.metrics import MetricsSink

TABLES = ("workflow_history", "phase_logs", "step_executions", "tool_calls", "model_calls", "hook_events")
DEMO_ROWS = {
    "workflow_history": 1,
    "phase_logs": 4,
    "step_executions": 5,
    "tool_calls": 10,
    "model_calls": 6,
    "hook_events": 0,
}


def reconcile(home: Path, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "otel_agents", "reconcile", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out


def _dump(db: Path) -> dict[str, list[dict]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    out = {}
    with conn:
        for t in TABLES:
            key = {"workflow_history": "workflow_id", "hook_events": "event_id"}.get(t, "record_id")
            out[t] = [
                {k: v for k, v in dict(r).items() if k not in ("created_at", "updated_at")}
                for r in conn.execute(f"SELECT * FROM {t} ORDER BY {key}")
            ]
    conn.close()
    return out


def _counts(db: Path) -> dict[str, int]:
    return {t: len(rows) for t, rows in _dump(db).items()}


def _metrics_only(home: Path, spans: list) -> None:
    export_once(MetricsSink(load_config(home)), spans)


def test_backfill_from_jsonl_equals_the_live_store(make_runtime, exporter, tmp_path):
    spans = demo_spans(make_runtime, exporter) + seed_002_workflow(make_runtime, exporter)
    live, outage = tmp_path / "live", tmp_path / "outage"
    cfg = load_config(live)
    export_once(MetricsSink(cfg), spans)
    export_once(AnalyticsSink(cfg), spans)
    _metrics_only(outage, spans)  # analytics was down for the whole run
    assert not (outage / "analytics").exists()

    out = reconcile(outage)
    n = len(spans)
    assert f"reconcile: read {n} records from 2 file(s)" in out.stdout  # the demo today, seed 002 in 2025
    assert (
        "new rows: workflow_history +2, phase_logs +7, step_executions +10, tool_calls +13, model_calls +10,"
        " hook_events +0"
    ) in out.stdout
    assert (
        out.stdout.strip().splitlines()[-1]
        == f"reconcile: {n} row(s) added, 0 already present, {n} record(s) in 1 transaction(s)"
    )
    assert _dump(outage / "analytics" / "history.db") == _dump(live / "analytics" / "history.db")

    again = reconcile(outage)
    assert again.stdout.strip().splitlines()[-1] == (
        f"reconcile: 0 row(s) added, {n} already present, {n} record(s) in 1 transaction(s)"
    )
    assert _dump(outage / "analytics" / "history.db") == _dump(live / "analytics" / "history.db")


def test_partial_outage_fills_only_the_gap(make_runtime, exporter, tmp_path):
    spans = demo_spans(make_runtime, exporter)
    home = tmp_path / "home"
    cfg = load_config(home)
    export_once(MetricsSink(cfg), spans)
    export_once(AnalyticsSink(cfg), spans[:10])  # analytics failed after the first ten spans
    before = _counts(home / "analytics" / "history.db")
    assert before["workflow_history"] == 0 and sum(before.values()) == 10

    out = reconcile(home, "--batch-size", "4")
    assert f"{DEMO_RECORDS - 10} row(s) added, 10 already present" in out.stdout
    assert "in 7 transaction(s)" in out.stdout
    assert _counts(home / "analytics" / "history.db") == DEMO_ROWS
    with sqlite3.connect(home / "analytics" / "history.db") as conn:
        wf = conn.execute(
            "SELECT phase_count, step_count, retry_count, tool_call_count, model_used FROM workflow_history"
        ).fetchone()
    assert wf == (4, 5, 1, 10, "claude-sonnet-4-5")


def test_corrupt_and_partial_lines_are_skipped_and_reported(make_runtime, exporter, tmp_path):
    spans = demo_spans(make_runtime, exporter)
    home = tmp_path / "home"
    _metrics_only(home, spans)
    (path,) = (home / "metrics").iterdir()
    with open(path, "ab") as f:
        f.write(b'{"broken json\n{"record_id": "x"}\n{"record_id": "dead", "kind": "st')  # + a torn last write
    out = reconcile(home)
    assert "skipped 2 corrupt line(s) and 1 partial trailing line(s)" in out.stdout
    assert _counts(home / "analytics" / "history.db") == DEMO_ROWS


def test_since_and_until_select_days(make_runtime, exporter, tmp_path):
    spans = seed_002_workflow(make_runtime, exporter)  # ends 2025-11-02
    home = tmp_path / "home"
    _metrics_only(home, spans)
    out = reconcile(home, "--since", "2025-11-03")
    assert "0 row(s) added, 0 already present, 0 record(s)" in out.stdout
    out = reconcile(home, "--until", "2025-11-02", "--quiet")
    assert (
        out.stdout.strip()
        == f"reconcile: {len(spans)} row(s) added, 0 already present, {len(spans)} record(s) in 1 transaction(s)"
    )


def test_from_spool_rebuilds_the_same_store(make_runtime, exporter, tmp_path):
    spans = demo_spans(make_runtime, exporter)
    live, spooled = tmp_path / "live", tmp_path / "spooled"
    export_once(AnalyticsSink(load_config(live)), spans)
    spool = spooled / "spans"
    spool.mkdir(parents=True)
    # OTLP-JSON lines, as the Collector's file exporter writes them: a few spans per line
    lines = [encode_spans(spans[i : i + 7]).to_json() for i in range(0, len(spans), 7)]
    (spool / "spans-20251102-0001.jsonl").write_text("\n".join(lines) + "\n" + json.dumps({"ledger": 1}) + "\n")
    (spool / "ledger.json").write_text("{}")  # not a spool file: not read
    out = reconcile(spooled, "--from-spool")
    assert f"read {len(spans)} records from 1 file(s)" in out.stdout
    assert "skipped 1 corrupt line(s)" in out.stdout
    assert _dump(spooled / "analytics" / "history.db") == _dump(live / "analytics" / "history.db")


def test_overwrite_rewrites_rows_from_records(make_runtime, exporter, tmp_path):
    spans = demo_spans(make_runtime, exporter)
    home = tmp_path / "home"
    cfg = load_config(home)
    export_once(MetricsSink(cfg), spans)
    export_once(AnalyticsSink(cfg), spans)
    db = home / "analytics" / "history.db"
    good = _dump(db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE step_executions SET error_category = 'other', cost_usd = 99")
    reconcile(home)  # default: existing rows are left alone
    assert _dump(db) != good
    out = reconcile(home, "--overwrite")
    assert f"{DEMO_RECORDS} row(s) written, 0 already present" in out.stdout
    assert _dump(db) == good


def test_nothing_to_reconcile(tmp_path):
    out = reconcile(tmp_path / "empty")
    assert out.stdout.startswith("reconcile: nothing to do:")
    assert not (tmp_path / "empty" / "analytics").exists()


def test_analytics_off_still_reconciles_when_asked(make_runtime, exporter, tmp_path, monkeypatch):
    spans = demo_spans(make_runtime, exporter)
    home = tmp_path / "home"
    _metrics_only(home, spans)
    monkeypatch.setenv("OTEL_AGENTS_ANALYTICS_RECORD_FROM_EXECUTION", "false")
    out = reconcile(home)
    assert "analytics is off in the configuration" in out.stdout
    assert _counts(home / "analytics" / "history.db") == DEMO_ROWS


def test_unusable_records_are_counted_not_written(make_runtime, exporter, tmp_path):
    spans = demo_spans(make_runtime, exporter)
    home = tmp_path / "home"
    _metrics_only(home, spans)
    (path,) = (home / "metrics").iterdir()
    with open(path, "a") as f:
        f.write(json.dumps({"schema_version": 99, "record_id": "f" * 16, "kind": "step"}) + "\n")
        f.write(json.dumps({"schema_version": 1, "record_id": "e" * 16, "kind": "mystery"}) + "\n")
    out = reconcile(home)
    assert "already present: 0 record(s); unusable: 2" in out.stdout
    assert f"{DEMO_RECORDS} row(s) added" in out.stdout
    assert _counts(home / "analytics" / "history.db") == DEMO_ROWS


def test_records_with_wrong_types_give_partial_rows(tmp_path):
    home = tmp_path / "home"
    mdir = home / "metrics"
    mdir.mkdir(parents=True)
    bad = {
        "schema_version": 1,
        "record_id": "a" * 16,
        "kind": "step",
        "workflow_id": "wf-x",
        "input_tokens": {"oops": 1},
        "attempt": 2**70,
        "success": "yes",
        "duration_ms": [1],
        "start_time": "2025-01-01T00:00:00.000000Z",
        "step_name": "coder",
        "outcome": "success",
    }
    (mdir / "executions_2025-01-01.jsonl").write_text(json.dumps(bad) + "\n")
    out = reconcile(home)
    assert "1 row(s) added" in out.stdout
    with sqlite3.connect(home / "analytics" / "history.db") as conn:
        row = conn.execute("SELECT step_name, input_tokens, attempt, day FROM step_executions").fetchone()
    assert row == ("coder", None, None, "2025-01-01")
