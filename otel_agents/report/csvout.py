"""CSV export: one row per step attempt (``attempts``) or per task (``tasks``).

Columns are documented in docs/report.md; ``success`` is ``true``/``false``, times are ISO
8601 UTC, durations seconds, costs USD. A cost whose model calls are all unpriced is ``-``
(unknown, never 0); ``unpriced_model_calls`` says how many calls a cost leaves out. Other
empty cells are unknown values.
"""

from __future__ import annotations

import csv
from typing import IO, Any

#: (column, SQL expression over ``s`` = v_st, ``w`` = wf, ``t`` = step_tools)
STEP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("timestamp", "s.start_time"),
    ("session_id", "COALESCE(s.session_id, w.session_id)"),
    ("workflow_id", "s.workflow_id"),
    ("workflow_name", "w.workflow_name"),
    ("template", "w.template"),
    ("task_id", "s.task_id"),
    ("phase", "s.phase_name"),
    ("step", "s.step_name"),
    ("assigned_agent", "s.agent"),
    ("model", "s.model"),
    ("attempt", "s.attempt"),
    ("success", "s.outcome = 'success'"),
    ("status", "s.outcome"),
    ("execution_time", "s.duration_seconds"),
    ("cost_usd", "s.cost_usd"),
    ("unpriced_model_calls", "COALESCE(s.unpriced_model_calls, 0)"),
    ("input_tokens", "s.input_tokens"),
    ("output_tokens", "s.output_tokens"),
    ("cache_read_tokens", "s.cache_read_tokens"),
    ("tool_calls", "COALESCE(t.n_tools, 0)"),
    ("failed_tool_calls", "COALESCE(t.n_failed, 0)"),
    ("tool_sequence", "t.seq"),
    ("error_category", "s.error_category"),
    ("error_type", "s.error_type"),
    ("error_message", "s.error_message"),
    ("machine", "COALESCE(s.host_name, w.host_name)"),
    ("service", "COALESCE(s.service_name, w.service_name)"),
)

#: (column, SQL expression over ``k`` = v_tasks)
TASK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("task_id", "k.task_id"),
    ("level", "k.level"),
    ("first_started_at", "k.first_started_at"),
    ("attempts", "k.attempts"),
    ("successes", "k.successes"),
    ("failures", "k.failures"),
    ("retries", "k.attempts - 1"),
    ("success", "k.successes > 0"),
    ("execution_time", "k.exec"),
    ("wall_clock_time", "k.wall"),
    ("idle_time", "greatest(0.0, k.wall - k.exec)"),
    ("cost_usd", "k.cost"),
    ("unpriced_model_calls", "k.unpriced"),
)

#: Rows of the ``scores``, ``outcomes`` and ``trends`` sections: one per run (one per day and group).
SECTION_ROWS = ("scores", "outcomes", "trends")
ROWS = ("attempts", "tasks", *SECTION_ROWS)
#: A cost whose model calls are all unpriced.
UNKNOWN = "-"
#: Older name of ``attempts``, still accepted.
ALIASES = {"steps": "attempts"}
_CHUNK = 10_000


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.9f}".rstrip("0").rstrip(".")
        return "0" if text in ("", "-0") else text
    return value


def write_csv(con: Any, out: IO[str], rows: str = "attempts") -> int:
    """Write the CSV of the selected rows (``con`` has the ``v_*`` views); returns the row count."""
    rows = ALIASES.get(rows, rows)
    if rows == "attempts":
        cols = STEP_COLUMNS
        sql = (
            f"SELECT {', '.join(expr for _c, expr in cols)} FROM v_st AS s "
            "LEFT JOIN wf AS w ON w.workflow_id = s.workflow_id "
            "LEFT JOIN step_tools AS t ON t.parent_id = s.record_id "
            "ORDER BY s.start_unix_nano, s.record_id"
        )
    elif rows == "tasks":
        cols = TASK_COLUMNS
        sql = (
            f"SELECT {', '.join(expr for _c, expr in cols)} FROM v_tasks AS k "
            "ORDER BY k.first_started_at, k.task_id, k.level DESC"
        )
    elif rows in SECTION_ROWS:
        return _write(con, out, _section_sql(rows))
    else:
        raise ValueError(f"unknown rows {rows!r}: use one of {', '.join(ROWS)}")
    return _write(con, out, sql, [c for c, _e in cols])


def _section_sql(rows: str) -> str:
    from importlib import import_module

    module = import_module(f"otel_agents.report.{rows}")
    return str(module.csv_sql())


def _write(con: Any, out: IO[str], sql: str, names: list[str] | None = None) -> int:
    """Write the rows of ``sql`` (columns ``names``, else the query's own); an unknown cost
    (``cost_usd`` empty with ``unpriced_model_calls``) is written ``-``."""
    writer = csv.writer(out, lineterminator="\n")
    cur = con.execute(sql)
    names = names or [d[0] for d in cur.description]
    writer.writerow(names)
    cost, unpriced = names.index("cost_usd"), names.index("unpriced_model_calls")
    n = 0
    while True:
        chunk = cur.fetchmany(_CHUNK)
        if not chunk:
            break
        writer.writerows(
            [UNKNOWN if i == cost and v is None and r[unpriced] else _cell(v) for i, v in enumerate(r)] for r in chunk
        )
        n += len(chunk)
    return n


#: The ``patterns`` CSV (``--rows patterns``): one row per pattern, most valuable first.
PATTERN_COLUMNS = (
    "id",
    "sequence",
    "length",
    "occurrences",
    "first_seen",
    "last_seen",
    "workflows",
    "workflow_ids",
    "steps",
    "input_tokens",
    "output_tokens",
    "tokens",
    "cost_usd",
    "unpriced_model_calls",
    "cost_per_occurrence_usd",
    "monthly_occurrences",
    "projected_monthly_saving_usd",
    "saving_share",
    "period_days",
    "status",
    "note",
    "decided_at",
)


def write_patterns_csv(section: dict[str, Any], out: IO[str]) -> int:
    """Write the ``patterns`` section as CSV (lists joined with ``;``, a step as ``phase/step:n``,
    the assumption repeated on each row); returns the row count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PATTERN_COLUMNS)
    a = section["assumptions"]
    for p in section["top"]:
        row = {
            **p,
            "workflow_ids": ";".join(p["workflow_ids"]),
            "steps": ";".join(f"{s['phase'] or ''}/{s['step'] or ''}:{s['occurrences']}" for s in p["steps"]),
            # unknown because of unpriced calls: "-", as everywhere in the CSV (never 0)
            **{
                k: UNKNOWN
                for k in ("cost_usd", "cost_per_occurrence_usd", "projected_monthly_saving_usd")
                if p[k] is None and p["unpriced_model_calls"]
            },
            "saving_share": a["saving_share"],
            "period_days": a["period_days"],
        }
        writer.writerow([_cell(row[c]) for c in PATTERN_COLUMNS])
    return len(section["top"])
