"""The report means what it says: unknown costs, which model works best, root-cause errors,
logical steps, the wall clock of parallel steps, recommendation samples, output hygiene and
trace ids. Each history is written through the real analytics store (``report_history``)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from report_history import History, trace_of

from otel_agents.report import Filters, ReportEngine, build_report, render, svg
from otel_agents.report.csvout import write_csv

S, H, X = "claude-sonnet-4-5", "claude-haiku-4-5", "acme-9000"


def lines_after(text: str, title: str, n: int) -> list[str]:
    """The ``n`` lines after the line ``title``."""
    rows = text.splitlines()
    i = rows.index(title)
    return rows[i + 1 : i + 1 + n]


# --- unknown cost is unknown, never $0 ----------------------------------------------------------


@pytest.fixture(scope="module")
def unpriced_store(tmp_path_factory):
    h = History()
    # run-a: one priced call ($0.0261) and five calls of a model without a price
    w = h.workflow("run-a", 0, 20, template="t", cost=0.0261, unpriced=5, calls=6)
    p = h.phase("run-a", w, "build", 0, 20, cost=0.0261, unpriced=5, calls=6)
    s = h.step("run-a", p, "build", "priced", 0, 5, cost=0.0261, calls=1)
    h.call("run-a", s, S, 1, 2, cost=0.0261)
    s = h.step("run-a", p, "build", "mystery", 6, 20, cost=None, unpriced=5, calls=5)
    for i in range(5):
        h.call("run-a", s, X, 7 + 2 * i, 8 + 2 * i, cost=None, provider="acme")
    # run-b: every call unpriced
    w = h.workflow("run-b", 30, 40, template="u", cost=None, unpriced=2, calls=2)
    p = h.phase("run-b", w, "build", 30, 40, cost=None, unpriced=2, calls=2)
    s = h.step("run-b", p, "build", "mystery", 30, 40, cost=None, unpriced=2, calls=2)
    h.call("run-b", s, X, 31, 32, cost=None, provider="acme")
    h.call("run-b", s, X, 33, 34, cost=None, provider="acme")
    return h.store(tmp_path_factory.mktemp("unpriced") / "history.db")


def test_unpriced_calls_are_unknown_in_json(unpriced_store):
    c = build_report(unpriced_store, use_cache=False)["cost"]
    assert (c["total_usd"], c["model_calls"], c["unpriced_model_calls"]) == (0.0261, 8, 7)
    assert c["by_model"] == [
        {"model": S, "cost_usd": 0.0261, "unpriced_model_calls": 0, "share": 1.0, "model_calls": 1, "avg_usd": 0.0261},
        {"model": X, "cost_usd": None, "unpriced_model_calls": 7, "share": None, "model_calls": 7, "avg_usd": None},
    ]
    assert c["by_phase"] == [
        {
            "phase": "build",
            "cost_usd": 0.0261,
            "unpriced_model_calls": 7,
            "share": 1.0,
            "model_calls": 8,
            "runs": 2,
            "avg_usd": None,
        }
    ]
    assert [(d["day"], d["cost_usd"], d["unpriced_model_calls"]) for d in c["daily"]] == [("2027-01-15", 0.0261, 7)]
    # run-b's cost is unknown: it is not ranked among the most expensive
    assert [
        (w["workflow_id"], w["cost_usd"], w["unpriced_model_calls"], w["trace_id"]) for w in c["top_workflows"]
    ] == [("run-a", 0.0261, 5, trace_of("run-a"))]


def test_unpriced_calls_are_unknown_in_text_csv_and_html(unpriced_store):
    with ReportEngine(unpriced_store, use_cache=False) as engine:
        report = engine.report()
        out = io.StringIO()
        write_csv(engine.con, out)
    text = render(report, "text")
    assert "Total $0.0261 + 7 unpriced calls over 8 model calls." in text
    assert lines_after(text, "By model", 4) == [
        "  model                 cost   share  model calls      avg",
        "  -----------------  -------  ------  -----------  -------",
        "  claude-sonnet-4-5  $0.0261  100.0%            1  $0.0261",
        "  acme-9000                -       -            7        -",
    ]
    assert lines_after(text, "By agent", 4)[2:] == [
        "  priced   $0.0261  100.0%              1  $0.0261",
        "  mystery        -       -              2        -",
    ]
    assert "$0.0000" not in text
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["workflow_id"], r["step"], r["cost_usd"], r["unpriced_model_calls"]) for r in rows] == [
        ("run-a", "priced", "0.0261", "0"),
        ("run-a", "mystery", "-", "5"),
        ("run-b", "mystery", "-", "2"),
    ]
    page = render(report, "html")
    assert '<div class="card"><span>total cost</span><b>$0.0261 + 7 unpriced calls</b></div>' in page


def test_a_run_whose_calls_are_all_unpriced_has_an_unknown_cost(unpriced_store):
    report = build_report(unpriced_store, Filters.parse(templates=["u"]), use_cache=False)
    c = report["cost"]
    assert (c["total_usd"], c["unpriced_model_calls"], c["top_workflows"]) == (None, 2, [])
    assert [(p["phase"], p["cost_usd"], p["unpriced_model_calls"]) for p in c["by_phase"]] == [("build", None, 2)]
    assert report["attempts"]["agents"][0]["cost_usd"] is None
    text = render(report, "text")
    assert "Total unknown (2 unpriced calls) over 2 model calls." in text
    assert "Last 7 days unknown (2 unpriced calls), previous 7 days -." in text


# --- which model works best: by each model's own calls -------------------------------------------


def test_models_are_compared_by_their_own_calls(tmp_path):
    h = History()
    for i in range(3):  # each run: a draft on haiku (2 calls) that succeeds, a review on sonnet that fails
        wid, t = f"m{i}", 100.0 * i
        w = h.workflow(wid, t, t + 30, outcome="failure", cost=0.012, calls=3)
        p = h.phase(wid, w, "work", t, t + 30, outcome="failure", cost=0.012, calls=3)
        s = h.step(wid, p, "work", "draft", t, t + 10, cost=0.002, calls=2)
        h.call(wid, s, H, t + 1, t + 2, cost=0.001)
        h.call(wid, s, H, t + 3, t + 4, cost=0.001)
        s = h.step(wid, p, "work", "review", t + 10, t + 30, outcome="failure", cost=0.01, calls=1)
        h.call(wid, s, S, t + 11, t + 12, cost=0.01)
    m = build_report(h.store(tmp_path / "history.db"), use_cache=False)["attempts"]["models"]
    assert m["by_model"] == [
        {
            "model": H,
            "model_calls": 6,
            "failed_calls": 0,
            "step_attempts": 3,
            "successes": 3,
            "success_rate": 1.0,
            "workflows": 3,
            "cost_usd": 0.006,
            "unpriced_model_calls": 0,
            "cost_per_call_usd": 0.001,
            "mean_call_seconds": 1.0,
        },
        {
            "model": S,
            "model_calls": 3,
            "failed_calls": 0,
            "step_attempts": 3,
            "successes": 0,
            "success_rate": 0.0,
            "workflows": 3,
            "cost_usd": 0.03,
            "unpriced_model_calls": 0,
            "cost_per_call_usd": 0.01,
            "mean_call_seconds": 1.0,
        },
    ]
    assert m["best_model"]["overall"] == {
        "model": H,
        "success_rate": 1.0,
        "step_attempts": 3,
        "workflows": 3,
        "cost_per_call_usd": 0.001,
    }


# --- errors count root causes ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def failed_store(tmp_path_factory):
    h = History()
    w = h.workflow(
        "wf-x", 0, 30, outcome="failure", error_type="TimeoutError", error_message="timed out", cost=0.01, calls=1
    )
    p = h.phase("wf-x", w, "test", 0, 30, outcome="failure", error_type="TimeoutError", cost=0.01, calls=1)
    s = h.step(
        "wf-x",
        p,
        "test",
        "tester",
        0,
        30,
        outcome="failure",
        error_type="TimeoutError",
        error_message="timed out",
        cost=0.01,
        calls=1,
    )
    h.call("wf-x", s, S, 1, 2, cost=0.01)
    h.tool("wf-x", s, "Bash", 5, 30, outcome="failure", error_type="TimeoutError", error_message="timed out")
    w = h.workflow("wf-ok", 100, 150, cost=0.0, calls=0)
    h.phase("wf-ok", w, "test", 100, 150)
    return h.store(tmp_path_factory.mktemp("failed") / "history.db")


def test_one_exception_through_tool_step_phase_and_run_is_one_error(failed_store):
    report = build_report(failed_store, use_cache=False)
    e = report["errors"]
    assert (e["total"], e["span_failures"]) == (1, {"step_attempts": 1, "tool_calls": 1})
    timeout = next(c for c in e["categories"] if c["category"] == "timeout")
    assert timeout == {
        "category": "timeout",
        "count": 1,
        "failed_step_attempts": 1,
        "failed_tool_calls": 1,
        "share": 1.0,
        "phases": ["test"],
        "top_error_type": "TimeoutError",
    }
    text = render(report, "text")
    assert (
        "1 error (root causes: an exception that fails a tool call and then its step counts once); "
        "span failures: 1 failed step attempt, 1 failed tool call."
    ) in text


def test_failed_and_slowest_runs_carry_their_trace_ids(failed_store):
    report = build_report(failed_store, use_cache=False)
    assert report["errors"]["failed_runs"] == [
        {
            "workflow_id": "wf-x",
            "trace_id": trace_of("wf-x"),
            "workflow_name": "job",
            "template": "t",
            "start_time": "2027-01-15T08:00:00.000000Z",
            "duration_seconds": 30.0,
            "error_type": "TimeoutError",
            "error_category": "timeout",
            "error_message": "timed out",
        }
    ]
    assert [(r["workflow_id"], r["trace_id"], r["duration_seconds"]) for r in report["latency"]["slowest_runs"]] == [
        ("wf-ok", trace_of("wf-ok"), 50.0),
        ("wf-x", trace_of("wf-x"), 30.0),
    ]
    text = render(report, "text")
    assert lines_after(text, "Slowest runs", 4)[2:] == [
        f"  wf-ok     {trace_of('wf-ok')}  job   completed   50.000s  test",
        f"  wf-x      {trace_of('wf-x')}  job   failed      30.000s  test",
    ]
    assert f"  wf-x      {trace_of('wf-x')}  job   2027-01-15T08:00:00.000000Z  TimeoutError  timeout" in text


# --- steps are logical steps; attempts are attempts ---------------------------------------------


def test_wall_clock_of_parallel_steps_is_their_union(tmp_path):
    h = History()
    w = h.workflow("par", 0, 10, template="p")
    p = h.phase("par", w, "fan", 0, 10)
    for i in range(4):  # four steps side by side for the whole run
        h.step("par", p, "fan", f"s{i}", 0, 10)
    w = h.workflow("mix", 100, 110, template="m")
    p = h.phase("mix", w, "work", 100, 110)
    for name, a, b in (("a", 100, 104), ("b", 102, 106), ("c", 108, 109)):  # union: 100-106 and 108-109
        h.step("mix", p, "work", name, a, b)
    store = h.store(tmp_path / "history.db")
    for use_cache in (True, False):
        assert build_report(store, use_cache=use_cache)["attempts"]["summary"]["wall_clock_seconds"] == 17.0
    assert build_report(store, Filters.parse(templates=["p"]))["attempts"]["summary"]["wall_clock_seconds"] == 10.0
    summary = build_report(store, Filters.parse(templates=["p", "m"]))["attempts"]["summary"]
    assert (summary["total_execution_seconds"], summary["wall_clock_seconds"]) == (49.0, 17.0)


def test_one_of_everything_is_singular_and_empty_tables_print_once(tmp_path):
    h = History()
    w = h.workflow("one", 0, 10, cost=0.002, calls=1)
    p = h.phase("one", w, "only", 0, 10, cost=0.002, calls=1)
    s = h.step("one", p, "only", "solo", 0, 10, cost=0.002, calls=1)
    h.tool("one", s, "Read", 1, 2)
    h.call("one", s, H, 3, 4, cost=0.002)
    report = build_report(h.store(tmp_path / "history.db"), use_cache=False)
    text = render(report, "text")
    assert text.splitlines()[1] == (
        "period 2027-01-15 .. 2027-01-15: 1 workflow, 1 phase, 1 step (1 attempt), 1 tool call, 1 model call"
    )
    assert "\nTasks\n  (none)\n\nAgents\n" in text
    assert "1 step, 1 attempt, 0 retries;" in text
    assert report["meta"]["rows"] == {
        "workflows": 1,
        "phases": 1,
        "steps": 1,
        "step_attempts": 1,
        "tool_calls": 1,
        "model_calls": 1,
    }
    assert report["meta"]["matched"] is True


def test_a_filter_that_matches_nothing_says_so(failed_store):
    report = build_report(failed_store, Filters.parse(templates=["nope"]), use_cache=False)
    assert report["meta"]["matched"] is False
    text = render(report, "text")
    assert text.endswith("\nNothing matches the filters (template=nope): no workflows, steps or calls.\n")
    assert "== Cost ==" not in text
    assert "Nothing matches the filters (template=nope)" in render(report, "html")


def test_sections_can_be_chosen(failed_store):
    report = build_report(failed_store, use_cache=False, sections=("cost", "latency"))
    assert list(report) == ["meta", "cost", "latency"]
    text = render(report, "text")
    assert [line for line in text.splitlines() if line.startswith("== ")] == ["== Cost ==", "== Latency =="]
    only_errors = build_report(failed_store, use_cache=False, sections=("errors",))
    assert list(only_errors) == ["meta", "errors"] and only_errors["errors"]["recommendations"] == []
    with pytest.raises(ValueError, match="unknown section money"):
        build_report(failed_store, use_cache=False, sections=("money",))


def test_text_columns_are_left_aligned_even_when_they_look_like_numbers(tmp_path):
    h = History()
    for wid, name, start in (("7", "42", 0), ("1234", "2024", 100)):
        h.workflow(wid, start, start + 10 + start / 10, name=name)
    text = render(build_report(h.store(tmp_path / "history.db"), use_cache=False), "text")
    assert lines_after(text, "Slowest runs", 4) == [
        "  workflow  trace                             name  status     duration  bottleneck phase",
        "  --------  --------------------------------  ----  ---------  --------  ----------------",
        f"  1234      {trace_of('1234')}  2024  completed   20.000s  -",
        f"  7         {trace_of('7')}  42    completed   10.000s  -",
    ]


# --- recommendations honour their minimum sample --------------------------------------------------


def _failing_runs(h: History, n: int) -> None:
    """Runs whose test phase fails every attempt (timeouts, the Bash call too), rereading a
    file, with no prompt cache: every rule's trigger, run after run."""
    for i in range(n):
        wid, t = f"r{i}", 1000.0 * i
        w = h.workflow(wid, t, t + 90, template="sdlc", outcome="failure", cost=0.03, calls=3)
        p = h.phase(wid, w, "test", t, t + 90, outcome="failure", cost=0.03, calls=3)
        for a in range(3):
            s = h.step(
                wid,
                p,
                "test",
                "tester",
                t + 30 * a,
                t + 30 * a + 20,
                attempt=a + 1,
                outcome="failure",
                error_type="TimeoutError",
                cost=0.01,
                calls=1,
            )
            h.call(wid, s, S, t + 30 * a + 1, t + 30 * a + 2, cost=0.01, input_tokens=1000)
            h.tool(wid, s, "Read", t + 30 * a + 3, t + 30 * a + 4, args="same")
            h.tool(wid, s, "Read", t + 30 * a + 4, t + 30 * a + 5, args="same")
            h.tool(wid, s, "Bash", t + 30 * a + 5, t + 30 * a + 20, outcome="failure", error_type="TimeoutError")


