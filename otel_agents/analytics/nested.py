"""Runs nested under another run's step (a Claude Code session an executor's step started):
their usage rolled up into that step, its phase and its workflow.

A nested run is a ``workflow_history`` row whose ``parent_id`` is the span id of a stored
step (``step_executions.record_id``). When its drain finished after the step's span ended,
the step's span roll-up does not hold it: the store adds it. When it finished before, the
step's roll-up holds it already and the step's record lists it (``nested_sessions``): the
store leaves it out, so it is counted once either way. Each of the three rows keeps
its own span's figures plus the nested runs' (``input_tokens`` ... ``cost_usd``, and
``model_calls`` / ``model_call_count``), and the nested part on its own in ``nested_*``
columns, so the sum is recomputed, never accumulated: any arrival order, any replay gives
the same row. An upsert of the row's own record resets ``nested_*`` to NULL (nothing
nested included); :func:`refresh` then adds the nested runs again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

#: The summed columns, by their name in step_executions / phase_logs (workflow_history
#: names the call count ``model_call_count``).
SUMS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "model_calls",
    "unpriced_model_calls",
)
#: The ``nested_*`` columns each of the three tables has (migration 3).
NESTED_COLUMNS = (*(f"nested_{c}" for c in SUMS), "nested_cost_usd", "nested_runs")
TABLES = ("step_executions", "phase_logs", "workflow_history")
_KEY = {"step_executions": "record_id", "phase_logs": "record_id", "workflow_history": "workflow_id"}

_CHILD = (
    "SELECT c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens,"
    " c.model_call_count, c.unpriced_model_calls, c.cost_usd, c.workflow_id, s.nested_sessions"
    " FROM workflow_history AS c JOIN step_executions AS s ON s.record_id = c.parent_id"
)
_CHILDREN = {
    "step_executions": _CHILD + " WHERE s.record_id = ?",
    "phase_logs": _CHILD + " WHERE s.parent_id = ?",
    "workflow_history": _CHILD + " WHERE s.workflow_id = ? AND c.workflow_id != ?",
}


def included_text(sessions: object) -> str | None:
    """A record's ``nested_sessions`` as the column stores it (a JSON array), or NULL."""
    if not isinstance(sessions, list) or not sessions:
        return None
    return json.dumps(sorted(str(s) for s in sessions), separators=(",", ":"))


