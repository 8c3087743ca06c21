"""The report's columnar cache: the analytics store's rows, copied into DuckDB and kept in step.

The analytics store (SQLite, ``<home>/analytics/history.db``) is built for many concurrent
writers; the report reads millions of rows, which SQLite does slowly. So the report keeps a
DuckDB copy of the columns it reads, next to the store (``history.report.duckdb``), and
brings it up to date at the start of every report:

- **new rows** are found by SQLite ``rowid``: writers are serialised, so rowids grow in
  commit order; every table's watermark is the highest rowid copied. The first sync (and a
  large backlog) reads whole tables with DuckDB's parallel SQLite scan; small increments go
  through ``sqlite_query`` with ``rowid > ?`` (an index range, not a scan).
- **changed rows**: the store rewrites a ``workflow_history`` row when rows arrive under a
  workflow already stored (its aggregates are recomputed), so such workflows are fetched
  again. What the store fills in later on other rows (a model call's phase, step and agent,
  a step's model, a child's session) is derived here the same way, from the cached rows.
- **per-step tool summaries** (the tool sequence, also in its normalised form for the
  patterns: each call with its program and file types; per-tool counts, repeated arguments) are
  computed for the steps that got new tool calls.

The cache is rebuilt from scratch when its format, the store file (inode) or the store's
schema version changes, or when a table's highest rowid went down; ``--rebuild-cache``
forces it. It is derived data: deleting it loses nothing. A failed error category
(``otel_agents.errors.categorize``, the one place for the rules) is filled in for failed
rows recorded without one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_agents.errors import categorize
from otel_agents.report import logical
from otel_agents.report.logical import RUN_MODELS_COLUMNS, RUN_TOOLS_COLUMNS, run_models_sql, run_tools_sql
from otel_agents.report.outcomes import RUN_OUTCOMES_COLUMNS, latest_sql, per_run_sql
from otel_agents.report.patterns import PATTERN_COLUMNS, stats_sql
from otel_agents.report.pgsource import PgSource
from otel_agents.report.scores import RUN_STEPS_COLUMNS, run_steps_sql, scored_sql

#: The store: the SQLite file, or a PostgreSQL one.
Store = Path | PgSource

#: Bump when the cache's tables or derivations change: old caches are rebuilt.
FORMAT = "10"
#: A backlog above this many rows in one table is read with the parallel full scan.
BULK_ROWS = 100_000
_IN_CHUNK = 200

V, I, D = "VARCHAR", "BIGINT", "DOUBLE"  # noqa: E741  column types, short for the tables below


@dataclass(frozen=True, slots=True)
class Table:
    """A cached table: DuckDB name, SQLite source table, primary key, (column, type) pairs."""

    name: str
    source: str
    key: str
    columns: tuple[tuple[str, str], ...]
    #: columns derived in the cache (not copied)
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _t in self.columns)


_ERR = (("error_type", V), ("error_category", V), ("error_message", V))
TABLES: tuple[Table, ...] = (
    Table(
        "wf",
        "workflow_history",
        "workflow_id",
        (
            ("workflow_id", V),
            ("workflow_name", V),
            ("template", V),
            ("model_used", V),
            ("status", V),
            ("outcome", V),
            ("session_id", V),
            ("task_id", V),
            ("complexity", V),
            ("start_unix_nano", I),
            ("end_unix_nano", I),
            ("start_time", V),
            ("day", V),
            ("duration_seconds", D),
            ("cost_usd", D),
            ("input_tokens", I),
            ("output_tokens", I),
            ("cache_read_tokens", I),
            ("cache_write_tokens", I),
            ("idle_time_seconds", D),
            ("bottleneck_phase", V),
            ("bottleneck_seconds", D),
            ("retry_count", I),
            ("phase_count", I),
            ("step_count", I),
            ("tool_call_count", I),
            ("trace_id", V),
            ("model_call_count", I),
            ("unpriced_model_calls", I),
            *_ERR,
            ("host_name", V),
            ("service_name", V),
        ),
    ),
    Table(
        "ph",
        "phase_logs",
        "record_id",
        (
            ("record_id", V),
            ("workflow_id", V),
            ("phase_name", V),
            ("phase_number", I),
            ("outcome", V),
            ("start_unix_nano", I),
            ("end_unix_nano", I),
            ("day", V),
            ("duration_seconds", D),
            ("cost_usd", D),
            ("unpriced_model_calls", I),
            *_ERR,
        ),
    ),
    Table(
        "st",
        "step_executions",
        "record_id",
        (
            ("record_id", V),
            ("workflow_id", V),
            ("parent_id", V),
            ("phase_name", V),
            ("step_name", V),
            ("agent", V),
            ("task_id", V),
            ("session_id", V),
            ("model", V),
            ("attempt", I),
            ("outcome", V),
            ("start_unix_nano", I),
            ("end_unix_nano", I),
            ("start_time", V),
            ("day", V),
            ("duration_seconds", D),
            ("cost_usd", D),
            ("input_tokens", I),
            ("output_tokens", I),
            ("cache_read_tokens", I),
            ("cache_write_tokens", I),
            ("unpriced_model_calls", I),
            *_ERR,
            ("host_name", V),
            ("service_name", V),
        ),
        extra=(("tool_cause", "BOOLEAN"),),
    ),
    Table(
        "tc",
        "tool_calls",
        "record_id",
        (
            ("record_id", V),
            ("workflow_id", V),
            ("parent_id", V),
            ("phase_name", V),
            ("step_name", V),
            ("agent", V),
            ("tool_name", V),
            ("outcome", V),
            ("start_unix_nano", I),
            ("day", V),
            ("duration_seconds", D),
            ("arguments_sha256", V),
            ("executable", V),
            ("file_types", V),
            *_ERR,
        ),
    ),
    Table(
        "mc",
        "model_calls",
        "record_id",
        (
            ("record_id", V),
            ("workflow_id", V),
            ("parent_id", V),
            ("phase_name", V),
            ("step_name", V),
            ("agent", V),
            ("model", V),
            ("provider", V),
            ("outcome", V),
            ("start_unix_nano", I),
            ("day", V),
            ("duration_seconds", D),
            ("input_tokens", I),
            ("output_tokens", I),
            ("cache_read_tokens", I),
            ("cache_write_tokens", I),
            ("cost_usd", D),
            ("host_name", V),
            ("service_name", V),
        ),
        extra=(("template", V), ("complexity", V), ("step_outcome", V), ("first_in_step", "BOOLEAN")),
    ),
    Table(  # appended only: the latest row of a (workflow_id, name) wins
        "oc",
        "workflow_outcomes",
        "outcome_id",
        (
            ("outcome_id", V),
            ("workflow_id", V),
            ("kind", V),
            ("name", V),
            ("value_text", V),
            ("value_number", D),
        ),
    ),
)
TABLE = {t.name: t for t in TABLES}
_KIND = {"st": "step", "tc": "tool_call", "ph": "phase", "wf": "workflow"}

#: Per-step tool summaries (``parent_id`` is the step's span id).
_DERIVED = (
    "CREATE TABLE IF NOT EXISTS step_tools (parent_id VARCHAR, workflow_id VARCHAR, first_start BIGINT,"
    " n_tools BIGINT, n_failed BIGINT, seq VARCHAR, pseq VARCHAR)",
    "CREATE TABLE IF NOT EXISTS step_tool_counts (parent_id VARCHAR, workflow_id VARCHAR, tool_name VARCHAR, n BIGINT,"
    " step_cost DOUBLE, step_unpriced BIGINT)",
    "CREATE TABLE IF NOT EXISTS tool_dups (parent_id VARCHAR, workflow_id VARCHAR, tool_name VARCHAR,"
    " arguments_sha256 VARCHAR, n BIGINT)",
    f"CREATE TABLE IF NOT EXISTS steps_logical ({logical.COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS tasks_all ({logical.TASK_COLUMNS})",
    "CREATE TABLE IF NOT EXISTS wall_union (workflow_id VARCHAR, wall DOUBLE)",
    f"CREATE TABLE IF NOT EXISTS tool_runs ({RUN_TOOLS_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS model_runs ({RUN_MODELS_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS pattern_stats ({PATTERN_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS run_steps ({RUN_STEPS_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS run_outcomes ({RUN_OUTCOMES_COLUMNS})",
)
_DERIVED_TABLES = ("step_tools", "step_tool_counts", "tool_dups")
_PER_RUN_TABLES = (
    "wall_union",
    "tool_runs",
    "model_runs",
    "run_steps",
    "run_outcomes",
    "run_scores",
    "run_outcome_rows",
)
#: Separator of a tool sequence: ``Read→Edit→Bash``.
ARROW = "\u2192"


@dataclass(slots=True)
class SyncStats:
    """What one :func:`sync` did."""

    rebuilt: bool = False
    reason: str = ""
    copied: dict[str, int] = field(default_factory=dict)
    refreshed_workflows: int = 0
    seconds: float = 0.0
    #: seconds per stage (copy of each table, enrichment, tool summaries, ...)
    timings: dict[str, float] = field(default_factory=dict)

    def lap(self, stage: str, since: float) -> float:
        """Record ``stage`` as having taken from ``since`` until now; returns now."""
        now = time.perf_counter()
        self.timings[stage] = round(self.timings.get(stage, 0.0) + now - since, 3)
        return now


def cache_path_for(store: Path) -> Path:
    """Where the cache of ``store`` lives: ``history.db`` -> ``history.report.duckdb``."""
    return store.with_name(store.stem + ".report.duckdb")


def _quote(text: str) -> str:
    """A SQL string literal (for ATTACH, which takes no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def _create(con: Any) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    for t in TABLES:
        cols = ", ".join(f"{c} {typ}" for c, typ in t.columns + t.extra)
        con.execute(f"CREATE TABLE IF NOT EXISTS {t.name} (rid BIGINT, {cols})")
    for sql in _DERIVED:
        con.execute(sql)


def _drop(con: Any) -> None:
    for name in (
        "meta",
        *(t.name for t in TABLES),
        *_DERIVED_TABLES,
        "steps_logical",
        "tasks_all",
        *_PER_RUN_TABLES,
        "pattern_stats",
    ):
        con.execute(f"DROP TABLE IF EXISTS {name}")


def _meta(con: Any) -> dict[str, str]:
    try:
        return dict(con.execute("SELECT key, value FROM meta").fetchall())
    except Exception:  # noqa: BLE001 - no meta table: an empty cache
        return {}


def _set_meta(con: Any, values: dict[str, str]) -> None:
    for k, v in values.items():
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [k, v])


