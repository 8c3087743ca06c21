"""Attempts and retries (seeds 002 and 003): per step and task, per agent, debugging cycles,
and which model works best.

- A **step** here is one logical step of a run (same workflow, phase and step name); each
  execution is an **attempt**, ``retries = attempts - 1``. Total execution time is the sum
  of the attempts' durations, wall-clock time is first start to last end, and idle time is
  wall-clock minus execution (never below 0): the ``task_attempts`` view's semantics.
- A **task** is a ``task_id``: each workflow run carrying it is one attempt (``level``
  ``workflow``), and so is each step carrying it (``level`` ``step``), as in the
  ``task_attempts_by_task`` view.
- A **debugging cycle** is a step with at least one failed attempt; it **resolves** when
  its last attempt succeeded; its fix attempts are the attempts that started after the
  first failure ended; its duration runs from that failure's end to the last end (the
  ``debugging_cycles`` view).
- **Which model works best**: success rate and cost per model, over steps and over runs,
  and per model and task complexity (runs); the best is the highest success rate, then
  more runs, then the lower mean cost.
"""

from __future__ import annotations

from typing import Any

from otel_agents.report.stats import one, ratio, rows, secs, usd

NONE = "(none)"

_CYCLES = "(SELECT *, (last_end - ff_end) / 1e9 AS cycle_seconds FROM v_lg WHERE ff_end IS NOT NULL)"


def _step_row(r: dict[str, Any]) -> dict[str, Any]:
    wall = (r["last_end"] - r["first_start"]) / 1e9 if r["last_end"] is not None and r["first_start"] is not None else None
    execution = r["exec_seconds"]
    return {
        "workflow_id": r["workflow_id"], "phase": r["phase_name"], "step": r["step_name"], "agent": r["agent"],
        "task_id": r["task_id"], "model": r["model"],
        "attempts": int(r["attempts"]), "successes": int(r["successes"]), "failures": int(r["failures"]),
        "retries": int(r["attempts"]) - 1, "final_outcome": r["final_outcome"],
        "total_execution_seconds": secs(execution), "wall_clock_seconds": secs(wall),
        "idle_seconds": secs(max(0.0, wall - execution)) if wall is not None and execution is not None else None,
        "cost_usd": usd(r["cost"]),
    }