def test_no_recommendation_on_one_or_two_runs(tmp_path):
    for n in (1, 2):
        h = History()
        _failing_runs(h, n)
        report = build_report(h.store(tmp_path / f"history-{n}.db"), use_cache=False)
        assert report["errors"]["recommendations"] == [], n
    h = History()
    _failing_runs(h, 3)
    recs = [
        r["message"]
        for r in build_report(h.store(tmp_path / "history-3.db"), use_cache=False)["errors"]["recommendations"]
    ]
    assert (
        "Test phase fails 100% of step attempts (9 of 9), mostly timeouts (100% of its failures): raise the "
        "time limit or split the work."
    ) in recs
    assert "Bash fails 100% of its calls (9 of 9): check how the agents call it." in recs


def test_a_phase_seen_in_one_run_is_not_judged(tmp_path):
    h = History()
    for i in range(4):  # four quick runs; one of them also deploys, slowly
        wid, t = f"q{i}", 1000.0 * i
        w = h.workflow(wid, t, t + (110 if i == 0 else 10))
        h.phase(wid, w, "build", t, t + 10)
        if i == 0:
            h.phase(wid, w, "deploy", t + 10, t + 110)
    report = build_report(h.store(tmp_path / "history.db"), use_cache=False)
    assert [p["phase"] for p in report["latency"]["outliers"]["phases"]] == ["deploy"]  # listed, with its 1 run
    assert report["latency"]["bottlenecks"]["overall"]["phase"] == "deploy"
    assert report["errors"]["recommendations"] == []


