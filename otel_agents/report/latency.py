"""Latency: p50, p95, p99, mean (and min, max, total) per workflow, phase, step and tool; the
bottleneck phase per workflow and overall; the phases whose p95 stands out; idle time
between phases and between attempts.

- **Bottleneck overall**: the phase name with the largest total duration. **Per workflow**
  (name): the phase that was most often the run's bottleneck (``workflow_history.bottleneck_phase``:
  the phase with the longest total duration in that run).
- **Outliers**: the threshold is the p95 of all phase durations; a phase stands out when
  more than :data:`OUTLIER_SHARE` of its runs exceed it (twice what 5% would be if every
  phase were alike).
- **Idle between phases**: ``workflow_history.idle_time_seconds`` (a run's duration minus
  its phases' durations). **Between attempts**: for every step retried (same workflow,
  phase and step name), first start to last end minus the attempts' durations (seed 002).
"""

from __future__ import annotations

from typing import Any

from otel_agents.report.stats import one, ratio, rows, secs, stat_columns, stat_dict

#: A phase stands out when more than this share of its runs exceed the overall p95.
OUTLIER_SHARE = 0.10
NONE = "(none)"


def _grouped(con: Any, sql_from: str, keys: dict[str, str], col: str = "duration_seconds") -> list[dict[str, Any]]:
    key_sql = ", ".join(f"COALESCE({expr}, '{NONE}') AS {name}" for name, expr in keys.items())
    found = rows(con, f"SELECT {key_sql}, {stat_columns(col)} FROM {sql_from} GROUP BY ALL ORDER BY ALL")
    out = [{**{k: r[k] for k in keys}, **stat_dict(r)} for r in found]
    out.sort(key=lambda d: (-(d["total_seconds"] or 0.0), *(str(d[k]) for k in keys)))
    return out


def _bottlenecks(con: Any) -> dict[str, Any]:
    phases = rows(
        con,
        f"""SELECT COALESCE(phase_name, '{NONE}') AS phase, sum(duration_seconds) AS total,
                                  avg(duration_seconds) AS mean, count(*) AS runs
                           FROM v_ph GROUP BY 1 ORDER BY total DESC NULLS LAST, phase""",
    )
    grand = sum(float(p["total"] or 0.0) for p in phases)
    overall = None
    if phases and phases[0]["total"] is not None:
        p = phases[0]
        overall = {
            "phase": p["phase"],
            "total_seconds": secs(p["total"]),
            "mean_seconds": secs(p["mean"]),
            "runs": int(p["runs"]),
            "share_of_phase_time": ratio(p["total"], grand),
        }
    freq = rows(
        con,
        """SELECT bottleneck_phase AS phase, count(*) AS n FROM v_wf
                        WHERE bottleneck_phase IS NOT NULL GROUP BY 1 ORDER BY n DESC, phase""",
    )
    runs = sum(int(r["n"]) for r in freq)
    per_name = rows(
        con,
        f"""
        SELECT COALESCE(workflow_name, '{NONE}') AS workflow, bottleneck_phase AS phase, count(*) AS n,
               avg(bottleneck_seconds) AS mean_seconds
        FROM v_wf WHERE bottleneck_phase IS NOT NULL GROUP BY 1, 2""",
    )
    totals: dict[str, int] = {}
    best: dict[str, dict[str, Any]] = {}
    for r in per_name:  # the most frequent bottleneck of each workflow name (ties: phase name)
        totals[r["workflow"]] = totals.get(r["workflow"], 0) + int(r["n"])
        rank = (-int(r["n"]), r["phase"])
        cur = best.get(r["workflow"])
        if cur is None or rank < cur["rank"]:
            best[r["workflow"]] = {"rank": rank, "n": int(r["n"]), "phase": r["phase"], "mean": r["mean_seconds"]}
    by_workflow = [
        {
            "workflow": w,
            "phase": b["phase"],
            "runs": totals[w],
            "bottleneck_runs": b["n"],
            "share": ratio(b["n"], totals[w]),
            "mean_bottleneck_seconds": secs(b["mean"]),
        }
        for w, b in sorted(best.items())
    ]
    return {
        "overall": overall,
        "by_workflow": by_workflow,
        "frequency": [{"phase": r["phase"], "workflows": int(r["n"]), "share": ratio(r["n"], runs)} for r in freq],
    }


