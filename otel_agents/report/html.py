"""The HTML report: one self-contained file (inline CSS and SVG, no script, no font, no image
fetched; a Content-Security-Policy forbids any request), readable offline."""

from __future__ import annotations

from html import escape
from typing import Any, Sequence

from otel_agents.report import svg
from otel_agents.report.text import TEXT_DAYS, num, pct, sec, usd

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
td:first-child,th:first-child{text-align:left} .l{text-align:left}
.rec{margin:4px 0;padding:6px 10px;border-left:4px solid #999;background:#fff}
.high{border-color:#c44e52} .medium{border-color:#e07b39} .low{border-color:#4c9f70}
.sev{font-weight:600;text-transform:uppercase;font-size:11px;margin-right:6px} .empty{color:#888}
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return '<p class="empty">none</p>'
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape('-' if c is None else str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _card(label: str, value: str) -> str:
    return f'<div class="card"><span>{escape(label)}</span><b>{escape(value)}</b></div>'


def _panel(title: str, content: str) -> str:
    return f'<div class="panel"><h3>{escape(title)}</h3>{content}</div>'


def _cost(c: dict[str, Any]) -> str:
    parts = ["<h2>Cost</h2>",
             "<h3>Cost by agent</h3>",
             _table(("agent", "cost", "share", "steps", "avg per step"),
                    [[a["agent"], usd(a["cost_usd"]), pct(a["share"]), num(a["steps"]), usd(a["avg_usd"])]
                     for a in c["by_agent"]]),
             "<h3>Cache efficiency</h3>",
             _table(("model", "input tokens", "from cache", "share", "saved"),
                    [[m["model"], num(m["input_tokens"]), num(m["cache_read_tokens"]), pct(m["cache_share"]),
                      usd(m["savings_usd"])] for m in c["cache"]["by_model"]]),
             "<h3>Most expensive workflows</h3>",
             _table(("workflow", "name", "template", "model", "status", "cost", "duration"),
                    [[w["workflow_id"], w["workflow_name"], w["template"], w["model_used"], w["status"], usd(w["cost_usd"]),
                      sec(w["duration_seconds"])] for w in c["top_workflows"]]),
             "<h3>Most expensive phase runs</h3>",
             _table(("workflow", "name", "phase", "outcome", "cost", "duration"),
                    [[p["workflow_id"], p["workflow_name"], p["phase_name"], p["outcome"], usd(p["cost_usd"]),
                      sec(p["duration_seconds"])] for p in c["top_phases"]])]
    return "".join(parts)


def _stats_rows(items: list[dict[str, Any]], keys: Sequence[str]) -> list[list[Any]]:
    return [[*(i[k] for k in keys), num(i["count"]), sec(i["mean"]), sec(i["p50"]), sec(i["p95"]), sec(i["p99"]),
             sec(i["max"])] for i in items]


def _latency(lat: dict[str, Any]) -> str:
    b = lat["bottlenecks"]["overall"]
    idle = lat["idle"]
    ol = lat["outliers"]
    return "".join([
        "<h2>Latency</h2>",
        "<h3>Latency distribution by tool</h3>",
        svg.latency_chart([{**t, "label": t["tool"]} for t in lat["by_tool"]], title="Latency by tool"),
        f"<p>Bottleneck overall: <b>{escape(b['phase'])}</b> ({pct(b['share_of_phase_time'])} of all phase time). "
        if b else "<p>",
        f"Idle between phases {sec(idle['between_phases']['total_seconds'])}, between attempts "
        f"{sec(idle['between_attempts']['total_seconds'])}. Phases standing out (over the p95 of all phases, "
        f"{sec(ol['threshold_p95_seconds'])}): {escape(', '.join(p['phase'] for p in ol['phases']) or 'none')}.</p>",
        _table(("phase", "count", "mean", "p50", "p95", "p99", "max"), _stats_rows(lat["by_phase"], ("phase",))),
        "<h3>By step</h3>",
        _table(("phase", "step", "count", "mean", "p50", "p95", "p99", "max"),
               _stats_rows(lat["by_step"], ("phase", "step"))),
        "<h3>By workflow</h3>",
        _table(("workflow", "count", "mean", "p50", "p95", "p99", "max"), _stats_rows(lat["by_workflow"], ("workflow",))),
    ])


def _errors(e: dict[str, Any]) -> str:
    rates = e["failure_rates"]
    days = e["trend"][-TEXT_DAYS:]
    return "".join([
        "<h2>Errors</h2>",
        _panel("Failure rate by phase (step attempts)",
               svg.hbars([(p["phase"], p["attempt_failure_rate"] or 0.0) for p in rates["by_phase"]], pct,
                         title="Failure rate by phase", colour=svg.FAILED)),
        _table(("category", "errors", "share", "steps", "tool calls", "phases", "most common type"),
               [[c["category"], num(c["count"]), pct(c["share"]), num(c["step_failures"]), num(c["tool_failures"]),
                 ", ".join(c["phases"][:3]), c["top_error_type"]] for c in e["categories"]]),
        "<h3>By workflow template</h3>",
        _table(("template", "runs", "failed", "rate"),
               [[t["template"], num(t["workflows"]), num(t["failures"]), pct(t["failure_rate"])]
                for t in rates["by_template"]]),
        "<h3>By model (step attempts)</h3>",
        _table(("model", "attempts", "failed", "rate"),
               [[m["model"], num(m["step_attempts"]), num(m["failures"]), pct(m["failure_rate"])] for m in rates["by_model"]]),
        f"<h3>Trend (last {len(days)} days)</h3>",
        _table(("day", "attempts", "failed", "rate"),
               [[d["day"], num(d["step_attempts"]), num(d["failed_attempts"]), pct(d["attempt_failure_rate"])]
                for d in days]),
    ])


def _attempts(a: dict[str, Any]) -> str:
    s = a["summary"]
    d = a["debugging_cycles"]
    best = a["models"]["best_model"]["overall"]
    return "".join([
        "<h2>Attempts and retries</h2>",
        '<div class="cards">',
        _card("steps", num(s["steps"])), _card("attempts", num(s["attempts"])), _card("retries", num(s["retries"])),
        _card("first-try success", pct(s["first_try_success_rate"])),
        _card("debugging cycles resolved", f"{pct(d['resolution_rate'])} of {num(d['cycles'])}"),
        _card("best model", best["model"] if best else "-"),
        "</div>",
        "<h3>Agents</h3>",
        _table(("agent", "attempts", "successes", "failures", "retries", "duration", "cost"),
               [[g["agent"], num(g["attempts"]), num(g["successes"]), num(g["failures"]), num(g["retries"]),
                 sec(g["duration_seconds"]), usd(g["cost_usd"])] for g in a["agents"]]),
        "<h3>Which model works best</h3>",
        _table(("model", "runs", "success", "mean cost per run", "mean duration"),
               [[m["model"], num(m["runs"]), pct(m["success_rate"]), usd(m["mean_cost_usd"]), sec(m["mean_seconds"])]
                for m in a["models"]["by_model_workflows"]]),
        _table(("complexity", "model", "runs", "success", "mean cost"),
               [[m["complexity"], m["model"], num(m["runs"]), pct(m["success_rate"]), usd(m["mean_cost_usd"])]
                for m in a["models"]["by_model_complexity"]]),
        "<h3>Tasks</h3>",
        _table(("level", "tasks", "attempts", "retries", "first try", "execution", "wall clock", "idle"),
               [[t["level"], num(t["tasks"]), num(t["attempts"]), num(t["retries"]), pct(t["first_try_success_rate"]),
                 sec(t["total_execution_seconds"]), sec(t["wall_clock_seconds"]), sec(t["idle_seconds"])]
                for t in a["task_summary"]]),
    ])


def _tools(t: dict[str, Any]) -> str:
    seq = t["sequences"]
    r = t["redundant"]
    return "".join([
        "<h2>Tools</h2>",
        "<h3>Most common tool sequences in a step</h3>",
        _table(("sequence", "steps", "share"), [[x["sequence"], num(x["steps"]), pct(x["share"])] for x in seq["top"]]),
        _table(("tool", "calls", "failed", "rate", "mean", "p50", "p95", "p99"),
               [[x["tool"], num(x["calls"]), num(x["failures"]), pct(x["failure_rate"]), sec(x["mean"]), sec(x["p50"]),
                 sec(x["p95"]), sec(x["p99"])] for x in t["by_tool"]]),
        f"<p>Redundant operations: {num(r['redundant_calls'])} calls repeat an identical call in the same step "
        f"({pct(r['share_of_calls'])} of calls, {num(r['steps_affected'])} steps).</p>",
        _table(("tool", "redundant calls", "steps", "share of its calls"),
               [[x["tool"], num(x["redundant_calls"]), num(x["steps"]), pct(x["share_of_tool_calls"])]
                for x in r["by_tool"]]),
    ])


def _overview(report: dict[str, Any]) -> str:
    """Recommendations and every chart, first, so one screen shows them."""
    c, e, t = report["cost"], report["errors"], report["tools"]
    days = c["daily"]
    phases = [{**p, "label": p["phase"]} for p in report["latency"]["by_phase"]]
    cats = [x for x in e["categories"] if x["count"]]
    recs = "".join(f'<div class="rec {escape(r["severity"])}"><span class="sev">{escape(r["severity"])}</span>'
                   f'{escape(r["message"])}</div>' for r in e["recommendations"]) or '<p class="empty">none</p>'
    return "".join([
        "<h2>Recommendations</h2>", recs,
        "<h2>Overview</h2>",
        _panel("Cost over time", svg.daily_chart([d["day"] for d in days], [d["cost_usd"] or 0.0 for d in days],
                                                 [d["moving_avg_7d"] or 0.0 for d in days], title="Cost over time",
                                                 width=1180, height=240)),
        '<div class="grid">',
        _panel("Cost by phase", svg.hbars([(p["phase"], p["cost_usd"] or 0.0) for p in c["by_phase"]], usd,
                                          title="Cost by phase")),
        _panel("Cost by model", svg.hbars([(m["model"], m["cost_usd"] or 0.0) for m in c["by_model"]], usd,
                                          title="Cost by model", colour=svg.PALETTE[1])),
        _panel("Latency distribution by phase", svg.latency_chart(phases, title="Latency distribution by phase",
                                                                  width=570)),
        _panel("Error categories", svg.hbars([(x["category"], float(x["count"])) for x in cats], lambda v: f"{int(v):,}",
                                             title="Error categories", colour=svg.FAILED)),
        _panel("Tool usage (calls, failed in red)",
               svg.stacked_hbars([(x["tool"], x["calls"] - x["failures"], x["failures"]) for x in t["by_tool"]],
                                 title="Tool usage")),
        _panel("Cost by tool (a step's cost split over its tool calls)",
               svg.hbars([(x["tool"], x["cost_usd"] or 0.0) for x in c["by_tool"]], usd, title="Cost by tool",
                         colour=svg.PALETTE[4])),
        _panel("Cost by workflow template", svg.hbars([(x["template"], x["cost_usd"] or 0.0) for x in c["by_template"]],
                                                      usd, title="Cost by template", colour=svg.PALETTE[2])),
        _panel("Failure rate by workflow template",
               svg.hbars([(x["template"], x["failure_rate"] or 0.0) for x in e["failure_rates"]["by_template"]], pct,
                         title="Failure rate by template", colour=svg.FAILED)),
        "</div>",
    ])


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    m = report["meta"]
    c = report["cost"]
    e = report["errors"]["failure_rates"]["overall"]
    lat = report["latency"]["workflows"]
    rows = m["rows"]
    active = [f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in m["filters"].items() if v]
    head = "".join([
        "<h1>otel-agents report</h1>",
        f'<div class="meta">{escape(m["store"])} &middot; {escape(str(m["period"]["first_day"]))} .. '
        f'{escape(str(m["period"]["last_day"]))} &middot; filters: {escape("; ".join(active) or "none")} &middot; '
        f'generated {escape(m["generated_at"])} &middot; percentiles: {escape(m["percentile_method"])}</div>',
        '<div class="cards">',
        _card("total cost", usd(c["total_usd"])), _card("workflows", num(rows["workflows"])),
        _card("steps", num(rows["steps"])), _card("tool calls", num(rows["tool_calls"])),
        _card("served from cache", pct(c["cache"]["cache_share"])), _card("cache saved", usd(c["cache"]["savings_usd"])),
        _card("step failure rate", pct(e["attempt_failure_rate"])), _card("workflow p95", sec(lat["p95"])),
        "</div>",
    ])
    body = head + _overview(report) + _cost(c) + _latency(report["latency"]) + _errors(report["errors"]) + _attempts(report["attempts"])
    body += _tools(report["tools"])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>otel-agents report</title><style>{_CSS}</style></head><body>{body}</body></html>\n")
