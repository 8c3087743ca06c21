"""Writing execution records into the analytics store, idempotently.

Each record goes to the table of its kind, upserted by its id (``record_id``; the
``workflow_id`` for workflows; the event id for hook events), so replaying the same records
never duplicates a row. One batch is one ``BEGIN IMMEDIATE`` transaction.

A workflow's aggregates (phase count, phase durations, cost breakdown, bottleneck, idle
time, retries, ...) are computed from the stored phase, step and tool rows when the
workflow record arrives (``otel_agents.analytics.aggregate``), and again whenever a later
batch adds rows under a workflow already stored, so the row is right whatever order the
records arrive in.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from otel_agents import attributes as A
from otel_agents.analytics import aggregate, nested
from otel_agents.analytics.schema import DEFAULT_BUSY_TIMEOUT_MS, connect
from otel_agents.foundation.records import KIND_HOOK_EVENT, SCHEMA_VERSION
from otel_agents.sink_contract import Stop

_STATUS = {"success": "completed", "failure": "failed", "abandoned": "abandoned"}


def status_of(outcome: str | None) -> str:
    """Seed 001's status word for an outcome: completed, failed or abandoned."""
    return _STATUS.get(outcome or "", "completed")


def _b(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def _secs(record: dict[str, Any]) -> float | None:
    ms = record.get("duration_ms")
    return None if ms is None else round(ms / 1000.0, 9)


def _day(record: dict[str, Any]) -> str | None:
    start = record.get("start_time")
    return start[:10] if isinstance(start, str) and len(start) >= 10 else None


def _copy(record: dict[str, Any], *names: str) -> dict[str, Any]:
    """``record``'s values of ``names`` (``None`` where absent), in that order."""
    return {name: record.get(name) for name in names}


def _tokens(record: dict[str, Any]) -> dict[str, Any]:
    return _copy(record, "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def _common(record: dict[str, Any]) -> dict[str, Any]:
    outcome = record.get("outcome")
    return {
        "workflow_id": record.get("workflow_id"),
        "trace_id": record.get("trace_id"),
        "outcome": outcome,
        "success": _b(record.get("success")),
        "start_time": record.get("start_time"),
        "end_time": record.get("end_time"),
        "start_unix_nano": record.get("start_unix_nano"),
        "end_unix_nano": record.get("end_unix_nano"),
        "duration_seconds": _secs(record),
        "day": _day(record),
        "error_type": record.get("error_type"),
        "error_message": record.get("error_message"),
        "error_category": record.get("error_category"),
        "service_name": record.get("service_name"),
        "host_name": record.get("host_name"),
    }


# --- row builders, one per table ---------------------------------------------------------------


def _span_row(
    r: dict[str, Any], fields: tuple[str, ...], *, tokens: bool = True, status: str = "status"
) -> dict[str, Any]:
    """The columns the span tables share (``status`` names the status column), then ``fields``."""
    row = _common(r)
    if tokens:
        row.update(_tokens(r))
    row["record_id"] = r["record_id"]
    row[status] = status_of(r.get("outcome"))
    row.update(_copy(r, *fields))
    return row


_ROLLUP = ("cost_usd", "model_calls", "unpriced_model_calls")
_PHASE_FIELDS = ("parent_id", "workflow_name", "template", "phase_name", "phase_number", *_ROLLUP)
_STEP_FIELDS = (
    "parent_id",
    "workflow_name",
    "phase_name",
    "step_name",
    "agent",
    "skill",
    "command",
    "task_id",
    "session_id",
    "model",
    "provider",
    "attempt",
    "retry_count",
    *_ROLLUP,
)
_TOOL_FIELDS = (
    "call_id",
    "parent_id",
    "session_id",
    "phase_name",
    "step_name",
    "agent",
    "tool_name",
    "tool_type",
    "arguments_sha256",
    "arguments_length",
    "result_sha256",
    "result_length",
    "executable",
    "file_types",
)
_MODEL_FIELDS = (
    "parent_id",
    "session_id",
    "phase_name",
    "step_name",
    "agent",
    "model",
    "response_model",
    "provider",
    "cost_usd",
    "cost_source",
    "cost_unavailable_reason",
)


#: An upsert of a step's, phase's or workflow's own record holds none of its nested runs
#: (``otel_agents.analytics.nested`` adds them again after it).
_NO_NESTED = dict.fromkeys(nested.NESTED_COLUMNS)


def _phase_row(r: dict[str, Any]) -> dict[str, Any]:
    row = _span_row(r, _PHASE_FIELDS, status="phase_status")
    inp, out = r.get("input_tokens"), r.get("output_tokens")
    row["tokens_used"] = None if inp is None and out is None else (inp or 0) + (out or 0)
    row.update(_NO_NESTED)
    return row


def _step_row(r: dict[str, Any]) -> dict[str, Any]:
    row = _span_row(r, _STEP_FIELDS)
    row.update(_NO_NESTED)
    row["nested_sessions"] = nested.included_text(r.get("nested_sessions"))
    return row


def _tool_row(r: dict[str, Any]) -> dict[str, Any]:
    return _span_row(r, _TOOL_FIELDS, tokens=False)


def _model_row(r: dict[str, Any]) -> dict[str, Any]:
    return _span_row(r, _MODEL_FIELDS)


def _hook_row(r: dict[str, Any]) -> dict[str, Any]:
    attrs = r.get("event_attributes")
    return {
        "event_id": r["record_id"],
        "event_type": r.get("event_type"),
        "hook_source": r.get("hook_source"),
        "detail": r.get("hook_detail"),
        "session_id": r.get("session_id"),
        "workflow_id": r.get("workflow_id"),
        "trace_id": r.get("trace_id"),
        "span_id": r.get("parent_id"),
        "tool_name": r.get("tool_name"),
        "tool_use_id": r.get("call_id"),
        "timestamp": r.get("start_time"),
        "time_unix_nano": r.get("start_unix_nano"),
        "payload": json.dumps(attrs, ensure_ascii=False, sort_keys=True, default=str) if attrs is not None else None,
        "service_name": r.get("service_name"),
        "host_name": r.get("host_name"),
    }


def _workflow_row(r: dict[str, Any]) -> dict[str, Any]:
    """The workflow's own fields; aggregates are filled in by ``aggregate.refresh``."""
    row = _common(r)
    row.update(_tokens(r))
    inp, out, cache_read = r.get("input_tokens"), r.get("output_tokens"), r.get("cache_read_tokens")
    start_ns = r.get("start_unix_nano")
    hour = dow = None
    if start_ns:
        tm = time.gmtime(start_ns // 1_000_000_000)
        hour, dow = tm.tm_hour, tm.tm_wday  # Monday = 0, as seed 001
    row.update(_copy(r, "record_id", "workflow_name", "template", "issue_id", "task_id", "session_id"))
    row.update(_copy(r, "provider", "unpriced_model_calls", "cost_usd", "retry_count", "complexity", "service_name"))
    row["parent_id"] = r.get("parent_id")
    row.update(_NO_NESTED)
    row.update(
        requested_model=r.get("model"),
        status=status_of(r.get("outcome")),
        model_call_count=r.get("model_calls"),
        total_tokens=None if inp is None and out is None else (inp or 0) + (out or 0),
        cache_efficiency_percent=(round(100.0 * (cache_read or 0) / inp, 4) if inp else None),
        hour_of_day=hour,
        day_of_week=dow,
    )
    return row


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    key: str
    build: Any
    columns: tuple[str, ...] = ()
    upsert_sql: str = ""
    insert_missing_sql: str = ""


def _table(name: str, key: str, build: Any, sample: dict[str, Any]) -> _Table:
    cols = tuple(sample) + ("created_at", "updated_at")
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in (key, "created_at"))
    insert = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
    return _Table(
        name,
        key,
        build,
        cols,
        upsert_sql=insert + f"ON CONFLICT({key}) DO UPDATE SET {updates}",
        insert_missing_sql=insert + f"ON CONFLICT({key}) DO NOTHING",
    )


_SAMPLE = dict.fromkeys(("record_id", "workflow_id", "outcome", "success", "duration_ms", "start_time"))
_TABLES: dict[str, _Table] = {
    A.KIND_WORKFLOW: _table("workflow_history", "workflow_id", _workflow_row, _workflow_row(_SAMPLE)),
    A.KIND_PHASE: _table("phase_logs", "record_id", _phase_row, _phase_row(_SAMPLE)),
    A.KIND_STEP: _table("step_executions", "record_id", _step_row, _step_row(_SAMPLE)),
    A.KIND_TOOL_CALL: _table("tool_calls", "record_id", _tool_row, _tool_row(_SAMPLE)),
    A.KIND_MODEL_CALL: _table("model_calls", "record_id", _model_row, _model_row(_SAMPLE)),
    KIND_HOOK_EVENT: _table("hook_events", "event_id", _hook_row, _hook_row(_SAMPLE)),
}
#: Table name by record kind.
TABLE_FOR_KIND: dict[str, str] = {kind: t.name for kind, t in _TABLES.items()}


@dataclass(slots=True)
class WriteStats:
    """What one :meth:`AnalyticsStore.write` did."""

    #: rows inserted or updated, per table (with ``overwrite=False``: inserted only)
    rows: dict[str, int] = field(default_factory=dict)
    #: records whose row was already there (``overwrite=False`` only)
    present: int = 0
    #: records with no table (unknown kind), no id, or a newer ``schema_version``
    skipped: int = 0
    workflows_refreshed: int = 0
    #: the ``stop`` signal was set before the write: nothing was written
    interrupted: bool = False


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _scalar(value: Any) -> Any:
    """A value SQLite can bind: records read back from a JSONL may hold anything."""
    t = type(value)
    if t is str or t is float or value is None:
        return value
    if t is int:
        return value if _INT_MIN <= value <= _INT_MAX else None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _INT_MAX else None
    return None  # a list or object where a scalar belongs: the column stays NULL


def machine_name() -> str:
    """This machine's name for the rows it writes: ``host.name`` from ``OTEL_RESOURCE_ATTRIBUTES``,
    else the host name."""
    for item in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip() == "host.name" and value.strip():
            return unquote(value.strip())
    return socket.gethostname()


#: Connections inherited across a fork: kept referenced so they are never closed in the child.
_abandoned: list[sqlite3.Connection] = []


class AnalyticsStore:
    """The analytics database, opened (and migrated) on first use.

    Not thread-safe by itself: the sink serialises calls. Any number of processes may
    write at once (WAL, busy timeout, ``BEGIN IMMEDIATE``). Every row carries ``host_name``
    (the record's, else ``host_name`` given here, else :func:`machine_name`).
    """

    def __init__(
        self, path: str | Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, host_name: str | None = None
    ) -> None:
        self.path = Path(path)
        self.label = f"SQLite {self.path}"
        self.busy_timeout_ms = busy_timeout_ms
        self.host_name = host_name or machine_name()
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.path, busy_timeout_ms=self.busy_timeout_ms)
        return self._conn

    @contextmanager
    def session(self) -> Iterator[Any]:
        """A connection to write or read with (opened and migrated on first use)."""
        yield self.conn

    def begin(self, conn: Any) -> None:
        """Open a writing transaction, holding the write lock."""
        conn.execute("BEGIN IMMEDIATE")

    def rollback(self, conn: Any) -> None:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def warm(self) -> None:
        """Prepare to write soon (a remote store connects in the background); SQLite: nothing."""

    def _upsert(
        self, conn: Any, prepared: list[tuple[_Table, dict[str, Any], list[Any]]], overwrite: bool
    ) -> list[bool]:
        """Upsert each prepared row (inside the transaction); True where a row was written."""
        out = []
        for table, _record, values in prepared:
            sql = table.upsert_sql if overwrite else table.insert_missing_sql
            out.append(conn.execute(sql, values).rowcount != 0)
        return out

    def open(self) -> None:
        """Open (and migrate) the store now; raises what opening raises."""
        with self.session():
            pass

    def write(
        self, records: Iterable[dict[str, Any]], *, overwrite: bool = True, stop: Stop | None = None
    ) -> WriteStats:
        """Upsert ``records`` in one transaction; refresh the workflows they touch.

        With ``overwrite=False`` a record whose row exists is left alone (``reconcile``:
        the row came from the same record), and only inserted rows count as changes.

        Every row is built before the write lock is taken (``BEGIN IMMEDIATE``), so the
        lock is held only for the SQL: with many writer processes, the shorter the
        transaction, the shorter everyone's wait.

        ``stop`` (checked every 64 records while the rows are built): when it returns True,
        nothing is written and the stats say ``interrupted``.
        """
        with self.session() as conn:  # opens (and migrates) the database, even for nothing to write
            return self._write(conn, records, overwrite, stop)

    def _write(self, conn: Any, records: Iterable[dict[str, Any]], overwrite: bool, stop: Stop | None) -> WriteStats:
        stats = WriteStats()
        now = _now_iso()
        prepared: list[tuple[_Table, dict[str, Any], list[Any]]] = []
        for n, record in enumerate(records):
            if stop is not None and not n & 63 and stop():  # a sink's thread at exit: the spool first
                stats.interrupted = True
                return stats
            table = _TABLES.get(record.get("kind") or "")
            version = record.get("schema_version")
            if table is None or not record.get("record_id") or (isinstance(version, int) and version > SCHEMA_VERSION):
                stats.skipped += 1  # unknown kind, no id, or a layout newer than this code
                continue
            row = table.build(record)
            if table.key == "workflow_id" and not row.get("workflow_id"):
                stats.skipped += 1
                continue
            row["created_at"] = row["updated_at"] = now
            if not row["host_name"]:
                row["host_name"] = self.host_name
            prepared.append((table, record, [_scalar(row.get(c)) for c in table.columns]))
        if not prepared:
            return stats
        workflows: set[str] = set()
        touched: set[str] = set()
        model_ids: list[str] = []
        parent_ids: list[str] = []
        touched_by_kind: dict[str, list[str]] = {A.KIND_STEP: [], A.KIND_PHASE: [], A.KIND_WORKFLOW: [], "child": []}
        self.begin(conn)
        try:
            for (table, record, _values), written in zip(
                prepared, self._upsert(conn, prepared, overwrite), strict=True
            ):
                if not written:
                    stats.present += 1
                    continue
                stats.rows[table.name] = stats.rows.get(table.name, 0) + 1
                kind = record["kind"]
                if kind == A.KIND_MODEL_CALL:
                    model_ids.append(record["record_id"])
                elif kind in (A.KIND_STEP, A.KIND_PHASE):
                    parent_ids.append(record["record_id"])
                if kind in touched_by_kind:
                    touched_by_kind[kind].append(
                        record["record_id"] if kind != A.KIND_WORKFLOW else record["workflow_id"]
                    )
                    if kind == A.KIND_WORKFLOW and record.get("parent_id"):
                        touched_by_kind["child"].append(record["parent_id"])
                wid = record.get("workflow_id")
                if wid:
                    (workflows if table.key == "workflow_id" else touched).add(wid)
            aggregate.enrich(conn, model_ids, parent_ids)
            refresh = set(workflows)
            refresh |= nested.refresh(
                conn,
                touched_by_kind["child"],
                touched_by_kind[A.KIND_STEP],
                touched_by_kind[A.KIND_PHASE],
                touched_by_kind[A.KIND_WORKFLOW],
            )
            for wid in touched - workflows:
                if conn.execute("SELECT 1 FROM workflow_history WHERE workflow_id = ?", (wid,)).fetchone():
                    refresh.add(wid)
            for wid in sorted(refresh):
                aggregate.refresh(conn, wid, now)
            stats.workflows_refreshed = len(refresh)
            conn.execute("COMMIT")
        except BaseException:
            self.rollback(conn)
            raise
        return stats

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self.session() as conn:
            return {
                name: int(conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0])
                for name in TABLE_FOR_KIND.values()
            }

    def abandon(self) -> None:
        """Forget the connection without closing it (in a forked child: SQLite connections
        must not cross a fork, and closing the parent's would release the parent's locks)."""
        if self._conn is not None:
            _abandoned.append(self._conn)
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