def _not_included(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The nested runs whose step's own roll-up does not hold them already."""
    out = []
    for row in rows:
        try:
            included = json.loads(row[9]) if row[9] else []
        except ValueError:
            included = []
        if row[8] not in included:
            out.append(row)
    return out


def _calls_col(table: str) -> str:
    return "model_call_count" if table == "workflow_history" else "model_calls"


def _sum(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(SUMS, 0)
    cost: float | None = None
    for row in rows:
        for i, col in enumerate(SUMS):
            out[col] += row[i] or 0
        if row[7] is not None:
            cost = (cost or 0.0) + row[7]
    out["cost_usd"] = cost
    out["runs"] = len(rows)
    return out


def _apply(conn: sqlite3.Connection, table: str, key: str) -> bool:
    """Recompute one row's nested part from the nested runs stored now, and its sums;
    returns whether the row holds nested runs."""
    kcol, calls = _KEY[table], _calls_col(table)
    cols = [*(calls if c == "model_calls" else c for c in SUMS), "cost_usd", *NESTED_COLUMNS]
    row = conn.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE {kcol} = ?", (key,)).fetchone()
    if row is None:
        return False
    cur = dict(zip(cols, row, strict=True))
    args = (key, key) if table == "workflow_history" else (key,)
    new = _sum(_not_included(conn.execute(_CHILDREN[table], args).fetchall()))
    if not new["runs"] and cur["nested_runs"] is None:
        return False  # nothing nested, and nothing included: the row is its own span's
    own = {c: (cur[calls if c == "model_calls" else c] or 0) - (cur[f"nested_{c}"] or 0) for c in SUMS}
    own_cost: float | None = None
    if not (own["model_calls"] and own["unpriced_model_calls"] == own["model_calls"]):
        own_cost = (cur["cost_usd"] or 0.0) - (cur["nested_cost_usd"] or 0.0)
    values: dict[str, Any] = {(calls if c == "model_calls" else c): own[c] + new[c] for c in SUMS}
    cost = None if own_cost is None and new["cost_usd"] is None else (own_cost or 0.0) + (new["cost_usd"] or 0.0)
    values["cost_usd"] = None if cost is None else round(cost, 12)
    values.update({f"nested_{c}": new[c] for c in SUMS})
    values["nested_cost_usd"] = new["cost_usd"]
    values["nested_runs"] = new["runs"]
    inp, out = values["input_tokens"], values["output_tokens"]
    if table == "phase_logs":
        values["tokens_used"] = inp + out
    elif table == "workflow_history":
        values["total_tokens"] = inp + out
        values["cache_efficiency_percent"] = round(100.0 * values["cache_read_tokens"] / inp, 4) if inp else None
    names = sorted(values)
    conn.execute(
        f"UPDATE {table} SET {', '.join(n + ' = ?' for n in names)} WHERE {kcol} = ?",
        [values[n] for n in names] + [key],
    )
    return True


_CHUNK = 500
#: Which of the given steps, phases, workflows have nested runs (one indexed query per chunk).
_HAVING = {
    "step_executions": "SELECT DISTINCT c.parent_id FROM workflow_history AS c WHERE c.parent_id IN ({marks})",
    "phase_logs": "SELECT DISTINCT s.parent_id FROM workflow_history AS c"
    " JOIN step_executions AS s ON s.record_id = c.parent_id WHERE s.parent_id IN ({marks})",
    "workflow_history": "SELECT DISTINCT s.workflow_id FROM workflow_history AS c"
    " JOIN step_executions AS s ON s.record_id = c.parent_id WHERE s.workflow_id IN ({marks})",
}


def _having(conn: sqlite3.Connection, table: str, ids: set[str]) -> set[str]:
    ordered = sorted(i for i in ids if i)
    found: set[str] = set()
    for n in range(0, len(ordered), _CHUNK):
        chunk = ordered[n : n + _CHUNK]
        found.update(r[0] for r in conn.execute(_HAVING[table].format(marks=",".join("?" * len(chunk))), chunk))
    return found


def refresh(
    conn: sqlite3.Connection,
    children: Iterable[str],
    steps: Iterable[str],
    phases: Iterable[str],
    workflows: Iterable[str],
) -> set[str]:
    """Recompute the rows a batch touched: the steps nested runs (``children``: their
    ``parent_id``) hang under, and those steps' phases and workflows; and the ``steps``,
    ``phases`` and ``workflows`` whose own records were upserted, when runs are nested under
    them (an upsert left their nested part out). Returns the ids of the workflows whose rows
    hold nested runs (their aggregates are refreshed next). Without nested runs: three
    indexed queries per batch."""
    phase_ids = _having(conn, "phase_logs", set(phases))
    wf_ids = _having(conn, "workflow_history", set(workflows))
    for sid in sorted(_having(conn, "step_executions", {*children, *steps})):
        row = conn.execute("SELECT parent_id, workflow_id FROM step_executions WHERE record_id = ?", (sid,)).fetchone()
        if row is None or not _apply(conn, "step_executions", sid):
            continue
        if row[0]:
            phase_ids.add(row[0])
        if row[1]:
            wf_ids.add(row[1])
    for pid in sorted(phase_ids):
        _apply(conn, "phase_logs", pid)
    return {wid for wid in sorted(wf_ids) if _apply(conn, "workflow_history", wid)}


def add_columns(conn: sqlite3.Connection) -> None:
    """Migration 3: ``workflow_history.parent_id`` and the ``nested_*`` columns."""
    conn.execute("ALTER TABLE workflow_history ADD COLUMN parent_id TEXT")
    for table in TABLES:
        for col in NESTED_COLUMNS:
            kind = "REAL" if col == "nested_cost_usd" else "INTEGER"
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {col} {kind}")
    conn.execute("CREATE INDEX idx_workflow_history_parent ON workflow_history (parent_id)")
