"""The tables of the ``scores``, ``trends`` and ``outcomes`` sections, defined once for the
text and HTML reports: each section as a list of (title, headers, rows)."""

from __future__ import annotations

from typing import Any

from otel_agents.report.fmt import DASH, Num, num, pct, sec, usd

Titled = tuple[str, tuple[str, ...], list[list[Any]]]


def _score(d: dict[str, Any]) -> str:
    """A score distribution: ``median (p25..p75)``."""
    if not d["count"]:
        return DASH
    return Num(f"{d['median']:g} ({d['p25']:g}..{d['p75']:g})")


def _pct_change(x: float | None) -> str:
    return DASH if x is None else Num(f"{x:+.1f}%")


def scores_tables(s: dict[str, Any]) -> list[Titled]:
    return [
        (
            "Scores by template (median (p25..p75); 50 = the template's median, higher is better)",
            (
                "template",
                "runs",
                "median cost",
                "median time",
                "cost efficiency",
                "performance",
                "quality",
                "anomalies",
            ),
            [
                [
                    t["template"],
                    num(t["workflows"]),
                    usd(t["median_cost_usd"]),
                    sec(t["median_duration_seconds"]),
                    _score(t["cost_efficiency"]),
                    _score(t["performance"]),
                    _score(t["quality"]),
                    num(t["anomalous_workflows"]),
                ]
                for t in s["by_template"]
            ],
        ),
        (
            f"Anomalies (robust z beyond {s['method']['anomaly_z']:g}; templates of {s['method']['anomaly_min_runs']}+ runs;"
            f" the most anomalous of {s['anomalous_workflows']:,} flagged runs: all in --rows scores)",
            ("workflow", "template", "model", "metric", "value", "template median", "robust z", "direction"),
            [
                [
                    a["workflow_id"],
                    a["template"],
                    a["model"],
                    a["metric"],
                    usd(a["value"]) if a["metric"] == "cost_usd" else sec(a["value"]),
                    usd(a["template_median"]) if a["metric"] == "cost_usd" else sec(a["template_median"]),
                    Num(f"{a['robust_z']:.3f}"),
                    a["direction"],
                ]
                for a in s["anomalies"]
            ],
        ),
        (
            "Lowest quality runs",
            (
                "workflow",
                "template",
                "outcome",
                "retries",
                "debugging cycles",
                "quality",
                "cost efficiency",
                "performance",
            ),
            [
                [
                    r["workflow_id"],
                    r["template"],
                    r["outcome"],
                    num(r["retries"]),
                    num(r["debugging_cycles"]),
                    num(r["quality_score"]),
                    num(r["cost_efficiency_score"]),
                    num(r["performance_score"]),
                ]
                for r in s["lowest_quality"]
            ],
        ),
    ]


_PERIOD = ("runs", "success", "cost", "mean cost", "unpriced runs", "mean time")


def _period(p: dict[str, Any]) -> list[Any]:
    return [
        num(p["runs"]),
        pct(p["success_rate"]),
        usd(p["cost_usd"]),
        usd(p["mean_cost_usd"]),
        num(p["unpriced_runs"]),
        sec(p["mean_duration_seconds"]),
    ]


def _trend(by: str, groups: list[dict[str, Any]]) -> Titled:
    return (
        f"30-day trend by {by} (first 15 days against the last 15: mean cost, mean time, success rate)",
        (
            by,
            "runs",
            "cost/run then",
            "cost/run now",
            "change",
            "time then",
            "time now",
            "change",
            "success then",
            "success now",
        ),
        [
            [
                g["group"],
                num(g["runs"]),
                usd(g["first_half"]["mean_cost_usd"]),
                usd(g["second_half"]["mean_cost_usd"]),
                _pct_change(g["change_percent"]["mean_cost_usd"]),
                sec(g["first_half"]["mean_duration_seconds"]),
                sec(g["second_half"]["mean_duration_seconds"]),
                _pct_change(g["change_percent"]["mean_duration_seconds"]),
                pct(g["first_half"]["success_rate"]),
                pct(g["second_half"]["success_rate"]),
            ]
            for g in groups
        ],
    )


