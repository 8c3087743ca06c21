"""The terminal report: every section as plain-text tables (the JSON report has every number)."""

from __future__ import annotations

from typing import Any, Sequence

#: Days of the daily series shown in text (the JSON has all of them).
TEXT_DAYS = 14


def usd(x: float | None) -> str:
    if x is None:
        return "-"
    return f"${x:,.2f}" if abs(x) >= 100 else f"${x:,.4f}"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def sec(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.1f}s" if abs(x) >= 100 else f"{x:.3f}s"


def num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.2f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _numeric(cell: str) -> bool:
    """Right-align a column whose every cell is a number (money, percent, seconds) or empty."""
    if cell in ("-", ""):
        return True
    core = cell.lstrip("$+-").rstrip("%s").replace(",", "")
    try:
        float(core)
    except ValueError:
        return False
    return True


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, indent: str = "  ") -> list[str]:
    """Rows as an aligned table (first column left-aligned, the others right-aligned)."""
    if not rows:
        return [indent + "(none)"]
    cells = [[str(c) for c in headers]] + [[("-" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    left = [i == 0 or not all(_numeric(r[i]) for r in cells[1:]) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return indent + "  ".join(c.ljust(widths[i]) if left[i] else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()

    return [line(cells[0]), indent + "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]]


def _stats_rows(items: list[dict[str, Any]], keys: Sequence[str]) -> list[list[Any]]:
    return [[*(i[k] for k in keys), num(i["count"]), sec(i["mean"]), sec(i["p50"]), sec(i["p95"]), sec(i["p99"]),
             sec(i["max"])] for i in items]


_STATS_HEAD = ("count", "mean", "p50", "p95", "p99", "max")


def _head(report: dict[str, Any]) -> list[str]:
    m = report["meta"]
    rows = m["rows"]
    f = m["filters"]
    active = [f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in f.items() if v]
    period = m["period"]
    return [
        f"otel-agents report: {m['store']}",
        f"period {period['first_day'] or '-'} .. {period['last_day'] or '-'}: {num(rows['workflows'])} workflows, "
        f"{num(rows['phases'])} phases, {num(rows['steps'])} steps, {num(rows['tool_calls'])} tool calls, "
        f"{num(rows['model_calls'])} model calls",
        f"filters: {'; '.join(active) if active else 'none'}",
        f"percentiles: {m['percentile_method']}",
    ]


def _cost(c: dict[str, Any]) -> list[str]:
    cache = c["cache"]
    t = c["trend"]
    out = ["", "== Cost ==",
           f"Total {usd(c['total_usd'])} over {num(c['model_calls'])} model calls"
           + (f" ({num(c['unpriced_model_calls'])} without a price)" if c["unpriced_model_calls"] else "") + ".",
           f"Cache: {pct(cache['cache_share'])} of {num(cache['input_tokens'])} input tokens served from the cache, "
           f"saving {usd(cache['savings_usd'])}"
           + (f" (no price for {', '.join(cache['unpriced_models'])})" if cache["unpriced_models"] else "") + ".",
           f"Last 7 days {usd(t['last_7_days_usd'])}, previous 7 days {usd(t['previous_7_days_usd'])}"
           + (f" ({t['percent_change']:+.1f}%)." if t["percent_change"] is not None else ".")]
    for title, key, col, count in (("By phase", "by_phase", "phase", "runs"),
                                   ("By workflow template", "by_template", "template", "workflows"),
                                   ("By model", "by_model", "model", "model_calls"),
                                   ("By agent", "by_agent", "agent", "steps")):
        out += ["", title]
        out += table((col, "cost", "share", count.replace("_", " "), "avg"),
                     [[i[col], usd(i["cost_usd"]), pct(i["share"]), num(i[count]), usd(i["avg_usd"])] for i in c[key]])
    out += ["", "By tool (a step's cost split evenly over its tool calls)"]
    out += table(("tool", "cost", "share", "tool calls"),
                 [[i["tool"], usd(i["cost_usd"]), pct(i["share"]), num(i["tool_calls"])] for i in c["by_tool"]])
    days = c["daily"][-TEXT_DAYS:]
    out += ["", f"Per day (last {len(days)} of {len(c['daily'])} days)"]
    out += table(("day", "cost", "7-day avg", "change"),
                 [[d["day"], usd(d["cost_usd"]), usd(d["moving_avg_7d"]),
                   "-" if d["change_pct"] is None else f"{d['change_pct']:+.1f}%"] for d in days])
    out += ["", "Cache by model"]
    out += table(("model", "input tokens", "from cache", "share", "saved"),
                 [[m["model"], num(m["input_tokens"]), num(m["cache_read_tokens"]), pct(m["cache_share"]),
                   usd(m["savings_usd"])] for m in cache["by_model"]])
    out += ["", "Most expensive workflows"]
    out += table(("workflow", "name", "template", "model", "status", "cost", "duration"),
                 [[w["workflow_id"], w["workflow_name"], w["template"], w["model_used"], w["status"], usd(w["cost_usd"]),
                   sec(w["duration_seconds"])] for w in c["top_workflows"]])
    out += ["", "Most expensive phase runs"]
    out += table(("workflow", "name", "phase", "outcome", "cost", "duration"),
                 [[p["workflow_id"], p["workflow_name"], p["phase_name"], p["outcome"], usd(p["cost_usd"]),
                   sec(p["duration_seconds"])] for p in c["top_phases"]])
    return out


def _latency(lat: dict[str, Any]) -> list[str]:
    w = lat["workflows"]
    out = ["", "== Latency ==",
           f"Workflows: {num(w['count'])} runs, mean {sec(w['mean'])}, p50 {sec(w['p50'])}, p95 {sec(w['p95'])}, "
           f"p99 {sec(w['p99'])}."]
    for title, key, keys in (("By workflow", "by_workflow", ("workflow",)), ("By phase", "by_phase", ("phase",)),
                             ("By step", "by_step", ("phase", "step")), ("By tool", "by_tool", ("tool",))):
        out += ["", title]
        out += table((*keys, *_STATS_HEAD), _stats_rows(lat[key], keys))
    b = lat["bottlenecks"]
    o = b["overall"]
    out += ["", "Bottleneck: " + (f"{o['phase']} overall ({pct(o['share_of_phase_time'])} of all phase time, "
                                  f"mean {sec(o['mean_seconds'])})." if o else "-")]
    out += table(("workflow", "bottleneck phase", "in runs", "of runs"),
                 [[i["workflow"], i["phase"], num(i["bottleneck_runs"]), num(i["runs"])] for i in b["by_workflow"]])
    ol = lat["outliers"]
    out += ["", f"Phases whose p95 stands out (more than 10% of runs over the p95 of all phases, "
                f"{sec(ol['threshold_p95_seconds'])})"]
    out += table(("phase", "p95", "runs", "over", "share"),
                 [[p["phase"], sec(p["p95"]), num(p["runs"]), num(p["runs_over_threshold"]),
                   pct(p["share_over_threshold"])] for p in ol["phases"]])
    idle = lat["idle"]
    bp, ba = idle["between_phases"], idle["between_attempts"]
    out += ["", f"Idle between phases: {sec(bp['total_seconds'])} over {num(bp['workflows'])} runs "
                f"(mean {sec(bp['mean'])}, p95 {sec(bp['p95'])}).",
            f"Idle between attempts: {sec(ba['total_seconds'])} over {num(ba['retried_steps'])} retried steps "
            f"(mean {sec(ba['mean'])}, p95 {sec(ba['p95'])})."]
    return out


def _errors(e: dict[str, Any]) -> list[str]:
    r = e["failure_rates"]
    o = r["overall"]
    ts = e["trend_summary"]
    out = ["", "== Errors ==",
           f"Step attempts failed: {pct(o['attempt_failure_rate'])} ({num(o['failed_attempts'])} of "
           f"{num(o['step_attempts'])}); workflows: {pct(o['workflow_failure_rate'])} ({num(o['failed_workflows'])} of "
           f"{num(o['workflows'])}); tool calls: {pct(o['tool_failure_rate'])} ({num(o['failed_tool_calls'])} of "
           f"{num(o['tool_calls'])}).",
           "", "Recommendations"]
    recs = e["recommendations"]
    out += [f"  [{x['severity']}] {x['message']}" for x in recs] or ["  (none)"]
    out += ["", "Categories"]
    out += table(("category", "errors", "share", "steps", "tool calls", "phases", "most common type"),
                 [[c["category"], num(c["count"]), pct(c["share"]), num(c["step_failures"]), num(c["tool_failures"]),
                   ", ".join(c["phases"][:3]), c["top_error_type"]] for c in e["categories"]])
    out += ["", "By phase"]
    out += table(("phase", "attempts", "failed", "rate", "runs failed", "mostly"),
                 [[p["phase"], num(p["step_attempts"]), num(p["failed_attempts"]), pct(p["attempt_failure_rate"]),
                   f"{p['failed_runs']}/{p['runs']}", p["top_category"]] for p in r["by_phase"]])
    out += ["", "By workflow template"]
    out += table(("template", "runs", "failed", "rate"),
                 [[t["template"], num(t["workflows"]), num(t["failures"]), pct(t["failure_rate"])] for t in r["by_template"]])
    out += ["", "By model (step attempts)"]
    out += table(("model", "attempts", "failed", "rate"),
                 [[m["model"], num(m["step_attempts"]), num(m["failures"]), pct(m["failure_rate"])] for m in r["by_model"]])
    days = e["trend"][-TEXT_DAYS:]
    change = ts["change_points"]
    out += ["", f"Trend (last {len(days)} of {len(e['trend'])} days): last 7 days {pct(ts['last_7_days_rate'])}, "
                f"previous 7 days {pct(ts['previous_7_days_rate'])}"
                + (f" ({change:+.1f} points, {ts['direction']})" if change is not None else "")]
    out += table(("day", "attempts", "failed", "rate", "workflows failed"),
                 [[d["day"], num(d["step_attempts"]), num(d["failed_attempts"]), pct(d["attempt_failure_rate"]),
                   f"{d['failed_workflows']}/{d['workflows']}"] for d in days])
    return out


def _attempts(a: dict[str, Any]) -> list[str]:
    s = a["summary"]
    out = ["", "== Attempts and retries ==",
           f"{num(s['steps'])} steps, {num(s['attempts'])} attempts, {num(s['retries'])} retries; "
           f"{pct(s['first_try_success_rate'])} succeed on the first try, {pct(s['success_rate'])} in the end.",
           f"Execution {sec(s['total_execution_seconds'])}, wall clock {sec(s['wall_clock_seconds'])}, "
           f"idle between attempts {sec(s['idle_seconds'])}."]
    out += ["", "Most retried steps"]
    out += table(("workflow", "phase", "step", "attempts", "failures", "final", "execution", "wall clock", "idle"),
                 [[r["workflow_id"], r["phase"], r["step"], num(r["attempts"]), num(r["failures"]), r["final_outcome"],
                   sec(r["total_execution_seconds"]), sec(r["wall_clock_seconds"]), sec(r["idle_seconds"])]
                  for r in a["most_retried_steps"]])
    out += ["", "Tasks"]
    out += table(("level", "tasks", "attempts", "retries", "first try", "succeeded", "execution", "wall clock", "idle"),
                 [[t["level"], num(t["tasks"]), num(t["attempts"]), num(t["retries"]), pct(t["first_try_success_rate"]),
                   pct(t["success_rate"]), sec(t["total_execution_seconds"]), sec(t["wall_clock_seconds"]),
                   sec(t["idle_seconds"])] for t in a["task_summary"]])
    out += table(("task", "level", "attempts", "successes", "failures", "retries", "execution", "idle"),
                 [[t["task_id"], t["level"], num(t["attempts"]), num(t["successes"]), num(t["failures"]),
                   num(t["retries"]), sec(t["total_execution_seconds"]), sec(t["idle_seconds"])] for t in a["tasks"]])
    out += ["", "Agents"]
    out += table(("agent", "attempts", "successes", "failures", "retries", "duration", "mean", "cost"),
                 [[g["agent"], num(g["attempts"]), num(g["successes"]), num(g["failures"]), num(g["retries"]),
                   sec(g["duration_seconds"]), sec(g["mean_seconds"]), usd(g["cost_usd"])] for g in a["agents"]])
    d = a["debugging_cycles"]
    out += ["", f"Debugging cycles: {num(d['cycles'])}, {num(d['resolved'])} resolved ({pct(d['resolution_rate'])}), "
                f"{num(d['fix_attempts'])} fix attempts (mean {num(d['mean_fix_attempts'])}), "
                f"mean duration {sec(d['mean_duration_seconds'])}."]
    out += table(("agent", "cycles", "resolved", "rate", "mean fixes", "mean duration"),
                 [[g["agent"], num(g["cycles"]), num(g["resolved"]), pct(g["resolution_rate"]), num(g["mean_fix_attempts"]),
                   sec(g["mean_duration_seconds"])] for g in d["by_agent"]])
    out += table(("first error", "cycles", "resolved", "rate", "mean fixes", "mean duration"),
                 [[g["error_category"], num(g["cycles"]), num(g["resolved"]), pct(g["resolution_rate"]),
                   num(g["mean_fix_attempts"]), sec(g["mean_duration_seconds"])] for g in d["by_error_category"]])
    m = a["models"]
    best = m["best_model"]["overall"]
    out += ["", "Which model works best" + (f": {best['model']} ({pct(best['success_rate'])} of {num(best['runs'])} runs "
                                            f"succeed, mean {usd(best['mean_cost_usd'])} per run)" if best else "")]
    out += table(("model", "runs", "success", "mean cost", "mean duration"),
                 [[x["model"], num(x["runs"]), pct(x["success_rate"]), usd(x["mean_cost_usd"]), sec(x["mean_seconds"])]
                  for x in m["by_model_workflows"]])
    out += table(("model (steps)", "attempts", "success", "cost/attempt", "cost/success"),
                 [[x["model"], num(x["step_attempts"]), pct(x["success_rate"]), usd(x["cost_per_attempt"]),
                   usd(x["cost_per_success"])] for x in m["by_model_steps"]])
    out += table(("complexity", "model", "runs", "success", "mean cost"),
                 [[x["complexity"], x["model"], num(x["runs"]), pct(x["success_rate"]), usd(x["mean_cost_usd"])]
                  for x in m["by_model_complexity"]])
    if m["best_model"]["by_complexity"]:
        out += ["  best: " + "; ".join(f"{b['complexity']}: {b['model']} ({pct(b['success_rate'])})"
                                       for b in m["best_model"]["by_complexity"])]
    return out


def _tools(t: dict[str, Any]) -> list[str]:
    out = ["", "== Tools ==",
           f"{num(t['calls'])} tool calls, {num(t['failures'])} failed ({pct(t['failure_rate'])})."]
    out += table(("tool", "calls", "failed", "rate", "mean", "p50", "p95", "p99", "total"),
                 [[x["tool"], num(x["calls"]), num(x["failures"]), pct(x["failure_rate"]), sec(x["mean"]), sec(x["p50"]),
                   sec(x["p95"]), sec(x["p99"]), sec(x["total_seconds"])] for x in t["by_tool"]])
    s = t["sequences"]
    out += ["", f"Most common tool sequences in a step ({num(s['steps_with_tools'])} steps with tool calls, "
                f"{num(s['distinct_sequences'])} distinct sequences)"]
    out += table(("sequence", "steps", "share"), [[x["sequence"], num(x["steps"]), pct(x["share"])] for x in s["top"]])
    r = t["redundant"]
    out += ["", f"Redundant operations: {num(r['redundant_calls'])} calls repeat an identical call in the same step "
                f"({pct(r['share_of_calls'])} of calls, {num(r['steps_affected'])} steps)."]
    out += table(("tool", "redundant calls", "steps", "share of its calls"),
                 [[x["tool"], num(x["redundant_calls"]), num(x["steps"]), pct(x["share_of_tool_calls"])]
                  for x in r["by_tool"]])
    out += table(("workflow", "phase", "step", "tool", "arguments (sha256)", "calls"),
                 [[x["workflow_id"], x["phase"], x["step"], x["tool"], (x["arguments_sha256"] or "")[:12],
                   num(x["calls"])] for x in r["top"]])
    return out


def render_text(report: dict[str, Any]) -> str:
    """The whole report as text."""
    lines = _head(report) + _cost(report["cost"]) + _latency(report["latency"]) + _errors(report["errors"])
    lines += _attempts(report["attempts"]) + _tools(report["tools"])
    return "\n".join(lines) + "\n"