# --- charts -----------------------------------------------------------------------------------------


def test_chart_axes_are_round_values_in_units_that_fit():
    assert svg.ticks(1.3) == [0.0, 0.5, 1.0, 1.5]
    assert svg.ticks(0.8) == [0.0, 0.2, 0.4, 0.6, 0.8]
    assert svg.ticks(0.012, 4) == [0.0, 0.005, 0.01, 0.015]
    assert [svg.duration(v) for v in (0, 0.25, 1.5, 90, 600)] == ["0", "250 ms", "1.5 s", "90 s", "10 min"]
    chart = svg.latency_chart(
        [{"label": "llm", "count": 3, "mean": 0.3, "p50": 0.25, "p95": 0.7, "p99": 0.78, "min": 0.1, "max": 0.8}],
        title="t",
    )
    labels = re.findall(r'text-anchor="middle">([^<]*)</text>', chart)
    assert labels == ["0", "200 ms", "400 ms", "600 ms", "800 ms"]
    daily = svg.daily_chart(["2027-01-14", "2027-01-15"], [0.004, 0.011], [0.004, 0.0075], title="c")
    assert re.findall(r'text-anchor="end">([^<]*)</text>', daily) == ["$0", "$0.005", "$0.01", "$0.015"]


def test_a_one_day_cost_chart_does_not_fill_the_width_with_one_bar():
    chart = svg.daily_chart(["2027-01-15"], [0.5], [0.5], title="Cost over time", width=1180)
    widths = [
        float(w)
        for w in re.findall(
            r'<rect x="[^"]+" y="[^"]+" width="([^"]+)" height="[^"]+" fill="#3b6fb6" '
            r'opacity="0.75"><title>',
            chart,
        )
    ]
    assert widths == [40.0]
