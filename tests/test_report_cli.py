"""``otel-agents report`` as a user runs it: the installed console script in real subprocesses,
on the fixed dataset (rebuilt from the metrics JSONL) and on the demo's data (rebuilt from the
span spool)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_report import FIXTURE

from otel_agents.analytics.store import machine_name

EXE = Path(sys.executable).with_name("otel-agents")
SECTIONS = {
    "cost": [
        "total_usd",
        "unpriced_model_calls",
        "by_phase",
        "by_template",
        "by_model",
        "by_workflow",
        "by_agent",
        "step_cost_by_tool",
        "daily",
        "trend",
        "cache",
        "top_workflows",
        "top_phases",
    ],
    "latency": [
        "workflows",
        "by_workflow",
        "by_phase",
        "by_step",
        "by_tool",
        "bottlenecks",
        "outliers",
        "idle",
        "slowest_runs",
    ],
    "errors": [
        "total",
        "span_failures",
        "categories",
        "failed_runs",
        "failure_rates",
        "trend",
        "trend_summary",
        "recommendations",
    ],
    "attempts": ["summary", "most_retried_steps", "task_summary", "tasks", "agents", "debugging_cycles", "models"],
    "tools": ["by_tool", "sequences", "redundant"],
}


def run(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OTEL_AGENTS_HOME": str(home), "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    env.pop("PYTEST_CURRENT_TEST", None)
    out = subprocess.run([str(EXE), *args], capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def assert_every_item(report: dict) -> None:
    """Every item of the issue's section 1 is a key of the JSON report."""
    for section, keys in SECTIONS.items():
        assert set(keys) <= set(report[section]), (section, set(keys) - set(report[section]))
    assert {"savings_usd", "cache_share"} <= set(report["cost"]["cache"])
    assert {"moving_avg_7d", "change_pct"} <= set(report["cost"]["daily"][0])
    assert {"overall", "by_workflow", "frequency"} <= set(report["latency"]["bottlenecks"])
    assert {"between_phases", "between_attempts"} <= set(report["latency"]["idle"])
    assert {"p50", "p95", "p99", "mean"} <= set(report["latency"]["by_phase"][0])
    assert {"by_phase", "by_template", "by_model"} <= set(report["errors"]["failure_rates"])
    assert [c["category"] for c in report["errors"]["categories"]] and len(report["errors"]["categories"]) == 10
    assert {"attempts", "successes", "failures", "retries", "duration_seconds"} <= set(report["attempts"]["agents"][0])
    assert {"by_model", "by_model_complexity", "best_model"} <= set(report["attempts"]["models"])
    assert {"cycles", "resolved", "resolution_rate"} <= set(report["attempts"]["debugging_cycles"])
    assert {"redundant_calls", "by_tool", "top"} <= set(report["tools"]["redundant"])


@pytest.fixture
def fixture_home(tmp_path) -> Path:
    """A data home with only the metrics JSONL: no analytics store yet."""
    home = tmp_path / "home"
    (home / "metrics").mkdir(parents=True)
    shutil.copy(FIXTURE, home / "metrics" / "executions_2025-03-01.jsonl")
    return home


def test_json_report_rebuilds_a_missing_store_from_the_metrics_jsonl(fixture_home):
    out = run("report", "--format", "json", home=fixture_home)
    assert "rebuilding history.db from the metrics JSONL [" in out.stderr
    assert "100%  68 records" in out.stderr
    assert (fixture_home / "analytics" / "history.db").is_file()
    report = json.loads(out.stdout)
    assert_every_item(report)
    assert report["cost"]["total_usd"] == 0.89
    assert report["latency"]["by_phase"][0]["p95"] == 58.0
    assert report["errors"]["recommendations"][0]["message"].startswith("Test phase fails 60% of step attempts")
    again = json.loads(run("report", "--format", "json", "-q", home=fixture_home).stdout)  # from the cache now
    assert again["meta"]["cache_sync"]["rebuilt"] is False
    assert again["cost"] == report["cost"] and again["attempts"] == report["attempts"]


def test_text_report(fixture_home):
    text = run("report", "-q", home=fixture_home).stdout
    for header in ("== Cost ==", "== Latency ==", "== Errors ==", "== Attempts and retries ==", "== Tools =="):
        assert header in text
    assert "Total $0.8900 over 14 model calls." in text
    assert "[high] Test phase fails 60% of step attempts (3 of 5)" in text
    assert "Read→Edit→Read→Bash" in text


def test_filters_on_the_command_line(fixture_home):
    docs = json.loads(run("report", "-f", "json", "-q", "--template", "docs", home=fixture_home).stdout)
    assert docs["cost"]["total_usd"] == 0.04
    assert docs["meta"]["filters"]["template"] == ["docs"]
    recent = json.loads(
        run(
            "report",
            "-f",
            "json",
            "-q",
            "--since",
            "2025-03-08",
            "--status",
            "completed",
            "--model",
            "claude-sonnet-4-5",
            home=fixture_home,
        ).stdout
    )
    assert recent["cost"]["total_usd"] == 0.32  # wf-4's sonnet calls: 0.12 + 0.10 + 0.10 (its tester ran on haiku)
    bad = run("report", "--since", "last tuesday", home=fixture_home, check=False)
    assert bad.returncode == 2 and "not a time" in bad.stderr


