"""Derived columns: workflow aggregates from stored rows, and names filled in on model calls.

Phases and steps end before their workflow, so :func:`refresh` runs when the workflow
record arrives and computes the workflow row's aggregates from the rows already stored;
the store calls it again whenever a later batch adds rows under a stored workflow (a replay,
records out of order), so the result never depends on arrival order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

_CHUNK = 500
_SESSION_TABLES = ("step_executions", "tool_calls", "model_calls", "hook_events")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


_ENRICH_MODEL_CALLS = """
UPDATE model_calls SET
    step_name = COALESCE(step_name,
        (SELECT s.step_name FROM step_executions AS s WHERE s.record_id = model_calls.parent_id)),
    agent = COALESCE(agent,
        (SELECT s.agent FROM step_executions AS s WHERE s.record_id = model_calls.parent_id)),
    phase_name = COALESCE(phase_name,
        (SELECT s.phase_name FROM step_executions AS s WHERE s.record_id = model_calls.parent_id),
        (SELECT p.phase_name FROM phase_logs AS p WHERE p.record_id = model_calls.parent_id))
WHERE {column} IN ({marks})"""

_ENRICH_STEP_MODEL = """
UPDATE step_executions SET model = (
    SELECT m.model FROM model_calls AS m WHERE m.parent_id = step_executions.record_id AND m.model IS NOT NULL
    GROUP BY m.model ORDER BY COUNT(*) DESC, SUM(m.cost_usd) DESC, m.model LIMIT 1)
