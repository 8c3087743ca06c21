"""The analytics store's schema: versioned migrations, and how to open the database.

The version lives in ``PRAGMA user_version``; each applied migration is also listed in
``schema_migrations``. :func:`migrate` applies the missing ones in one ``BEGIN IMMEDIATE``
transaction (DDL is transactional in SQLite), re-reading the version inside it, so several
processes opening an old database at once migrate it exactly once. A database written by a
NEWER version is never touched: :class:`SchemaTooNew` is raised.

To change the schema, append a :class:`Migration`; never edit one that has shipped.
``docs/analytics.md`` documents the tables and views.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_agents.foundation.files import private_dir

#: Milliseconds a writer waits for another process's lock before giving up.
DEFAULT_BUSY_TIMEOUT_MS = 10_000


class SchemaTooNew(RuntimeError):
    """The database was written by a newer otel-agents; this one will not write to it."""


Step = str | Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version: SQL statements (or callables) applied in order."""

    version: int
    description: str
    steps: tuple[Step, ...]


# --- version 1: the tables of seeds 001 and 003 -------------------------------------------------

_V1_WORKFLOW_HISTORY = """
CREATE TABLE workflow_history (
    workflow_id TEXT PRIMARY KEY,
    record_id TEXT,
    trace_id TEXT,
    workflow_name TEXT,
    template TEXT,
    issue_id TEXT,
    task_id TEXT,
    session_id TEXT,
    requested_model TEXT,
    model_used TEXT,
    models TEXT,
    provider TEXT,
    status TEXT NOT NULL,
    outcome TEXT,
    success INTEGER,
    start_time TEXT,
    end_time TEXT,
    start_unix_nano INTEGER,
    end_unix_nano INTEGER,
    duration_seconds REAL,
    phase_count INTEGER,
    step_count INTEGER,
    steps_completed INTEGER,
    steps_failed INTEGER,
    tool_call_count INTEGER,
    tool_calls_failed INTEGER,
    model_call_count INTEGER,
    unpriced_model_calls INTEGER,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_read_tokens INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens INTEGER,
    total_tokens INTEGER,
    cache_efficiency_percent REAL,
    token_breakdown TEXT,
    cost_usd REAL,
    cost_breakdown TEXT,
    phase_durations TEXT,
    idle_time_seconds REAL,
    bottleneck_phase TEXT,
    bottleneck_seconds REAL,
    error_type TEXT,
    error_message TEXT,
    error_category TEXT,
    retry_count INTEGER DEFAULT 0,
    retry_reasons TEXT,
    error_phase_distribution TEXT,
    recovery_time_seconds REAL,
    complexity TEXT,
    hour_of_day INTEGER,
    day_of_week INTEGER,
    service_name TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)"""

_V1_PHASE_LOGS = """
CREATE TABLE phase_logs (
    record_id TEXT PRIMARY KEY,
    workflow_id TEXT,
    trace_id TEXT,
    parent_id TEXT,
    workflow_name TEXT,
    template TEXT,
    phase_name TEXT,
    phase_number INTEGER,
    phase_status TEXT NOT NULL,
    outcome TEXT,
    success INTEGER,
    start_time TEXT,
    end_time TEXT,
    start_unix_nano INTEGER,
    end_unix_nano INTEGER,
    duration_seconds REAL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_read_tokens INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens INTEGER,
    tokens_used INTEGER,
    cost_usd REAL,
    model_calls INTEGER,
    unpriced_model_calls INTEGER,
    error_type TEXT,
    error_message TEXT,
    error_category TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)"""

_V1_STEP_EXECUTIONS = """
CREATE TABLE step_executions (
    record_id TEXT PRIMARY KEY,
    workflow_id TEXT,
    trace_id TEXT,
    parent_id TEXT,
    workflow_name TEXT,
    phase_name TEXT,
    step_name TEXT,
    agent TEXT,
    skill TEXT,
    command TEXT,
    task_id TEXT,
    session_id TEXT,
    model TEXT,
    provider TEXT,
    attempt INTEGER,
    retry_count INTEGER,
    status TEXT NOT NULL,
    outcome TEXT,
    success INTEGER,
    start_time TEXT,
    end_time TEXT,
    start_unix_nano INTEGER,
    end_unix_nano INTEGER,
    duration_seconds REAL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_read_tokens INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost_usd REAL,
    model_calls INTEGER,
    unpriced_model_calls INTEGER,
    error_type TEXT,
    error_message TEXT,
    error_category TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)"""

_V1_TOOL_CALLS = """
CREATE TABLE tool_calls (
    record_id TEXT PRIMARY KEY,
    call_id TEXT,
    workflow_id TEXT,
    trace_id TEXT,
    parent_id TEXT,
    session_id TEXT,
    phase_name TEXT,
    step_name TEXT,
    agent TEXT,
    tool_name TEXT,
    tool_type TEXT,
    status TEXT NOT NULL,
    outcome TEXT,
    success INTEGER,
    start_time TEXT,
    end_time TEXT,
    start_unix_nano INTEGER,
    end_unix_nano INTEGER,
    duration_seconds REAL,
    arguments_sha256 TEXT,
    arguments_length INTEGER,
    result_sha256 TEXT,
    result_length INTEGER,
    error_type TEXT,
    error_message TEXT,
    error_category TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)"""

_V1_HOOK_EVENTS = """
CREATE TABLE hook_events (
    event_id TEXT PRIMARY KEY,
    event_type TEXT,
    hook_source TEXT,
    detail TEXT,
    session_id TEXT,
    workflow_id TEXT,
    trace_id TEXT,
    span_id TEXT,
    tool_name TEXT,
    tool_use_id TEXT,
    timestamp TEXT,
    time_unix_nano INTEGER,
    payload TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)"""

_V1_INDEXES = (
    "CREATE INDEX idx_phase_logs_workflow ON phase_logs (workflow_id)",
    "CREATE INDEX idx_step_executions_workflow ON step_executions (workflow_id, phase_name, step_name, attempt)",
    "CREATE INDEX idx_tool_calls_workflow ON tool_calls (workflow_id)",
    "CREATE INDEX idx_hook_events_session ON hook_events (session_id, time_unix_nano)",
)

# --- version 2: model calls, day columns, attempt views, report indexes -------------------------

_V2_MODEL_CALLS = """
CREATE TABLE model_calls (
    record_id TEXT PRIMARY KEY,
    workflow_id TEXT,
    trace_id TEXT,
    parent_id TEXT,
    session_id TEXT,
    phase_name TEXT,
    step_name TEXT,
    agent TEXT,
    model TEXT,
    response_model TEXT,
    provider TEXT,
    status TEXT NOT NULL,
    outcome TEXT,
    success INTEGER,
    start_time TEXT,
    end_time TEXT,
    start_unix_nano INTEGER,
    end_unix_nano INTEGER,
    duration_seconds REAL,
    day TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cache_read_tokens INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens INTEGER,
    cost_usd REAL,
    cost_source TEXT,
    cost_unavailable_reason TEXT,
    error_type TEXT,
    error_message TEXT,
    error_category TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)"""

_DAY_TABLES = ("workflow_history", "phase_logs", "step_executions", "tool_calls")


def _add_day_columns(conn: sqlite3.Connection) -> None:
    """Add ``day`` (UTC date of the start, YYYY-MM-DD) and fill it from ``start_time``."""
    for table in _DAY_TABLES:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN day TEXT")
        conn.execute(f"UPDATE {table} SET day = substr(start_time, 1, 10) WHERE start_time IS NOT NULL")


#: One row per (workflow, phase, step name): seed 002's attempt semantics.
_V2_TASK_ATTEMPTS = """
CREATE VIEW task_attempts AS
SELECT workflow_id, phase_name, step_name,
       MAX(agent) AS agent,
       MAX(CASE WHEN rn_last = 1 THEN model END) AS model,
       COUNT(*) AS attempts,
       COUNT(*) - 1 AS retries,
       SUM(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) AS successes,
       SUM(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END) AS failures,
       SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned,
       MAX(CASE WHEN rn_last = 1 THEN status END) AS final_status,
       MIN(start_time) AS first_started_at,
       MAX(end_time) AS last_ended_at,
       SUM(duration_seconds) AS total_execution_seconds,
       (MAX(end_unix_nano) - MIN(start_unix_nano)) / 1e9 AS wall_clock_seconds,
       ROUND(MAX(0.0, (MAX(end_unix_nano) - MIN(start_unix_nano)) / 1e9 - SUM(duration_seconds)), 9) AS idle_seconds,
       SUM(cost_usd) AS cost_usd,
       SUM(input_tokens) AS input_tokens,
       SUM(output_tokens) AS output_tokens
FROM (
    SELECT s.*, ROW_NUMBER() OVER (
        PARTITION BY workflow_id, phase_name, step_name ORDER BY attempt DESC, start_unix_nano DESC
    ) AS rn_last
    FROM step_executions AS s
)
GROUP BY workflow_id, phase_name, step_name"""

