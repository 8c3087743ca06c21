"""The analytics sink: execution records into the SQLite history at ``<home>/analytics/history.db``.

It writes the same records as the metrics sink (``records.records_from_spans``), so rows
carry the same ids as the JSONL lines (seed 000's dual-write). It is a separate sink, so a
separate failure domain: a corrupt, locked or read-only database fails this sink's batch
(``export`` raises, the sink processor counts it) and never the metrics JSONL, from which
``otel-agents reconcile`` backfills what was missed.

Off when ``analytics.enabled`` or ``analytics.record_from_execution`` is false.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Any, Sequence

from otel_agents.analytics.schema import DEFAULT_BUSY_TIMEOUT_MS, SchemaTooNew
from otel_agents.analytics.store import AnalyticsStore, WriteStats
from otel_agents.sink import DeliveryError
from otel_agents.sinks.records import records_from_spans

if TYPE_CHECKING:
    from otel_agents.config import Config

#: After the database fails to open, batches fail fast for this many seconds before retrying.
REOPEN_BACKOFF_S = 30.0


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
    # "file is not a database", "database disk image is malformed": plain DatabaseError
    return type(exc) is sqlite3.DatabaseError


class AnalyticsSink:
    """Sink: execution records upserted into ``<home>/analytics/history.db``.

    :param config: the effective configuration (``home``; ``analytics.*``).
    """

    name = "analytics"
    #: Wait up to this long for a fuller batch: one transaction per batch, fewer write locks.
    linger = 0.05

    def __init__(self, config: Config, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.enabled = analytics_enabled(config)
        self.path = config.analytics_db
        self._store = AnalyticsStore(self.path, busy_timeout_ms=busy_timeout_ms)
        self._lock = threading.Lock()
        self._open_failed_at: float | None = None
        self._open_error: str | None = None
        self.records_written = 0
        self.last_stats: WriteStats | None = None

    def _ensure_open(self) -> AnalyticsStore:
        failed_at = self._open_failed_at
        if failed_at is not None and time.monotonic() - failed_at < REOPEN_BACKOFF_S:
            raise AnalyticsUnavailable(f"analytics database unavailable: {self._open_error}")
        try:
            self._store.conn  # noqa: B018 - opens and migrates
        except Exception as exc:
            self._open_failed_at = time.monotonic()
            self._open_error = f"{type(exc).__name__}: {exc}"
            self._store.close()
            raise
        self._open_failed_at = None
        return self._store

    def export(self, spans: Sequence[Any]) -> None:
        """Convert ``spans`` to records and upsert them in one transaction.

        Raises ``DeliveryError`` when the database cannot take the batch (locked past the
        busy timeout, corrupt, read-only, disk full, newer schema); the metrics JSONL still
        has the records, for ``reconcile``. Anything else is a bug and propagates as is.
        """
        if not self.enabled:
            return
        records = records_from_spans(spans)
        if not records:
            return
        with self._lock:
            try:
                store = self._ensure_open()
                try:
                    stats = store.write(records)
                except Exception:
                    # A broken connection (file replaced, disk error) is reopened next time.
                    store.close()
                    raise
            except Exception as exc:
                if is_operational(exc):
                    raise DeliveryError(f"analytics {self.path}: {type(exc).__name__}: {exc}") from exc
                raise
        self.last_stats = stats
        self.records_written += len(records) - stats.skipped

    def close(self) -> None:
        with self._lock:
            self._store.close()

    def after_fork(self) -> None:
        """In a forked child: never touch the parent's SQLite connection; open a new one."""
        self._lock = threading.Lock()
        self._store.abandon()

    def describe(self) -> str:
        if not self.enabled:
            return "off (analytics.enabled or analytics.record_from_execution is false)"
        return f"execution records upserted into SQLite {self.path}"