def _source_identity(store: Path) -> str:
    st = os.stat(store)
    return f"{st.st_dev}:{st.st_ino}"


def probe(store: Path, marks: dict[str, int] | None = None) -> tuple[int, dict[str, int], dict[str, str | None]]:
    """The store's schema version, each table's highest rowid, and the key of the row at each
    table's ``marks`` rowid (the cache's watermarks: if that row's key changed, the file was
    replaced or renumbered). Read with the standard library, in milliseconds; the connection
    is closed before DuckDB opens the file (two SQLite libraries in one process must not
    hold the same file at once).
    """
    import sqlite3

    conn = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tops: dict[str, int] = {}
        keys: dict[str, str | None] = {}
        for t in TABLES:
            try:
                tops[t.name] = int(conn.execute(f"SELECT max(rowid) FROM {t.source}").fetchone()[0] or 0)
                mark = (marks or {}).get(t.name, 0)
                if mark:
                    row = conn.execute(f"SELECT {t.key} FROM {t.source} WHERE rowid = ?", (mark,)).fetchone()
                    keys[t.name] = row[0] if row else None
            except sqlite3.OperationalError:  # an older schema without the table
                tops[t.name] = 0
        return version, tops, keys
    finally:
        conn.close()


def _anchors(con: Any, marks: dict[str, int]) -> dict[str, str | None]:
    """The cached key at each watermark rowid."""
    out: dict[str, str | None] = {}
    for t in TABLES:
        if marks.get(t.name):
            row = con.execute(f"SELECT {t.key} FROM {t.name} WHERE rid = ?", [marks[t.name]]).fetchone()
            out[t.name] = row[0] if row else None
    return out


