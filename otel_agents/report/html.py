"""The HTML report: one self-contained file (inline CSS and SVG, no script, no font, no image
fetched; a Content-Security-Policy forbids any request), readable offline."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from otel_agents.report import svg, tables as T
from otel_agents.report.fmt import TEXT_DAYS, Num, money, num, pct, plural, saved, sec, total_cost, usd
from otel_agents.report.text import active_filters, nothing_matched

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;background:#fafafa;max-width:1220px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #3b6fb6;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px;color:#444} .meta{color:#666;font-size:12px;margin-bottom:16px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px;margin-top:2px} .card span{color:#666;font-size:12px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px} .panel{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px}
table{border-collapse:collapse;font-size:12px;background:#fff;margin:4px 0 8px}
th,td{border:1px solid #e2e2e2;padding:3px 7px;text-align:right} th{background:#f0f3f8}
th.l,td.l{text-align:left}
.rec{margin:4px 0;padding:6px 10px;border-left:4px solid #999;background:#fff}
.high{border-color:#c44e52} .medium{border-color:#e07b39} .low{border-color:#4c9f70}
.sev{font-weight:600;text-transform:uppercase;font-size:11px;margin-right:6px} .empty{color:#888}
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A table: columns of numbers right-aligned, the others (names, ids, outcomes) left-aligned."""
    if not rows:
        return '<p class="empty">none</p>'
    right = [
        any(isinstance(r[i], Num) for r in rows) and all(isinstance(r[i], Num) or r[i] in (None, "-", "") for r in rows)
        for i in range(len(headers))
    ]
    cls = ["" if right[i] else ' class="l"' for i in range(len(headers))]
    head = "".join(f"<th{cls[i]}>{escape(str(h))}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls[i]}>{escape('-' if c is None else str(c))}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _titled(t: T.Table, items: Sequence[dict[str, Any]]) -> str:
    """A shared table under its title."""
    return f"<h3>{escape(t.title)}</h3>" + _table(t.headers, t.rows(items))


def _card(label: str, value: str) -> str:
    return f'<div class="card"><span>{escape(label)}</span><b>{escape(value)}</b></div>'


def _panel(title: str, content: str) -> str:
    return f'<div class="panel"><h3>{escape(title)}</h3>{content}</div>'


def _cost_panel(title: str, chart: str, items: list[dict[str, Any]], label: str, colour: str) -> str:
    """A panel of cost bars, one per item (its ``label``), the unpriced calls noted after each bar."""
    return _panel(
        title,
        svg.hbars(
            [(x[label], x["cost_usd"] or 0.0) for x in items],
            svg.money,
            title=chart,
            colour=colour,
            notes=[money(x["cost_usd"], x["unpriced_model_calls"]) for x in items],
        ),
    )


def _cost(c: dict[str, Any]) -> str:
    parts = [
        "<h2>Cost</h2>",
        _panel(
            "Cost over time",
            svg.daily_chart(
                [d["day"] for d in c["daily"]],
                [d["cost_usd"] or 0.0 for d in c["daily"]],
                [d["moving_avg_7d"] or 0.0 for d in c["daily"]],
                title="Cost over time",
                width=1180,
                height=240,
            ),
        ),
        '<div class="grid">',
        _cost_panel("Cost by phase", "Cost by phase", c["by_phase"], "phase", svg.PALETTE[0]),
        _cost_panel("Cost by model", "Cost by model", c["by_model"], "model", svg.PALETTE[1]),
        _cost_panel(
            "Cost of the step attempts that used each tool (not additive: tools spend no tokens)",
            "Cost of the step attempts that used each tool",
            c["step_cost_by_tool"],
            "tool",
            svg.PALETTE[4],
        ),
        _cost_panel("Cost by workflow template", "Cost by template", c["by_template"], "template", svg.PALETTE[2]),
        _cost_panel("Cost by machine", "Cost by machine", c["by_machine"], "machine", svg.PALETTE[3]),
        _cost_panel("Cost by service", "Cost by service", c["by_service"], "service", svg.PALETTE[5]),
        "</div>",
        "<h3>Cost by agent</h3>",
        _table(
            ("agent", "cost", "share", "step attempts", "avg per attempt"),
            [
                [
                    a["agent"],
                    money(a["cost_usd"], a["unpriced_model_calls"]),
                    pct(a["share"]),
                    num(a["step_attempts"]),
                    usd(a["avg_usd"]),
                ]
                for a in c["by_agent"]
            ],
        ),
        "<h3>Cache efficiency (savings net of the cache-write premium)</h3>",
        _table(
            ("model", "input tokens", "from cache", "written to cache", "share", "saved"),
            [
                [
                    m["model"],
                    num(m["input_tokens"]),
                    num(m["cache_read_tokens"]),
                    num(m["cache_write_tokens"]),
                    pct(m["cache_share"]),
                    saved(m),
                ]
                for m in c["cache"]["by_model"]
            ],
        ),
        _titled(T.TOP_WORKFLOWS, c["top_workflows"]),
        _titled(T.TOP_PHASES, c["top_phases"]),
    ]
    return "".join(parts)


def _latency(lat: dict[str, Any]) -> str:
    b = lat["bottlenecks"]["overall"]
    idle = lat["idle"]
    ol = lat["outliers"]
    phases = [{**p, "label": p["phase"]} for p in lat["by_phase"]]
    return "".join(
        [
            "<h2>Latency</h2>",
            '<div class="grid">',
            _panel(
                "Latency distribution by phase",
                svg.latency_chart(phases, title="Latency distribution by phase", width=570),
            ),
            _panel(
                "Latency distribution by tool",
                svg.latency_chart(
                    [{**t, "label": t["tool"]} for t in lat["by_tool"]], title="Latency by tool", width=570
                ),
            ),
            "</div>",
            f"<p>Bottleneck overall: <b>{escape(b['phase'])}</b> ({pct(b['share_of_phase_time'])} of all phase time). "
            if b
            else "<p>",
            f"Idle between phases {sec(idle['between_phases']['total_seconds'])}, between attempts "
            f"{sec(idle['between_attempts']['total_seconds'])}. Phases standing out (over the p95 of all phases, "
            f"{sec(ol['threshold_p95_seconds'])}): {escape(', '.join(p['phase'] for p in ol['phases']) or 'none')}.</p>",
            _table(("phase", "count", "mean", "p50", "p95", "p99", "max"), T.stats_rows(lat["by_phase"], ("phase",))),
            "<h3>By step (each attempt)</h3>",
            _table(
                ("phase", "step", "attempts", "mean", "p50", "p95", "p99", "max"),
                T.stats_rows(lat["by_step"], ("phase", "step")),
            ),
            "<h3>By workflow</h3>",
            _table(
                ("workflow", "count", "mean", "p50", "p95", "p99", "max"),
                T.stats_rows(lat["by_workflow"], ("workflow",)),
            ),
            _titled(T.SLOWEST_RUNS, lat["slowest_runs"]),
        ]
    )


def _rate_panel(title: str, chart: str, rates: list[tuple[str, float | None]]) -> str:
    """A panel of failure-rate bars (an unknown rate drawn as 0)."""
    return _panel(title, svg.hbars([(k, v or 0.0) for k, v in rates], pct, title=chart, colour=svg.FAILED))


def _errors(e: dict[str, Any]) -> str:
    rates = e["failure_rates"]
    days = e["trend"][-TEXT_DAYS:]
    sf = e["span_failures"]
    cats = [x for x in e["categories"] if x["count"]]
    return "".join(
        [
            "<h2>Errors</h2>",
            f"<p>{plural(e['total'], 'error')} (root causes: an exception that fails a tool call and then its step counts "
            f"once). Span failures: {plural(sf['step_attempts'], 'failed step attempt')}, "
            f"{plural(sf['tool_calls'], 'failed tool call')}.</p>",
            '<div class="grid">',
            _panel(
                "Errors by category (root causes)",
                svg.hbars(
                    [(x["category"], float(x["count"])) for x in cats],
                    lambda v: f"{int(v):,}",
                    title="Error categories",
                    colour=svg.FAILED,
                ),
            ),
            _rate_panel(
                "Failure rate by phase (step attempts)",
                "Failure rate by phase",
                [(p["phase"], p["attempt_failure_rate"]) for p in rates["by_phase"]],
            ),
            _rate_panel(
                "Failure rate by workflow template",
                "Failure rate by template",
                [(x["template"], x["failure_rate"]) for x in rates["by_template"]],
            ),
            "</div>",
            _table(
                (
                    "category",
                    "errors",
                    "share",
                    "failed step attempts",
                    "failed tool calls",
                    "phases",
                    "most common type",
                ),
                T.category_rows(e["categories"]),
            ),
            _titled(T.FAILED_RUNS, e["failed_runs"]),
            _titled(T.FAILURES_BY_TEMPLATE, rates["by_template"]),
            _titled(T.FAILURES_BY_MODEL, rates["by_model"]),
            f"<h3>Trend (last {plural(len(days), 'day')})</h3>",
            _table(T.TREND_HEADERS, [T.trend_row(d) for d in days]),
        ]
    )


def _attempts(a: dict[str, Any]) -> str:
    s = a["summary"]
    d = a["debugging_cycles"]
    best = a["models"]["best_model"]["overall"]
    return "".join(
        [
            "<h2>Attempts and retries</h2>",
            '<div class="cards">',
            _card("steps", num(s["steps"])),
            _card("attempts", num(s["attempts"])),
            _card("retries", num(s["retries"])),
            _card("first-try success", pct(s["first_try_success_rate"])),
            _card("wall clock (parallel steps once)", sec(s["wall_clock_seconds"])),
            _card("debugging cycles resolved", f"{pct(d['resolution_rate'])} of {num(d['cycles'])}"),
            _card("best model", best["model"] if best else "-"),
            "</div>",
            _titled(T.agents(mean=False), a["agents"]),
            "<h3>Which model works best (each model's own calls, and the step attempts they served)</h3>",
            _table(
                ("model", "calls", "failed calls", "step attempts", "success", "cost", "cost per call", "mean call"),
                [T.model_row(m) for m in a["models"]["by_model"]],
            ),
            _table(
                ("complexity", "model", "calls", "step attempts", "success", "cost per call"),
                [T.model_complexity_row(m) for m in a["models"]["by_model_complexity"]],
            ),
            _titled(T.task_levels(succeeded=False), a["task_summary"]),
        ]
    )


def _tools(t: dict[str, Any]) -> str:
    seq = t["sequences"]
    r = t["redundant"]
    return "".join(
        [
            "<h2>Tools</h2>",
            _panel(
                "Tool usage (calls, failed in red)",
                svg.stacked_hbars(
                    [(x["tool"], x["calls"] - x["failures"], x["failures"]) for x in t["by_tool"]], title="Tool usage"
                ),
            ),
            _titled(T.TOOL_SEQUENCES, seq["top"]),
            _table(T.TOOL_HEADERS, [T.tool_row(x) for x in t["by_tool"]]),
            f"<p>Redundant operations: {plural(r['redundant_calls'], 'call')} repeat an identical call in the same step "
            f"attempt ({pct(r['share_of_calls'])} of calls, {plural(r['step_attempts_affected'], 'step attempt')}).</p>",
            _table(T.REDUNDANT_BY_TOOL.headers, T.REDUNDANT_BY_TOOL.rows(r["by_tool"])),
        ]
    )


def _recommendations(e: dict[str, Any]) -> str:
    recs = (
        "".join(
            f'<div class="rec {escape(r["severity"])}"><span class="sev">{escape(r["severity"])}</span>'
            f"{escape(r['message'])}</div>"
            for r in e["recommendations"]
        )
        or '<p class="empty">none</p>'
    )
    return "<h2>Recommendations</h2>" + recs


def _cards(report: dict[str, Any]) -> str:
    rows = report["meta"]["rows"]
    cards = [
        _card("workflows", num(rows["workflows"])),
        _card("steps", num(rows["steps"])),
        _card("step attempts", num(rows["step_attempts"])),
        _card("tool calls", num(rows["tool_calls"])),
    ]
    if "cost" in report:
        c = report["cost"]
        cache = c["cache"]
        cards[:0] = [_card("total cost", total_cost(c["total_usd"], c["unpriced_model_calls"]))]
        cards += [_card("served from cache", pct(cache["cache_share"])), _card("cache saved (net)", saved(cache))]
    if "errors" in report:
        cards += [
            _card("errors (root causes)", num(report["errors"]["total"])),
            _card(
                "step attempt failure rate", pct(report["errors"]["failure_rates"]["overall"]["attempt_failure_rate"])
            ),
        ]
    if "latency" in report:
        cards += [_card("workflow p95", sec(report["latency"]["workflows"]["p95"]))]
    return '<div class="cards">' + "".join(cards) + "</div>"


def _patterns(p: dict[str, Any]) -> str:
    return "<h2>Patterns</h2>" + f"<p>{escape(T.pattern_assumption(p))}</p>" + _titled(T.PATTERNS, p["top"])


def _insights(name: str) -> Any:
    """The HTML of a ``scores``, ``trends`` or ``outcomes`` section (tables in ``insight_tables``)."""
    from otel_agents.report.insight_tables import SECTIONS

    heading, build = SECTIONS[name]

    def render(section: dict[str, Any]) -> str:
        return f"<h2>{escape(heading)}</h2>" + "".join(
            f"<h3>{escape(title)}</h3>" + _table(headers, rows) for title, headers, rows in build(section)
        )

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


def render_html(report: dict[str, Any]) -> str:
    """The report (the sections it has) as one self-contained HTML page: the cards and the
    recommendations first, then each section with its charts and tables."""
    m = report["meta"]
    active = active_filters(report)
    body = "".join(
        [
            "<h1>otel-agents report</h1>",
            f'<div class="meta">{escape(m["store"])} &middot; {escape(str(m["period"]["first_day"]))} .. '
            f"{escape(str(m['period']['last_day']))} &middot; filters: {escape('; '.join(active) or 'none')} &middot; "
            f"generated {escape(m['generated_at'])} &middot; percentiles: {escape(m['percentile_method'])}</div>",
        ]
    )
    empty = nothing_matched(report)
    if empty is not None:
        body += f'<p class="empty">{escape(empty)}</p>'
    else:
        body += _cards(report)
        if "errors" in report:
            body += _recommendations(report["errors"])
        body += "".join(render(report[name]) for name, render in _SECTIONS.items() if name in report)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>otel-agents report</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )
