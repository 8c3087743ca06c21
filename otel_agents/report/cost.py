"""Cost: total; by phase, template, model, agent and tool; per day with a 7-day moving
average; cache efficiency and savings; the most expensive workflows and phases.

Every sum is over model calls (``v_mc``), each priced once where it happened, so the
breakdowns add up to the total. A tool's cost is its share of its step's cost: a step's
cost split evenly over the step's tool calls; what no tool call shares (steps without
tool calls, model calls outside a step) is ``(no tool)``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable

from otel_agents.report.stats import moving_average, one, pct_change, ratio, rows, secs, usd

NONE = "(none)"
NO_TOOL = "(no tool)"


def _breakdown(items: list[dict[str, Any]], key: str, total: float, count_key: str) -> list[dict[str, Any]]:
    out = []
    for r in items:
        cost = r["cost"] or 0.0
        n = r.get("runs")
        out.append({
            key: r["k"],
            "cost_usd": usd(cost),
            "share": ratio(cost, total),
            "model_calls": int(r["calls"] or 0),
            count_key: int(n or 0),
            "avg_usd": usd(cost / n) if n else None,
        })
    out.sort(key=lambda d: (-(d["cost_usd"] or 0.0), str(d[key])))
    return out


def _by_tool(con: Any, total: float) -> list[dict[str, Any]]:
    found = rows(con, """SELECT tool_name AS k, sum(cost_share) AS cost, sum(n) AS calls
                         FROM v_step_tool_counts GROUP BY tool_name""")
    out = [{"tool": r["k"], "cost_usd": usd(r["cost"] or 0.0), "share": ratio(r["cost"] or 0.0, total),
            "tool_calls": int(r["calls"] or 0)} for r in found]
    rest = total - sum((r["cost"] or 0.0) for r in found)
    if rest > 1e-9:
        out.append({"tool": NO_TOOL, "cost_usd": usd(max(rest, 0.0)), "share": ratio(max(rest, 0.0), total),
                    "tool_calls": 0})
    out.sort(key=lambda d: (-(d["cost_usd"] or 0.0), d["tool"]))
    return out


def _daily(con: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    found = rows(con, "SELECT day, sum(cost_usd) AS cost, count(*) AS calls FROM v_mc"
                      " WHERE day IS NOT NULL GROUP BY day ORDER BY day")
    if not found:
        return [], {"last_7_days_usd": None, "previous_7_days_usd": None, "percent_change": None}
    by_day = {r["day"]: (r["cost"] or 0.0, int(r["calls"])) for r in found}
    first = date.fromisoformat(found[0]["day"])
    last = date.fromisoformat(found[-1]["day"])
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    costs = [by_day.get(d, (0.0, 0))[0] for d in days]
    ma = moving_average(costs, 7)
    series = []
    for i, d in enumerate(days):
        series.append({
            "day": d,
            "cost_usd": usd(costs[i]),
            "model_calls": by_day.get(d, (0.0, 0))[1],
            "moving_avg_7d": usd(ma[i]),
            "change_pct": pct_change(costs[i], costs[i - 1]) if i else None,
        })
    last7 = sum(costs[-7:])
    prev7 = sum(costs[-14:-7]) if len(costs) > 7 else None
    trend = {
        "last_7_days_usd": usd(last7),
        "previous_7_days_usd": usd(prev7),
        "percent_change": pct_change(last7, prev7),
    }
    return series, trend


def saving_per_token(model: str, provider: str | None) -> float | None:
    """What one input token served from the cache saves on ``model``: its uncached input price
    minus its cache-read price, at the base tier (genai-prices); None when it has no price."""
    from otel_agents.pricing import UnknownModel, price_of

    try:  # the price of 1,000 input tokens, uncached and from the cache
        full = price_of(model, provider, input_tokens=1000, output_tokens=0).total
        cached = price_of(model, provider, input_tokens=1000, output_tokens=0, cache_read_tokens=1000).total
    except (UnknownModel, ValueError):
        return None
    return (full - cached) / 1000


RateFn = Callable[[str, "str | None"], "float | None"]


def _cache(con: Any, rate: RateFn) -> dict[str, Any]:
    per_model = rows(con, """
        SELECT model, any_value(provider) AS provider, sum(input_tokens) AS input, sum(cache_read_tokens) AS cache_read,
               sum(cache_write_tokens) AS cache_write
        FROM v_mc GROUP BY model ORDER BY model NULLS LAST""")
    inp = sum(int(r["input"] or 0) for r in per_model)
    read = sum(int(r["cache_read"] or 0) for r in per_model)
    write = sum(int(r["cache_write"] or 0) for r in per_model)
    savings = 0.0
    models = []
    unpriced: list[str] = []
    for r in per_model:
        cr = int(r["cache_read"] or 0)
        saved = None
        if not cr:
            saved = 0.0
        elif r["model"]:
            per_token = rate(r["model"], r["provider"])
            if per_token is None:
                unpriced.append(r["model"])
            else:
                saved = cr * per_token
        else:
            unpriced.append(NONE)
        if saved is not None:
            savings += saved
        models.append({
            "model": r["model"] or NONE,
            "input_tokens": int(r["input"] or 0),
            "cache_read_tokens": cr,
            "cache_share": ratio(cr, r["input"]),
            "savings_usd": usd(saved),
        })
    return {
        "input_tokens": inp,
        "cache_read_tokens": read,
        "cache_write_tokens": write,
        "uncached_input_tokens": max(inp - read - write, 0),
        "cache_share": ratio(read, inp),
        "savings_usd": usd(savings),
        "unpriced_models": unpriced,
        "by_model": models,
    }


def _counts(con: Any, sql: str) -> dict[Any, int]:
    return {r["k"]: int(r["n"]) for r in rows(con, sql)}


def cost_section(con: Any, *, top: int, rate: RateFn = saving_per_token) -> dict[str, Any]:
    """The ``cost`` section of the report (``rate``: :func:`saving_per_token`, or a memo of it)."""
    t = one(con, "SELECT count(*) AS calls, count(cost_usd) AS priced, sum(cost_usd) AS total,"
                 " sum(input_tokens) AS inp, sum(output_tokens) AS outp FROM v_mc")
    total = float(t.get("total") or 0.0)
    # one scan of the model calls for the four breakdowns
    groups = rows(con, """
        SELECT phase_name, template, model, agent, GROUPING(phase_name, template, model, agent) AS g,
               sum(cost_usd) AS cost, count(*) AS calls
        FROM v_mc GROUP BY GROUPING SETS ((phase_name), (template), (model), (agent))""")
    runs = {
        "phase_name": _counts(con, "SELECT phase_name AS k, count(*) AS n FROM v_ph GROUP BY 1"),
        "template": _counts(con, "SELECT template AS k, count(*) AS n FROM v_wf GROUP BY 1"),
        "agent": _counts(con, "SELECT agent AS k, count(*) AS n FROM v_st GROUP BY 1"),
    }
    split: dict[str, list[dict[str, Any]]] = {"phase_name": [], "template": [], "model": [], "agent": []}
    bits = {"phase_name": 0b0111, "template": 0b1011, "model": 0b1101, "agent": 0b1110}
    for r in groups:
        for col, g in bits.items():
            if r["g"] == g:
                k = r[col]
                n = r["calls"] if col == "model" else runs[col].get(k)
                split[col].append({"k": NONE if k is None else k, "cost": r["cost"], "calls": r["calls"], "runs": n})
    by_phase, by_template, by_model, by_agent = (split[c] for c in ("phase_name", "template", "model", "agent"))
    daily, trend = _daily(con)
    top_workflows = rows(con, """
        SELECT workflow_id, workflow_name, template, model_used, status, cost_usd, duration_seconds, start_time
        FROM v_wf WHERE cost_usd IS NOT NULL ORDER BY cost_usd DESC, workflow_id LIMIT ?""", [top])
    top_phases = rows(con, """
        SELECT p.workflow_id, w.workflow_name, p.phase_name, p.outcome, p.cost_usd, p.duration_seconds
        FROM (SELECT * FROM v_ph WHERE cost_usd IS NOT NULL
              ORDER BY cost_usd DESC, workflow_id, phase_name, record_id LIMIT ?) AS p
        LEFT JOIN wf AS w ON w.workflow_id = p.workflow_id
        ORDER BY p.cost_usd DESC, p.workflow_id, p.phase_name, p.record_id""", [top])
    return {
        "total_usd": usd(total),
        "model_calls": int(t.get("calls") or 0),
        "unpriced_model_calls": int(t.get("calls") or 0) - int(t.get("priced") or 0),
        "input_tokens": int(t.get("inp") or 0),
        "output_tokens": int(t.get("outp") or 0),
        "by_phase": _breakdown(by_phase, "phase", total, "runs"),
        "by_template": _breakdown(by_template, "template", total, "workflows"),
        "by_model": _breakdown(by_model, "model", total, "model_calls"),
        "by_agent": _breakdown(by_agent, "agent", total, "steps"),
        "by_tool": _by_tool(con, total),
        "daily": daily,
        "trend": trend,
        "cache": _cache(con, rate),
        "top_workflows": [{**r, "cost_usd": usd(r["cost_usd"]), "duration_seconds": secs(r["duration_seconds"])}
                          for r in top_workflows],
        "top_phases": [{**r, "cost_usd": usd(r["cost_usd"]), "duration_seconds": secs(r["duration_seconds"])}
                       for r in top_phases],
    }
