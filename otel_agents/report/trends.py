"""Time patterns and 30-day trends of the selected workflow runs.

- **Time patterns**: runs by the hour of day (0-23) and the day of week (0 = Monday) they
  started, in UTC: runs, success rate, mean cost and mean duration.
- **30-day trends**, per template and per model (the run's model): the daily runs, cost,
  mean duration and success rate over the 30 days ending on the newest run's day (the
  report's last day), and per group the first 15 days against the last 15 (cost per run,
  mean duration, success rate, and their change).

A run's cost counts when it is known; a cost left partial by unpriced model calls is
shown with the count of those runs (``unpriced_runs``), never as complete.
"""

from __future__ import annotations

from typing import Any

from otel_agents.report.stats import one, pct_change, ratio, rows, secs, usd

TREND_DAYS = 30
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NONE = "(none)"

_TS = "make_timestamp(start_unix_nano // 1000)"
_AGG = """count(*) AS runs, count(*) FILTER (WHERE outcome = 'success') AS ok,
          sum(cost_usd) FILTER (WHERE COALESCE(unpriced_model_calls, 0) = 0) AS cost,
          count(cost_usd) FILTER (WHERE COALESCE(unpriced_model_calls, 0) = 0) AS priced,
          count(*) FILTER (WHERE COALESCE(unpriced_model_calls, 0) > 0) AS unpriced,
          sum(duration_seconds) AS dur_sum, count(duration_seconds) AS dur_n"""


def _stats(r: dict[str, Any]) -> dict[str, Any]:
    runs, priced = int(r["runs"] or 0), int(r["priced"] or 0)
    return {
        "runs": runs,
        "success_rate": ratio(r["ok"], runs),
        "cost_usd": usd(r["cost"]) if priced else None,
        "mean_cost_usd": usd(float(r["cost"]) / priced) if priced and r["cost"] is not None else None,
        "unpriced_runs": int(r["unpriced"] or 0),
        "mean_duration_seconds": secs(float(r["dur_sum"]) / r["dur_n"]) if r["dur_n"] else None,
    }


def time_patterns(con: Any) -> dict[str, Any]:
    """Runs by hour of day and by day of week (UTC)."""
    by_hour = rows(
        con, f"SELECT hour({_TS}) AS k, {_AGG} FROM v_wf WHERE start_unix_nano IS NOT NULL GROUP BY k ORDER BY k"
    )
    by_dow = rows(
        con, f"SELECT isodow({_TS}) - 1 AS k, {_AGG} FROM v_wf WHERE start_unix_nano IS NOT NULL GROUP BY k ORDER BY k"
    )
    return {
        "by_hour": [{"hour": int(r["k"]), **_stats(r)} for r in by_hour],
        "by_day_of_week": [{"day_of_week": int(r["k"]), "day": WEEKDAYS[int(r["k"])], **_stats(r)} for r in by_dow],
    }


_KEYS = ("runs", "ok", "cost", "priced", "unpriced", "dur_sum", "dur_n")


def _sum(days: list[dict[str, Any]]) -> dict[str, Any]:
    """The aggregate of daily rows (sums; a cost or duration sum of no value stays unknown)."""
    out: dict[str, Any] = {}
    for k in _KEYS:
        vals = [d[k] for d in days if d[k] is not None]
        out[k] = sum(vals) if vals else (None if k in ("cost", "dur_sum") else 0)
    return out