def trends_tables(t: dict[str, Any]) -> list[Titled]:
    tp = t["time_patterns"]
    return [
        ("By hour of day (UTC)", ("hour", *_PERIOD), [[Num(f"{h['hour']:02d}"), *_period(h)] for h in tp["by_hour"]]),
        ("By day of week (UTC)", ("day", *_PERIOD), [[d["day"], *_period(d)] for d in tp["by_day_of_week"]]),
        _trend("template", t["by_template"]),
        _trend("model", t["by_model"]),
    ]


def _ratio(x: float | None) -> str:
    return DASH if x is None else Num(f"{x:.2f}x")


_RATE_HEAD = ("runs", "success", "PRs", "merged", "hours to merge", "review cycles", "CI pass")


def _rates(r: dict[str, Any]) -> list[Any]:
    return [
        num(r["runs"]),
        pct(r["success_rate"]),
        num(r["prs"]),
        pct(r["merge_rate"]),
        num(r["mean_time_to_merge_hours"]),
        num(r["mean_review_cycles"]),
        pct(r["mean_ci_pass_rate"]),
    ]


def outcomes_tables(o: dict[str, Any]) -> list[Titled]:
    def pair(e: dict[str, Any], fmt: Any) -> list[Any]:
        return [fmt(e["estimated"]), fmt(e["actual"]), _ratio(e["actual_over_estimated"])]

    return [
        (
            "Estimated against actual (actual / estimated over the runs with both)",
            (
                "template",
                "model",
                "est. cost",
                "cost",
                "ratio",
                "est. tokens",
                "tokens",
                "ratio",
                "est. time",
                "time",
                "ratio",
            ),
            [
                [
                    e["template"],
                    e["model"],
                    *pair(e["cost_usd"], usd),
                    *pair(e["tokens"], num),
                    *pair(e["duration_seconds"], sec),
                ]
                for e in o["estimated_vs_actual"]
            ],
        ),
        ("Success and merge rates by model", ("model", *_RATE_HEAD), [[r["model"], *_rates(r)] for r in o["by_model"]]),
        (
            "Success and merge rates by complexity",
            ("complexity", *_RATE_HEAD),
            [[r["complexity"], *_rates(r)] for r in o["by_complexity"]],
        ),
        (
            "Which model for which complexity",
            ("model", "complexity", *_RATE_HEAD),
            [[r["model"], r["complexity"], *_rates(r)] for r in o["by_model_and_complexity"]],
        ),
        (
            "Named outcomes",
            ("name", "runs", "mean", "values"),
            [
                [n["name"], num(n["runs"]), num(n["mean"]), ", ".join(f"{k} {v}" for k, v in n["values"].items())]
                for n in o["named_outcomes"]
            ],
        ),
        (
            "Latest runs with estimates or outcomes",
            (
                "workflow",
                "template",
                "model",
                "complexity",
                "est. cost",
                "cost",
                "merged",
                "hours to merge",
                "review cycles",
                "CI pass",
            ),
            [
                [
                    r["workflow_id"],
                    r["template"],
                    r["model"],
                    r["complexity"],
                    usd(r["estimated_cost_usd"]),
                    usd(r["cost_usd"]),
                    DASH if r["pr_merged"] is None else ("yes" if r["pr_merged"] else "no"),
                    num(r["time_to_merge_hours"]),
                    num(r["review_cycles"]),
                    pct(r["ci_pass_rate"]),
                ]
                for r in o["recent"]
            ],
        ),
    ]


#: section name -> (heading, its tables)
SECTIONS = {
    "scores": ("Scores and anomalies", scores_tables),
    "trends": ("Time patterns and trends", trends_tables),
    "outcomes": ("Outcomes and estimates", outcomes_tables),
}
