"""The analytics sink: execution records into the SQLite history at ``<home>/analytics/history.db``.

It writes the same records as the metrics sink (``records.records_from_spans``), so rows
carry the same ids as the JSONL lines (seed 000's dual-write). It is a separate sink, so a
separate failure domain: a corrupt, locked or read-only database fails this sink's batch
(``export`` raises, the sink processor counts it) and never the metrics JSONL.

Many processes share the database. A busy database (another writer holds the lock past the
busy timeout) is retried on the sink's thread, with jittered exponential backoff, for up
to ``retry_for`` seconds (never past the exit deadline); batches are large (one transaction
each), and rows are built before the write lock is taken, so the lock is held briefly.
A batch that still fails is not lost: the sink processor lists its span ids in
``state/pending/`` and ``otel_agents.sinks.recover`` writes them from the spool later
(upserts: idempotent). ``otel-agents reconcile`` backfills from the metrics JSONL too.

Off when ``analytics.enabled`` or ``analytics.record_from_execution`` is false.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from otel_agents import forksafe
from otel_agents.analytics.postgres import open_store
from otel_agents.analytics.schema import SchemaTooNew
from otel_agents.analytics.store import AnalyticsStore, WriteStats
from otel_agents.foundation.records import records_from_spans
from otel_agents.sink_contract import DeliveryError, Interrupted, Stop, never

if TYPE_CHECKING:
    from otel_agents.config import Config

#: After the database fails to open, batches fail fast for this many seconds before retrying.
REOPEN_BACKOFF_S = 30.0
#: SQLite's own wait for another writer's lock, per attempt (the sink retries on top).
SINK_BUSY_TIMEOUT_MS = 2_000
#: PostgreSQL's wait for the write lock, per attempt: waiting in its queue is fairer than
#: retrying (the lock is granted in arrival order), and it is the sink's thread that waits.
PG_LOCK_TIMEOUT_MS = 15_000
#: How long a batch is retried while the database is busy, before it is left for recovery.
RETRY_FOR_S = 60.0
MIN_RETRY_SLEEP_S = 0.02
MAX_RETRY_SLEEP_S = 1.0


#: PostgreSQL conditions worth retrying: a lock wait or statement that timed out, a conflict.
_PG_BUSY = ("LockNotAvailable", "QueryCanceled", "SerializationFailure", "DeadlockDetected")


def _psycopg_error(exc: BaseException) -> bool:
    """True for an exception of psycopg or its pool (only if they were ever imported)."""
    return type(exc).__module__.startswith(("psycopg.", "psycopg_pool")) and "psycopg" in sys.modules


def is_busy(exc: BaseException) -> bool:
    """True for SQLITE_BUSY / SQLITE_LOCKED, or a PostgreSQL lock wait that timed out: another
    connection holds the lock; worth retrying."""
    if _psycopg_error(exc):
        return type(exc).__name__ in _PG_BUSY
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in (5, 6):
        return True
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text or "database is busy" in text


def analytics_enabled(config: Config) -> bool:
    """True unless ``analytics.enabled`` or ``analytics.record_from_execution`` is false."""
    return bool(config.get("analytics.enabled", True)) and bool(config.get("analytics.record_from_execution", True))


class AnalyticsUnavailable(RuntimeError):
    """The database could not be opened recently; the batch was not written."""


def is_operational(exc: BaseException) -> bool:
    """True for failures of the environment (locked, corrupt, read-only, disk full, newer
    schema), False for bugs in our SQL (wrong bindings, constraint violations)."""
    if isinstance(exc, (OSError, AnalyticsUnavailable, SchemaTooNew, sqlite3.OperationalError)):
        return True
    if _psycopg_error(exc):  # the server away, refusing, read-only, out of space or permissions
        import psycopg
        from psycopg import errors

        bad_sql = (errors.SyntaxError, errors.UndefinedColumn, errors.UndefinedTable, errors.DatatypeMismatch)
        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, psycopg.InternalError)) or (
            isinstance(exc, psycopg.Error)
            and not isinstance(exc, bad_sql)
            and exc.sqlstate is not None
            and exc.sqlstate[:2] in ("25", "42", "53", "57", "58", "08")
        )
    # "file is not a database", "database disk image is malformed": plain DatabaseError
    return type(exc) is sqlite3.DatabaseError


class AnalyticsSink:
    """Sink: execution records upserted into ``<home>/analytics/history.db``.

    :param config: the effective configuration (``home``; ``analytics.*``).
    :param busy_timeout_ms: SQLite's wait for another writer, per attempt.
    :param retry_for: seconds a busy database is retried before the batch is left to recovery.
    """

    name = "analytics"
    #: What it misses is written later from the spool (``state/pending/``, ``recover``).
    spool_recoverable = True
    #: Given by whoever registers the sink (``otel_agents.sink_contract.Recovery``).
    recovery: Any = None
    #: Large batches: one transaction each, so fewer write locks under contention.
    max_batch = 2048
    #: Wait up to this long for a fuller batch.
    linger = 0.05

    def __init__(
        self, config: Config, *, busy_timeout_ms: int = SINK_BUSY_TIMEOUT_MS, retry_for: float = RETRY_FOR_S
    ) -> None:
        self.enabled = analytics_enabled(config)
        if config.analytics_url and busy_timeout_ms == SINK_BUSY_TIMEOUT_MS:
            busy_timeout_ms = PG_LOCK_TIMEOUT_MS
        self._store: AnalyticsStore = open_store(config, busy_timeout_ms=busy_timeout_ms)
        self.path = self._store.label  # never the password of a PostgreSQL URL
        self.retry_for = max(0.0, float(retry_for))
        if self.enabled:
            self._store.warm()
        self._lock = forksafe.Lock()
        self._open_failed_at: float | None = None
        self._open_error: str | None = None
        self._shutdown = threading.Event()
        self._shutdown_deadline: float | None = None
        self.records_written = 0
        self.busy_retries = 0
        self.last_stats: WriteStats | None = None

    def _ensure_open(self) -> AnalyticsStore:
        failed_at = self._open_failed_at
        if failed_at is not None and time.monotonic() - failed_at < REOPEN_BACKOFF_S:
            raise AnalyticsUnavailable(f"analytics database unavailable: {self._open_error}")
        try:
            self._store.open()  # opens and migrates
        except Exception as exc:
            self._store.close()
            if not is_busy(exc):  # busy while opening (WAL switch, migration): just retry
                self._open_failed_at = time.monotonic()
                self._open_error = f"{type(exc).__name__}: {exc}"
            raise
        self._open_failed_at = None
        return self._store

    def export(self, spans: Sequence[Any], stop: Stop = never) -> None:
        """Convert ``spans`` to records and upsert them in one transaction.

        Retries while the database is busy (see the module doc). Raises ``DeliveryError``
        when the database cannot take the batch (still busy after ``retry_for``, corrupt,
        read-only, disk full, newer schema): the processor leaves the spans for recovery.
        Anything else is a bug and propagates as is. ``stop`` set before anything is
        written: raises ``Interrupted`` (the processor queues the batch again).
        """
        if not self.enabled:
            return
        records = records_from_spans(spans, stop)
        if not records:
            return
        stats = self.write_records(records, stop=stop)
        if stats.interrupted:
            raise Interrupted("exiting")
        self.last_stats = stats
        self.records_written += len(records) - stats.skipped

    def write_records(
        self, records: list[dict[str, Any]], *, overwrite: bool = True, stop: Stop | None = None
    ) -> WriteStats:
        """Upsert ``records`` (one transaction), retrying while the database is busy."""
        give_up = time.monotonic() + self.retry_for
        sleep = MIN_RETRY_SLEEP_S
        while True:
            with self._lock:
                try:
                    store = self._ensure_open()
                    try:
                        return store.write(records, overwrite=overwrite, stop=stop)
                    except Exception as exc:
                        # A broken connection (file replaced, disk error, server gone) is
                        # reopened next time; a busy one is kept.
                        if not is_busy(exc):
                            store.close()
                        raise
                except Exception as exc:
                    if not is_operational(exc):
                        raise
                    error = exc
            now = time.monotonic()
            limit = give_up
            if self._shutdown_deadline is not None:
                limit = min(limit, self._shutdown_deadline)
            if not is_busy(error) or now + sleep >= limit:
                raise DeliveryError(f"analytics {self.path}: {type(error).__name__}: {error}") from error
            self.busy_retries += 1
            if self._shutdown.wait(sleep * (0.5 + random.random())):  # jitter: writers do not retry in step
                if self._shutdown_deadline is not None and time.monotonic() >= self._shutdown_deadline:
                    raise DeliveryError(
                        f"analytics {self.path}: {type(error).__name__}: {error} (exiting: left for recovery)"
                    ) from error
            sleep = min(MAX_RETRY_SLEEP_S, sleep * 2)

    def begin_shutdown(self, deadline: float) -> None:
        """The process is exiting: stop retrying at ``deadline``."""
        self._shutdown_deadline = deadline
        self._shutdown.set()

    def close(self) -> None:
        with self._lock:
            self._store.close()

    def after_fork(self) -> None:
        """In a forked child: never touch the parent's SQLite connection; open a new one."""
        self._shutdown = threading.Event()
        self._shutdown_deadline = None
        self._store.abandon()

    def describe(self) -> str:
        if not self.enabled:
            return "off (analytics.enabled or analytics.record_from_execution is false)"
        return f"execution records upserted into {self.path}"