def attach(con: Any, store: Path) -> None:
    """Attach the SQLite store read-only as ``src``."""
    con.execute(f"ATTACH {_quote(str(store))} AS src (TYPE sqlite, READ_ONLY)")


def _copy_scan(con: Any, t: Table, lo: int) -> None:
    """Rows with ``rowid > lo`` by DuckDB's parallel, typed scan of the whole table."""
    cols = ", ".join(t.column_names)
    where = " WHERE rowid > ?" if lo else ""
    con.execute(
        f"INSERT INTO {t.name} (rid, {cols}) SELECT rowid, {cols} FROM src.{t.source}{where}", [lo] if lo else []
    )


def _sqlite_select(t: Table) -> str:
    """SQLite SELECT of a table's columns as text; REALs with 17 significant digits (exact)."""
    parts = ["CAST(rowid AS TEXT)"]
    for c, typ in t.columns:
        parts.append(f"CASE WHEN {c} IS NULL THEN NULL ELSE printf('%!.17g', {c}) END" if typ == D else c)
    return f"SELECT {', '.join(parts)} FROM {t.source}"


def _typed(t: Table) -> str:
    """The outer DuckDB projection casting ``sqlite_query``'s text columns back to their types."""
    names = ["rid", *t.column_names]
    types = [I, *(typ for _c, typ in t.columns)]
    return ", ".join(f"CAST({n} AS {typ})" for n, typ in zip(names, types, strict=True))


def _copy_query(con: Any, t: Table, lo: int) -> None:
    """Rows with ``rowid > lo`` through SQLite itself (a rowid range: fast for small backlogs)."""
    names = ["rid", *t.column_names]
    inner = _sqlite_select(t) + " WHERE rowid > ?"
    con.execute(
        f"INSERT INTO {t.name} ({', '.join(names)}) SELECT {_typed(t)} FROM ("
        f"SELECT * FROM sqlite_query('src', {_quote(inner)}, params=struct_pack(lo := $1::BIGINT))"
        f") AS q({', '.join(names)})",
        [lo],
    )


def _refetch_workflows(con: Any, ids: list[str]) -> None:
    """Fetch ``workflow_history`` rows again (their aggregates changed) and replace them."""
    t = TABLE["wf"]
    names = ["rid", *t.column_names]
    for i in range(0, len(ids), _IN_CHUNK):
        chunk = ids[i : i + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        inner = _sqlite_select(t) + f" WHERE workflow_id IN ({marks})"
        params = ", ".join(f"p{j} := ${j + 1}::VARCHAR" for j in range(len(chunk)))
        con.execute("DELETE FROM wf WHERE workflow_id IN (SELECT unnest($1::VARCHAR[]))", [chunk])
        con.execute(
            f"INSERT INTO wf SELECT {_typed(t)} FROM ("
            f"SELECT * FROM sqlite_query('src', {_quote(inner)}, params=struct_pack({params}))"
            f") AS q({', '.join(names)})",
            chunk,
        )


_NESTED_SUMS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "unpriced_model_calls")
#: The columns a nested run changes, as SQLite text (REALs exact, as ``_sqlite_select``).
_NESTED_SELECT = ", ".join(_NESTED_SUMS) + ", CASE WHEN cost_usd IS NULL THEN NULL ELSE printf('%!.17g', cost_usd) END"


def _source_rows(con: Any, pg: Any, inner: str, param: int | str) -> Any:
    """Run ``inner`` (one ``?`` parameter) on the store, SQLite or PostgreSQL; a DuckDB result."""
    if pg is not None:  # postgres_query takes no parameters: the value goes in as a literal
        literal = str(int(param)) if isinstance(param, int) else _quote(param)
        return con.execute(f"SELECT * FROM postgres_query('src', {_quote(inner.replace('?', literal))})")
    kind = "BIGINT" if isinstance(param, int) else "VARCHAR"
    return con.execute(
        f"SELECT * FROM sqlite_query('src', {_quote(inner)}, params=struct_pack(p := $1::{kind}))", [param]
    )


def _nested_updates(con: Any, lo_wf: int, pg: Any = None) -> list[str]:
    """Rows a run nested under a step (``otel_agents.analytics.nested``, stored after
    ``lo_wf``) rolled up into after this cache had copied them: the store updates the step's,
    phase's and workflow's sums in place, so they are read again here. Steps and phases are
    updated (their logical steps recomputed through ``model_filled``); the workflows are
    returned, to be fetched again with the other stale runs."""
    if not lo_wf:
        return []
    inner = (
        "SELECT DISTINCT s.record_id, s.parent_id, s.workflow_id FROM workflow_history AS c"
        f" JOIN step_executions AS s ON s.record_id = c.parent_id WHERE c.{'seq' if pg is not None else 'rowid'} > ?"
    )
    found = _source_rows(con, pg, inner, lo_wf).fetchall()
    if not found:
        return []
    for table, source, ids in (
        ("st", "step_executions", sorted({r[0] for r in found})),
        ("ph", "phase_logs", sorted({r[1] for r in found if r[1]})),
    ):
        inner = f"SELECT {_NESTED_SELECT} FROM {source} WHERE record_id = ?"
        for rid in ids:
            row = _source_rows(con, pg, inner, rid).fetchone()
            if row is None:
                continue
            names = [c for c, _t in TABLE[table].columns if c in (*_NESTED_SUMS, "cost_usd")]
            values = dict(zip((*_NESTED_SUMS, "cost_usd"), row, strict=True))
            values["cost_usd"] = None if values["cost_usd"] is None else float(values["cost_usd"])
            sets = ", ".join(f"{n} = ?" for n in names)  # cache columns (TABLE specs)
            con.execute(f"UPDATE {table} SET {sets} WHERE record_id = ?", [values[n] for n in names] + [rid])
        if table == "st" and ids:
            con.execute("INSERT INTO model_filled SELECT unnest($1::VARCHAR[])", [ids])
    return sorted({r[2] for r in found if r[2]})


def _fill_categories(con: Any, table: str, lo: int) -> None:
    """Failed rows recorded without an error category get one from ``errors.categorize``."""
    kind = _KIND[table]
    rows = con.execute(
        f"SELECT DISTINCT error_type, error_message FROM {table}"
        " WHERE rid > ? AND outcome = 'failure' AND error_category IS NULL",
        [lo],
    ).fetchall()
    for etype, message in rows:
        con.execute(
            f"UPDATE {table} SET error_category = ? WHERE rid > ? AND outcome = 'failure'"
            " AND error_category IS NULL AND error_type IS NOT DISTINCT FROM ? AND error_message IS NOT DISTINCT FROM ?",
            [categorize(etype, message, kind=kind), lo, etype, message],
        )


def _enrich(con: Any, old: dict[str, int]) -> None:
    """What the store fills in later, derived here from cached rows, for new rows only (each
    join starts from the few rows that can change)."""
    # a model call's phase, step and agent from its parent step, else its parent phase
    con.execute(
        """CREATE OR REPLACE TEMP TABLE mc_todo AS SELECT rid, parent_id FROM mc
           WHERE (phase_name IS NULL OR step_name IS NULL OR agent IS NULL)
             AND (rid > ? OR parent_id IN (SELECT record_id FROM st WHERE rid > ?)
                  OR parent_id IN (SELECT record_id FROM ph WHERE rid > ?))""",
        [old["mc"], old["st"], old["ph"]],
    )
    con.execute(
        """UPDATE mc SET phase_name = COALESCE(mc.phase_name, s.phase_name), step_name = COALESCE(mc.step_name, s.step_name),
                  agent = COALESCE(mc.agent, s.agent)
           FROM (SELECT record_id, phase_name, step_name, agent FROM st
                 WHERE record_id IN (SELECT parent_id FROM mc_todo)) AS s
           WHERE mc.parent_id = s.record_id AND mc.rid IN (SELECT rid FROM mc_todo)"""
    )
    con.execute(
        """UPDATE mc SET phase_name = p.phase_name
           FROM (SELECT record_id, phase_name FROM ph WHERE record_id IN (SELECT parent_id FROM mc_todo)) AS p
           WHERE mc.parent_id = p.record_id AND mc.phase_name IS NULL AND mc.rid IN (SELECT rid FROM mc_todo)"""
    )
    con.execute("DROP TABLE mc_todo")
    # a step that named no model: the one most of its model calls used (ties: cost, then name);
    # its logical step is recomputed (``model_filled``)
    if not con.execute("SELECT count(*) FROM st WHERE model IS NULL").fetchone()[0]:
        return
    con.execute("""CREATE OR REPLACE TEMP TABLE model_filled AS SELECT record_id FROM st
                   WHERE model IS NULL AND record_id IN (SELECT parent_id FROM mc WHERE model IS NOT NULL)""")
    con.execute(
        """UPDATE st SET model = m.model FROM (
               SELECT parent_id, arg_max(model, (n, cost, -rank)) AS model FROM (
                   SELECT parent_id, model, count(*) AS n, COALESCE(sum(cost_usd), 0) AS cost,
                          dense_rank() OVER (PARTITION BY parent_id ORDER BY model) AS rank
                   FROM mc WHERE model IS NOT NULL AND parent_id IN (SELECT record_id FROM model_filled)
                   GROUP BY parent_id, model) GROUP BY parent_id) AS m
           WHERE st.record_id = m.parent_id AND st.model IS NULL"""
    )