def _outliers(con: Any, by_phase: list[dict[str, Any]]) -> dict[str, Any]:
    t = one(con, "SELECT quantile_cont(duration_seconds, 0.95) AS p95 FROM v_ph")
    threshold = t.get("p95")
    if threshold is None:
        return {"threshold_p95_seconds": None, "phases": []}
    found = rows(
        con,
        f"""
        SELECT COALESCE(phase_name, '{NONE}') AS phase, count(duration_seconds) AS runs,
               count(*) FILTER (WHERE duration_seconds > $1) AS over
        FROM v_ph GROUP BY 1""",
        [threshold],
    )
    p95 = {p["phase"]: p["p95"] for p in by_phase}
    out = []
    for r in found:
        share = ratio(r["over"], r["runs"])
        if share is not None and share > OUTLIER_SHARE:
            out.append(
                {
                    "phase": r["phase"],
                    "p95": p95.get(r["phase"]),
                    "runs": int(r["runs"]),
                    "runs_over_threshold": int(r["over"]),
                    "share_over_threshold": share,
                }
            )
    out.sort(key=lambda d: (-d["share_over_threshold"], d["phase"]))
    return {"threshold_p95_seconds": secs(threshold), "phases": out}


def _idle(con: Any) -> dict[str, Any]:
    ph = one(con, f"SELECT {stat_columns('idle_time_seconds')} FROM v_wf")
    at = one(
        con,
        f"""SELECT {stat_columns("idle")} FROM (
                         SELECT greatest(0.0, (last_end - first_start) / 1e9 - exec_seconds) AS idle
                         FROM v_lg WHERE attempts > 1)""",
    )
    return {
        "between_phases": {"workflows": stat_dict(ph)["count"], **_idle_stats(ph)},
        "between_attempts": {"retried_steps": stat_dict(at)["count"], **_idle_stats(at)},
    }


def _idle_stats(r: dict[str, Any]) -> dict[str, Any]:
    d = stat_dict(r)
    return {k: d[k] for k in ("total_seconds", "mean", "p50", "p95", "max")}


def tool_stats(con: Any) -> list[dict[str, Any]]:
    """Calls, failures and duration statistics per tool (shared by the latency and tools sections)."""
    found = rows(
        con,
        f"""
        SELECT COALESCE(tool_name, '{NONE}') AS tool, count(*) AS calls,
               count(*) FILTER (WHERE outcome = 'failure') AS failures, {stat_columns("duration_seconds")}
        FROM v_tc GROUP BY 1""",
    )
    runs = {r["k"]: int(r["n"]) for r in rows(con, "SELECT tool_name AS k, count(*) AS n FROM v_tool_runs GROUP BY 1")}
    out = [
        {
            "tool": r["tool"],
            "calls": int(r["calls"]),
            "failures": int(r["failures"]),
            "failure_rate": ratio(r["failures"], r["calls"]),
            "workflows": runs.get(r["tool"], 0),
            **stat_dict(r),
        }
        for r in found
    ]
    out.sort(key=lambda d: (-d["calls"], d["tool"]))
    return out


def slowest_runs(con: Any, top: int) -> list[dict[str, Any]]:
    """The longest runs, with their trace ids."""
    found = rows(
        con,
        """
        SELECT workflow_id, trace_id, workflow_name, template, status, start_time, duration_seconds,
               bottleneck_phase
        FROM v_wf WHERE duration_seconds IS NOT NULL ORDER BY duration_seconds DESC, workflow_id LIMIT ?""",
        [top],
    )
    return [{**r, "duration_seconds": secs(r["duration_seconds"])} for r in found]


def latency_section(con: Any, tools: list[dict[str, Any]] | None = None, *, top: int = 10) -> dict[str, Any]:
    """The ``latency`` section of the report (``tools``: :func:`tool_stats`, if already computed)."""
    tools = tool_stats(con) if tools is None else tools
    by_tool = [
        {k: v for k, v in t.items() if k not in ("calls", "failures", "failure_rate", "workflows")} for t in tools
    ]
    by_tool.sort(key=lambda d: (-(d["total_seconds"] or 0.0), d["tool"]))
    by_phase = _grouped(con, "v_ph", {"phase": "phase_name"})
    return {
        "workflows": stat_dict(one(con, f"SELECT {stat_columns('duration_seconds')} FROM v_wf")),
        "by_workflow": _grouped(con, "v_wf", {"workflow": "workflow_name"}),
        "by_phase": by_phase,
        "by_step": _grouped(con, "v_st", {"phase": "phase_name", "step": "step_name"}),
        "by_tool": by_tool,
        "bottlenecks": _bottlenecks(con),
        "outliers": _outliers(con, by_phase),
        "idle": _idle(con),
        "slowest_runs": slowest_runs(con, top),
    }