def _trend(con: Any, col: str, last: str) -> list[dict[str, Any]]:
    daily = rows(
        con,
        f"""SELECT COALESCE({col}, '{NONE}') AS g, day, {_AGG} FROM v_wf
            WHERE day > CAST(CAST(? AS DATE) - INTERVAL {TREND_DAYS} DAY AS DATE)::VARCHAR AND day <= ?
            GROUP BY g, day ORDER BY g, day""",
        [last, last],
    )
    mid = one(con, f"SELECT CAST(CAST(? AS DATE) - INTERVAL {TREND_DAYS // 2} DAY AS DATE)::VARCHAR AS d", [last])["d"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in daily:
        groups.setdefault(r["g"], []).append(r)
    out = []
    for name, days in groups.items():
        first = _stats(_sum([d for d in days if d["day"] <= mid]))
        second = _stats(_sum([d for d in days if d["day"] > mid]))
        out.append(
            {
                "group": name,
                "runs": first["runs"] + second["runs"],
                "first_half": first,
                "second_half": second,
                "change_percent": {
                    k: pct_change(second[k], first[k])
                    for k in ("mean_cost_usd", "mean_duration_seconds", "success_rate")
                },
                "days": [{"day": d["day"], **_stats(d)} for d in days],
            }
        )
    return sorted(out, key=lambda g: (-g["runs"], g["group"]))


_CSV_AGG = """count(*) AS runs,
    round(count(*) FILTER (WHERE outcome = 'success') / count(*), 6) AS success_rate,
    CASE WHEN count(*) FILTER (WHERE COALESCE(unpriced_model_calls, 0) = 0 AND cost_usd IS NOT NULL) > 0
         THEN sum(cost_usd) FILTER (WHERE COALESCE(unpriced_model_calls, 0) = 0) END AS cost_usd,
    count(*) FILTER (WHERE COALESCE(unpriced_model_calls, 0) > 0) AS unpriced_model_calls,
    round(avg(duration_seconds), 6) AS mean_duration_seconds"""
_CSV_WINDOW = f"day > CAST(CAST((SELECT max(day) FROM v_wf) AS DATE) - INTERVAL {TREND_DAYS} DAY AS DATE)::VARCHAR"
_CSV_TEMPLATE = (
    f"SELECT 0 AS o, 'template' AS \"by\", COALESCE(template, '{NONE}') AS \"group\", day, 0 AS k, {_CSV_AGG}"
    f" FROM v_wf WHERE {_CSV_WINDOW} GROUP BY ALL"
)
_CSV_MODEL = (
    f"SELECT 1 AS o, 'model' AS \"by\", COALESCE(model_used, '{NONE}') AS \"group\", day, 0 AS k, {_CSV_AGG}"
    f" FROM v_wf WHERE {_CSV_WINDOW} GROUP BY ALL"
)
_CSV_HOUR = (
    f"SELECT 2 AS o, 'hour_of_day' AS \"by\", lpad(CAST(hour({_TS}) AS VARCHAR), 2, '0') AS \"group\","
    f" NULL::VARCHAR AS day, hour({_TS}) AS k, {_CSV_AGG} FROM v_wf WHERE start_unix_nano IS NOT NULL GROUP BY ALL"
)
_CSV_DOW = (
    f'SELECT 3 AS o, \'day_of_week\' AS "by", {list(WEEKDAYS)!r}[isodow({_TS})] AS "group",'
    f" NULL::VARCHAR AS day, isodow({_TS}) AS k, {_CSV_AGG} FROM v_wf WHERE start_unix_nano IS NOT NULL GROUP BY ALL"
)


def csv_sql() -> str:
    """``--rows trends``: one row per day (of the 30-day window) and template, then model; then
    the time patterns: one row per hour of day, then per day of week (``day`` empty)."""
    return (
        f"SELECT * EXCLUDE (o, k) FROM ({_CSV_TEMPLATE} UNION ALL {_CSV_MODEL} UNION ALL {_CSV_HOUR}"
        f' UNION ALL {_CSV_DOW}) ORDER BY o, k, "group", day'
    )


def trends_section(con: Any) -> dict[str, Any]:
    """Time patterns, and the 30-day trends per template and per model."""
    last = one(con, "SELECT max(day) AS d FROM v_wf").get("d")
    return {
        "time_patterns": time_patterns(con),
        "window": {
            "days": TREND_DAYS,
            "last_day": last,
            "first_day": one(
                con, f"SELECT CAST(CAST(? AS DATE) - INTERVAL {TREND_DAYS - 1} DAY AS DATE)::VARCHAR AS d", [last]
            )["d"]
            if last
            else None,
        },
        "by_template": _trend(con, "template", last) if last else [],
        "by_model": _trend(con, "model_used", last) if last else [],
    }