#: One row per task id and level: each workflow run, or each step, carrying that task id is one attempt.
_V2_TASK_ATTEMPTS_BY_TASK = """
CREATE VIEW task_attempts_by_task AS
SELECT task_id, 'workflow' AS level,
       COUNT(*) AS attempts,
       COUNT(*) - 1 AS retries,
       SUM(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) AS successes,
       SUM(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END) AS failures,
       MIN(start_time) AS first_started_at,
       MAX(end_time) AS last_ended_at,
       SUM(duration_seconds) AS total_execution_seconds,
       (MAX(end_unix_nano) - MIN(start_unix_nano)) / 1e9 AS wall_clock_seconds,
       ROUND(MAX(0.0, (MAX(end_unix_nano) - MIN(start_unix_nano)) / 1e9 - SUM(duration_seconds)), 9) AS idle_seconds,
       SUM(cost_usd) AS cost_usd
FROM workflow_history WHERE task_id IS NOT NULL GROUP BY task_id
UNION ALL
SELECT task_id, 'step' AS level,
       COUNT(*), COUNT(*) - 1,
       SUM(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END),
       SUM(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END),
       MIN(start_time), MAX(end_time),
       SUM(duration_seconds),
       (MAX(end_unix_nano) - MIN(start_unix_nano)) / 1e9,
       ROUND(MAX(0.0, (MAX(end_unix_nano) - MIN(start_unix_nano)) / 1e9 - SUM(duration_seconds)), 9),
       SUM(cost_usd)
FROM step_executions WHERE task_id IS NOT NULL GROUP BY task_id"""

#: Seed 003's per-agent metrics, per workflow run.
_V2_AGENT_METRICS = """
CREATE VIEW agent_metrics AS
SELECT workflow_id, COALESCE(agent, step_name) AS agent,
       COUNT(*) AS attempts,
       SUM(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) AS successes,
       SUM(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END) AS failures,
       SUM(CASE WHEN attempt > 1 THEN 1 ELSE 0 END) AS retries,
       SUM(duration_seconds) AS duration_seconds,
       SUM(cost_usd) AS cost_usd
FROM step_executions
GROUP BY workflow_id, COALESCE(agent, step_name)"""

#: Seed 003's debugging cycles: a step that failed, and the attempts that followed.
_V2_DEBUGGING_CYCLES = """
CREATE VIEW debugging_cycles AS
SELECT workflow_id, phase_name, step_name,
       MAX(agent) AS agent,
       SUM(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END) AS failures,
       SUM(CASE WHEN start_unix_nano >= ff_end THEN 1 ELSE 0 END) AS fix_attempts,
       MAX(CASE WHEN rn_last = 1 THEN success END) AS resolved,
       MAX(CASE WHEN rn_fail = 1 THEN error_type END) AS error_type,
       MAX(CASE WHEN rn_fail = 1 THEN error_category END) AS error_category,
       MAX(CASE WHEN rn_fail = 1 THEN error_message END) AS error_message,
       MAX(CASE WHEN rn_fail = 1 THEN end_time END) AS first_failure_at,
       (MAX(end_unix_nano) - MIN(ff_end)) / 1e9 AS duration_seconds
FROM (
    SELECT s.*,
           MIN(CASE WHEN outcome = 'failure' THEN end_unix_nano END) OVER (
               PARTITION BY workflow_id, phase_name, step_name) AS ff_end,
           ROW_NUMBER() OVER (
               PARTITION BY workflow_id, phase_name, step_name ORDER BY attempt DESC, start_unix_nano DESC
           ) AS rn_last,
           ROW_NUMBER() OVER (
               PARTITION BY workflow_id, phase_name, step_name
               ORDER BY CASE WHEN outcome = 'failure' THEN 0 ELSE 1 END, attempt, start_unix_nano
           ) AS rn_fail
    FROM step_executions AS s
)
GROUP BY workflow_id, phase_name, step_name
HAVING SUM(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END) > 0"""

_V2_INDEXES = (
    "CREATE INDEX idx_model_calls_workflow ON model_calls (workflow_id)",
    "CREATE INDEX idx_model_calls_parent ON model_calls (parent_id)",
    "CREATE INDEX idx_model_calls_model_day ON model_calls (model, day)",
    "CREATE INDEX idx_model_calls_day ON model_calls (day)",
    "CREATE INDEX idx_workflow_history_day ON workflow_history (day)",
    "CREATE INDEX idx_workflow_history_template ON workflow_history (template)",
    "CREATE INDEX idx_workflow_history_model ON workflow_history (model_used)",
    "CREATE INDEX idx_workflow_history_status ON workflow_history (status)",
    "CREATE INDEX idx_workflow_history_session ON workflow_history (session_id)",
    "CREATE INDEX idx_workflow_history_task ON workflow_history (task_id)",
    "CREATE INDEX idx_phase_logs_name_day ON phase_logs (phase_name, day)",
    "CREATE INDEX idx_step_executions_parent ON step_executions (parent_id)",
    "CREATE INDEX idx_step_executions_agent ON step_executions (agent)",
    "CREATE INDEX idx_step_executions_model ON step_executions (model)",
    "CREATE INDEX idx_step_executions_task ON step_executions (task_id)",
    "CREATE INDEX idx_step_executions_day ON step_executions (day)",
    "CREATE INDEX idx_tool_calls_parent ON tool_calls (parent_id, start_unix_nano)",
    "CREATE INDEX idx_tool_calls_tool ON tool_calls (tool_name, day)",
    "CREATE INDEX idx_tool_calls_session ON tool_calls (session_id)",
    "CREATE INDEX idx_tool_calls_call_id ON tool_calls (call_id)",
    "CREATE INDEX idx_hook_events_type ON hook_events (event_type)",
    "CREATE INDEX idx_hook_events_workflow ON hook_events (workflow_id)",
    "CREATE INDEX idx_hook_events_tool_use ON hook_events (tool_use_id)",
)


def _add_nested_columns(conn: sqlite3.Connection) -> None:
    from otel_agents.analytics.nested import add_columns

    add_columns(conn)


# --- version 4: the machine and the service on every row (a store shared by many machines) ------

_MACHINE_TABLES = ("workflow_history", "phase_logs", "step_executions", "tool_calls", "model_calls", "hook_events")


def _add_machine_columns(conn: sqlite3.Connection) -> None:
    """Add ``host_name`` everywhere and ``service_name`` where missing; rows written before
    (by one machine) keep NULL: the report shows them as an unknown machine."""
    for table in _MACHINE_TABLES:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN host_name TEXT")
        if table != "workflow_history":
            conn.execute(f"ALTER TABLE {table} ADD COLUMN service_name TEXT")


_V4_INDEXES = (
    "CREATE INDEX idx_workflow_history_host ON workflow_history (host_name, day)",
    "CREATE INDEX idx_workflow_history_service ON workflow_history (service_name, day)",
)


# --- version 6: patterns: a tool call's program and file types; automation decisions for patterns ------

#: One row per pattern id (``otel_agents.report.patterns``): its latest decision. Plain portable SQL.
_PATTERN_DECISIONS = """
CREATE TABLE pattern_decisions (
    pattern_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    note TEXT,
    decided_at TEXT NOT NULL
)"""

# --- version 7: estimates and outcomes recorded by workflow id ----------------------------------

