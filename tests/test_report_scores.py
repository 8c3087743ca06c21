"""Report sections ``scores``, ``trends`` and ``outcomes`` on a small fixed history, with the
estimates and outcomes recorded by workflow id (API and ``otel-agents outcome``).

The history (times from 2027-01-15T08:00Z, a Friday; ``day N`` = N days later):

======  ========  =====  ======  =======  =====  =======  =====================
run     template  model  cost $  seconds  ok     retries  when
======  ========  =====  ======  =======  =====  =======  =====================
f1      fix       m-a    1.0     100      yes    0        day 0 08:00 (Fri)
f2      fix       m-a    1.0     100      yes    0        day 1 08:00 (Sat)
f3      fix       m-a    2.0     100      yes    1 (a step failed, then passed)  day 2 (Sun)
f4      fix       m-b    2.0     200      no     0 (a step failed)               day 3 (Mon)
f5      fix       m-b    2.0     200      yes    0        day 4 (Tue)
f6      fix       m-b    20.0    200      yes    0        day 5 (Wed)
d1      doc       m-a    0.5     10       yes    0        day 0 10:00 (Fri), complexity medium
d2      doc       m-a    50.0    1000     yes    0        day 20 20:00 (Thu)
d3      doc       m-a    unknown 505      yes    0        day 29 08:00 (Sat): a call unpriced
======  ========  =====  ======  =======  =====  =======  =====================

Scores, computed by hand (docs/report.md has the formulas):

- fix: median cost (2+2)/2 = 2.0; median duration (100+200)/2 = 150.
  cost efficiency = min(100, round(50 * 2 / cost)): f1 100, f2 100, f3-f5 50, f6 round(5) = 5.
  performance = min(100, round(50 * 150 / s)): f1-f3 75, f4-f6 round(37.5) = 38.
  quality = 100 (ok) or 0, - 10 per retry - 10 per step that failed: f3 100-10-10 = 80, f4 0, the rest 100.
  distribution (type 7 quantiles): efficiency sorted 5,50,50,50,100,100: p25 (h=1.25) 50, median 50,
  p75 (h=3.75) 50 + .75*50 = 87.5, mean 355/6 = 59.17; performance 38,38,38,75,75,75: p25 38,
  median 56.5, p75 75, mean 56.5; quality 0,80,100,100,100,100: p25 80 + .25*20 = 85, median 100,
  p75 100, mean 80.
- anomaly, fix cost: deviations from 2.0 are 1,1,0,0,0,18, MAD = (0+1)/2 = 0.5,
  z(f6) = 18 / (1.4826 * 0.5) = 24.282; f1, f2: -1/0.7413 = -1.349 (not flagged). Durations:
  every deviation 50, z = +-50/74.13 = 0.674: none. doc has 3 runs (< 6): never flagged,
  though d2 costs 100 times d1.
- doc: median of the known costs (0.5, 50) = 25.25: d1 100, d2 round(25.25) = 25, d3 unknown;
  median duration 505: d1 100, d2 25, d3 50. Distributions: efficiency 25,100: p25 25 + .25*75 =
  43.75, median 62.5, p75 81.25; performance 25,50,100: p25 (h=0.5) 37.5, median 50, p75 75,
  mean 175/3 = 58.33.

Trends (window: the 30 days ending on day 29, 2027-02-13; first half up to day 14,
2027-01-29): fix: 6 runs, all in the first half: success 5/6, mean cost 28/6 = 4.666667,
mean duration 150; doc: first half d1 (0.5, 10 s); second half d2 and d3: mean cost 50.0
over the one priced run (1 unpriced), mean duration (1000+505)/2 = 752.5; change of mean
cost (50-0.5)/0.5 = +9900 %, duration +7425 %, success 0 %.

Hours: 08:00 has f1-f6 and d3: 7 runs, 6 ok (0.857143), cost 28.0 over 6 priced runs
(4.666667 each), 1 unpriced, mean duration (900+505)/7 = 200.714286; 10:00 d1; 20:00 d2.

Estimates and outcomes (the latest value of a name wins):

- f1: estimated $1.5, 1000 tokens, 120 s, low; merged after 5 h, 1 review cycle, CI 1.0.
  f1 used 800 + 200 = 1000 tokens.
- f2: estimated $0.5, low; not merged, 3 review cycles; later: merged after 30 h.
- f4: high; not merged, 2 review cycles, CI 0.5; named: deploys=2, verdict=revert.
- f5: high; merged after 10 h, CI 0.75; named: verdict=ship.
- f6: estimated $10, 5000 tokens (used 3000 + 1000 = 4000).
- "ghost" (no such run): ignored.

Estimated against actual: fix/m-a: cost over f1, f2: 2.0 vs 2.0 (1.0); tokens f1 1000 vs
1000 (1.0); duration f1 120 vs 100 (0.833333). fix/m-b: cost f6 10 vs 20 (2.0); tokens
5000 vs 4000 (0.8); duration: none.
By model: m-a 6 runs, 6 ok; PRs f1, f2: 2 merged (1.0), mean 17.5 h to merge, 2.0 review
cycles, CI 1.0. m-b 3 runs, 2 ok (0.666667); PRs f4, f5: 1 merged (0.5), 10.0 h, 2.0 cycles,
CI (0.5+0.75)/2 = 0.625.
By complexity: (none) f3, f6, d2, d3: 4 runs, 4 ok, no PR; high f4, f5: 0.5 success, 0.5
merged; low f1, f2: 1.0 and 1.0; medium d1: 1 run.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import otel_agents as oa
from otel_agents.report import build_report
from tests.report_history import DAY, History

H = 3600.0
ENV_HOME = "OTEL_AGENTS_HOME"


def _history() -> History:
    h = History()
    runs = [
        ("f1", "fix", "m-a", 1.0, 100, "success", 0, 0, {"input_tokens": 800, "output_tokens": 200}),
        ("f2", "fix", "m-a", 1.0, 100, "success", DAY, 0, {}),
        ("f3", "fix", "m-a", 2.0, 100, "success", 2 * DAY, 1, {}),
        ("f4", "fix", "m-b", 2.0, 200, "failure", 3 * DAY, 0, {}),
        ("f5", "fix", "m-b", 2.0, 200, "success", 4 * DAY, 0, {}),
        ("f6", "fix", "m-b", 20.0, 200, "success", 5 * DAY, 0, {"input_tokens": 3000, "output_tokens": 1000}),
        ("d1", "doc", "m-a", 0.5, 10, "success", 2 * H, 0, {"complexity": "medium"}),
        ("d2", "doc", "m-a", 50.0, 1000, "success", 20 * DAY + 12 * H, 0, {}),
        ("d3", "doc", "m-a", 0.1, 505, "success", 29 * DAY, 0, {"unpriced": 1}),
    ]
    for wid, template, model, cost, secs, outcome, start, retries, extra in runs:
        unpriced = extra.pop("unpriced", 0)
        w = h.workflow(
            wid,
            start,
            start + secs,
            template=template,
            outcome=outcome,
            cost=cost,
            unpriced=unpriced,
            model=model,
            retry_count=retries,
            **extra,
        )
        if wid == "f3":
            p = h.phase(wid, w, "build", start, start + 50)
            h.step(wid, p, "build", "code", start, start + 10, attempt=1, outcome="failure")
            h.step(wid, p, "build", "code", start + 10, start + 50, attempt=2)
        if wid == "f4":
            p = h.phase(wid, w, "build", start, start + 50, outcome="failure")
            h.step(wid, p, "build", "code", start, start + 50, outcome="failure")
    return h


def _record(home: Path) -> None:
    assert oa.record_estimates(
        "f1", estimated_cost_usd=1.5, estimated_tokens=1000, estimated_duration_seconds=120, complexity="low", home=home
    )
    assert oa.record_outcome(
        "f1", pr_merged=True, time_to_merge_hours=5.0, review_cycles=1, ci_pass_rate=1.0, home=home
    )
    assert oa.record_estimates("f2", estimated_cost_usd=0.5, complexity="low", home=home)
    assert oa.record_outcome("f2", pr_merged=False, review_cycles=3, home=home)
    assert oa.record_estimates("f4", complexity="high", home=home)
    assert oa.record_outcome(
        "f4", pr_merged=False, review_cycles=2, ci_pass_rate=0.5, deploys=2, verdict="revert", home=home
    )
    assert oa.record_estimates("f6", estimated_cost_usd=10.0, estimated_tokens=5000, home=home)
    assert oa.record_outcome("ghost", pr_merged=True, home=home)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otel_agents", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("scores")
    db = _history().store(home / "analytics" / "history.db")
    _record(home)
    # known only later, from the command line: f2 merged after all, f5's outcome
    done = _cli("outcome", "f2", "--home", str(home), "--pr-merged", "yes", "--time-to-merge-hours", "30")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "workflow_id": "f2",
        "recorded": {
            "estimated_cost_usd": 0.5,
            "complexity": "low",
            "pr_merged": True,
            "review_cycles": 3,
            "time_to_merge_hours": 30.0,
        },
    }
    done = _cli(
        "outcome",
        "f5",
        "--db",
        str(db),
        "--pr-merged",
        "true",
        "--time-to-merge-hours",
        "10",
        "--ci-pass-rate",
        "0.75",
        "--complexity",
        "high",
        "--set",
        "verdict=ship",
    )
    assert done.returncode == 0, done.stderr
    return db


@pytest.fixture(scope="module", params=["cache", "memory"])
def report(request, store) -> dict:
    return build_report(store, use_cache=request.param == "cache", sections=("scores", "trends", "outcomes"))


def _dist(lo, p25, med, p75, hi, mean, n=6):
    return {"count": n, "min": lo, "p25": p25, "median": med, "p75": p75, "max": hi, "mean": mean}


def test_scores_by_template(report):
    s = report["scores"]
    assert (s["workflows"], s["anomalous_workflows"]) == (9, 1)
    fix, doc = s["by_template"]
    assert fix == {
        "template": "fix",
        "workflows": 6,
        "median_cost_usd": 2.0,
        "median_duration_seconds": 150.0,
        "cost_efficiency": _dist(5, 50.0, 50.0, 87.5, 100, 59.17),
        "performance": _dist(38, 38.0, 56.5, 75.0, 75, 56.5),
        "quality": _dist(0, 85.0, 100.0, 100.0, 100, 80.0),
        "anomalous_workflows": 1,
    }
    assert doc["template"] == "doc" and doc["workflows"] == 3 and doc["median_cost_usd"] == 25.25
    assert doc["cost_efficiency"] == _dist(25, 43.75, 62.5, 81.25, 100, 62.5, n=2)
    assert doc["performance"] == _dist(25, 37.5, 50.0, 75.0, 100, 58.33, n=3)
    assert doc["anomalous_workflows"] == 0


def test_anomalies_by_median_absolute_deviation_never_on_few_runs(report):
    assert report["scores"]["anomalies"] == [
        {
            "workflow_id": "f6",
            "workflow_name": "job",
            "template": "fix",
            "model": "m-b",
            "start_time": "2027-01-20T08:00:00.000000Z",
            "metric": "cost_usd",
            "value": 20.0,
            "template_median": 2.0,
            "robust_z": 24.282,
            "direction": "high",
        }
    ]


def test_lowest_quality(report):
    low = [
        (r["workflow_id"], r["quality_score"], r["retries"], r["debugging_cycles"])
        for r in report["scores"]["lowest_quality"][:2]
    ]
    assert low == [("f4", 0, 0, 1), ("f3", 80, 1, 1)]
    d3 = next(r for r in report["scores"]["lowest_quality"] if r["workflow_id"] == "d3")
    assert d3["cost_efficiency_score"] is None and d3["performance_score"] == 50  # unknown cost: no score


def test_time_patterns(report):
    tp = report["trends"]["time_patterns"]
    assert tp["by_hour"] == [
        {
            "hour": 8,
            "runs": 7,
            "success_rate": 0.857143,
            "cost_usd": 28.0,
            "mean_cost_usd": 4.66666667,
            "unpriced_runs": 1,
            "mean_duration_seconds": 200.714286,
        },
        {
            "hour": 10,
            "runs": 1,
            "success_rate": 1.0,
            "cost_usd": 0.5,
            "mean_cost_usd": 0.5,
            "unpriced_runs": 0,
            "mean_duration_seconds": 10.0,
        },
        {
            "hour": 20,
            "runs": 1,
            "success_rate": 1.0,
            "cost_usd": 50.0,
            "mean_cost_usd": 50.0,
            "unpriced_runs": 0,
            "mean_duration_seconds": 1000.0,
        },
    ]
    dow = {
        d["day"]: (d["runs"], d["success_rate"], d["cost_usd"], d["unpriced_runs"], d["mean_duration_seconds"])
        for d in tp["by_day_of_week"]
    }
    assert dow == {
        "Mon": (1, 0.0, 2.0, 0, 200.0),
        "Tue": (1, 1.0, 2.0, 0, 200.0),
        "Wed": (1, 1.0, 20.0, 0, 200.0),
        "Thu": (1, 1.0, 50.0, 0, 1000.0),
        "Fri": (2, 1.0, 1.5, 0, 55.0),
        "Sat": (2, 1.0, 1.0, 1, 302.5),
        "Sun": (1, 1.0, 2.0, 0, 100.0),
    }
    assert [d["day_of_week"] for d in tp["by_day_of_week"]] == [0, 1, 2, 3, 4, 5, 6]


def test_thirty_day_trends(report):
    t = report["trends"]
    assert t["window"] == {"days": 30, "first_day": "2027-01-15", "last_day": "2027-02-13"}
    fix, doc = t["by_template"]
    empty = {
        "runs": 0,
        "success_rate": None,
        "cost_usd": None,
        "mean_cost_usd": None,
        "unpriced_runs": 0,
        "mean_duration_seconds": None,
    }
    assert fix["group"] == "fix" and fix["runs"] == 6
    assert fix["first_half"] == {
        "runs": 6,
        "success_rate": 0.833333,
        "cost_usd": 28.0,
        "mean_cost_usd": 4.66666667,
        "unpriced_runs": 0,
        "mean_duration_seconds": 150.0,
    }
    assert fix["second_half"] == empty
    assert fix["change_percent"] == {"mean_cost_usd": None, "mean_duration_seconds": None, "success_rate": None}
    assert [d["day"] for d in fix["days"]] == [
        "2027-01-15",
        "2027-01-16",
        "2027-01-17",
        "2027-01-18",
        "2027-01-19",
        "2027-01-20",
    ]
    assert doc["second_half"] == {
        "runs": 2,
        "success_rate": 1.0,
        "cost_usd": 50.0,
        "mean_cost_usd": 50.0,
        "unpriced_runs": 1,
        "mean_duration_seconds": 752.5,
    }
    assert doc["change_percent"] == {"mean_cost_usd": 9900.0, "mean_duration_seconds": 7425.0, "success_rate": 0.0}
    (m_a, m_b) = t["by_model"]
    assert (m_a["group"], m_a["runs"], m_b["group"], m_b["runs"]) == ("m-a", 6, "m-b", 3)
    assert m_b["first_half"]["success_rate"] == 0.666667 and m_b["first_half"]["mean_cost_usd"] == 8.0


def test_estimated_against_actual(report):
    assert report["outcomes"]["estimated_vs_actual"] == [
        {
            "template": "fix",
            "model": "m-a",
            "cost_usd": {"runs": 2, "estimated": 2.0, "actual": 2.0, "actual_over_estimated": 1.0},
            "tokens": {"runs": 1, "estimated": 1000, "actual": 1000, "actual_over_estimated": 1.0},
            "duration_seconds": {"runs": 1, "estimated": 120.0, "actual": 100.0, "actual_over_estimated": 0.833333},
        },
        {
            "template": "fix",
            "model": "m-b",
            "cost_usd": {"runs": 1, "estimated": 10.0, "actual": 20.0, "actual_over_estimated": 2.0},
            "tokens": {"runs": 1, "estimated": 5000, "actual": 4000, "actual_over_estimated": 0.8},
            "duration_seconds": {"runs": 0, "estimated": None, "actual": None, "actual_over_estimated": None},
        },
    ]


def _rates(runs, ok, rate, prs, merged, mrate, ttm, rc, ci):
    return {
        "runs": runs,
        "successes": ok,
        "success_rate": rate,
        "prs": prs,
        "merged": merged,
        "merge_rate": mrate,
        "mean_time_to_merge_hours": ttm,
        "mean_review_cycles": rc,
        "mean_ci_pass_rate": ci,
    }


def test_success_and_merge_rates_by_model_and_complexity(report):
    o = report["outcomes"]
    assert o["by_model"] == [
        {"model": "m-a", **_rates(6, 6, 1.0, 2, 2, 1.0, 17.5, 2.0, 1.0)},
        {"model": "m-b", **_rates(3, 2, 0.666667, 2, 1, 0.5, 10.0, 2.0, 0.625)},
    ]
    assert o["by_complexity"] == [
        {"complexity": "(none)", **_rates(4, 4, 1.0, 0, 0, None, None, None, None)},
        {"complexity": "high", **_rates(2, 1, 0.5, 2, 1, 0.5, 10.0, 2.0, 0.625)},
        {"complexity": "low", **_rates(2, 2, 1.0, 2, 2, 1.0, 17.5, 2.0, 1.0)},
        {"complexity": "medium", **_rates(1, 1, 1.0, 0, 0, None, None, None, None)},
    ]
    pairs = {(r["model"], r["complexity"]): r["success_rate"] for r in o["by_model_and_complexity"]}
    assert pairs == {
        ("m-a", "(none)"): 1.0,
        ("m-a", "low"): 1.0,
        ("m-a", "medium"): 1.0,
        ("m-b", "(none)"): 1.0,
        ("m-b", "high"): 0.5,
    }
    assert o["named_outcomes"] == [
        {"name": "verdict", "runs": 2, "mean": None, "values": {"revert": 1, "ship": 1}},
        {"name": "deploys", "runs": 1, "mean": 2.0, "values": {}},
    ]
    f2 = next(r for r in o["recent"] if r["workflow_id"] == "f2")
    assert (f2["pr_merged"], f2["time_to_merge_hours"], f2["review_cycles"]) == (True, 30.0, 3)


def test_outcomes_join_without_rewriting_the_run(store):
    conn = sqlite3.connect(store)
    try:
        assert conn.execute("SELECT count(*) FROM workflow_history").fetchone() == (9,)
        row = conn.execute(
            "SELECT created_at = updated_at, cost_usd FROM workflow_history WHERE workflow_id = 'f2'"
        ).fetchone()
        assert row == (1, 1.0)
        names = conn.execute("SELECT name FROM workflow_outcomes WHERE workflow_id = 'f2' ORDER BY rowid").fetchall()
        assert [n for (n,) in names] == [
            "estimated_cost_usd",
            "complexity",
            "pr_merged",
            "review_cycles",
            "pr_merged",
            "time_to_merge_hours",
        ]
    finally:
        conn.close()


def test_every_format(store, tmp_path):
    for fmt in ("text", "html", "json"):
        target = tmp_path / f"report.{fmt}"
        out = _cli(
            "report",
            "--db",
            str(store),
            "-q",
            "-f",
            fmt,
            "--section",
            "scores,trends,outcomes",
            "--no-cache",
            "-o",
            str(target),
        )
        assert out.returncode == 0, out.stderr
        text = target.read_text()
        if fmt == "json":
            data = json.loads(text)
            assert sorted(data) == ["meta", "outcomes", "scores", "trends"]
            assert data["scores"]["anomalies"][0]["workflow_id"] == "f6"
            continue
        for needle in (
            "Scores by template",
            "Anomalies",
            "f6",
            "24.282",
            "By hour of day",
            "30-day trend by template",
            "Estimated against actual",
            "Success and merge rates by model",
            "m-b",
            "66.7%",
            "verdict",
        ):
            assert needle in text, (fmt, needle)
    text = (tmp_path / "report.text").read_text()
    for line in (
        "  fix          6      $2.0000       150.0s        50 (50..87.5)  56.5 (38..75)   100 (85..100)          1",
        "  f6        fix       m-b    cost_usd  $20.0000          $2.0000    24.282  high",
        "    08     7    85.7%  $28.0000    $4.6667              1     200.7s",
        "  doc          3        $0.5000      $50.0000  +9900.0%    10.000s    752.5s  +7425.0%        100.0%       100.0%",
        "  fix       m-b     $10.0000  $20.0000  2.00x        5,000   4,000  0.80x          -       -      -",
        "  m-b       3    66.7%    2   50.0%           10.00           2.00    62.5%",
        "  high           2    50.0%    2   50.0%           10.00           2.00    62.5%",
        "  verdict     2     -  revert 1, ship 1",
    ):
        assert line in text.splitlines(), line
    html = (tmp_path / "report.html").read_text()
    for cell in (
        "<td>50 (50..87.5)</td>",
        "<td>24.282</td>",
        "<td>+9900.0%</td>",
        "<td>2.00x</td>",
        "<td>62.5%</td>",
        '<td class="l">revert 1, ship 1</td>',
    ):
        assert cell in html, cell
    scores = _csv(store, "scores")
    assert len(scores) == 9
    assert scores["f6"]["cost_efficiency_score"] == "5" and scores["f6"]["anomaly"] == "cost_usd high"
    assert scores["d3"]["cost_efficiency_score"] == "" and scores["d3"]["cost_usd"] == "-"
    assert scores["f3"]["quality_score"] == "80" and scores["f3"]["debugging_cycles"] == "1"
    outcomes = _csv(store, "outcomes")
    assert outcomes["f2"]["pr_merged"] == "true" and outcomes["f2"]["time_to_merge_hours"] == "30"
    assert outcomes["f1"]["estimated_tokens"] == "1000" and outcomes["f1"]["tokens"] == "1000"
    assert outcomes["d1"]["complexity"] == "medium" and outcomes["d1"]["pr_merged"] == ""
    trends = list(
        csv.DictReader(io.StringIO(_cli("report", "--db", str(store), "-q", "-f", "csv", "--rows", "trends").stdout))
    )
    doc_day = next(r for r in trends if r["by"] == "template" and r["group"] == "doc" and r["day"] == "2027-02-13")
    assert doc_day == {
        "by": "template",
        "group": "doc",
        "day": "2027-02-13",
        "runs": "1",
        "success_rate": "1",
        "cost_usd": "-",
        "unpriced_model_calls": "1",
        "mean_duration_seconds": "505",
    }
    # the time patterns (over every selected run, no day): hour 08 as computed above; Saturday
    # f2 (1.0, 100 s) and d3 (unpriced, 505 s): cost 1.0 over the priced run, mean 302.5 s
    times = [(r["by"], r["group"]) for r in trends if r["day"] == ""]
    assert times == [
        ("hour_of_day", "08"),
        ("hour_of_day", "10"),
        ("hour_of_day", "20"),
        *[("day_of_week", d) for d in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")],
    ]
    eight = next(r for r in trends if r["by"] == "hour_of_day" and r["group"] == "08")
    assert eight == {
        "by": "hour_of_day",
        "group": "08",
        "day": "",
        "runs": "7",
        "success_rate": "0.857143",
        "cost_usd": "28",
        "unpriced_model_calls": "1",
        "mean_duration_seconds": "200.714286",
    }
    sat = next(r for r in trends if r["group"] == "Sat")
    assert (sat["runs"], sat["cost_usd"], sat["unpriced_model_calls"], sat["mean_duration_seconds"]) == (
        "2",
        "1",
        "1",
        "302.5",
    )


def _csv(store: Path, rows: str) -> dict[str, dict[str, str]]:
    out = _cli("report", "--db", str(store), "-q", "-f", "csv", "--rows", rows)
    assert out.returncode == 0, out.stderr
    return {r["workflow_id"]: r for r in csv.DictReader(io.StringIO(out.stdout))}


def test_outcome_command_rejects_bad_values(store):
    out = _cli("outcome", "f1", "--db", str(store), "--ci-pass-rate", "1.5")
    assert out.returncode == 2 and "ci_pass_rate is a fraction from 0 to 1" in out.stderr
    with pytest.raises(ValueError, match="review_cycles must be a whole number"):
        oa.record_outcome("f1", review_cycles=1.5, home=store.parent.parent)


def _costs_store(path: Path, costs: list[float]) -> Path:
    h = History()
    for i, cost in enumerate(costs):
        h.workflow(f"r{i}", i * H, i * H + 60, template="t", cost=cost)
    return h.store(path)


def _flagged(path: Path) -> list[tuple[str, float]]:
    s = build_report(path, use_cache=False, sections=("scores",))["scores"]
    return [(a["workflow_id"], a["robust_z"]) for a in s["anomalies"]]


def test_anomaly_falls_back_to_the_mean_absolute_deviation(tmp_path):
    """Costs 1,1,1,1,1,7: median 1, MAD 0; mean absolute deviation 6/6 = 1, z = 6 / 1.2533 = 4.787."""
    assert _flagged(_costs_store(tmp_path / "a.db", [1, 1, 1, 1, 1, 7])) == [("r5", 4.787)]
    # all alike: no scale, nothing flagged; 5 runs (< 6): never, however far
    assert _flagged(_costs_store(tmp_path / "b.db", [2] * 6)) == []
    assert _flagged(_costs_store(tmp_path / "c.db", [1, 1, 1, 1, 100])) == []


def test_record_outcome_never_raises_into_the_workflow(tmp_path, monkeypatch):
    from otel_agents import safety

    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    safety.reset()
    home = tmp_path / "home"
    home.write_text("a file, not a directory: the store cannot be created")
    assert oa.record_outcome("w1", pr_merged=True, home=home) is False
    assert oa.record_estimates("w1", estimated_tokens=10, home=home) is False
    assert safety.failure_counts() == {"record outcome": 1, "record estimate": 1}
    safety.reset()


@pytest.mark.parametrize("use_cache", [True, False])
def test_filtered_selection_and_top(store, use_cache):
    """A filter scores the selection (the fix runs alone: the same figures as above, computed
    from the selected rows); ``top`` caps the anomaly and lowest-quality lists, the counts stay
    whole (every flagged run is in ``--rows scores``)."""
    from otel_agents.report import Filters

    r = build_report(
        store, Filters.parse(templates=["fix"]), top=1, use_cache=use_cache, sections=("scores", "outcomes")
    )
    s = r["scores"]
    assert (s["workflows"], s["anomalous_workflows"]) == (6, 1)
    (fix,) = s["by_template"]
    assert fix["cost_efficiency"] == _dist(5, 50.0, 50.0, 87.5, 100, 59.17)
    assert fix["quality"] == _dist(0, 85.0, 100.0, 100.0, 100, 80.0)
    assert [(a["workflow_id"], a["robust_z"]) for a in s["anomalies"]] == [("f6", 24.282)]
    assert [(q["workflow_id"], q["quality_score"]) for q in s["lowest_quality"]] == [("f4", 0)]
    o = r["outcomes"]
    assert [(m["model"], m["runs"], m["merged"]) for m in o["by_model"]] == [("m-a", 3, 2), ("m-b", 3, 1)]
    assert [x["workflow_id"] for x in o["recent"]] == ["f6"]
