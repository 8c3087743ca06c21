"""Errors: categories, failure rates by phase, template and model, the trend, the failed
runs, and (filled in by :mod:`otel_agents.report.recommend`) recommendations.

An **error** is a root cause, counted once where it happened: a failed tool call, or a
failed step attempt that no failed tool call of its own explains (one exception that fails
a tool call and then its step, phase and run is one error, the tool call's). The failed
spans (step attempts and tool calls) are counted separately, as span failures. A
category is the one recorded with the row, computed by ``otel_agents.errors.categorize``
(the one place for the rules; the cache fills it in for rows recorded without one).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from otel_agents.errors import CATEGORIES
from otel_agents.report.stats import one, ratio, rows, secs

NONE = "(none)"


def _failures(con: Any) -> list[dict[str, Any]]:
    """Failed step attempts and tool calls, counted by category, kind, phase, error type and
    whether they are a root cause (a step failed by its own failed tool call's exception is not)."""
    return rows(
        con,
        f"""
        SELECT category, kind, COALESCE(phase, '{NONE}') AS phase, error_type, root, count(*) AS n FROM (
            SELECT COALESCE(error_category, 'other') AS category, 'step' AS kind, phase_name AS phase,
                   error_type, tool_cause IS NOT true AS root
            FROM v_st WHERE outcome = 'failure'
            UNION ALL
            SELECT COALESCE(error_category, 'tool_failure'), 'tool_call', phase_name, error_type, true
            FROM v_tc WHERE outcome = 'failure')
        GROUP BY ALL""",
    )


def _categories(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    total = sum(int(r["n"]) for r in found if r["root"])
    acc: dict[str, dict[str, Any]] = {}
    for r in found:
        c = acc.setdefault(r["category"], {"errors": 0, "steps": 0, "tool_calls": 0, "phases": {}, "types": {}})
        n = int(r["n"])
        c["steps" if r["kind"] == "step" else "tool_calls"] += n
        if not r["root"]:
            continue
        c["errors"] += n
        c["phases"][r["phase"]] = c["phases"].get(r["phase"], 0) + n
        if r["error_type"]:
            c["types"][r["error_type"]] = c["types"].get(r["error_type"], 0) + n
    order = list(CATEGORIES) + sorted(set(acc) - set(CATEGORIES))
    out = []
    for cat in order:
        c = acc.get(cat, {"errors": 0, "steps": 0, "tool_calls": 0, "phases": {}, "types": {}})
        n = c["errors"]
        out.append(
            {
                "category": cat,
                "count": n,
                "failed_step_attempts": c["steps"],
                "failed_tool_calls": c["tool_calls"],
                "share": ratio(n, total),
                "phases": [p for p, _n in sorted(c["phases"].items(), key=lambda kv: (-kv[1], kv[0]))],
                "top_error_type": min(c["types"].items(), key=lambda kv: (-kv[1], kv[0]))[0] if c["types"] else None,
            }
        )
    out.sort(key=lambda d: (-d["count"], order.index(d["category"])))
    return out


def outcomes(con: Any, view: str, cols: list[str]) -> dict[str, Any]:
    """Rows (``n``) and failures (``f``) of ``view`` per value of each column, and overall
    (key ``""``), in one scan (GROUPING SETS). Missing values are ``(none)``."""
    full = (1 << len(cols)) - 1
    found = rows(
        con,
        f"""
        SELECT {", ".join(cols)}, GROUPING({", ".join(cols)}) AS g, count(*) AS n,
               count(*) FILTER (WHERE outcome = 'failure') AS f
        FROM {view} GROUP BY GROUPING SETS ({", ".join(f"({c})" for c in cols)}, ())""",
    )
    out: dict[str, Any] = {c: {} for c in cols}
    out[""] = {"n": 0, "f": 0}
    for r in found:
        if r["g"] == full:
            out[""] = {"n": r["n"], "f": r["f"]}
            continue
        for i, c in enumerate(cols):
            if r["g"] == full & ~(1 << (len(cols) - 1 - i)):
                out[c][NONE if r[c] is None else r[c]] = {"k": NONE if r[c] is None else r[c], "n": r["n"], "f": r["f"]}
    return out


def _rates(con: Any, failures: list[dict[str, Any]], st_o: dict[str, Any], wf_o: dict[str, Any]) -> dict[str, Any]:
    st, wf = st_o[""], wf_o[""]
    tc = one(con, "SELECT count(*) AS n, count(*) FILTER (WHERE outcome = 'failure') AS f FROM v_tc")
    steps = st_o["phase_name"]
    phases = {
        r["k"]: r
        for r in rows(
            con,
            f"""
        SELECT COALESCE(phase_name, '{NONE}') AS k, count(*) AS n, count(*) FILTER (WHERE outcome = 'failure') AS f
        FROM v_ph GROUP BY 1""",
        )
    }
    per_phase: dict[str, dict[str, int]] = {}
    for r in failures:
        if r["kind"] == "step":
            c = per_phase.setdefault(r["phase"], {})
            c[r["category"]] = c.get(r["category"], 0) + int(r["n"])
    cats = {k: [(-n, c) for c, n in v.items()] for k, v in per_phase.items()}
    by_phase = []
    for k in sorted(set(steps) | set(phases)):
        s, p = steps.get(k, {}), phases.get(k, {})
        n_failed = int(s.get("f") or 0)
        top = min(cats[k]) if cats.get(k) else None
        by_phase.append(
            {
                "phase": k,
                "step_attempts": int(s.get("n") or 0),
                "failed_attempts": n_failed,
                "attempt_failure_rate": ratio(n_failed, s.get("n")),
                "runs": int(p.get("n") or 0),
                "failed_runs": int(p.get("f") or 0),
                "run_failure_rate": ratio(p.get("f") or 0, p.get("n")),
                "top_category": top[1] if top else None,
                "top_category_share": ratio(-top[0], n_failed) if top else None,
            }
        )
    by_phase.sort(key=lambda d: (-(d["attempt_failure_rate"] or 0.0), d["phase"]))

    def grouped(found: dict[str, Any], key: str, unit: str) -> list[dict[str, Any]]:
        out = [
            {key: r["k"], unit: int(r["n"]), "failures": int(r["f"]), "failure_rate": ratio(r["f"], r["n"])}
            for r in found.values()
        ]
        out.sort(key=lambda d: (-(d["failure_rate"] or 0.0), d[key]))
        return out

    return {
        "overall": {
            "step_attempts": int(st.get("n") or 0),
            "failed_attempts": int(st.get("f") or 0),
            "attempt_failure_rate": ratio(st.get("f") or 0, st.get("n")),
            "workflows": int(wf.get("n") or 0),
            "failed_workflows": int(wf.get("f") or 0),
            "workflow_failure_rate": ratio(wf.get("f") or 0, wf.get("n")),
            "tool_calls": int(tc.get("n") or 0),
            "failed_tool_calls": int(tc.get("f") or 0),
            "tool_failure_rate": ratio(tc.get("f") or 0, tc.get("n")),
        },
        "by_phase": by_phase,
        "by_template": grouped(wf_o["template"], "template", "workflows"),
        "by_model": grouped(st_o["model"], "model", "step_attempts"),
    }


def _trend(st_o: dict[str, Any], wf_o: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    st = {k: v for k, v in st_o["day"].items() if k != NONE}
    wf = {k: v for k, v in wf_o["day"].items() if k != NONE}
    days_seen = sorted(set(st) | set(wf))
    if not days_seen:
        return [], {"last_7_days_rate": None, "previous_7_days_rate": None, "change_points": None, "direction": None}
    first, last = date.fromisoformat(days_seen[0]), date.fromisoformat(days_seen[-1])
    series = []
    for i in range((last - first).days + 1):
        d = (first + timedelta(days=i)).isoformat()
        s, w = st.get(d, {}), wf.get(d, {})
        series.append(
            {
                "day": d,
                "step_attempts": int(s.get("n") or 0),
                "failed_attempts": int(s.get("f") or 0),
                "attempt_failure_rate": ratio(s.get("f") or 0, s.get("n")),
                "workflows": int(w.get("n") or 0),
                "failed_workflows": int(w.get("f") or 0),
            }
        )

    def rate(part: list[dict[str, Any]]) -> float | None:
        return ratio(sum(p["failed_attempts"] for p in part), sum(p["step_attempts"] for p in part))

    last7 = rate(series[-7:])
    prev7 = rate(series[-14:-7]) if len(series) > 7 else None
    change = round(100.0 * (last7 - prev7), 2) if last7 is not None and prev7 is not None else None
    direction = None if change is None else ("rising" if change > 0 else "falling" if change < 0 else "flat")
    return series, {
        "last_7_days_rate": last7,
        "previous_7_days_rate": prev7,
        "change_points": change,
        "direction": direction,
    }


def failed_runs(con: Any, top: int) -> list[dict[str, Any]]:
    """The latest failed runs, with their trace ids."""
    found = rows(
        con,
        """
        SELECT workflow_id, trace_id, workflow_name, template, start_time, duration_seconds, error_type,
               error_category, error_message
        FROM v_wf WHERE outcome = 'failure'
        ORDER BY start_unix_nano DESC NULLS LAST, workflow_id LIMIT ?""",
        [top],
    )
    return [{**r, "duration_seconds": secs(r["duration_seconds"])} for r in found]


def errors_section(con: Any, *, top: int = 10) -> dict[str, Any]:
    """The ``errors`` section (``recommendations`` is added by the recommender)."""
    failures = _failures(con)
    categories = _categories(failures)
    st_o = outcomes(con, "v_st", ["phase_name", "model", "day"])
    wf_o = outcomes(con, "v_wf", ["template", "day"])
    trend, trend_summary = _trend(st_o, wf_o)
    return {
        "total": sum(c["count"] for c in categories),
        "span_failures": {
            "step_attempts": sum(c["failed_step_attempts"] for c in categories),
            "tool_calls": sum(c["failed_tool_calls"] for c in categories),
        },
        "categories": categories,
        "failed_runs": failed_runs(con, top),
        "failure_rates": _rates(con, failures, st_o, wf_o),
        "trend": trend,
        "trend_summary": trend_summary,
        "recommendations": [],
    }