def _summarise_tools(con: Any, lo: int) -> None:
    """(Re)compute the per-step tool summaries of the steps with tool calls copied after ``lo``."""
    if lo > 0:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE changed AS"
            " SELECT DISTINCT parent_id FROM tc WHERE rid > ? AND parent_id IS NOT NULL",
            [lo],
        )
        for name in _DERIVED_TABLES:
            con.execute(f"DELETE FROM {name} WHERE parent_id IN (SELECT parent_id FROM changed)")
        src = "(SELECT * FROM tc WHERE parent_id IN (SELECT parent_id FROM changed))"
    else:
        src = "(SELECT * FROM tc WHERE parent_id IS NOT NULL)"
    name = "COALESCE(tool_name, '(unnamed)')"
    # the normalised form for the patterns: Bash(pytest), Edit(*.py), Read(*.md *.py)
    pname = (
        f"{name} || CASE WHEN executable IS NULL AND file_types IS NULL THEN ''"
        " ELSE '(' || concat_ws(' ', executable, file_types) || ')' END"
    )
    con.execute(
        f"""INSERT INTO step_tools
            SELECT parent_id, any_value(workflow_id), min(start_unix_nano), count(*),
                   count(*) FILTER (WHERE outcome = 'failure'),
                   array_to_string(list_transform(
                       list_sort(list(struct_pack(s := start_unix_nano, r := rid, t := {name}))), x -> x.t), ?),
                   array_to_string(list_transform(
                       list_sort(list(struct_pack(s := start_unix_nano, r := rid, t := {pname}))), x -> x.t), ?)
            FROM {src} GROUP BY parent_id""",
        [ARROW, ARROW],
    )
    con.execute(f"""INSERT INTO step_tool_counts
                    SELECT c.*, s.cost_usd, s.unpriced_model_calls FROM (
                        SELECT parent_id, any_value(workflow_id) AS workflow_id, {name} AS tool_name, count(*) AS n
                        FROM {src} GROUP BY parent_id, {name}) AS c
                    LEFT JOIN st AS s ON s.record_id = c.parent_id""")
    con.execute(f"""INSERT INTO tool_dups
                    SELECT parent_id, any_value(workflow_id), {name}, arguments_sha256, count(*)
                    FROM {src} WHERE arguments_sha256 IS NOT NULL
                    GROUP BY parent_id, {name}, arguments_sha256 HAVING count(*) > 1""")
    if lo > 0:
        con.execute("DROP TABLE changed")


def _pattern_stats(con: Any, old: dict[str, int]) -> None:
    """(Re)compute the unfiltered report's patterns (``pattern_stats``) whose step attempts
    changed: new tool calls (the sequences before and after, in ``pattern_touched``), new steps,
    steps whose sums or model were filled in (``model_filled``). A new cache, or most of the
    patterns changed: all of them, in one pass (cheaper than selecting the step attempts)."""
    if old["tc"] == 0 and old["st"] == 0:
        con.execute(f"INSERT INTO pattern_stats {stats_sql('step_tools')}")
        return
    con.execute(
        """INSERT INTO pattern_touched SELECT pseq FROM step_tools WHERE parent_id IN (
               SELECT parent_id FROM tc WHERE rid > ? UNION ALL SELECT record_id FROM st WHERE rid > ?
               UNION ALL SELECT record_id FROM model_filled)""",
        [old["tc"], old["st"]],
    )
    n = con.execute("SELECT count(DISTINCT seq) FROM pattern_touched").fetchone()[0]
    if 2 * n >= con.execute("SELECT count(*) FROM pattern_stats").fetchone()[0]:  # most: all, in one pass
        con.execute("DELETE FROM pattern_stats")
        con.execute(f"INSERT INTO pattern_stats {stats_sql('step_tools')}")
    elif n:
        con.execute("DELETE FROM pattern_stats WHERE seq IN (SELECT seq FROM pattern_touched)")
        touched = "(SELECT * FROM step_tools WHERE pseq IN (SELECT DISTINCT seq FROM pattern_touched))"
        con.execute(f"INSERT INTO pattern_stats {stats_sql(touched)}")


def _templates(con: Any, old: dict[str, int], refreshed: list[str]) -> None:
    """Each model call's workflow template and complexity (cost by template, models by
    complexity, without a join at report time)."""
    con.execute(
        """UPDATE mc SET template = w.template, complexity = w.complexity
           FROM (SELECT workflow_id, template, complexity FROM wf
                 WHERE rid > ? OR workflow_id IN (SELECT unnest(?::VARCHAR[]))
                    OR workflow_id IN (SELECT workflow_id FROM mc WHERE rid > ?)) AS w
           WHERE mc.workflow_id = w.workflow_id
             AND (mc.template IS DISTINCT FROM w.template OR mc.complexity IS DISTINCT FROM w.complexity)""",
        [old["wf"], refreshed, old["mc"]],
    )


