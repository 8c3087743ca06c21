"""Estimates and outcomes of a workflow run, recorded by workflow id into the analytics store.

An executor records what it expected at the start (:func:`record_estimates`) and what
happened at the end or any time later (:func:`record_outcome`: a pull request merged the
next day). Each value is one row of ``workflow_outcomes`` (appended, never updated: the
latest row of a name wins, the earlier ones stay as history); the run's spans and its
``workflow_history`` row are never rewritten, the report joins them by ``workflow_id``.

Telemetry never raises into the workflow: a failure to write is reported once
(``otel_agents.safety.report``) and the call returns ``False``. Under
``OTEL_AGENTS_STRICT=1`` it raises. Invalid values (a negative cost, a rate above 1) raise
``ValueError`` at once: they are the caller's bug, not a telemetry failure.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from pathlib import Path
from typing import Any

#: Estimates recorded at the start: name -> type.
ESTIMATES: dict[str, type] = {
    "estimated_cost_usd": float,
    "estimated_tokens": int,
    "estimated_duration_seconds": float,
    "complexity": str,
    "ambiguity": str,
}
#: Outcomes with a meaning the report knows: name -> type. Any other name is a named outcome.
OUTCOMES: dict[str, type] = {
    "pr_merged": bool,
    "time_to_merge_hours": float,
    "review_cycles": int,
    "ci_pass_rate": float,
}
#: How a yes/no value is stored in ``value_text`` (``value_number`` is 1 or 0).
YES = "true"
NO = "false"
#: How long a call waits for another writer's lock (a workflow must not wait long).
BUSY_TIMEOUT_MS = 2_000

_INSERT = (
    "INSERT INTO workflow_outcomes (outcome_id, workflow_id, kind, name, value_text, value_number, recorded_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _value(name: str, value: Any, typ: type | None) -> tuple[str | None, float | None]:
    """``value`` as (text, number) columns, checked against the type ``name`` expects."""
    if isinstance(value, bool) or typ is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, not {value!r}")
        return (YES if value else NO), float(value)
    if typ is str or (typ is None and isinstance(value, str)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, not {value!r}")
        return value, None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    if typ is int and value != int(value):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if value < 0 and typ is not None:
        raise ValueError(f"{name} cannot be negative: {value!r}")
    if name == "ci_pass_rate" and value > 1:
        raise ValueError(f"ci_pass_rate is a fraction from 0 to 1, not {value!r}")
    return None, float(value)


def rows_for(workflow_id: str, kind: str, values: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The ``workflow_outcomes`` rows for ``values`` (``None`` values left out); validates them."""
    if not isinstance(workflow_id, str) or not workflow_id:
        raise ValueError("workflow_id must be a non-empty string")
    known = ESTIMATES if kind == "estimate" else OUTCOMES
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = []
    for name, value in values.items():
        if value is None:
            continue
        if not name or not name.replace("_", "").replace(".", "").replace("-", "").isalnum():
            raise ValueError(f"an outcome name is letters, digits, '_', '.' or '-': {name!r}")
        text, number = _value(name, value, known.get(name))
        out.append((uuid.uuid4().hex, workflow_id, kind, name, text, number, now))
    return out


def open_store(store: str | os.PathLike[str] | None = None, *, home: str | os.PathLike[str] | None = None) -> Any:
    """The analytics store to record into: ``store`` (a SQLite file or a ``postgresql://``
    URL), else the configured one of ``home`` (``analytics.url``, else its SQLite file)."""
    from otel_agents.analytics.postgres import PgAnalyticsStore, is_url, open_store as configured
    from otel_agents.analytics.store import AnalyticsStore

    if store is None:
        from otel_agents.config import load_config

        return configured(load_config(home), busy_timeout_ms=BUSY_TIMEOUT_MS)
    if is_url(store):
        return PgAnalyticsStore(str(store), busy_timeout_ms=BUSY_TIMEOUT_MS)
    return AnalyticsStore(Path(store), busy_timeout_ms=BUSY_TIMEOUT_MS)