WHERE model IS NULL AND record_id IN ({marks})"""


def enrich(conn: Any, model_ids: Sequence[str], parent_ids: Sequence[str]) -> None:
    """Fill in the phase, step and agent of model calls from their parent step or phase,
    and a step's model (when it named none) from its model calls. Runs for the rows of the
    current batch, in either order of arrival.
    """
    for chunk in _chunks(list(model_ids)):
        conn.execute(_ENRICH_MODEL_CALLS.format(column="record_id", marks=",".join("?" * len(chunk))), chunk)
    for chunk in _chunks(list(parent_ids)):
        conn.execute(_ENRICH_MODEL_CALLS.format(column="parent_id", marks=",".join("?" * len(chunk))), chunk)
    step_ids: list[str] = list(parent_ids)
    for chunk in _chunks(list(model_ids)):
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT DISTINCT parent_id FROM model_calls WHERE record_id IN ({marks})", chunk)
        step_ids.extend(r[0] for r in rows if r[0])
    for chunk in _chunks(sorted(set(step_ids))):
        conn.execute(_ENRICH_STEP_MODEL.format(marks=",".join("?" * len(chunk))), chunk)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _phase_aggregates(phases: list[dict[str, Any]], wall: float | None) -> dict[str, Any]:
    durations: dict[str, float] = {}
    costs: dict[str, float | None] = {}  # None: no phase of that name has a known cost
    tokens: dict[str, dict[str, int]] = {}
    for p in phases:
        name = p["phase_name"] or "(unnamed)"
        durations[name] = durations.get(name, 0.0) + (p["duration_seconds"] or 0.0)
        cost, known = p["cost_usd"], costs.get(name)
        costs[name] = known if cost is None else (known or 0.0) + cost
        t = tokens.setdefault(name, {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0})
        t["input"] += p["input_tokens"] or 0
        t["output"] += p["output_tokens"] or 0
        t["cache_read"] += p["cache_read_tokens"] or 0
        t["cache_write"] += p["cache_write_tokens"] or 0
    out: dict[str, Any] = {
        "phase_count": len(phases),
        "phase_durations": _json({k: round(v, 6) for k, v in durations.items()}) if durations else None,
        "cost_breakdown": _json({k: _round(v, 10) for k, v in costs.items()}) if costs else None,
        "token_breakdown": _json(tokens) if tokens else None,
        "bottleneck_phase": None,
        "bottleneck_seconds": None,
        "idle_time_seconds": None,
    }
    if durations:
        name = max(durations, key=lambda k: durations[k])  # first of equals: the earliest phase
        out["bottleneck_phase"], out["bottleneck_seconds"] = name, round(durations[name], 6)
        if wall is not None:
            out["idle_time_seconds"] = round(max(0.0, wall - sum(durations.values())), 6)
    return out


def _step_aggregates(steps: list[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for s in steps:
        groups.setdefault((s["phase_name"], s["step_name"]), []).append(s)
    reasons: list[dict[str, Any]] = []
    distribution: dict[str, int] = {}
    recovery = 0.0
    retries = 0
    for (phase, step), rows in groups.items():
        rows.sort(key=lambda r: (r["attempt"] or 0, r["start_unix_nano"] or 0))
        retries += sum(1 for r in rows if (r["attempt"] or 1) > 1)
        failed = [r for r in rows if r["outcome"] == "failure"]
        for r in failed:
            distribution[phase or "(none)"] = distribution.get(phase or "(none)", 0) + 1
            if r is not rows[-1]:
                reasons.append(
                    {
                        "phase": phase,
                        "step": step,
                        "attempt": r["attempt"],
                        "error_category": r["error_category"],
                        "error_message": r["error_message"],
                    }
                )
        last = rows[-1]
        if failed and last["outcome"] == "success" and last["end_unix_nano"] and failed[0]["end_unix_nano"]:
            recovery += max(0, last["end_unix_nano"] - failed[0]["end_unix_nano"]) / 1e9
    return {
        "step_count": len(steps),
        "steps_completed": sum(1 for s in steps if s["outcome"] == "success"),
        "steps_failed": sum(1 for s in steps if s["outcome"] == "failure"),
        "retry_reasons": _json(reasons) if reasons else None,
        "error_phase_distribution": _json(distribution) if distribution else None,
        "recovery_time_seconds": round(recovery, 6),
        "_step_retries": retries,
    }


def _rows(conn: Any, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows of a query as dicts (any DB-API connection: SQLite, or PostgreSQL's adapter)."""
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def refresh(conn: Any, workflow_id: str, now: str) -> None:
    """Recompute the aggregate columns of one ``workflow_history`` row from stored rows."""
    found = _rows(
        conn,
        "SELECT duration_seconds, requested_model, retry_count, session_id FROM workflow_history WHERE workflow_id = ?",
        (workflow_id,),
    )
    if not found:
        return
    wf = found[0]
    phases = _rows(
        conn,
        "SELECT phase_name, duration_seconds, cost_usd, input_tokens, output_tokens, cache_read_tokens,"
        " cache_write_tokens FROM phase_logs WHERE workflow_id = ?"
        " ORDER BY start_unix_nano, phase_number, record_id",
        (workflow_id,),
    )
    steps = _rows(
        conn,
        "SELECT phase_name, step_name, attempt, outcome, error_message, error_category, start_unix_nano,"
        " end_unix_nano FROM step_executions WHERE workflow_id = ? ORDER BY start_unix_nano, record_id",
        (workflow_id,),
    )
    tools = _rows(
        conn,
        "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END), 0) AS failed"
        " FROM tool_calls WHERE workflow_id = ?",
        (workflow_id,),
    )[0]
    models = _rows(
        conn,
        "SELECT model, COUNT(*) AS n, SUM(cost_usd) AS cost FROM model_calls"
        " WHERE workflow_id = ? AND model IS NOT NULL GROUP BY model ORDER BY n DESC, cost DESC, model",
        (workflow_id,),
    )
    values = _phase_aggregates(phases, wf["duration_seconds"])
    values.update(_step_aggregates(steps))
    step_retries = values.pop("_step_retries")
    values["retry_count"] = wf["retry_count"] if wf["retry_count"] is not None else step_retries
    values["tool_call_count"] = tools["n"]
    values["tool_calls_failed"] = tools["failed"]
    values["models"] = _json(sorted(m["model"] for m in models)) if models else None
    values["model_used"] = wf["requested_model"] or (models[0]["model"] if models else None)
    values["updated_at"] = now
    cols = sorted(values)
    conn.execute(
        f"UPDATE workflow_history SET {', '.join(c + ' = ?' for c in cols)} WHERE workflow_id = ?",
        [values[c] for c in cols] + [workflow_id],
    )
    if wf["session_id"]:
        for table in _SESSION_TABLES:  # rows recorded without a session inherit the run's
            conn.execute(
                f"UPDATE {table} SET session_id = ? WHERE workflow_id = ? AND session_id IS NULL",
                (wf["session_id"], workflow_id),
            )