def test_csv_one_row_per_step_or_task(fixture_home, tmp_path):
    steps = list(csv.DictReader(io.StringIO(run("report", "-f", "csv", "-q", home=fixture_home).stdout)))
    assert len(steps) == 14
    first = steps[0]
    assert first == {
        "timestamp": "2025-03-01T10:00:00.000000Z",
        "session_id": "s1",
        "workflow_id": "wf-1",
        "workflow_name": "fix-cart",
        "template": "sdlc",
        "task_id": "",
        "phase": "plan",
        "step": "planner",
        "assigned_agent": "planner",
        "model": "claude-sonnet-4-5",
        "attempt": "1",
        "success": "true",
        "status": "success",
        "execution_time": "10",
        "cost_usd": "0.1",
        "unpriced_model_calls": "0",
        "input_tokens": "10000",
        "output_tokens": "500",
        "cache_read_tokens": "6000",
        "tool_calls": "2",
        "failed_tool_calls": "0",
        "tool_sequence": "Read→Grep",
        "error_category": "",
        "error_type": "",
        "error_message": "",
        "machine": machine_name(),  # rebuilt from the JSONL on this machine
        "service": "",
    }
    failed = [s for s in steps if s["success"] == "false"]
    assert [(s["workflow_id"], s["step"], s["attempt"], s["error_category"]) for s in failed] == [
        ("wf-1", "tester", "1", "timeout"),
        ("wf-2", "tester", "1", "import"),
        ("wf-2", "tester", "2", "import"),
        ("wf-4", "coder", "1", "syntax"),
    ]
    out = tmp_path / "tasks.csv"
    run("report", "-f", "csv", "--rows", "tasks", "-o", str(out), home=fixture_home)
    tasks = list(csv.DictReader(out.open()))
    assert [(t["task_id"], t["attempts"], t["retries"], t["success"], t["idle_time"]) for t in tasks] == [
        ("T1", "2", "1", "true", "86294"),
        ("T2", "1", "0", "true", "0"),
        ("T3", "1", "0", "true", "0"),
    ]


def test_html_goes_next_to_the_data_by_default(fixture_home):
    out = run("report", "--format", "html", home=fixture_home)
    page = (fixture_home / "report.html").read_text()
    assert f"wrote {fixture_home / 'report.html'}" in out.stderr
    assert page.startswith("<!DOCTYPE html>") and "Cost over time" in page and "Error categories" in page


def test_sections_and_a_filter_that_matches_nothing(fixture_home):
    report = json.loads(run("report", "-f", "json", "-q", "--section", "cost,latency", home=fixture_home).stdout)
    assert list(report) == ["meta", "cost", "latency"]
    text = run("report", "-q", "--section", "attempts", "--section", "tools", home=fixture_home).stdout
    assert [line for line in text.splitlines() if line.startswith("== ")] == [
        "== Attempts and retries ==",
        "== Tools ==",
    ]
    bad = run("report", "--section", "money", home=fixture_home, check=False)
    assert bad.returncode == 2 and "unknown section money: use cost, latency, errors, attempts, tools" in bad.stderr
    none = run("report", "--template", "nope", home=fixture_home)
    assert none.stdout.splitlines()[-1] == "Nothing matches the filters (template=nope): no workflows, steps or calls."
    as_json = run("report", "-f", "json", "--template", "nope", home=fixture_home)
    assert "nothing matches the filters: template=nope" in as_json.stderr
    assert json.loads(as_json.stdout)["meta"]["matched"] is False


def test_no_data_is_an_error(tmp_path):
    out = run("report", home=tmp_path / "empty", check=False)
    assert out.returncode == 1
    assert "no analytics data" in out.stderr


def test_demo_ends_with_the_report_and_its_data_rebuilds_from_the_spool(tmp_path):
    home = tmp_path / "home"
    demo = run("demo", "--pace", "0", home=home)
    assert f"HTML report: {home / 'report.html'}" in demo.stdout
    tail = demo.stdout.split(f"HTML report: {home / 'report.html'}", 1)[1]
    assert tail.lstrip().startswith("otel-agents report:") and "== Tools ==" in tail
    assert "Total $0.1337 over 6 model calls." in tail
    assert (home / "report.html").is_file()
    # lose the store and the JSONL: the report rebuilds from the OTLP-JSON spool
    shutil.rmtree(home / "analytics")
    shutil.rmtree(home / "metrics")
    out = run("report", "--format", "json", home=home)
    assert "rebuilding history.db from the span spool [" in out.stderr and "100%" in out.stderr
    report = json.loads(out.stdout)
    assert_every_item(report)
    assert report["cost"]["total_usd"] == 0.1337
    # 4 steps, one of them retried: 5 attempts
    assert report["meta"]["rows"] == {
        "workflows": 1,
        "phases": 4,
        "steps": 4,
        "step_attempts": 5,
        "tool_calls": 10,
        "model_calls": 6,
    }
    assert report["attempts"]["debugging_cycles"]["cycles"] == 1
    assert report["errors"]["categories"][0]["category"] == "timeout"
    assert report["tools"]["redundant"]["redundant_calls"] == 1  # the coder reads app/cart.py twice