def _tool_causes(con: Any, old: dict[str, int]) -> None:
    """Mark the failed step attempts that a failed tool call of their own explains (same error
    type: one exception, one error), for the steps and tool calls copied since ``old``."""
    con.execute(
        """UPDATE st SET tool_cause = true
           FROM (SELECT DISTINCT parent_id, error_type FROM tc WHERE outcome = 'failure'
                 AND (rid > ? OR parent_id IN (SELECT record_id FROM st WHERE rid > ? AND outcome = 'failure'))) AS t
           WHERE st.outcome = 'failure' AND st.record_id = t.parent_id AND st.error_type IS NOT DISTINCT FROM t.error_type
             AND st.tool_cause IS NOT true""",
        [old["tc"], old["st"]],
    )


def _per_run(con: Any, old: dict[str, int], refreshed: list[str]) -> None:
    """The tools and models (with the run's complexity) each run used, for the runs that got
    new tool or model calls, or whose workflow row is new or was refreshed."""
    if old["tc"] == 0 and old["mc"] == 0:
        con.execute(f"INSERT INTO tool_runs {run_tools_sql('tc')}")
        con.execute(f"INSERT INTO model_runs {run_models_sql('mc')}")
        return
    con.execute(
        """CREATE OR REPLACE TEMP TABLE touched_runs AS SELECT DISTINCT workflow_id FROM (
               SELECT workflow_id FROM tc WHERE rid > ? UNION ALL SELECT workflow_id FROM mc WHERE rid > ?
               UNION ALL SELECT workflow_id FROM wf WHERE rid > ? UNION ALL SELECT unnest(?::VARCHAR[]))""",
        [old["tc"], old["mc"], old["wf"], refreshed],
    )
    for table, sql, source in (("tool_runs", run_tools_sql, "tc"), ("model_runs", run_models_sql, "mc")):
        con.execute(
            f"DELETE FROM {table} WHERE workflow_id IN (SELECT workflow_id FROM touched_runs) OR workflow_id IS NULL"
        )
        rows = f"(SELECT * FROM {source} WHERE workflow_id IN (SELECT workflow_id FROM touched_runs) OR workflow_id IS NULL)"
        con.execute(f"INSERT INTO {table} {sql(rows)}")
    con.execute("DROP TABLE touched_runs")


def _step_links(con: Any, old: dict[str, int]) -> None:
    """Each model call's step attempt outcome, and whether it is the first call of its model in
    that attempt (so "which model works best" counts each attempt once per model, without a
    join at report time); for the calls and steps copied since ``old``."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE mc_steps AS
           SELECT DISTINCT parent_id FROM mc WHERE rid > ? AND parent_id IS NOT NULL
           UNION SELECT record_id FROM st WHERE rid > ?""",
        [old["mc"], old["st"]],
    )
    con.execute(
        """UPDATE mc SET step_outcome = s.outcome
           FROM (SELECT record_id, outcome FROM st WHERE record_id IN (SELECT parent_id FROM mc_steps)) AS s
           WHERE mc.parent_id = s.record_id AND mc.step_outcome IS DISTINCT FROM s.outcome"""
    )
    con.execute(
        """UPDATE mc SET first_in_step = (mc.rid = f.first)
           FROM (SELECT parent_id, model, min(rid) AS first FROM mc
                 WHERE parent_id IN (SELECT parent_id FROM mc_steps) GROUP BY parent_id, model) AS f
           WHERE mc.parent_id = f.parent_id AND mc.model IS NOT DISTINCT FROM f.model"""
    )
    con.execute("DROP TABLE mc_steps")


def _step_costs(con: Any, lo_st: int) -> None:
    """The cost (and unpriced calls) of the step that made the tool calls, for steps copied after
    ``lo_st`` whose tools came earlier."""
    con.execute(
        """UPDATE step_tool_counts SET step_cost = s.cost_usd, step_unpriced = s.unpriced_model_calls
           FROM st AS s WHERE s.rid > ? AND s.record_id = step_tool_counts.parent_id""",
        [lo_st],
    )


def _logical_steps(con: Any, lo_st: int) -> None:
    """(Re)compute the logical steps of the runs that got new attempts after ``lo_st`` (whole
    runs: a few steps each, found by plain equality)."""
    if lo_st == 0:
        con.execute(f"INSERT INTO steps_logical {logical.select_sql('st')}")
        con.execute(f"INSERT INTO wall_union {logical.wall_sql('steps_logical')}")
        con.execute(f"INSERT INTO run_steps {run_steps_sql('steps_logical')}")
        return
    con.execute(
        """CREATE OR REPLACE TEMP TABLE touched AS
                   SELECT DISTINCT workflow_id FROM st
                   WHERE rid > ? OR record_id IN (SELECT record_id FROM model_filled)""",
        [lo_st],
    )
    con.execute("DELETE FROM steps_logical WHERE workflow_id IN (SELECT workflow_id FROM touched)")
    con.execute("DELETE FROM steps_logical WHERE workflow_id IS NULL")  # runs without an id: recomputed whole
    source = "(SELECT * FROM st WHERE workflow_id IN (SELECT workflow_id FROM touched) OR workflow_id IS NULL)"
    con.execute(f"INSERT INTO steps_logical {logical.select_sql(source)}")
    con.execute("DELETE FROM wall_union WHERE workflow_id IN (SELECT workflow_id FROM touched) OR workflow_id IS NULL")
    steps = (
        "(SELECT * FROM steps_logical WHERE workflow_id IN (SELECT workflow_id FROM touched) OR workflow_id IS NULL)"
    )
    con.execute(f"INSERT INTO wall_union {logical.wall_sql(steps)}")
    con.execute("DELETE FROM run_steps WHERE workflow_id IN (SELECT workflow_id FROM touched) OR workflow_id IS NULL")
    con.execute(f"INSERT INTO run_steps {run_steps_sql(steps)}")
    con.execute("DROP TABLE touched")


def _run_outcomes(con: Any, lo_oc: int) -> None:
    """(Re)compute the latest estimates and outcomes of the runs with values copied after ``lo_oc``."""
    if lo_oc == 0:
        con.execute(f"INSERT INTO run_outcomes {latest_sql('oc')}")
        return
    con.execute("CREATE OR REPLACE TEMP TABLE touched_oc AS SELECT DISTINCT workflow_id FROM oc WHERE rid > ?", [lo_oc])
    con.execute("DELETE FROM run_outcomes WHERE workflow_id IN (SELECT workflow_id FROM touched_oc)")
    rows = "(SELECT * FROM oc WHERE workflow_id IN (SELECT workflow_id FROM touched_oc))"
    con.execute(f"INSERT INTO run_outcomes {latest_sql(rows)}")
    con.execute("DROP TABLE touched_oc")


def _tasks(con: Any, old: dict[str, int], refreshed: list[str]) -> None:
    """(Re)compute the tasks whose runs or steps changed."""
    if old["wf"] == 0 and old["st"] == 0:
        con.execute(f"INSERT INTO tasks_all {logical.tasks_sql('wf', 'st')}")
        return
    con.execute(
        """CREATE OR REPLACE TEMP TABLE touched_tasks AS SELECT DISTINCT task_id FROM (
               SELECT task_id FROM wf WHERE rid > ? OR workflow_id IN (SELECT unnest(?::VARCHAR[]))
               UNION ALL SELECT task_id FROM st WHERE rid > ?) WHERE task_id IS NOT NULL""",
        [old["wf"], refreshed, old["st"]],
    )
    con.execute("DELETE FROM tasks_all WHERE task_id IN (SELECT task_id FROM touched_tasks)")
    wfs = "(SELECT * FROM wf WHERE task_id IN (SELECT task_id FROM touched_tasks))"
    sts = "(SELECT * FROM st WHERE task_id IN (SELECT task_id FROM touched_tasks))"
    con.execute(f"INSERT INTO tasks_all {logical.tasks_sql(wfs, sts)}")
    con.execute("DROP TABLE touched_tasks")


def _want_rebuild(con: Any, store: Store, meta: dict[str, str], schema_version: int, identity: str) -> str:
    if not meta:
        return "new cache"
    if meta.get("format") != FORMAT:
        return "cache format changed"
    if meta.get("source") != identity:
        return "a different store file"
    if meta.get("schema_version") != str(schema_version):
        return "store schema changed"
    return ""


def check(con: Any, store: Store, *, rebuild: bool = False) -> tuple[str, dict[str, int], dict[str, int], int, str]:
    """Whether the cache in ``con`` must be rebuilt (the reason, else ""), its watermarks, the
    store's highest rowids and schema version. Reads only: works on a read-only cache."""
    meta = _meta(con)
    marks = {t.name: int(meta.get(f"wm_{t.name}", "0")) for t in TABLES}
    if isinstance(store, PgSource):
        schema_version, tops, keys, identity = store.probe(TABLES, marks)
    else:
        schema_version, tops, keys = probe(store, marks)
        identity = _source_identity(store)
    reason = "rebuild requested" if rebuild else _want_rebuild(con, store, meta, schema_version, identity)
    if not reason and keys != _anchors(con, marks):
        reason = "a different store file"  # or one renumbered, or cut short
    if not reason and any(tops[n] < marks[n] for n in tops):
        reason = "the store lost rows"
    return reason, marks, tops, schema_version, identity


def up_to_date(con: Any, store: Store) -> bool:
    """True when the cache in ``con`` has every row of ``store`` (nothing to sync)."""
    reason, marks, tops, _version, _identity = check(con, store)
    return not reason and all(tops[n] == marks[n] for n in tops)


def sync(con: Any, store: Store, *, rebuild: bool = False, progress: Callable[[str], None] | None = None) -> SyncStats:
    """Bring the cache tables in ``con`` up to date with ``store`` (SQLite, or a :class:`PgSource`).

    ``con`` is a DuckDB connection from :func:`otel_agents.report.duck.connect` (a file for
    the persistent cache, or memory for a one-off report).
    """
    t0 = time.perf_counter()
    stats = SyncStats()
    reason, marks, tops, schema_version, identity = check(con, store, rebuild=rebuild)
    old = marks if not reason else {}
    if not reason and all(tops[n] == old[n] for n in tops):
        stats.copied = dict.fromkeys(tops, 0)
        stats.seconds = time.perf_counter() - t0
        return stats  # up to date: the SQLite scanner is not even loaded
    from otel_agents.report.duck import load_sqlite

    if progress is not None:
        backlog = sum(max(0, tops[n] - (0 if reason else old[n])) for n in tops)
        progress(f"{'building' if reason else 'updating'} the report cache ({backlog:,} new rows)")
    pg = store if isinstance(store, PgSource) else None
    if isinstance(store, PgSource):
        store.attach(con)
    else:
        load_sqlite(con)
        attach(con, store)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            if reason:
                _drop(con)
                old = {t.name: 0 for t in TABLES}
                stats.rebuilt, stats.reason = True, reason
            _create(con)
            for t in TABLES:
                lo, hi = old[t.name], tops[t.name]
                if hi <= lo:
                    stats.copied[t.name] = 0
                    continue
                lap = time.perf_counter()
                if pg is not None:
                    pg.copy(con, t, lo, bulk=lo == 0 or hi - lo > BULK_ROWS)
                else:
                    (_copy_scan if lo == 0 or hi - lo > BULK_ROWS else _copy_query)(con, t, lo)
                stats.lap(f"copy {t.name}", lap)
                top = con.execute(f"SELECT count(*), max(rid) FROM {t.name} WHERE rid > ?", [lo]).fetchone()
                stats.copied[t.name] = int(top[0])
                tops[t.name] = int(top[1] or lo)
            lap = time.perf_counter()
            for name in ("st", "tc", "ph", "wf"):
                if stats.copied.get(name):
                    _fill_categories(con, name, old[name])
            lap = stats.lap("categories", lap)
            con.execute("CREATE OR REPLACE TEMP TABLE model_filled (record_id VARCHAR)")
            if any(stats.copied.values()):
                _enrich(con, old)
            lap = stats.lap("enrich", lap)
            stale: list[str] = []
            if old["wf"] > 0:
                stale = [
                    r[0]
                    for r in con.execute(
                        """SELECT DISTINCT workflow_id FROM (
                           SELECT workflow_id FROM ph WHERE rid > ? UNION ALL SELECT workflow_id FROM st WHERE rid > ?
                           UNION ALL SELECT workflow_id FROM tc WHERE rid > ? UNION ALL SELECT workflow_id FROM mc WHERE rid > ?)
                       WHERE workflow_id IN (SELECT workflow_id FROM wf WHERE rid <= ?)""",
                        [old["ph"], old["st"], old["tc"], old["mc"], old["wf"]],
                    ).fetchall()
                ]
                stale = sorted(set(stale) | set(_nested_updates(con, old["wf"], pg)))
                if stale and pg is not None:
                    pg.refetch(con, TABLE["wf"], stale)
                elif stale:
                    _refetch_workflows(con, stale)
                stats.refreshed_workflows = len(stale)
            if stats.copied.get("mc") or stats.copied.get("wf") or stale:
                _templates(con, old, stale)
            if stats.copied.get("mc") or stats.copied.get("st"):
                _step_links(con, old)
            if stats.copied.get("tc") or stats.copied.get("st"):
                _tool_causes(con, old)
            if stats.copied.get("tc") or stats.copied.get("mc") or stats.copied.get("wf") or stale:
                _per_run(con, old, stale)
            lap = stats.lap("workflow refresh", lap)
            con.execute(  # the sequences of the steps re-summarised, before: their patterns change
                "CREATE OR REPLACE TEMP TABLE pattern_touched AS SELECT pseq AS seq FROM step_tools"
                " WHERE parent_id IN (SELECT parent_id FROM tc WHERE rid > ?)",
                [old["tc"]],
            )
            if stats.copied.get("tc"):
                _summarise_tools(con, old["tc"])
            if stats.copied.get("st") and old["tc"] > 0:  # tools summarised by an earlier sync
                _step_costs(con, old["st"])
            lap = stats.lap("tool summaries", lap)
            if (
                stats.copied.get("tc")
                or stats.copied.get("st")
                or con.execute("SELECT count(*) FROM model_filled").fetchone()[0]
            ):
                _pattern_stats(con, old)
            con.execute("DROP TABLE pattern_touched")
            lap = stats.lap("patterns", lap)
            if stats.copied.get("st") or con.execute("SELECT count(*) FROM model_filled").fetchone()[0]:
                _logical_steps(con, old["st"])
            if stats.copied.get("st") or stats.copied.get("wf") or stale:
                _tasks(con, old, stale)
            lap = stats.lap("logical steps and tasks", lap)
            if stats.copied.get("oc"):
                _run_outcomes(con, old["oc"])
            if stats.copied.get("st") or stats.copied.get("wf") or stale or old["wf"] == 0:
                # every run's scores (template medians move with each new run): the report reads them
                con.execute(f"CREATE OR REPLACE TABLE run_scores AS {scored_sql('wf', 'run_steps')}")
            if stats.copied.get("oc") or stats.copied.get("wf") or stale or old["wf"] == 0:
                # every run's actuals beside its latest estimates and outcomes
                con.execute(f"CREATE OR REPLACE TABLE run_outcome_rows AS {per_run_sql('wf')}")
            lap = stats.lap("scores and outcomes", lap)
            _set_meta(
                con,
                {
                    "format": FORMAT,
                    "source": identity,
                    "schema_version": str(schema_version),
                    **{f"wm_{n}": str(max(old[n], tops[n])) for n in tops},
                },
            )
            con.execute("COMMIT")
            stats.lap("commit", lap)
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute("DETACH src")
    stats.seconds = time.perf_counter() - t0
    return stats
