"""The terminal report: every section as plain-text tables (the JSON report has every number).

Numbers are formatted by ``otel_agents.report.fmt``; the tables the HTML report shows too are
defined once in ``otel_agents.report.tables``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from otel_agents.report import tables as T
from otel_agents.report.fmt import DASH, TEXT_DAYS, Num, money, num, pct, plural, saved, sec, total_cost, usd


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, indent: str = "  ") -> list[str]:
    """Rows as an aligned table: columns of numbers right-aligned, the others left-aligned."""
    if not rows:
        return [indent + "(none)"]
    cells = [[str(c) for c in headers]] + [[(DASH if c is None else c) for c in r] for r in rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(headers))]
    right = [
        any(isinstance(r[i], Num) for r in cells[1:])
        and all(isinstance(r[i], Num) or r[i] in (DASH, "") for r in cells[1:])
        for i in range(len(headers))
    ]

    def line(r: list[Any]) -> str:
        return (
            indent
            + "  ".join(
                str(c).rjust(widths[i]) if right[i] else str(c).ljust(widths[i]) for i, c in enumerate(r)
            ).rstrip()
        )

    return [line(cells[0]), indent + "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]]


def tables(*parts: tuple[Sequence[str], Sequence[Sequence[Any]]]) -> list[str]:
    """Several tables under one title: the non-empty ones, or ``(none)`` once."""
    out: list[str] = []
    for headers, rows in parts:
        if rows:
            out += table(headers, rows)
    return out or table((), ())


def titled(t: T.Table, items: Sequence[dict[str, Any]]) -> list[str]:
    """A shared table under its title."""
    return ["", t.title, *table(t.headers, t.rows(items))]


_STATS_HEAD = ("count", "mean", "p50", "p95", "p99", "max")


def active_filters(report: dict[str, Any]) -> list[str]:
    return [f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in report["meta"]["filters"].items() if v]


def nothing_matched(report: dict[str, Any]) -> str | None:
    """The sentence saying the filters selected nothing, or None."""
    if report["meta"].get("matched", True):
        return None
    return f"Nothing matches the filters ({'; '.join(active_filters(report))}): no workflows, steps or calls."


def _head(report: dict[str, Any]) -> list[str]:
    m = report["meta"]
    rows = m["rows"]
    active = active_filters(report)
    period = m["period"]
    return [
        f"otel-agents report: {m['store']}",
        f"period {period['first_day'] or '-'} .. {period['last_day'] or '-'}: {plural(rows['workflows'], 'workflow')}, "
        f"{plural(rows['phases'], 'phase')}, {plural(rows['steps'], 'step')} ({plural(rows['step_attempts'], 'attempt')}), "
        f"{plural(rows['tool_calls'], 'tool call')}, {plural(rows['model_calls'], 'model call')}",
        f"filters: {'; '.join(active) if active else 'none'}",
        f"percentiles: {m['percentile_method']}",
    ]


def _cost(c: dict[str, Any]) -> list[str]:
    cache = c["cache"]
    t = c["trend"]
    out = [
        "",
        "== Cost ==",
        f"Total {total_cost(c['total_usd'], c['unpriced_model_calls'])} over {plural(c['model_calls'], 'model call')}.",
        f"Cache: {pct(cache['cache_share'])} of {plural(cache['input_tokens'], 'input token')} served from the "
        "cache"
        + (
            f", saving {usd(cache['savings_usd']) if cache['savings_usd'] is not None else 'unknown'} net of "
            "the cache-write premium"
            if cache["cache_read_tokens"] or cache["cache_write_tokens"]
            else ""
        )
        + (f" (no price for {', '.join(cache['unpriced_models'])})" if cache["unpriced_models"] else "")
        + ".",
        f"Last 7 days {total_cost(t['last_7_days_usd'], t['last_7_days_unpriced_model_calls'])}, previous 7 days "
        f"{total_cost(t['previous_7_days_usd'], t['previous_7_days_unpriced_model_calls'])}"
        + (f" ({t['percent_change']:+.1f}%)." if t["percent_change"] is not None else "."),
    ]
    for title, key, col, count in (
        ("By phase", "by_phase", "phase", "runs"),
        ("By workflow template", "by_template", "template", "workflows"),
        ("By model", "by_model", "model", "model_calls"),
        ("By workflow", "by_workflow", "workflow", "workflows"),
        ("By agent", "by_agent", "agent", "step_attempts"),
        ("By machine", "by_machine", "machine", "workflows"),
        ("By service", "by_service", "service", "workflows"),
    ):
        out += ["", title]
        out += table(
            (col, "cost", "share", count.replace("_", " "), "avg"),
            [
                [
                    i[col],
                    money(i["cost_usd"], i["unpriced_model_calls"]),
                    pct(i["share"]),
                    num(i[count]),
                    usd(i["avg_usd"]),
                ]
                for i in c[key]
            ],
        )
    out += [
        "",
        "Cost of the step attempts that used each tool (tools spend no tokens; an attempt counts "
        "under every tool it used, so these do not add up)",
    ]
    out += table(
        ("tool", "step attempts", "tool calls", "their cost"),
        [
            [i["tool"], num(i["step_attempts"]), num(i["tool_calls"]), money(i["cost_usd"], i["unpriced_model_calls"])]
            for i in c["step_cost_by_tool"]
        ],
    )
    days = c["daily"][-TEXT_DAYS:]
    out += ["", f"Per day (last {plural(len(days), 'day')} of {len(c['daily']):,})"]
    out += table(
        ("day", "cost", "7-day avg", "change"),
        [
            [
                d["day"],
                money(d["cost_usd"], d["unpriced_model_calls"]),
                usd(d["moving_avg_7d"]),
                DASH if d["change_pct"] is None else Num(f"{d['change_pct']:+.1f}%"),
            ]
            for d in days
        ],
    )
    out += ["", "Cache by model (savings net of the cache-write premium)"]
    out += table(
        ("model", "input tokens", "from cache", "share", "saved"),
        [
            [m["model"], num(m["input_tokens"]), num(m["cache_read_tokens"]), pct(m["cache_share"]), saved(m)]
            for m in cache["by_model"]
        ],
    )
    out += titled(T.TOP_WORKFLOWS, c["top_workflows"])
    out += titled(T.TOP_PHASES, c["top_phases"])
    return out


def _latency(lat: dict[str, Any]) -> list[str]:
    w = lat["workflows"]
    out = [
        "",
        "== Latency ==",
        f"Workflows: {plural(w['count'], 'run')}, mean {sec(w['mean'])}, p50 {sec(w['p50'])}, p95 {sec(w['p95'])}, "
        f"p99 {sec(w['p99'])}.",
    ]
    for title, key, keys in (
        ("By workflow", "by_workflow", ("workflow",)),
        ("By phase", "by_phase", ("phase",)),
        ("By step (each attempt)", "by_step", ("phase", "step")),
        ("By tool", "by_tool", ("tool",)),
    ):
        out += ["", title]
        head = ("attempts", *_STATS_HEAD[1:]) if key == "by_step" else _STATS_HEAD
        out += table((*keys, *head), T.stats_rows(lat[key], keys))
    out += titled(T.SLOWEST_RUNS, lat["slowest_runs"])
    b = lat["bottlenecks"]
    o = b["overall"]
    out += [
        "",
        "Bottleneck: "
        + (
            f"{o['phase']} overall ({pct(o['share_of_phase_time'])} of all phase time, mean {sec(o['mean_seconds'])})."
            if o
            else "-"
        ),
    ]
    out += table(
        ("workflow", "bottleneck phase", "in runs", "of runs"),
        [[i["workflow"], i["phase"], num(i["bottleneck_runs"]), num(i["runs"])] for i in b["by_workflow"]],
    )
    ol = lat["outliers"]
    out += [
        "",
        f"Phases whose p95 stands out (more than 10% of runs over the p95 of all phases, "
        f"{sec(ol['threshold_p95_seconds'])})",
    ]
    out += table(
        ("phase", "p95", "runs", "over", "share"),
        [
            [p["phase"], sec(p["p95"]), num(p["runs"]), num(p["runs_over_threshold"]), pct(p["share_over_threshold"])]
            for p in ol["phases"]
        ],
    )
    idle = lat["idle"]
    bp, ba = idle["between_phases"], idle["between_attempts"]
    out += [
        "",
        f"Idle between phases: {sec(bp['total_seconds'])} over {plural(bp['workflows'], 'run')} "
        f"(mean {sec(bp['mean'])}, p95 {sec(bp['p95'])}).",
        f"Idle between attempts: {sec(ba['total_seconds'])} over {plural(ba['retried_steps'], 'retried step')} "
        f"(mean {sec(ba['mean'])}, p95 {sec(ba['p95'])}).",
    ]
    return out


def _errors(e: dict[str, Any]) -> list[str]:
    r = e["failure_rates"]
    o = r["overall"]
    ts = e["trend_summary"]
    sf = e["span_failures"]
    out = [
        "",
        "== Errors ==",
        f"{plural(e['total'], 'error')} (root causes: an exception that fails a tool call and then its step "
        f"counts once); span failures: {plural(sf['step_attempts'], 'failed step attempt')}, "
        f"{plural(sf['tool_calls'], 'failed tool call')}.",
        f"Step attempts failed: {pct(o['attempt_failure_rate'])} ({num(o['failed_attempts'])} of "
        f"{num(o['step_attempts'])}); workflows: {pct(o['workflow_failure_rate'])} ({num(o['failed_workflows'])} of "
        f"{num(o['workflows'])}); tool calls: {pct(o['tool_failure_rate'])} ({num(o['failed_tool_calls'])} of "
        f"{num(o['tool_calls'])}).",
    ]
    if "recommendations" in e:
        out += ["", "Recommendations"]
        out += [f"  [{x['severity']}] {x['message']}" for x in e["recommendations"]] or ["  (none)"]
    out += ["", "Categories (errors are root causes; failed step attempts and tool calls are span failures)"]
    out += table(
        ("category", "errors", "share", "failed attempts", "failed tool calls", "phases", "most common type"),
        T.category_rows(e["categories"]),
    )
    out += titled(T.FAILED_RUNS, e["failed_runs"])
    out += ["", "By phase"]
    out += table(
        ("phase", "attempts", "failed", "rate", "runs failed", "mostly"),
        [
            [
                p["phase"],
                num(p["step_attempts"]),
                num(p["failed_attempts"]),
                pct(p["attempt_failure_rate"]),
                Num(f"{p['failed_runs']}/{p['runs']}"),
                p["top_category"],
            ]
            for p in r["by_phase"]
        ],
    )
    out += titled(T.FAILURES_BY_TEMPLATE, r["by_template"])
    out += titled(T.FAILURES_BY_MODEL, r["by_model"])
    days = e["trend"][-TEXT_DAYS:]
    change = ts["change_points"]
    out += [
        "",
        f"Trend (last {plural(len(days), 'day')} of {len(e['trend']):,}): last 7 days "
        f"{pct(ts['last_7_days_rate'])}, previous 7 days {pct(ts['previous_7_days_rate'])}"
        + (f" ({change:+.1f} points, {ts['direction']})" if change is not None else ""),
    ]
    out += table(
        (*T.TREND_HEADERS, "workflows failed"),
        [[*T.trend_row(d), Num(f"{d['failed_workflows']}/{d['workflows']}")] for d in days],
    )
    return out


def _attempts(a: dict[str, Any]) -> list[str]:
    s = a["summary"]
    out = [
        "",
        "== Attempts and retries ==",
        f"{plural(s['steps'], 'step')}, {plural(s['attempts'], 'attempt')}, {plural(s['retries'], 'retry', 'retries')}; "
        f"{pct(s['first_try_success_rate'])} succeed on the first try, {pct(s['success_rate'])} in the end.",
        f"Execution {sec(s['total_execution_seconds'])}, wall clock {sec(s['wall_clock_seconds'])} (steps that ran "
        f"in parallel count once), idle between attempts {sec(s['idle_seconds'])}.",
    ]
    out += ["", "Most retried steps"]
    out += table(
        ("workflow", "phase", "step", "attempts", "failures", "final", "execution", "wall clock", "idle"),
        [
            [
                r["workflow_id"],
                r["phase"],
                r["step"],
                num(r["attempts"]),
                num(r["failures"]),
                r["final_outcome"],
                sec(r["total_execution_seconds"]),
                sec(r["wall_clock_seconds"]),
                sec(r["idle_seconds"]),
            ]
            for r in a["most_retried_steps"]
        ],
    )
    levels = T.task_levels(succeeded=True)
    out += ["", levels.title]
    out += tables(
        (levels.headers, levels.rows(a["task_summary"])),
        (
            ("task", "level", "attempts", "successes", "failures", "retries", "execution", "idle", "cost"),
            [
                [
                    t["task_id"],
                    t["level"],
                    num(t["attempts"]),
                    num(t["successes"]),
                    num(t["failures"]),
                    num(t["retries"]),
                    sec(t["total_execution_seconds"]),
                    sec(t["idle_seconds"]),
                    money(t["cost_usd"], t["unpriced_model_calls"]),
                ]
                for t in a["tasks"]
            ],
        ),
    )
    out += titled(T.agents(mean=True), a["agents"])
    d = a["debugging_cycles"]
    out += [
        "",
        f"Debugging cycles: {num(d['cycles'])}, {num(d['resolved'])} resolved ({pct(d['resolution_rate'])}), "
        f"{plural(d['fix_attempts'], 'fix attempt')} (mean {num(d['mean_fix_attempts'])}), "
        f"mean duration {sec(d['mean_duration_seconds'])}.",
    ]
    out += tables(
        (
            ("agent", "cycles", "resolved", "rate", "mean fixes", "mean duration"),
            [
                [
                    g["agent"],
                    num(g["cycles"]),
                    num(g["resolved"]),
                    pct(g["resolution_rate"]),
                    num(g["mean_fix_attempts"]),
                    sec(g["mean_duration_seconds"]),
                ]
                for g in d["by_agent"]
            ],
        ),
        (
            ("first error", "cycles", "resolved", "rate", "mean fixes", "mean duration"),
            [
                [
                    g["error_category"],
                    num(g["cycles"]),
                    num(g["resolved"]),
                    pct(g["resolution_rate"]),
                    num(g["mean_fix_attempts"]),
                    sec(g["mean_duration_seconds"]),
                ]
                for g in d["by_error_category"]
            ],
        ),
    )
    m = a["models"]
    best = m["best_model"]["overall"]
    out += [
        "",
        "Which model works best (each model's own calls, and the step attempts they served)"
        + (
            f": {best['model']} ({pct(best['success_rate'])} of {plural(best['step_attempts'], 'step attempt')} "
            f"succeed, {usd(best['cost_per_call_usd'])} per call)"
            if best
            else ""
        ),
    ]
    out += tables(
        (
            ("model", "calls", "failed calls", "step attempts", "success", "cost", "cost/call", "mean call"),
            [T.model_row(x) for x in m["by_model"]],
        ),
        (
            ("complexity", "model", "calls", "step attempts", "success", "cost/call"),
            [T.model_complexity_row(x) for x in m["by_model_complexity"]],
        ),
    )
    if m["best_model"]["by_complexity"]:
        out += [
            "  best: "
            + "; ".join(
                f"{b['complexity']}: {b['model']} ({pct(b['success_rate'])})" for b in m["best_model"]["by_complexity"]
            )
        ]
    return out


def _tools(t: dict[str, Any]) -> list[str]:
    out = [
        "",
        "== Tools ==",
        f"{plural(t['calls'], 'tool call')}, {num(t['failures'])} failed ({pct(t['failure_rate'])}).",
    ]
    out += table(
        (*T.TOOL_HEADERS, "total"),
        [[*T.tool_row(x), sec(x["total_seconds"])] for x in t["by_tool"]],
    )
    s = t["sequences"]
    out += [
        "",
        f"Most common tool sequences in a step attempt ({plural(s['step_attempts_with_tools'], 'step attempt')} "
        f"with tool calls, {plural(s['distinct_sequences'], 'distinct sequence')})",
    ]
    out += table(T.TOOL_SEQUENCES.headers, T.TOOL_SEQUENCES.rows(s["top"]))
    r = t["redundant"]
    out += [
        "",
        f"Redundant operations: {plural(r['redundant_calls'], 'call')} repeat an identical call in the same "
        f"step attempt ({pct(r['share_of_calls'])} of calls, "
        f"{plural(r['step_attempts_affected'], 'step attempt')}).",
    ]
    out += tables(
        (T.REDUNDANT_BY_TOOL.headers, T.REDUNDANT_BY_TOOL.rows(r["by_tool"])),
        (
            ("workflow", "phase", "step", "tool", "arguments (sha256)", "calls"),
            [
                [
                    x["workflow_id"],
                    x["phase"],
                    x["step"],
                    x["tool"],
                    (x["arguments_sha256"] or "")[:12],
                    num(x["calls"]),
                ]
                for x in r["top"]
            ],
        ),
    )
    return out


def _patterns(p: dict[str, Any]) -> list[str]:
    return ["", "== Patterns ==", T.pattern_assumption(p), *titled(T.PATTERNS, p["top"])]


def _insights(name: str) -> Any:
    """The text of a ``scores``, ``trends`` or ``outcomes`` section (tables in ``insight_tables``)."""
    from otel_agents.report.insight_tables import SECTIONS

    heading, build = SECTIONS[name]

    def render(section: dict[str, Any]) -> list[str]:
        out = ["", f"== {heading} =="]
        for title, headers, rows in build(section):
            out += ["", title, *table(headers, rows)]
        return out

    return render


_SECTIONS = {
    "cost": _cost,
    "latency": _latency,
    "errors": _errors,
    "attempts": _attempts,
    "tools": _tools,
    "patterns": _patterns,
    **{name: _insights(name) for name in ("scores", "trends", "outcomes")},
}


def render_text(report: dict[str, Any]) -> str:
    """The whole report (the sections it has) as text."""
    lines = _head(report)
    empty = nothing_matched(report)
    if empty is not None:
        return "\n".join(lines + ["", empty]) + "\n"
    for name, render in _SECTIONS.items():
        if name in report:
            lines += render(report[name])
    return "\n".join(lines) + "\n"
