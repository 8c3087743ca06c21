"""The report on a small FIXED dataset whose every expected number was computed by hand.

The dataset (``tests/fixtures/report/records.jsonl``, 68 execution records) goes through
the real analytics store (``AnalyticsStore.write``) into a real SQLite file; the report
is computed twice, with the persistent columnar cache and with an in-memory one, and both
must give these numbers. Times are seconds from the run's start, 10:00:00Z of its day.

Runs (template / model / session / task / complexity):

- wf-1, 2025-03-01, fix-cart, sdlc, sonnet, s1, T1, medium, 0-106 s, success
  plan 0-10: planner 0-10 ok, $0.10 (in 10000, out 500, cache read 6000); tools Read A1 (1 s), Grep G1 (2 s)
  build 12-42: coder 12-42 ok, $0.20 (20000/1000/15000, cache write 1000); Read A2, Edit E1 (2 s), Read A2, Bash B1 (6 s)
  test 44-104: tester#1 44-64 FAILED TimeoutError, haiku $0.05 (5000/200/2000); Bash B2 50-64 FAILED TimeoutError
               tester#2 74-104 ok, haiku $0.05 (5000/200/4000); Bash B2 80-100
- wf-2, 2025-03-02, fix-cart, sdlc, haiku, s2, T1, medium, 0-72 s, FAILED (ModuleNotFoundError)
  plan 0-8: planner ok $0.02 (4000/300/1000); Read A1
  build 10-30: coder ok $0.04 (8000/600/4000); Read A2, Edit E1, Bash B1 (5 s)
  test 31-71 FAILED: tester#1 31-46 FAILED ModuleNotFoundError $0.01 (2000/100/0); Bash B2 35-45 FAILED CalledProcessError
                     tester#2 56-71 FAILED ModuleNotFoundError $0.01 (2000/100/1000); Bash B2 60-70 FAILED CalledProcessError
- wf-3, 2025-03-08, write-docs, docs, haiku, s1, T2, low, 0-25 s, success
  plan 0-5: planner ok $0.01 (2000/100/1000), no tool call
  build 5-25: writer ok $0.03 (6000/800/3000); Read A3, Read A3, Read A3 (1 s each), Write W1 (3 s)
- wf-4, 2025-03-09, fix-cart, sdlc, sonnet, s3, T3, high, 0-90 s, success
  plan 0-12: planner ok $0.12 (12000/600/9000); Read A1, Grep G1
  build 14-54: coder#1 14-34 FAILED SyntaxError $0.10 (10000/800/5000); Edit E2 (2 s), Bash B1 22-30 FAILED SyntaxError
               coder#2 36-54 ok $0.10 (10000/800/8000); Edit E2, Bash B1 (8 s)
  test 55-85: tester ok, haiku $0.05 (5000/200/4000); Bash B2 (20 s)

Each step made one model call (its tokens and cost, 1 s). Read/Grep/Edit/Write calls last
1/2/2/3 s. Prices (genai-prices): sonnet input $3/MTok, cache read $0.30; haiku $1, $0.10.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from otel_agents.analytics.store import AnalyticsStore
from otel_agents.report import Filters, ReportEngine, build_report
from otel_agents.report.stats import moving_average, percentile

FIXTURE = Path(__file__).parent / "fixtures" / "report" / "records.jsonl"
S, H = "claude-sonnet-4-5", "claude-haiku-4-5"


def load_records() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def make_store(path: Path, records: list[dict] | None = None) -> Path:
    store = AnalyticsStore(path)
    store.write(load_records() if records is None else records)
    store.close()
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("report") / "history.db")


@pytest.fixture(scope="module", params=["cache", "memory"])
def report(request, store) -> dict:
    return build_report(store, use_cache=request.param == "cache")


def by(items: list[dict], key: str) -> dict:
    return {i[key]: i for i in items}


# --- the percentile method ---------------------------------------------------------------------


def test_percentile_is_linear_interpolation_between_closest_ranks():
    # [5, 8, 10, 12]: h = 3q. p50: h = 1.5 -> 8 + 0.5 * 2 = 9; p95: h = 2.85 -> 10 + 0.85 * 2 = 11.7;
    # p99: h = 2.97 -> 10 + 0.97 * 2 = 11.94. Nearest rank would say 8, 12, 12.
    assert percentile([12, 5, 10, 8], 0.5) == 9
    assert percentile([12, 5, 10, 8], 0.95) == pytest.approx(11.7, abs=1e-12)
    assert percentile([12, 5, 10, 8], 0.99) == pytest.approx(11.94, abs=1e-12)
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None


def test_moving_average_uses_the_days_there_are_at_the_start():
    assert moving_average([7, 0, 2], 7) == [7, 3.5, 3]
    assert moving_average([1] * 9, 7)[-1] == 1


# --- meta ----------------------------------------------------------------------------------------


def test_meta(report):
    m = report["meta"]
    # steps are logical steps (11); their executions are attempts (14)
    assert m["rows"] == {
        "workflows": 4,
        "phases": 11,
        "steps": 11,
        "step_attempts": 14,
        "tool_calls": 25,
        "model_calls": 14,
    }
    assert m["matched"] is True
    assert m["period"] == {"first_day": "2025-03-01", "last_day": "2025-03-09"}
    assert m["percentile_method"].startswith("linear interpolation")
    assert m["filters"] == {
        "since": None,
        "until": None,
        "template": [],
        "model": [],
        "status": [],
        "session": [],
        "machine": [],
        "service": [],
    }


# --- cost ----------------------------------------------------------------------------------------


def test_cost_total_and_breakdowns(report):
    c = report["cost"]
    # 0.40 + 0.08 + 0.04 + 0.37 over the 14 model calls
    assert c["total_usd"] == 0.89
    assert (c["model_calls"], c["unpriced_model_calls"]) == (14, 0)
    assert (c["input_tokens"], c["output_tokens"]) == (101000, 6300)
    # plan 0.10+0.02+0.01+0.12; build 0.20+0.04+0.03+0.10+0.10; test 0.05+0.05+0.01+0.01+0.05
    assert [(p["phase"], p["cost_usd"], p["runs"], p["avg_usd"], p["share"]) for p in c["by_phase"]] == [
        ("build", 0.47, 4, 0.1175, 0.52809),  # 0.47 / 0.89
        ("plan", 0.25, 4, 0.0625, 0.280899),
        ("test", 0.17, 3, 0.05666667, 0.191011),
    ]
    assert [(t["template"], t["cost_usd"], t["workflows"], t["avg_usd"]) for t in c["by_template"]] == [
        ("sdlc", 0.85, 3, 0.28333333),
        ("docs", 0.04, 1, 0.04),
    ]
    # sonnet: steps 1, 2, 11, 12, 13; haiku: the nine others
    assert [(m["model"], m["cost_usd"], m["model_calls"], m["avg_usd"]) for m in c["by_model"]] == [
        (S, 0.62, 5, 0.124),
        (H, 0.27, 9, 0.03),
    ]
    assert [(a["agent"], a["cost_usd"], a["step_attempts"]) for a in c["by_agent"]] == [
        ("coder", 0.44, 4),
        ("planner", 0.25, 4),
        ("tester", 0.17, 5),
        ("writer", 0.03, 1),
    ]


def test_cost_of_the_step_attempts_that_used_each_tool(report):
    # tools spend no tokens: per tool, the whole cost of the step attempts that called it
    # Bash: wf-1 coder 0.20 + testers 0.05 + 0.05, wf-2 coder 0.04 + testers 0.01 + 0.01, wf-4 coders 0.10 + 0.10,
    # tester 0.05 = 0.61; Read: planners 0.10 + 0.02 + 0.12, coders 0.20 + 0.04, writer 0.03 = 0.51
    assert report["cost"]["step_cost_by_tool"] == [
        {"tool": "Bash", "step_attempts": 9, "tool_calls": 9, "cost_usd": 0.61, "unpriced_model_calls": 0},
        {"tool": "Read", "step_attempts": 6, "tool_calls": 9, "cost_usd": 0.51, "unpriced_model_calls": 0},
        {"tool": "Edit", "step_attempts": 4, "tool_calls": 4, "cost_usd": 0.44, "unpriced_model_calls": 0},
        {"tool": "Grep", "step_attempts": 2, "tool_calls": 2, "cost_usd": 0.22, "unpriced_model_calls": 0},
        {"tool": "Write", "step_attempts": 1, "tool_calls": 1, "cost_usd": 0.03, "unpriced_model_calls": 0},
    ]
    assert "by_tool" not in report["cost"]


def test_cost_per_day_moving_average_and_change(report):
    c = report["cost"]
    days = [(d["day"], d["cost_usd"], d["moving_avg_7d"], d["change_pct"]) for d in c["daily"]]
    # 7-day trailing mean over the days there are: 0.40/1, 0.48/2, 0.48/3 ... 0.48/7;
    # 03-08: (0.08 + 0.04)/7; 03-09: (0.04 + 0.37)/7. Change: day over day, none after a $0 day.
    assert days == [
        ("2025-03-01", 0.40, 0.40, None),
        ("2025-03-02", 0.08, 0.24, -80.0),
        ("2025-03-03", 0.0, 0.16, -100.0),
        ("2025-03-04", 0.0, 0.12, None),
        ("2025-03-05", 0.0, 0.096, None),
        ("2025-03-06", 0.0, 0.08, None),
        ("2025-03-07", 0.0, 0.06857143, None),
        ("2025-03-08", 0.04, 0.01714286, None),
        ("2025-03-09", 0.37, 0.05857143, 825.0),
    ]
    # last 7 days (03-03..03-09) 0.41 against the 7 before (03-01, 03-02 as far as data goes) 0.48
    assert c["trend"] == {
        "last_7_days_usd": 0.41,
        "previous_7_days_usd": 0.48,
        "percent_change": -14.58,
        "last_7_days_unpriced_model_calls": 0,
        "previous_7_days_unpriced_model_calls": 0,
    }


def test_cache_efficiency_and_savings_net_of_the_write_premium(report):
    cache = report["cost"]["cache"]
    # 63000 of 101000 input tokens read from the cache. Read savings: sonnet 43000 * ($3 - $0.30)/MTok = 0.1161,
    # haiku 20000 * ($1 - $0.10)/MTok = 0.018. Writing costs more than plain input: sonnet's 1000 cache-write
    # tokens at $3.75 instead of $3 per MTok cost 0.00075 more. Net: 0.1341 - 0.00075 = 0.13335
    assert cache == {
        "input_tokens": 101000,
        "cache_read_tokens": 63000,
        "cache_write_tokens": 1000,
        "uncached_input_tokens": 37000,
        "cache_share": 0.623762,
        "read_savings_usd": 0.1341,
        "write_premium_usd": 0.00075,
        "savings_usd": 0.13335,
        "unpriced_models": [],
        "by_model": [
            {
                "model": H,
                "input_tokens": 39000,
                "cache_read_tokens": 20000,
                "cache_write_tokens": 0,
                "cache_share": 0.512821,
                "read_savings_usd": 0.018,
                "write_premium_usd": 0.0,
                "savings_usd": 0.018,
            },
            {
                "model": S,
                "input_tokens": 62000,
                "cache_read_tokens": 43000,
                "cache_write_tokens": 1000,
                "cache_share": 0.693548,
                "read_savings_usd": 0.1161,
                "write_premium_usd": 0.00075,
                "savings_usd": 0.11535,
            },
        ],
    }


def test_most_expensive_workflows_and_phases(report):
    c = report["cost"]
    assert [(w["workflow_id"], w["trace_id"], w["cost_usd"]) for w in c["top_workflows"]] == [
        ("wf-1", "wf1" + "0" * 29, 0.40),
        ("wf-4", "wf4" + "0" * 29, 0.37),
        ("wf-2", "wf2" + "0" * 29, 0.08),
        ("wf-3", "wf3" + "0" * 29, 0.04),
    ]
    # ties in workflow id then phase order
    assert [(p["workflow_id"], p["phase_name"], p["cost_usd"]) for p in c["top_phases"]] == [
        ("wf-1", "build", 0.20),
        ("wf-4", "build", 0.20),
        ("wf-4", "plan", 0.12),
        ("wf-1", "plan", 0.10),
        ("wf-1", "test", 0.10),
        ("wf-4", "test", 0.05),
        ("wf-2", "build", 0.04),
        ("wf-3", "build", 0.03),
        ("wf-2", "plan", 0.02),
        ("wf-2", "test", 0.02),
    ]


# --- latency -------------------------------------------------------------------------------------


def stats(d: dict) -> tuple:
    return d["count"], d["mean"], d["p50"], d["p95"], d["p99"], d["min"], d["max"], d["total_seconds"]


def test_latency_per_workflow_phase_step_and_tool(report):
    lat = report["latency"]
    # runs [25, 72, 90, 106]: p50 h=1.5 -> 81; p95 h=2.85 -> 90 + 0.85*16 = 103.6; p99 h=2.97 -> 105.52
    assert stats(lat["workflows"]) == (4, 73.25, 81.0, 103.6, 105.52, 25.0, 106.0, 293.0)
    w = by(lat["by_workflow"], "workflow")
    # fix-cart [72, 90, 106]: p95 h=1.9 -> 90 + 0.9*16 = 104.4; p99 h=1.98 -> 105.68
    assert stats(w["fix-cart"]) == (3, 89.333333, 90.0, 104.4, 105.68, 72.0, 106.0, 268.0)
    assert stats(w["write-docs"]) == (1, 25.0, 25.0, 25.0, 25.0, 25.0, 25.0, 25.0)
    # phases, largest total first: test [30, 40, 60]; build [20, 20, 30, 40]; plan [5, 8, 10, 12]
    assert [(p["phase"], *stats(p)) for p in lat["by_phase"]] == [
        ("test", 3, 43.333333, 40.0, 58.0, 59.6, 30.0, 60.0, 130.0),
        ("build", 4, 27.5, 25.0, 38.5, 39.7, 20.0, 40.0, 110.0),
        ("plan", 4, 8.75, 9.0, 11.7, 11.94, 5.0, 12.0, 35.0),
    ]
    # steps: tester [15, 15, 20, 30, 30] (p95 h=3.8 -> 30); coder [18, 20, 20, 30] (p95 h=2.85 -> 28.5)
    assert [(s["phase"], s["step"], *stats(s)) for s in lat["by_step"]] == [
        ("test", "tester", 5, 22.0, 20.0, 30.0, 30.0, 15.0, 30.0, 110.0),
        ("build", "coder", 4, 22.0, 20.0, 28.5, 29.7, 18.0, 30.0, 88.0),
        ("plan", "planner", 4, 8.75, 9.0, 11.7, 11.94, 5.0, 12.0, 35.0),
        ("build", "writer", 1, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0, 20.0),
    ]
    # Bash [5, 6, 8, 8, 10, 10, 14, 20, 20]: p50 h=4 -> 10, p95 h=7.6 -> 20
    assert [(t["tool"], *stats(t)) for t in lat["by_tool"]] == [
        ("Bash", 9, 11.222222, 10.0, 20.0, 20.0, 5.0, 20.0, 101.0),
        ("Read", 9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 9.0),
        ("Edit", 4, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 8.0),
        ("Grep", 2, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 4.0),
        ("Write", 1, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0),
    ]


def test_bottlenecks(report):
    b = report["latency"]["bottlenecks"]
    # test: 130 s of all 275 s of phase time
    assert b["overall"] == {
        "phase": "test",
        "total_seconds": 130.0,
        "mean_seconds": 43.333333,
        "runs": 3,
        "share_of_phase_time": 0.472727,
    }
    # per run: wf-1 test (60), wf-2 test (40), wf-3 build (20), wf-4 build (40)
    assert b["frequency"] == [
        {"phase": "build", "workflows": 2, "share": 0.5},
        {"phase": "test", "workflows": 2, "share": 0.5},
    ]
    assert b["by_workflow"] == [
        {
            "workflow": "fix-cart",
            "phase": "test",
            "runs": 3,
            "bottleneck_runs": 2,
            "share": 0.666667,
            "mean_bottleneck_seconds": 50.0,
        },
        {
            "workflow": "write-docs",
            "phase": "build",
            "runs": 1,
            "bottleneck_runs": 1,
            "share": 1.0,
            "mean_bottleneck_seconds": 20.0,
        },
    ]


def test_phases_whose_p95_stands_out(report):
    # all 11 phase runs [5, 8, 10, 12, 20, 20, 30, 30, 40, 40, 60]: p95 h=9.5 -> 40 + 0.5*20 = 50;
    # test has 1 of 3 runs over it (60), more than 10%; build and plan none
    assert report["latency"]["outliers"] == {
        "threshold_p95_seconds": 50.0,
        "phases": [
            {"phase": "test", "p95": 58.0, "runs": 3, "runs_over_threshold": 1, "share_over_threshold": 0.333333}
        ],
    }


def test_idle_time_between_phases_and_attempts(report):
    idle = report["latency"]["idle"]
    # per run, duration minus its phases: 106-100, 72-68, 25-25, 90-82 -> [0, 4, 6, 8]
    assert idle["between_phases"] == {
        "workflows": 4,
        "total_seconds": 18.0,
        "mean": 4.5,
        "p50": 5.0,
        "p95": 7.7,
        "max": 8.0,
    }
    # retried steps, wall clock minus execution: wf-1 tester 60-50, wf-2 tester 40-30, wf-4 coder 40-38
    assert idle["between_attempts"] == {
        "retried_steps": 3,
        "total_seconds": 22.0,
        "mean": 7.333333,
        "p50": 10.0,
        "p95": 10.0,
        "max": 10.0,
    }


# --- errors --------------------------------------------------------------------------------------


def test_error_categories_count_root_causes(report):
    e = report["errors"]
    # failed spans: steps timeout (wf-1 tester#1), import (wf-2 tester#1, #2), syntax (wf-4 coder#1); tool calls
    # timeout (wf-1 Bash), tool_failure (wf-2 Bash x2, CalledProcessError), syntax (wf-4 Bash). wf-1's tester and
    # wf-4's coder failed with their Bash call's exception: one error each, the tool call's; wf-2's testers
    # failed with ModuleNotFoundError while their Bash calls failed with CalledProcessError: two errors each.
    assert (e["total"], e["span_failures"]) == (6, {"step_attempts": 4, "tool_calls": 4})
    cats = [
        (
            c["category"],
            c["count"],
            c["failed_step_attempts"],
            c["failed_tool_calls"],
            c["share"],
            c["phases"],
            c["top_error_type"],
        )
        for c in e["categories"]
    ]
    assert cats == [
        ("import", 2, 2, 0, 0.333333, ["test"], "ModuleNotFoundError"),
        ("tool_failure", 2, 0, 2, 0.333333, ["test"], "CalledProcessError"),
        ("timeout", 1, 1, 1, 0.166667, ["test"], "TimeoutError"),
        ("syntax", 1, 1, 1, 0.166667, ["build"], "SyntaxError"),
        ("rate_limit", 0, 0, 0, 0.0, [], None),
        ("connection", 0, 0, 0, 0.0, [], None),
        ("type", 0, 0, 0, 0.0, [], None),
        ("file", 0, 0, 0, 0.0, [], None),
        ("test_failure", 0, 0, 0, 0.0, [], None),
        ("other", 0, 0, 0, 0.0, [], None),
    ]
    assert [(f["workflow_id"], f["trace_id"], f["error_type"]) for f in e["failed_runs"]] == [
        ("wf-2", "wf2" + "0" * 29, "ModuleNotFoundError")
    ]


def test_failure_rates(report):
    r = report["errors"]["failure_rates"]
    assert r["overall"] == {
        "step_attempts": 14,
        "failed_attempts": 4,
        "attempt_failure_rate": 0.285714,
        "workflows": 4,
        "failed_workflows": 1,
        "workflow_failure_rate": 0.25,
        "tool_calls": 25,
        "failed_tool_calls": 4,
        "tool_failure_rate": 0.16,
    }
    assert r["by_phase"] == [
        {
            "phase": "test",
            "step_attempts": 5,
            "failed_attempts": 3,
            "attempt_failure_rate": 0.6,
            "runs": 3,
            "failed_runs": 1,
            "run_failure_rate": 0.333333,
            "top_category": "import",
            "top_category_share": 0.666667,
        },
        {
            "phase": "build",
            "step_attempts": 5,
            "failed_attempts": 1,
            "attempt_failure_rate": 0.2,
            "runs": 4,
            "failed_runs": 0,
            "run_failure_rate": 0.0,
            "top_category": "syntax",
            "top_category_share": 1.0,
        },
        {
            "phase": "plan",
            "step_attempts": 4,
            "failed_attempts": 0,
            "attempt_failure_rate": 0.0,
            "runs": 4,
            "failed_runs": 0,
            "run_failure_rate": 0.0,
            "top_category": None,
            "top_category_share": None,
        },
    ]
    assert r["by_template"] == [
        {"template": "sdlc", "workflows": 3, "failures": 1, "failure_rate": 0.333333},
        {"template": "docs", "workflows": 1, "failures": 0, "failure_rate": 0.0},
    ]
    assert r["by_model"] == [
        {"model": H, "step_attempts": 9, "failures": 3, "failure_rate": 0.333333},
        {"model": S, "step_attempts": 5, "failures": 1, "failure_rate": 0.2},
    ]


def test_error_trend(report):
    e = report["errors"]
    trend = {
        d["day"]: (d["step_attempts"], d["failed_attempts"], d["attempt_failure_rate"], d["failed_workflows"])
        for d in e["trend"]
    }
    assert len(trend) == 9
    assert trend["2025-03-01"] == (4, 1, 0.25, 0)
    assert trend["2025-03-02"] == (4, 2, 0.5, 1)
    assert trend["2025-03-05"] == (0, 0, None, 0)
    assert trend["2025-03-08"] == (2, 0, 0.0, 0)
    assert trend["2025-03-09"] == (4, 1, 0.25, 0)
    # last 7 days: 1 of 6 attempts; the 7 before: 3 of 8 -> 16.6667% - 37.5% = -20.83 points
    assert e["trend_summary"] == {
        "last_7_days_rate": 0.166667,
        "previous_7_days_rate": 0.375,
        "change_points": -20.83,
        "direction": "falling",
    }


def test_recommendations_are_computed_from_the_data(report):
    recs = [(r["severity"], r["message"]) for r in report["errors"]["recommendations"]]
    assert recs == [
        (
            "high",
            "Test phase fails 60% of step attempts (3 of 5), mostly import errors (67% of its failures): "
            "install or pin the missing dependencies before the phase runs.",
        ),
        ("medium", "Bash fails 44% of its calls (4 of 9): check how the agents call it."),
        (
            "medium",
            "Optimize the test phase: 33% of its runs exceed the p95 of all phases (50 s); its own p95 is 58 s.",
        ),
        ("medium", "Workflow template sdlc fails 33% of its runs (1 of 3)."),
        (
            "medium",
            "Build phase fails 20% of step attempts (1 of 5), mostly syntax errors (100% of its failures): "
            "lint or compile the code before running it.",
        ),
        (
            "medium",
            "12% of tool calls repeat an identical call in the same step attempt (3 calls in 2 step attempts, "
            "mostly Read): reuse the earlier result.",
        ),
    ]


# --- attempts and retries ------------------------------------------------------------------------


def test_attempt_summary_and_most_retried_steps(report):
    a = report["attempts"]
    # 11 logical steps, 14 attempts; 8 succeed with one attempt; all but wf-2's tester succeed in the end;
    # execution 90 + 58 + 25 + 80; wall clock adds the 22 s between attempts
    assert a["summary"] == {
        "steps": 11,
        "attempts": 14,
        "retries": 3,
        "first_try_successes": 8,
        "first_try_success_rate": 0.727273,
        "succeeded": 10,
        "success_rate": 0.909091,
        "total_execution_seconds": 253.0,
        "wall_clock_seconds": 275.0,
        "idle_seconds": 22.0,
    }
    assert [
        (
            s["workflow_id"],
            s["phase"],
            s["step"],
            s["attempts"],
            s["successes"],
            s["failures"],
            s["retries"],
            s["final_outcome"],
            s["total_execution_seconds"],
            s["wall_clock_seconds"],
            s["idle_seconds"],
            s["cost_usd"],
            s["model"],
        )
        for s in a["most_retried_steps"]
    ] == [
        ("wf-1", "test", "tester", 2, 1, 1, 1, "success", 50.0, 60.0, 10.0, 0.10, H),
        ("wf-2", "test", "tester", 2, 0, 2, 1, "failure", 30.0, 40.0, 10.0, 0.02, H),
        ("wf-4", "build", "coder", 2, 1, 1, 1, "success", 38.0, 40.0, 2.0, 0.20, S),
    ]


def test_tasks_attempts_retries_and_idle_time(report):
    a = report["attempts"]
    # T1 = wf-1 + wf-2: 2 attempts, 178 s of execution over 1 day + 72 s of wall clock
    assert a["tasks"] == [
        {
            "task_id": "T1",
            "level": "workflow",
            "attempts": 2,
            "successes": 1,
            "failures": 1,
            "retries": 1,
            "first_started_at": "2025-03-01T10:00:00.000000Z",
            "total_execution_seconds": 178.0,
            "wall_clock_seconds": 86472.0,
            "idle_seconds": 86294.0,
            "cost_usd": 0.48,
            "unpriced_model_calls": 0,
        },
        {
            "task_id": "T2",
            "level": "workflow",
            "attempts": 1,
            "successes": 1,
            "failures": 0,
            "retries": 0,
            "first_started_at": "2025-03-08T10:00:00.000000Z",
            "total_execution_seconds": 25.0,
            "wall_clock_seconds": 25.0,
            "idle_seconds": 0.0,
            "cost_usd": 0.04,
            "unpriced_model_calls": 0,
        },
        {
            "task_id": "T3",
            "level": "workflow",
            "attempts": 1,
            "successes": 1,
            "failures": 0,
            "retries": 0,
            "first_started_at": "2025-03-09T10:00:00.000000Z",
            "total_execution_seconds": 90.0,
            "wall_clock_seconds": 90.0,
            "idle_seconds": 0.0,
            "cost_usd": 0.37,
            "unpriced_model_calls": 0,
        },
    ]
    assert a["task_summary"] == [
        {
            "level": "workflow",
            "tasks": 3,
            "attempts": 4,
            "retries": 1,
            "first_try_success_rate": 0.666667,
            "success_rate": 1.0,
            "total_execution_seconds": 293.0,
            "wall_clock_seconds": 86587.0,
            "idle_seconds": 86294.0,
        }
    ]


def test_per_agent_metrics(report):
    # seed 003: attempts, successes, failures, retries (attempt > 1), duration
    assert [
        (
            g["agent"],
            g["attempts"],
            g["successes"],
            g["failures"],
            g["retries"],
            g["duration_seconds"],
            g["mean_seconds"],
            g["cost_usd"],
        )
        for g in report["attempts"]["agents"]
    ] == [
        ("tester", 5, 2, 3, 2, 110.0, 22.0, 0.17),
        ("coder", 4, 3, 1, 1, 88.0, 22.0, 0.44),
        ("planner", 4, 4, 0, 0, 35.0, 8.75, 0.25),
        ("writer", 1, 1, 0, 0, 20.0, 20.0, 0.03),
    ]


def test_debugging_cycles(report):
    d = report["attempts"]["debugging_cycles"]
    # wf-1 tester (resolved, 64 -> 104), wf-2 tester (not, 46 -> 71), wf-4 coder (resolved, 34 -> 54)
    assert {k: v for k, v in d.items() if not k.startswith("by_")} == {
        "cycles": 3,
        "workflows": 3,
        "resolved": 2,
        "unresolved": 1,
        "resolution_rate": 0.666667,
        "failed_attempts": 4,
        "fix_attempts": 3,
        "mean_fix_attempts": 1.0,
        "mean_duration_seconds": 28.333333,
    }
    assert [
        (g["agent"], g["cycles"], g["resolved"], g["resolution_rate"], g["mean_duration_seconds"])
        for g in d["by_agent"]
    ] == [("tester", 2, 1, 0.5, 32.5), ("coder", 1, 1, 1.0, 20.0)]
    assert [
        (g["error_category"], g["cycles"], g["resolved"], g["mean_duration_seconds"]) for g in d["by_error_category"]
    ] == [("import", 1, 0, 25.0), ("syntax", 1, 1, 20.0), ("timeout", 1, 1, 40.0)]


def test_which_model_works_best(report):
    m = report["attempts"]["models"]
    # each model by its own calls: haiku served 9 step attempts (the testers, wf-2's and wf-3's steps), 6 succeeded
    assert m["by_model"] == [
        {
            "model": H,
            "model_calls": 9,
            "failed_calls": 0,
            "step_attempts": 9,
            "successes": 6,
            "success_rate": 0.666667,
            "workflows": 4,
            "cost_usd": 0.27,
            "unpriced_model_calls": 0,
            "cost_per_call_usd": 0.03,
            "mean_call_seconds": 1.0,
        },
        {
            "model": S,
            "model_calls": 5,
            "failed_calls": 0,
            "step_attempts": 5,
            "successes": 4,
            "success_rate": 0.8,
            "workflows": 2,
            "cost_usd": 0.62,
            "unpriced_model_calls": 0,
            "cost_per_call_usd": 0.124,
            "mean_call_seconds": 1.0,
        },
    ]
    assert [
        (x["complexity"], x["model"], x["model_calls"], x["step_attempts"], x["success_rate"], x["cost_per_call_usd"])
        for x in m["by_model_complexity"]
    ] == [
        ("high", S, 3, 3, 0.666667, 0.10666667),
        ("high", H, 1, 1, 1.0, 0.05),
        ("low", H, 2, 2, 1.0, 0.02),
        ("medium", H, 6, 6, 0.5, 0.03),
        ("medium", S, 2, 2, 1.0, 0.15),
    ]
    # sonnet ran in 2 runs only: under the minimum sample of 3, it is not ranked
    assert m["best_model"] == {
        "overall": {
            "model": H,
            "success_rate": 0.666667,
            "step_attempts": 9,
            "workflows": 4,
            "cost_per_call_usd": 0.03,
        },
        "by_complexity": [],
    }


def test_attempt_numbers_agree_with_the_stores_own_views(store, report):
    """The report's logical steps and debugging cycles equal the ``task_attempts`` and
    ``debugging_cycles`` views of the SQLite store."""
    with sqlite3.connect(store) as conn:
        retried = conn.execute(
            "SELECT workflow_id, phase_name, step_name, attempts, successes, failures, "
            "total_execution_seconds, wall_clock_seconds, idle_seconds FROM task_attempts "
            "WHERE attempts > 1 ORDER BY 1, 2, 3"
        ).fetchall()
        cycles = conn.execute(
            "SELECT count(*), sum(resolved), sum(fix_attempts), avg(duration_seconds) FROM debugging_cycles"
        ).fetchone()
    assert retried == [
        (
            s["workflow_id"],
            s["phase"],
            s["step"],
            s["attempts"],
            s["successes"],
            s["failures"],
            s["total_execution_seconds"],
            s["wall_clock_seconds"],
            s["idle_seconds"],
        )
        for s in report["attempts"]["most_retried_steps"]
    ]
    d = report["attempts"]["debugging_cycles"]
    assert (cycles[0], cycles[1], cycles[2], round(cycles[3], 6)) == (
        d["cycles"],
        d["resolved"],
        d["fix_attempts"],
        d["mean_duration_seconds"],
    )


# --- tools ---------------------------------------------------------------------------------------


def test_tool_usage(report):
    t = report["tools"]
    assert (t["calls"], t["failures"], t["failure_rate"]) == (25, 4, 0.16)
    assert [(x["tool"], x["calls"], x["failures"], x["failure_rate"], x["mean"], x["p95"]) for x in t["by_tool"]] == [
        ("Bash", 9, 4, 0.444444, 11.222222, 20.0),
        ("Read", 9, 0, 0.0, 1.0, 1.0),
        ("Edit", 4, 0, 0.0, 2.0, 2.0),
        ("Grep", 2, 0, 0.0, 2.0, 2.0),
        ("Write", 1, 0, 0.0, 3.0, 3.0),
    ]


def test_tool_sequences_inside_a_step(report):
    s = report["tools"]["sequences"]
    # 13 steps called tools (wf-3's planner none); Bash alone: 4 testers + wf-4's tester
    assert (s["step_attempts_with_tools"], s["distinct_sequences"], s["mean_tools_per_step"]) == (13, 7, 1.923077)
    assert [(x["sequence"], x["step_attempts"], x["share"]) for x in s["top"]] == [
        ("Bash", 5, 0.384615),
        ("Edit→Bash", 2, 0.153846),
        ("Read→Grep", 2, 0.153846),
        ("Read", 1, 0.076923),
        ("Read→Edit→Bash", 1, 0.076923),
        ("Read→Edit→Read→Bash", 1, 0.076923),
        ("Read→Read→Read→Write", 1, 0.076923),
    ]


def test_redundant_operations(report):
    r = report["tools"]["redundant"]
    # wf-1's coder reads A2 twice (1 redundant), wf-3's writer reads A3 three times (2)
    assert (r["redundant_calls"], r["share_of_calls"], r["step_attempts_affected"], r["workflows_affected"]) == (
        3,
        0.12,
        2,
        2,
    )
    assert r["by_tool"] == [{"tool": "Read", "redundant_calls": 3, "step_attempts": 2, "share_of_tool_calls": 0.333333}]
    assert [(x["workflow_id"], x["phase"], x["step"], x["tool"], x["calls"]) for x in r["top"]] == [
        ("wf-3", "build", "writer", "Read", 3),
        ("wf-1", "build", "coder", "Read", 2),
    ]


# --- filters -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        # (total cost, workflows, step attempts, tool calls, model calls)
        (Filters.parse(templates=["docs"]), (0.04, 1, 2, 4, 2)),
        (Filters.parse(templates=["sdlc"]), (0.85, 3, 12, 21, 12)),
        (Filters.parse(statuses=["failed"]), (0.08, 1, 4, 6, 4)),
        (Filters.parse(statuses=["success"]), (0.81, 3, 10, 19, 10)),
        (Filters.parse(sessions=["s1"]), (0.44, 2, 6, 12, 6)),
        (Filters.parse(since="2025-03-08"), (0.41, 2, 6, 11, 6)),
        (Filters.parse(until="2025-03-02"), (0.48, 2, 8, 14, 8)),  # a bare date includes that day
        (Filters.parse(since="2025-03-02T00:00:00Z", until="2025-03-08T23:00:00Z"), (0.12, 2, 6, 10, 6)),
        # haiku: every run used it (the testers), its 9 step attempts and their 13 tool calls
        (Filters.parse(models=[H]), (0.27, 4, 9, 13, 9)),
        # sonnet in sdlc: wf-1 and wf-4, their 5 sonnet steps and those steps' 12 tool calls
        (Filters.parse(models=[S], templates=["sdlc"]), (0.62, 2, 5, 12, 5)),
    ],
)
def test_filters(store, filters, expected):
    r = build_report(store, filters, use_cache=False)
    rows = r["meta"]["rows"]
    assert (
        r["cost"]["total_usd"],
        rows["workflows"],
        rows["step_attempts"],
        rows["tool_calls"],
        rows["model_calls"],
    ) == expected


def test_filtered_attempts_use_only_the_selected_attempts(store):
    r = build_report(store, Filters.parse(statuses=["failed"]), use_cache=False)
    a = r["attempts"]
    assert (a["summary"]["steps"], a["summary"]["attempts"], a["summary"]["retries"]) == (3, 4, 1)
    assert a["debugging_cycles"]["cycles"] == 1 and a["debugging_cycles"]["resolved"] == 0
    assert [t["task_id"] for t in a["tasks"]] == ["T1"]
    assert r["tools"]["redundant"]["redundant_calls"] == 0
    assert [(c["category"], c["count"]) for c in r["errors"]["categories"][:2]] == [("import", 2), ("tool_failure", 2)]


def test_engine_filters_can_change_on_one_connection(store):
    with ReportEngine(store, use_cache=False) as engine:
        engine.apply(Filters.parse(templates=["docs"]))
        assert engine.report()["cost"]["total_usd"] == 0.04
        engine.apply(Filters())
        assert engine.report()["cost"]["total_usd"] == 0.89
