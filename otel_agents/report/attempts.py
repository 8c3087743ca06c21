"""Attempts and retries: per step and task, per agent, debugging cycles, and which model
works best.

- A **step** is one logical step of a run (same workflow, phase and step name); each
  execution is an **attempt**, ``retries = attempts - 1``. Total execution time is the sum
  of the attempts' durations; a step's wall-clock time is its first start to its last end,
  and its idle time is wall-clock minus execution (never below 0). Over many steps, the
  wall-clock time is the elapsed time of the union of the steps' intervals in each run
  (steps that ran in parallel count once), summed over the runs.
- A **task** is a ``task_id``: each workflow run carrying it is one attempt (``level``
  ``workflow``), and so is each step attempt carrying it (``level`` ``step``).
- A **debugging cycle** is a step with at least one failed attempt; it **resolves** when
  its last attempt succeeded; its fix attempts are the attempts that started after the
  first failure ended; its duration runs from that failure's end to the last end.
- **Which model works best** compares models by their own model calls: per model, its
  calls, their cost, and the outcome of the step attempts they served (each attempt once);
  per task complexity too. The best is the highest success rate, then more step attempts,
  then the lower cost per call, among models with at least 3 step attempts in 3 runs.
"""

from __future__ import annotations

from typing import Any

from otel_agents.report.stats import MIN_SAMPLE, one, ratio, rows, secs, usd

NONE = "(none)"

_CYCLES = "(SELECT *, (last_end - ff_end) / 1e9 AS cycle_seconds FROM v_lg WHERE ff_end IS NOT NULL)"


def _step_row(r: dict[str, Any]) -> dict[str, Any]:
    wall = (
        (r["last_end"] - r["first_start"]) / 1e9 if r["last_end"] is not None and r["first_start"] is not None else None
    )
    execution = r["exec_seconds"]
    return {
        "workflow_id": r["workflow_id"],
        "phase": r["phase_name"],
        "step": r["step_name"],
        "agent": r["agent"],
        "task_id": r["task_id"],
        "model": r["model"],
        "attempts": int(r["attempts"]),
        "successes": int(r["successes"]),
        "failures": int(r["failures"]),
        "retries": int(r["attempts"]) - 1,
        "final_outcome": r["final_outcome"],
        "total_execution_seconds": secs(execution),
        "wall_clock_seconds": secs(wall),
        "idle_seconds": secs(max(0.0, wall - execution)) if wall is not None and execution is not None else None,
        "cost_usd": usd(r["cost"]),
        "unpriced_model_calls": int(r["unpriced"] or 0),
    }


def _steps(con: Any, top: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    s = one(
        con,
        """SELECT count(*) AS steps, sum(attempts) AS attempts,
                           count(*) FILTER (WHERE attempts = 1 AND final_outcome = 'success') AS one_shot,
                           count(*) FILTER (WHERE final_outcome = 'success') AS succeeded,
                           sum(exec_seconds) AS exec,
                           sum(greatest(0.0, (last_end - first_start) / 1e9 - exec_seconds)) AS idle
                    FROM v_lg""",
    )
    s["wall"] = one(con, "SELECT sum(wall) AS wall FROM v_wall").get("wall")
    n = int(s.get("steps") or 0)
    attempts = int(s.get("attempts") or 0)
    summary = {
        "steps": n,
        "attempts": attempts,
        "retries": attempts - n,
        "first_try_successes": int(s.get("one_shot") or 0),
        "first_try_success_rate": ratio(s.get("one_shot") or 0, n),
        "succeeded": int(s.get("succeeded") or 0),
        "success_rate": ratio(s.get("succeeded") or 0, n),
        "total_execution_seconds": secs(s.get("exec")),
        "wall_clock_seconds": secs(s.get("wall")),
        "idle_seconds": secs(s.get("idle")),
    }
    most = rows(
        con,
        """SELECT * FROM v_lg WHERE attempts > 1
                        ORDER BY attempts DESC, workflow_id, phase_name, step_name LIMIT ?""",
        [top],
    )
    return summary, [_step_row(r) for r in most]


def task_rows(con: Any, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Tasks (one row per task id and level), most attempts first."""
    sql = "SELECT * FROM v_tasks ORDER BY attempts DESC, level DESC, task_id"
    found = rows(con, sql + (" LIMIT ?" if limit is not None else ""), [limit] if limit is not None else [])
    return [_task(r) for r in found]


def _task(r: dict[str, Any]) -> dict[str, Any]:
    wall, execution = r["wall"], r["exec"]
    return {
        "task_id": r["task_id"],
        "level": r["level"],
        "attempts": int(r["attempts"]),
        "successes": int(r["successes"]),
        "failures": int(r["failures"]),
        "retries": int(r["attempts"]) - 1,
        "first_started_at": r["first_started_at"],
        "total_execution_seconds": secs(execution),
        "wall_clock_seconds": secs(wall),
        "idle_seconds": secs(max(0.0, wall - execution)) if wall is not None and execution is not None else None,
        "cost_usd": usd(r["cost"]),
        "unpriced_model_calls": int(r["unpriced"] or 0),
    }


def _tasks(con: Any, top: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    summary = rows(
        con,
        """
        SELECT level, count(*) AS tasks, sum(attempts) AS attempts,
               count(*) FILTER (WHERE attempts = 1 AND successes = 1) AS one_shot,
               count(*) FILTER (WHERE successes > 0) AS succeeded,
               sum(exec) AS exec, sum(wall) AS wall, sum(greatest(0.0, wall - exec)) AS idle
        FROM v_tasks GROUP BY level ORDER BY level DESC""",
    )
    out = [
        {
            "level": r["level"],
            "tasks": int(r["tasks"]),
            "attempts": int(r["attempts"]),
            "retries": int(r["attempts"]) - int(r["tasks"]),
            "first_try_success_rate": ratio(r["one_shot"], r["tasks"]),
            "success_rate": ratio(r["succeeded"], r["tasks"]),
            "total_execution_seconds": secs(r["exec"]),
            "wall_clock_seconds": secs(r["wall"]),
            "idle_seconds": secs(r["idle"]),
        }
        for r in summary
    ]
    return out, task_rows(con, limit=top)


def _agents(con: Any) -> list[dict[str, Any]]:
    found = rows(
        con,
        f"""
        SELECT COALESCE(agent, step_name, '{NONE}') AS agent, count(*) AS attempts,
               count(*) FILTER (WHERE outcome = 'success') AS successes,
               count(*) FILTER (WHERE outcome = 'failure') AS failures,
               count(*) FILTER (WHERE attempt > 1) AS retries,
               sum(duration_seconds) AS duration, avg(duration_seconds) AS mean, sum(cost_usd) AS cost,
               COALESCE(sum(unpriced_model_calls), 0) AS unpriced
        FROM v_st GROUP BY 1 ORDER BY attempts DESC, agent""",
    )
    return [
        {
            "agent": r["agent"],
            "attempts": int(r["attempts"]),
            "successes": int(r["successes"]),
            "failures": int(r["failures"]),
            "retries": int(r["retries"]),
            "success_rate": ratio(r["successes"], r["attempts"]),
            "duration_seconds": secs(r["duration"]),
            "mean_seconds": secs(r["mean"]),
            "cost_usd": usd(r["cost"]),
            "unpriced_model_calls": int(r["unpriced"]),
        }
        for r in found
    ]


def _cycles(con: Any) -> dict[str, Any]:
    s = one(
        con,
        f"""SELECT count(*) AS n, count(*) FILTER (WHERE final_outcome = 'success') AS resolved,
                           sum(fix_attempts) AS fixes, avg(fix_attempts) AS mean_fixes, avg(cycle_seconds) AS mean_s,
                           sum(failures) AS failures, count(DISTINCT workflow_id) AS workflows
                    FROM {_CYCLES}""",
    )

    def grouped(expr: str, key: str) -> list[dict[str, Any]]:
        found = rows(
            con,
            f"""SELECT COALESCE({expr}, '{NONE}') AS k, count(*) AS n,
                                     count(*) FILTER (WHERE final_outcome = 'success') AS resolved,
                                     avg(fix_attempts) AS mean_fixes, avg(cycle_seconds) AS mean_s
                              FROM {_CYCLES} GROUP BY 1 ORDER BY n DESC, k""",
        )
        return [
            {
                key: r["k"],
                "cycles": int(r["n"]),
                "resolved": int(r["resolved"]),
                "resolution_rate": ratio(r["resolved"], r["n"]),
                "mean_fix_attempts": round(float(r["mean_fixes"]), 6) if r["mean_fixes"] is not None else None,
                "mean_duration_seconds": secs(r["mean_s"]),
            }
            for r in found
        ]

    n = int(s.get("n") or 0)
    return {
        "cycles": n,
        "workflows": int(s.get("workflows") or 0),
        "resolved": int(s.get("resolved") or 0),
        "unresolved": n - int(s.get("resolved") or 0),
        "resolution_rate": ratio(s.get("resolved") or 0, n),
        "failed_attempts": int(s.get("failures") or 0),
        "fix_attempts": int(s.get("fixes") or 0),
        "mean_fix_attempts": round(float(s["mean_fixes"]), 6) if s.get("mean_fixes") is not None else None,
        "mean_duration_seconds": secs(s.get("mean_s")),
        "by_agent": grouped("agent", "agent"),
        "by_error_category": grouped("first_category", "error_category"),
    }


def _rank(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    candidates = [
        i
        for i in items
        if i["success_rate"] is not None
        and i["model"] != NONE
        and i["step_attempts"] >= MIN_SAMPLE
        and i["workflows"] >= MIN_SAMPLE
    ]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda i: (
            -i["success_rate"],
            -i["step_attempts"],
            i["cost_per_call_usd"] if i["cost_per_call_usd"] is not None else float("inf"),
            i["model"],
        ),
    )


def _models(con: Any) -> dict[str, Any]:
    """Per model, from its own model calls (and the step attempts they served)."""
    found = rows(
        con,
        f"""
        SELECT COALESCE(model, '{NONE}') AS model, COALESCE(complexity, '{NONE}') AS complexity,
               GROUPING(complexity) AS whole, count(*) AS calls, count(*) FILTER (WHERE outcome = 'failure') AS failed,
               count(*) FILTER (WHERE first_in_step AND step_outcome IS NOT NULL) AS steps,
               count(*) FILTER (WHERE first_in_step AND step_outcome = 'success') AS successes,
               sum(cost_usd) AS cost, count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced,
               sum(duration_seconds) AS seconds
        FROM v_mc GROUP BY GROUPING SETS ((model), (model, complexity))""",
    )
    runs = {
        (r["model"], r["complexity"], r["whole"]): int(r["n"])
        for r in rows(
            con,
            f"""
        SELECT COALESCE(model, '{NONE}') AS model, COALESCE(complexity, '{NONE}') AS complexity,
               GROUPING(complexity) AS whole, count(DISTINCT workflow_id) AS n
        FROM v_model_runs GROUP BY GROUPING SETS ((model), (model, complexity))""",
        )
    }

    def item(r: dict[str, Any]) -> dict[str, Any]:
        calls, unpriced = int(r["calls"]), int(r["unpriced"] or 0)
        return {
            "model": r["model"],
            "model_calls": calls,
            "failed_calls": int(r["failed"] or 0),
            "step_attempts": int(r["steps"]),
            "successes": int(r["successes"]),
            "success_rate": ratio(r["successes"], r["steps"]),
            "workflows": runs.get((r["model"], r["complexity"], r["whole"]), 0),
            "cost_usd": usd(r["cost"]),
            "unpriced_model_calls": unpriced,
            "cost_per_call_usd": usd(r["cost"] / calls) if r["cost"] is not None and not unpriced else None,
            "mean_call_seconds": secs(r["seconds"] / calls) if r["seconds"] is not None else None,
        }

    by_model = [item(r) for r in found if r["whole"]]
    by_cx = [{**item(r), "complexity": r["complexity"]} for r in found if not r["whole"]]
    by_model.sort(key=lambda d: (-d["model_calls"], d["model"]))
    by_cx.sort(key=lambda d: (d["complexity"], -d["model_calls"], d["model"]))
    best_cx = []
    for cx in sorted({d["complexity"] for d in by_cx}):
        b = _rank([d for d in by_cx if d["complexity"] == cx])
        if b is not None:
            best_cx.append({"complexity": cx, **{k: b[k] for k in _BEST}})
    best = _rank(by_model)
    return {
        "by_model": by_model,
        "by_model_complexity": by_cx,
        "best_model": {"overall": {k: best[k] for k in _BEST} if best else None, "by_complexity": best_cx},
    }


_BEST = ("model", "success_rate", "step_attempts", "workflows", "cost_per_call_usd")


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