#: Appended, never updated: the latest row of a (workflow_id, name) wins (the report joins by
#: ``workflow_id``; the run's own rows are never rewritten). Portable SQL.
_V7_WORKFLOW_OUTCOMES = (
    """CREATE TABLE workflow_outcomes (
    outcome_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    value_text TEXT,
    value_number REAL,
    recorded_at TEXT NOT NULL
)""",
    "CREATE INDEX idx_workflow_outcomes_workflow ON workflow_outcomes (workflow_id, name)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "workflow_history, phase_logs, step_executions, tool_calls, hook_events",
        (_V1_WORKFLOW_HISTORY, _V1_PHASE_LOGS, _V1_STEP_EXECUTIONS, _V1_TOOL_CALLS, _V1_HOOK_EVENTS, *_V1_INDEXES),
    ),
    Migration(
        2,
        "model_calls; day columns; task_attempts, task_attempts_by_task, agent_metrics, debugging_cycles; indexes",
        (
            _V2_MODEL_CALLS,
            _add_day_columns,
            _V2_TASK_ATTEMPTS,
            _V2_TASK_ATTEMPTS_BY_TASK,
            _V2_AGENT_METRICS,
            _V2_DEBUGGING_CYCLES,
            *_V2_INDEXES,
        ),
    ),
    Migration(
        3,
        "runs nested under a step: workflow_history.parent_id; nested_* columns on steps, phases, workflows",
        (_add_nested_columns,),
    ),
    Migration(4, "host_name and service_name on every table; indexes", (_add_machine_columns, *_V4_INDEXES)),
    Migration(
        5,
        "step_executions.nested_sessions: the nested runs a step's own roll-up already includes",
        ("ALTER TABLE step_executions ADD COLUMN nested_sessions TEXT",),
    ),
    Migration(
        6,
        "pattern_decisions; tool_calls.executable, file_types: repeated tool-call patterns and their decisions",
        (
            _PATTERN_DECISIONS,
            "ALTER TABLE tool_calls ADD COLUMN executable TEXT",
            "ALTER TABLE tool_calls ADD COLUMN file_types TEXT",
        ),
    ),
    Migration(7, "workflow_outcomes: estimates and outcomes recorded by workflow id", _V7_WORKFLOW_OUTCOMES),
)

#: The version this code reads and writes.
LATEST_VERSION = MIGRATIONS[-1].version

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's schema version (0: empty)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def run_migrations(conn: Any, migrations: tuple[Migration, ...], current: int, goal: int) -> Iterator[Migration]:
    """Run the steps of every migration after ``current`` up to ``goal``, in order, in the
    caller's transaction; yields each migration once its steps ran, for the caller to record
    (SQLite and PostgreSQL record them differently)."""
    for migration in migrations:
        if current < migration.version <= goal:
            for step in migration.steps:
                if callable(step):
                    step(conn)
                else:
                    conn.execute(step)
            yield migration


def migrate(conn: sqlite3.Connection, *, target: int | None = None) -> list[int]:
    """Bring the schema up to ``target`` (default: latest). Returns the versions applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``), as :func:`connect`
    returns it. Raises :class:`SchemaTooNew` if the database is newer than this code.
    """
    goal = LATEST_VERSION if target is None else target
    current = schema_version(conn)
    if current > LATEST_VERSION:
        raise SchemaTooNew(
            f"analytics database schema v{current} is newer than this otel-agents (v{LATEST_VERSION}); "
            "upgrade otel-agents, or move the database aside"
        )
    if current >= goal:
        return []
    applied: list[int] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn)  # another process may have migrated meanwhile
        conn.execute(_MIGRATIONS_TABLE)
        for migration in run_migrations(conn, MIGRATIONS, current, goal):
            conn.execute(
                "INSERT OR REPLACE INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description, _now_iso()),
            )
            conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            applied.append(migration.version)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied


def _create_private_file(path: Path) -> None:
    """Create the database file with mode 0600 before SQLite does (its WAL and shm inherit it)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def connect(
    path: str | os.PathLike[str],
    *,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    readonly: bool = False,
    migrate_schema: bool = True,
) -> sqlite3.Connection:
    """Open the analytics database: WAL, busy timeout, autocommit, schema migrated.

    Writers must wrap every write in ``BEGIN IMMEDIATE`` ... ``COMMIT`` (see
    ``otel_agents.analytics.store``). ``readonly`` opens without creating or migrating.
    """
    p = Path(path)
    if readonly:
        conn = sqlite3.connect(
            f"{p.resolve().as_uri()}?mode=ro",
            uri=True,
            timeout=busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        return conn
    _create_private_file(p)
    conn = sqlite3.connect(str(p), timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        version = schema_version(conn)
        if version > LATEST_VERSION:  # refuse before changing anything, even the journal mode
            raise SchemaTooNew(
                f"analytics database schema v{version} is newer than this otel-agents (v{LATEST_VERSION}); "
                "upgrade otel-agents, or move the database aside"
            )
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch {p} to WAL (journal_mode is {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        if migrate_schema:
            migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn
