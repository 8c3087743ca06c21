"""Cost: total; by phase, template, model and agent; the cost of the step attempts that used
each tool; per day with a 7-day moving average; cache efficiency and net savings; the most
expensive workflows and phases.

Every sum is over model calls (``v_mc``), each priced once where it happened, so the
breakdowns add up to the total. A model call without a price (an unknown model) has no
cost: it is counted in ``unpriced_model_calls`` beside every figure it would belong to, and
a figure whose calls are all unpriced is ``None`` (unknown), never 0.

Tools spend no tokens, so there is no "cost of a tool": ``step_cost_by_tool`` gives, per
tool, the whole cost of the step attempts that called it (a step attempt counts under each
tool it used, so these do not add up to the total).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from otel_agents.report.stats import moving_average, one, pct_change, ratio, rows, secs, usd

NONE = "(none)"


def known(cost: Any, calls: int) -> float | None:
    """The sum of ``calls`` model calls' costs: $0 for no calls, None when every one is unpriced."""
    if cost is None:
        return 0.0 if not calls else None
    return float(cost)


def _breakdown(items: list[dict[str, Any]], key: str, total: float | None, count_key: str) -> list[dict[str, Any]]:
    out = []
    for r in items:
        cost, unpriced = r["cost"], int(r["unpriced"] or 0)
        n = r.get("runs")
        out.append(
            {
                key: r["k"],
                "cost_usd": usd(cost),
                "unpriced_model_calls": unpriced,
                "share": ratio(cost, total) if cost is not None else None,
                "model_calls": int(r["calls"] or 0),
                count_key: int(n or 0),
                "avg_usd": usd(cost / n) if n and cost is not None and not unpriced else None,
            }
        )
    out.sort(key=lambda d: (d["cost_usd"] is None, -(d["cost_usd"] or 0.0), str(d[key])))
    return out


def _by_tool(con: Any) -> list[dict[str, Any]]:
    found = rows(
        con,
        """SELECT tool_name AS k, count(*) AS attempts, sum(n) AS calls, sum(step_cost) AS cost,
                                COALESCE(sum(step_unpriced), 0) AS unpriced
                         FROM v_step_tool_counts GROUP BY tool_name""",
    )
    out = [
        {
            "tool": r["k"],
            "step_attempts": int(r["attempts"]),
            "tool_calls": int(r["calls"] or 0),
            "cost_usd": usd(r["cost"]),
            "unpriced_model_calls": int(r["unpriced"]),
        }
        for r in found
    ]
    out.sort(key=lambda d: (d["cost_usd"] is None, -(d["cost_usd"] or 0.0), d["tool"]))
    return out


def _by_workflow(con: Any, total: float | None) -> list[dict[str, Any]]:
    """Cost by workflow name (a Claude Code session's is its project)."""
    found = rows(
        con,
        """SELECT COALESCE(w.workflow_name, ?) AS k, sum(m.cost_usd) AS cost, count(*) AS calls,
                   count(*) FILTER (WHERE m.cost_usd IS NULL) AS unpriced, count(DISTINCT m.workflow_id) AS runs
            FROM v_mc AS m LEFT JOIN (SELECT DISTINCT workflow_id, workflow_name FROM v_wf) AS w
                 ON w.workflow_id = m.workflow_id
            GROUP BY 1""",
        [NONE],
    )
    return _breakdown(found, "workflow", total, "workflows")


def _daily(con: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    found = rows(
        con,
        "SELECT day, sum(cost_usd) AS cost, count(*) AS calls,"
        " count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced FROM v_mc"
        " WHERE day IS NOT NULL GROUP BY day ORDER BY day",
    )
    if not found:
        return [], {
            "last_7_days_usd": None,
            "previous_7_days_usd": None,
            "percent_change": None,
            "last_7_days_unpriced_model_calls": 0,
            "previous_7_days_unpriced_model_calls": 0,
        }
    by_day = {r["day"]: r for r in found}
    first = date.fromisoformat(found[0]["day"])
    last = date.fromisoformat(found[-1]["day"])
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    costs = [by_day[d]["cost"] if d in by_day else 0.0 for d in days]
    unpriced = [int(by_day[d]["unpriced"]) if d in by_day else 0 for d in days]
    ma = moving_average([c or 0.0 for c in costs], 7)
    series = []
    for i, d in enumerate(days):
        series.append(
            {
                "day": d,
                "cost_usd": usd(costs[i]),
                "model_calls": int(by_day[d]["calls"]) if d in by_day else 0,
                "unpriced_model_calls": unpriced[i],
                "moving_avg_7d": usd(ma[i]),
                "change_pct": pct_change(costs[i], costs[i - 1]) if i and costs[i - 1] is not None else None,
            }
        )

    def window(part: list[Any], left_out: list[int]) -> float | None:
        known_costs = [c for c in part if c is not None]
        return sum(known_costs) if known_costs or not sum(left_out) else None

    last7 = window(costs[-7:], unpriced[-7:])
    prev7 = window(costs[-14:-7], unpriced[-14:-7]) if len(costs) > 7 else None
    u_last, u_prev = sum(unpriced[-7:]), sum(unpriced[-14:-7]) if len(costs) > 7 else 0
    trend = {
        "last_7_days_usd": usd(last7),
        "previous_7_days_usd": usd(prev7),
        "last_7_days_unpriced_model_calls": u_last,
        "previous_7_days_unpriced_model_calls": u_prev,
        # a change between sums that leave calls out would compare unknowns
        "percent_change": pct_change(last7, prev7) if not (u_last or u_prev) else None,
    }
    return series, trend


def cache_rates(model: str, provider: str | None) -> tuple[float, float] | None:
    """What one input token served from the cache saves on ``model`` (its uncached input price
    minus its cache-read price) and what one token written to the cache costs extra (its
    cache-write price minus its uncached input price), at the base tier (genai-prices); None
    when the model has no price."""
    from otel_agents.pricing import UnknownModel, price_of

    try:  # the price of 1,000 input tokens: uncached, read from the cache, written to it
        full = price_of(model, provider, input_tokens=1000, output_tokens=0).total
        cached = price_of(model, provider, input_tokens=1000, output_tokens=0, cache_read_tokens=1000).total
        written = price_of(model, provider, input_tokens=1000, output_tokens=0, cache_write_tokens=1000).total
    except (UnknownModel, ValueError):
        return None
    return (full - cached) / 1000, (written - full) / 1000


RateFn = Callable[[str, "str | None"], "tuple[float, float] | None"]


def _cache(con: Any, rate: RateFn) -> dict[str, Any]:
    per_model = rows(
        con,
        """
        SELECT model, any_value(provider) AS provider, sum(input_tokens) AS input, sum(cache_read_tokens) AS cache_read,
               sum(cache_write_tokens) AS cache_write
        FROM v_mc GROUP BY model ORDER BY model NULLS LAST""",
    )
    inp = sum(int(r["input"] or 0) for r in per_model)
    read = sum(int(r["cache_read"] or 0) for r in per_model)
    write = sum(int(r["cache_write"] or 0) for r in per_model)
    savings = premiums = 0.0
    models = []
    unpriced: list[str] = []
    for r in per_model:
        cr, cw = int(r["cache_read"] or 0), int(r["cache_write"] or 0)
        saved = premium = None
        if not cr and not cw:
            saved = premium = 0.0
        else:
            rates = rate(r["model"], r["provider"]) if r["model"] else None
            if rates is None:
                unpriced.append(r["model"] or NONE)
            else:
                saved, premium = cr * rates[0], cw * rates[1]
        if saved is not None and premium is not None:
            savings += saved
            premiums += premium
        models.append(
            {
                "model": r["model"] or NONE,
                "input_tokens": int(r["input"] or 0),
                "cache_read_tokens": cr,
                "cache_write_tokens": cw,
                "cache_share": ratio(cr, r["input"]),
                "read_savings_usd": usd(saved),
                "write_premium_usd": usd(premium),
                "savings_usd": usd(saved - premium) if saved is not None and premium is not None else None,
            }
        )
    all_unpriced = bool(unpriced) and len(unpriced) == sum(1 for r in per_model if r["cache_read"] or r["cache_write"])
    return {
        "input_tokens": inp,
        "cache_read_tokens": read,
        "cache_write_tokens": write,
        "uncached_input_tokens": max(inp - read - write, 0),
        "cache_share": ratio(read, inp),
        "read_savings_usd": None if all_unpriced else usd(savings),
        "write_premium_usd": None if all_unpriced else usd(premiums),
        "savings_usd": None if all_unpriced else usd(savings - premiums),
        "unpriced_models": unpriced,
        "by_model": models,
    }


def _counts(con: Any, sql: str) -> dict[Any, int]:
    return {r["k"]: int(r["n"]) for r in rows(con, sql)}


def _fleet(con: Any) -> dict[str, list[dict[str, Any]]]:
    """Model-call cost and workflow runs per machine (``host.name``) and per service."""
    groups = rows(
        con,
        """
        SELECT host_name, service_name, GROUPING(host_name, service_name) AS g,
               sum(cost_usd) AS cost, count(*) AS calls, count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced
        FROM v_mc GROUP BY GROUPING SETS ((host_name), (service_name))""",
    )
    out: dict[str, list[dict[str, Any]]] = {"host_name": [], "service_name": []}
    for col, g in (("host_name", 0b01), ("service_name", 0b10)):
        runs = _counts(con, f"SELECT {col} AS k, count(*) AS n FROM v_wf GROUP BY 1")
        seen = set()
        for r in groups:
            if r["g"] == g:
                seen.add(r[col])
                k = r[col]
                out[col].append(
                    {
                        "k": NONE if k is None else k,
                        "cost": r["cost"],
                        "calls": r["calls"],
                        "unpriced": r["unpriced"],
                        "runs": runs.get(k),
                    }
                )
        for k, n in runs.items():  # runs without a model call
            if k not in seen:
                out[col].append({"k": NONE if k is None else k, "cost": 0.0, "calls": 0, "unpriced": 0, "runs": n})
    return out


def cost_section(con: Any, *, top: int, rate: RateFn = cache_rates) -> dict[str, Any]:
    """The ``cost`` section of the report (``rate``: :func:`cache_rates`, or a memo of it)."""
    t = one(
        con,
        "SELECT count(*) AS calls, count(cost_usd) AS priced, sum(cost_usd) AS total,"
        " sum(input_tokens) AS inp, sum(output_tokens) AS outp FROM v_mc",
    )
    calls = int(t.get("calls") or 0)
    unpriced = calls - int(t.get("priced") or 0)
    total = known(t.get("total"), calls)
    # one scan of the model calls for the four breakdowns
    groups = rows(
        con,
        """
        SELECT phase_name, template, model, agent, GROUPING(phase_name, template, model, agent) AS g,
               sum(cost_usd) AS cost, count(*) AS calls, count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced
        FROM v_mc GROUP BY GROUPING SETS ((phase_name), (template), (model), (agent))""",
    )
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
                split[col].append(
                    {
                        "k": NONE if k is None else k,
                        "cost": r["cost"],
                        "calls": r["calls"],
                        "unpriced": r["unpriced"],
                        "runs": n,
                    }
                )
    by_phase, by_template, by_model, by_agent = (split[c] for c in ("phase_name", "template", "model", "agent"))
    fleet = _fleet(con)
    daily, trend = _daily(con)
    top_workflows = rows(
        con,
        """
        SELECT workflow_id, trace_id, workflow_name, template, model_used, status, cost_usd,
               COALESCE(unpriced_model_calls, 0) AS unpriced_model_calls, duration_seconds, start_time
        FROM v_wf WHERE cost_usd IS NOT NULL ORDER BY cost_usd DESC, workflow_id LIMIT ?""",
        [top],
    )
    top_phases = rows(
        con,
        """
        SELECT p.workflow_id, w.trace_id, w.workflow_name, p.phase_name, p.outcome, p.cost_usd,
               COALESCE(p.unpriced_model_calls, 0) AS unpriced_model_calls, p.duration_seconds
        FROM (SELECT * FROM v_ph WHERE cost_usd IS NOT NULL
              ORDER BY cost_usd DESC, workflow_id, phase_name, record_id LIMIT ?) AS p
        LEFT JOIN wf AS w ON w.workflow_id = p.workflow_id
        ORDER BY p.cost_usd DESC, p.workflow_id, p.phase_name, p.record_id""",
        [top],
    )
    return {
        "total_usd": usd(total),
        "model_calls": calls,
        "unpriced_model_calls": unpriced,
        "input_tokens": int(t.get("inp") or 0),
        "output_tokens": int(t.get("outp") or 0),
        "by_phase": _breakdown(by_phase, "phase", total, "runs"),
        "by_template": _breakdown(by_template, "template", total, "workflows"),
        "by_model": _breakdown(by_model, "model", total, "model_calls"),
        "by_workflow": _by_workflow(con, total),
        "by_agent": _breakdown(by_agent, "agent", total, "step_attempts"),
        "by_machine": _breakdown(fleet["host_name"], "machine", total, "workflows"),
        "by_service": _breakdown(fleet["service_name"], "service", total, "workflows"),
        "step_cost_by_tool": _by_tool(con),
        "daily": daily,
        "trend": trend,
        "cache": _cache(con, rate),
        "top_workflows": [
            {**r, "cost_usd": usd(r["cost_usd"]), "duration_seconds": secs(r["duration_seconds"])}
            for r in top_workflows
        ],
        "top_phases": [
            {**r, "cost_usd": usd(r["cost_usd"]), "duration_seconds": secs(r["duration_seconds"])} for r in top_phases
        ],
    }