def _steps(con: Any, top: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    s = one(con, """SELECT count(*) AS steps, sum(attempts) AS attempts,
                           count(*) FILTER (WHERE attempts = 1 AND final_outcome = 'success') AS one_shot,
                           count(*) FILTER (WHERE final_outcome = 'success') AS succeeded,
                           sum(exec_seconds) AS exec, sum((last_end - first_start) / 1e9) AS wall,
                           sum(greatest(0.0, (last_end - first_start) / 1e9 - exec_seconds)) AS idle
                    FROM v_lg""")
    n = int(s.get("steps") or 0)
    attempts = int(s.get("attempts") or 0)
    summary = {
        "steps": n, "attempts": attempts, "retries": attempts - n,
        "first_try_successes": int(s.get("one_shot") or 0), "first_try_success_rate": ratio(s.get("one_shot") or 0, n),
        "succeeded": int(s.get("succeeded") or 0), "success_rate": ratio(s.get("succeeded") or 0, n),
        "total_execution_seconds": secs(s.get("exec")), "wall_clock_seconds": secs(s.get("wall")),
        "idle_seconds": secs(s.get("idle")),
    }
    most = rows(con, """SELECT * FROM v_lg WHERE attempts > 1
                        ORDER BY attempts DESC, workflow_id, phase_name, step_name LIMIT ?""", [top])
    return summary, [_step_row(r) for r in most]


def task_rows(con: Any, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Tasks (one row per task id and level), most attempts first."""
    sql = "SELECT * FROM v_tasks ORDER BY attempts DESC, level DESC, task_id"
    found = rows(con, sql + (" LIMIT ?" if limit is not None else ""), [limit] if limit is not None else [])
    return [_task(r) for r in found]


def _task(r: dict[str, Any]) -> dict[str, Any]:
    wall, execution = r["wall"], r["exec"]
    return {
        "task_id": r["task_id"], "level": r["level"], "attempts": int(r["attempts"]),
        "successes": int(r["successes"]), "failures": int(r["failures"]), "retries": int(r["attempts"]) - 1,
        "first_started_at": r["first_started_at"],
        "total_execution_seconds": secs(execution), "wall_clock_seconds": secs(wall),
        "idle_seconds": secs(max(0.0, wall - execution)) if wall is not None and execution is not None else None,
        "cost_usd": usd(r["cost"]),
    }


def _tasks(con: Any, top: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    summary = rows(con, """
        SELECT level, count(*) AS tasks, sum(attempts) AS attempts,
               count(*) FILTER (WHERE attempts = 1 AND successes = 1) AS one_shot,
               count(*) FILTER (WHERE successes > 0) AS succeeded,
               sum(exec) AS exec, sum(wall) AS wall, sum(greatest(0.0, wall - exec)) AS idle
        FROM v_tasks GROUP BY level ORDER BY level DESC""")
    out = [{
        "level": r["level"], "tasks": int(r["tasks"]), "attempts": int(r["attempts"]),
        "retries": int(r["attempts"]) - int(r["tasks"]),
        "first_try_success_rate": ratio(r["one_shot"], r["tasks"]), "success_rate": ratio(r["succeeded"], r["tasks"]),
        "total_execution_seconds": secs(r["exec"]), "wall_clock_seconds": secs(r["wall"]), "idle_seconds": secs(r["idle"]),
    } for r in summary]
    return out, task_rows(con, limit=top)


def _agents(con: Any) -> list[dict[str, Any]]:
    found = rows(con, f"""
        SELECT COALESCE(agent, step_name, '{NONE}') AS agent, count(*) AS attempts,
               count(*) FILTER (WHERE outcome = 'success') AS successes,
               count(*) FILTER (WHERE outcome = 'failure') AS failures,
               count(*) FILTER (WHERE attempt > 1) AS retries,
               sum(duration_seconds) AS duration, avg(duration_seconds) AS mean, sum(cost_usd) AS cost
        FROM v_st GROUP BY 1 ORDER BY attempts DESC, agent""")
    return [{"agent": r["agent"], "attempts": int(r["attempts"]), "successes": int(r["successes"]),
             "failures": int(r["failures"]), "retries": int(r["retries"]),
             "success_rate": ratio(r["successes"], r["attempts"]), "duration_seconds": secs(r["duration"]),
             "mean_seconds": secs(r["mean"]), "cost_usd": usd(r["cost"])} for r in found]


def _cycles(con: Any) -> dict[str, Any]:
    s = one(con, f"""SELECT count(*) AS n, count(*) FILTER (WHERE final_outcome = 'success') AS resolved,
                           sum(fix_attempts) AS fixes, avg(fix_attempts) AS mean_fixes, avg(cycle_seconds) AS mean_s,
                           sum(failures) AS failures
                    FROM {_CYCLES}""")  # noqa: S608 - fixed SQL

    def grouped(expr: str, key: str) -> list[dict[str, Any]]:
        found = rows(con, f"""SELECT COALESCE({expr}, '{NONE}') AS k, count(*) AS n,
                                     count(*) FILTER (WHERE final_outcome = 'success') AS resolved,
                                     avg(fix_attempts) AS mean_fixes, avg(cycle_seconds) AS mean_s
                              FROM {_CYCLES} GROUP BY 1 ORDER BY n DESC, k""")  # noqa: S608 - fixed expressions
        return [{key: r["k"], "cycles": int(r["n"]), "resolved": int(r["resolved"]),
                 "resolution_rate": ratio(r["resolved"], r["n"]),
                 "mean_fix_attempts": round(float(r["mean_fixes"]), 6) if r["mean_fixes"] is not None else None,
                 "mean_duration_seconds": secs(r["mean_s"])} for r in found]

    n = int(s.get("n") or 0)
    return {
        "cycles": n, "resolved": int(s.get("resolved") or 0), "unresolved": n - int(s.get("resolved") or 0),
        "resolution_rate": ratio(s.get("resolved") or 0, n),
        "failed_attempts": int(s.get("failures") or 0),
        "fix_attempts": int(s.get("fixes") or 0),
        "mean_fix_attempts": round(float(s["mean_fixes"]), 6) if s.get("mean_fixes") is not None else None,
        "mean_duration_seconds": secs(s.get("mean_s")),
        "by_agent": grouped("agent", "agent"),
        "by_error_category": grouped("first_category", "error_category"),
    }


def _rank(items: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    candidates = [i for i in items if i["success_rate"] is not None and i[key] != NONE]
    if not candidates:
        return None
    return min(candidates, key=lambda i: (-i["success_rate"], -i["runs"], i["mean_cost_usd"] or 0.0, i[key]))


def _models(con: Any) -> dict[str, Any]:
    steps = rows(con, f"""
        SELECT COALESCE(model, '{NONE}') AS model, count(*) AS attempts,
               count(*) FILTER (WHERE outcome = 'success') AS successes, sum(cost_usd) AS cost,
               avg(duration_seconds) AS mean_s
        FROM v_st GROUP BY 1 ORDER BY attempts DESC, model""")
    by_step = [{"model": r["model"], "step_attempts": int(r["attempts"]), "successes": int(r["successes"]),
                "success_rate": ratio(r["successes"], r["attempts"]), "cost_usd": usd(r["cost"]),
                "cost_per_attempt": usd(r["cost"] / r["attempts"]) if r["cost"] is not None else None,
                "cost_per_success": usd(r["cost"] / r["successes"]) if r["cost"] is not None and r["successes"] else None,
                "mean_seconds": secs(r["mean_s"])} for r in steps]
    runs = rows(con, f"""
        SELECT COALESCE(model_used, '{NONE}') AS model, COALESCE(complexity, '{NONE}') AS complexity,
               GROUPING(complexity) AS whole, count(*) AS runs,
               count(*) FILTER (WHERE outcome = 'success') AS successes, sum(cost_usd) AS cost, avg(cost_usd) AS mean_cost,
               avg(duration_seconds) AS mean_s
        FROM v_wf GROUP BY GROUPING SETS ((model_used), (model_used, complexity))""")

    def item(r: dict[str, Any]) -> dict[str, Any]:
        return {"model": r["model"], "runs": int(r["runs"]), "successes": int(r["successes"]),
                "success_rate": ratio(r["successes"], r["runs"]), "cost_usd": usd(r["cost"]),
                "mean_cost_usd": usd(r["mean_cost"]), "mean_seconds": secs(r["mean_s"])}

    by_run = [item(r) for r in runs if r["whole"]]
    by_cx = [{**item(r), "complexity": r["complexity"]} for r in runs if not r["whole"]]
    by_run.sort(key=lambda d: (-d["runs"], d["model"]))
    by_cx.sort(key=lambda d: (d["complexity"], -d["runs"], d["model"]))
    best_cx = []
    for cx in sorted({d["complexity"] for d in by_cx}):
        b = _rank([d for d in by_cx if d["complexity"] == cx], "model")
        if b is not None:
            best_cx.append({"complexity": cx, "model": b["model"], "success_rate": b["success_rate"], "runs": b["runs"],
                            "mean_cost_usd": b["mean_cost_usd"]})
    best = _rank(by_run, "model")
    return {
        "by_model_steps": by_step,
        "by_model_workflows": by_run,
        "by_model_complexity": by_cx,
        "best_model": {
            "overall": ({"model": best["model"], "success_rate": best["success_rate"], "runs": best["runs"],
                         "mean_cost_usd": best["mean_cost_usd"]} if best else None),
            "by_complexity": best_cx,
        },
    }


def attempts_section(con: Any, *, top: int) -> dict[str, Any]:
    """The ``attempts`` section of the report."""
    summary, retried = _steps(con, top)
    task_summary, tasks = _tasks(con, top)
    return {
        "summary": summary,
        "most_retried_steps": retried,
        "task_summary": task_summary,
        "tasks": tasks,
        "agents": _agents(con),
        "debugging_cycles": _cycles(con),
        "models": _models(con),
    }