def append(store: Any, rows: list[tuple[Any, ...]]) -> None:
    """Append ``rows`` (from :func:`rows_for`) to ``store`` (an open analytics store, SQLite or
    PostgreSQL) in one writing transaction; raises on failure."""
    with store.session() as conn:
        store.begin(conn)
        try:
            for row in rows:
                conn.execute(_INSERT, row)
            conn.execute("COMMIT")
        except BaseException:
            store.rollback(conn)
            raise


def write(workflow_id: str, kind: str, values: dict[str, Any], *, home: str | os.PathLike[str] | None = None) -> bool:
    """Append ``values`` for ``workflow_id`` to the store of ``home``; False when it failed (reported)."""
    rows = rows_for(workflow_id, kind, values)
    if not rows:
        return True
    from otel_agents.safety import report

    try:
        store = open_store(home=home)
        try:
            append(store, rows)
        finally:
            store.close()
    except Exception as exc:  # noqa: BLE001 - telemetry never raises into the workflow
        report(f"record {kind}", exc)
        return False
    return True


def record_estimates(
    workflow_id: str,
    *,
    estimated_cost_usd: float | None = None,
    estimated_tokens: int | None = None,
    estimated_duration_seconds: float | None = None,
    complexity: str | None = None,
    ambiguity: str | None = None,
    home: str | os.PathLike[str] | None = None,
) -> bool:
    """Record what a run is expected to take (at its start); ``None`` values are not recorded."""
    return write(
        workflow_id,
        "estimate",
        {
            "estimated_cost_usd": estimated_cost_usd,
            "estimated_tokens": estimated_tokens,
            "estimated_duration_seconds": estimated_duration_seconds,
            "complexity": complexity,
            "ambiguity": ambiguity,
        },
        home=home,
    )


def record_outcome(
    workflow_id: str,
    *,
    pr_merged: bool | None = None,
    time_to_merge_hours: float | None = None,
    review_cycles: int | None = None,
    ci_pass_rate: float | None = None,
    home: str | os.PathLike[str] | None = None,
    **named: float | int | bool | str | None,
) -> bool:
    """Record what happened to a run, at its end or later (by its workflow id): the pull request
    merged or not, hours to merge, review cycles, CI pass rate (0..1), and any named outcome
    (a number, a boolean or a word). ``None`` values are not recorded."""
    values: dict[str, Any] = {
        "pr_merged": pr_merged,
        "time_to_merge_hours": time_to_merge_hours,
        "review_cycles": review_cycles,
        "ci_pass_rate": ci_pass_rate,
        **named,
    }
    return write(workflow_id, "outcome", values, home=home)


#: Rows in the order they were written: SQLite's ``rowid``, PostgreSQL's ``seq``.
_LATEST = {
    "rowid": "SELECT name, value_text, value_number FROM workflow_outcomes WHERE workflow_id = ? ORDER BY rowid",
    "seq": "SELECT name, value_text, value_number FROM workflow_outcomes WHERE workflow_id = ? ORDER BY seq",
}


def latest(store: Any, workflow_id: str) -> dict[str, Any]:
    """The latest value of each name recorded for ``workflow_id`` in ``store`` (an analytics store)."""
    from otel_agents.analytics.postgres import PgAnalyticsStore

    with store.session() as conn:
        found = conn.execute(
            _LATEST["seq" if isinstance(store, PgAnalyticsStore) else "rowid"], (workflow_id,)
        ).fetchall()
    out: dict[str, Any] = {}
    for name, text, number in found:
        typ = {**ESTIMATES, **OUTCOMES}.get(name)
        if typ is bool or (text in {YES, NO} and number is not None):
            out[name] = text == YES
        elif text is not None:
            out[name] = text
        else:
            out[name] = int(number) if typ is int else number
    return out
