"""Automation decisions about repeated tool-call patterns (``otel-agents patterns mark``).

One row per pattern id in ``pattern_decisions``: the latest status (:data:`STATUSES`), an
optional note and when it was decided. The report (``--section patterns``) shows them next
to each pattern. The store is a SQLite file or a ``postgresql://`` URL (the same SQL: the
PostgreSQL connection translates the placeholders).
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from otel_agents.analytics.schema import connect

#: The decisions a pattern can have, in the order of an automation's life.
STATUSES = ("candidate", "approved", "implemented", "rejected")
#: A pattern id: the first 12 hex digits of the SHA-256 of its signature.
PATTERN_ID = re.compile(r"^[0-9a-f]{12}$")

_UPSERT = (
    "INSERT INTO pattern_decisions (pattern_id, status, note, decided_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (pattern_id) DO UPDATE SET status = excluded.status, note = excluded.note,"
    " decided_at = excluded.decided_at"
)
_SELECT = "SELECT pattern_id, status, note, decided_at FROM pattern_decisions"


def mark(store: str | os.PathLike[str], pattern_id: str, status: str, note: str | None = None) -> dict[str, Any]:
    """Record ``status`` (and ``note``) for ``pattern_id`` in ``store`` (a SQLite file or a
    ``postgresql://`` URL), replacing an earlier decision. One statement: atomic."""
    if not PATTERN_ID.match(pattern_id):
        raise ValueError(f"not a pattern id: {pattern_id!r} (12 hexadecimal digits, as the report shows)")
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    decided_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    values = (pattern_id, status, note, decided_at)
    from otel_agents.analytics.postgres import PgAnalyticsStore, is_url

    if is_url(store):
        pg = PgAnalyticsStore(str(store), max_size=1)
        try:
            with pg.session() as conn:  # migrated first, as any writer does
                conn.execute(_UPSERT, values)
        finally:
            pg.close()
    else:
        lite = connect(store)
        try:
            lite.execute(_UPSERT, values)
        finally:
            lite.close()
    return {"pattern_id": pattern_id, "status": status, "note": note, "decided_at": decided_at}


def read(conn: Any) -> dict[str, dict[str, Any]]:
    """Every decision by pattern id, through an open connection (SQLite, or the PostgreSQL
    store's ``PgConn``)."""
    return {r[0]: {"status": r[1], "note": r[2], "decided_at": r[3]} for r in conn.execute(_SELECT).fetchall()}


def load(store: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Every decision recorded in the SQLite ``store`` (empty when it has no such table)."""
    conn = sqlite3.connect(f"{Path(store).resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        return read(conn)
    except sqlite3.OperationalError:  # a store older than the table
        return {}
    finally:
        conn.close()
