"""Estimates and outcomes recorded by workflow id into a PostgreSQL analytics store, from the
API and from ``otel-agents outcome --store URL``: they join the run's record in the report
(synced incrementally into the columnar cache), the run's rows are never rewritten, and the
report equals the one over a SQLite store holding the same values.

The demo run costs $0.1337 (``DEMO_COST``). Hand-computed: estimated $0.2 -> actual over
estimated 0.1337 / 0.2 = 0.6685; one run with ``pr_merged`` recorded, merged: merge rate 1.0;
review cycles 2 then (later) 1: the latest, 1, counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
from helpers_sinks import DEMO_COST, demo_spans

import otel_agents as oa
from otel_agents.config import load_config
from otel_agents.report import ReportEngine
from otel_agents.sinks.analytics import AnalyticsSink


def _write(spans, home: Path, url: str | None = None) -> None:
    env = {"OTEL_AGENTS_ANALYTICS_URL": url} if url else {}
    sink = AnalyticsSink(load_config(home, environ=env))
    sink._store.host_name = "m0"
    sink.export(spans)
    sink.close()


def _outcome(store: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "otel_agents", "outcome", "wf-0", "--store", store, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _section(engine: ReportEngine) -> dict:
    return engine.report(sections=("outcomes",))["outcomes"]


def test_outcomes_recorded_later_join_the_run_on_postgresql(make_runtime, exporter, tmp_path, pg_url, monkeypatch):
    spans = demo_spans(make_runtime, exporter, workflow_id="wf-0")
    lite = tmp_path / "lite"
    _write(spans, lite)
    _write(spans, tmp_path / "pghome", pg_url)
    db = lite / "analytics" / "history.db"
    with psycopg.connect(pg_url) as conn:
        before = conn.execute("SELECT workflow_id, cost_usd, created_at, updated_at FROM workflow_history").fetchall()
    # the API, configured for PostgreSQL (analytics.url from the environment)
    monkeypatch.setenv("OTEL_AGENTS_ANALYTICS_URL", pg_url)
    assert oa.record_estimates("wf-0", estimated_cost_usd=0.2, complexity="low", home=tmp_path / "pghome")
    assert oa.record_outcome("wf-0", pr_merged=False, review_cycles=2, home=tmp_path / "pghome")
    monkeypatch.delenv("OTEL_AGENTS_ANALYTICS_URL")
    # the same values in the SQLite store
    assert oa.record_estimates("wf-0", estimated_cost_usd=0.2, complexity="low", home=lite)
    assert oa.record_outcome("wf-0", pr_merged=False, review_cycles=2, home=lite)
    with ReportEngine(pg_url, cache_dir=tmp_path / "cache") as pg, ReportEngine(db) as sq:
        assert pg.sync.rebuilt and pg.sync.copied["oc"] == 4
        first = _section(pg)
        assert first == _section(sq)
    (vs,) = first["estimated_vs_actual"]
    assert vs["cost_usd"] == {"runs": 1, "estimated": 0.2, "actual": DEMO_COST, "actual_over_estimated": 0.6685}
    assert [(r["model"], r["prs"], r["merged"], r["merge_rate"]) for r in first["by_model"]] == [
        ("claude-sonnet-4-5", 1, 0, 0.0)
    ]
    # known the next day, from the command line: merged, one review cycle after all
    recorded = _outcome(pg_url, "--pr-merged", "yes", "--review-cycles", "1", "--time-to-merge-hours", "20")
    assert recorded == {
        "workflow_id": "wf-0",
        "recorded": {
            "estimated_cost_usd": 0.2,
            "complexity": "low",
            "pr_merged": True,
            "review_cycles": 1,
            "time_to_merge_hours": 20.0,
        },
    }
    assert _outcome(str(db), "--pr-merged", "yes", "--review-cycles", "1", "--time-to-merge-hours", "20") == recorded
    with ReportEngine(pg_url, cache_dir=tmp_path / "cache") as pg, ReportEngine(db) as sq:
        assert not pg.sync.rebuilt
        assert pg.sync.copied == {"wf": 0, "ph": 0, "st": 0, "tc": 0, "mc": 0, "oc": 3}
        later = _section(pg)
        assert later == _section(sq)
    assert [
        (r["model"], r["complexity"], r["prs"], r["merged"], r["merge_rate"], r["mean_review_cycles"])
        for r in later["by_model_and_complexity"]
    ] == [("claude-sonnet-4-5", "low", 1, 1, 1.0, 1.0)]
    (run,) = later["recent"]
    assert (run["workflow_id"], run["pr_merged"], run["review_cycles"], run["time_to_merge_hours"]) == (
        "wf-0",
        True,
        1,
        20.0,
    )
    # the run's own rows were never rewritten
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(
            "SELECT workflow_id, cost_usd, created_at, updated_at FROM workflow_history"
        ).fetchall() == (before)
        assert conn.execute("SELECT count(*) FROM workflow_outcomes WHERE workflow_id = 'wf-0'").fetchone() == (7,)
