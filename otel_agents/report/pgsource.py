"""The report over a PostgreSQL analytics store: DuckDB's postgres scanner, offline.

The columnar cache (``otel_agents.report.cache``) copies new rows by the store's ``seq``
column, as it does by SQLite's ``rowid``: the first sync scans whole tables through the
attached database (DuckDB splits the scan), later ones ask PostgreSQL itself for the rows
past the watermark (``postgres_query``, an index range). The cache file lives in the data
home (``analytics/postgresql-<hash>.report.duckdb``, one per store). The password never
reaches a message: errors are re-raised with it removed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from otel_agents.analytics.postgres import redact_url


class PgSource:
    """A PostgreSQL analytics store, as the report reads it."""

    def __init__(self, url: str, cache_dir: Path | None = None) -> None:
        self.url = url
        self.label = redact_url(url)
        self.cache_dir = cache_dir

    def __str__(self) -> str:
        return self.label

    @property
    def cache_path(self) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256(self.label.encode()).hexdigest()[:12]
        return self.cache_dir / f"postgresql-{digest}.report.duckdb"

    def clean(self, exc: BaseException) -> RuntimeError:
        """``exc`` as an error whose message has no password."""
        text = str(exc)
        secret = _password(self.url)
        if secret:
            text = text.replace(self.url, self.label).replace(secret, "***")
        return RuntimeError(f"{type(exc).__name__}: {text}")

    def connect(self) -> Any:
        import psycopg

        from otel_agents.analytics.postgres import connect_kwargs

        try:
            return psycopg.connect(self.url, **connect_kwargs())
        except Exception as exc:  # noqa: BLE001 - re-raised without the password
            raise self.clean(exc) from None

    def ensure_schema(self) -> None:
        """Migrate a store written by an older otel-agents, as any writer would."""
        from otel_agents.analytics.postgres import PgConn, migrate

        with self.connect() as raw:  # one connection, no pool: nothing retries in the background
            try:
                migrate(PgConn(raw))
            except Exception as exc:  # noqa: BLE001 - re-raised without the password
                raise self.clean(exc) from None

    def decisions(self) -> dict[str, dict[str, Any]]:
        """The automation decisions recorded for patterns (``otel-agents patterns mark``)."""
        from otel_agents.analytics.decisions import read
        from otel_agents.analytics.postgres import PgConn

        with self.connect() as raw:
            try:
                return read(PgConn(raw))
            except Exception as exc:  # noqa: BLE001 - re-raised without the password
                raise self.clean(exc) from None

    def probe(self, tables: Any, marks: dict[str, int]) -> tuple[int, dict[str, int], dict[str, str | None], str]:
        """The schema version, each table's highest ``seq``, the key at each watermark, and
        the store's identity (its URL and when it was created)."""
        from otel_agents.analytics.postgres import PgConn, schema_version

        with self.connect() as raw:
            conn = PgConn(raw)
            version = schema_version(conn)
            first = conn.execute("SELECT MIN(applied_at) FROM schema_migrations").fetchone()[0] if version else ""
            tops: dict[str, int] = {}
            keys: dict[str, str | None] = {}
            for t in tables:
                tops[t.name] = int(conn.execute(f"SELECT max(seq) FROM {t.source}").fetchone()[0] or 0)
                mark = marks.get(t.name, 0)
                if mark:
                    row = conn.execute(f"SELECT {t.key} FROM {t.source} WHERE seq = ?", (mark,)).fetchone()
                    keys[t.name] = row[0] if row else None
        return version, tops, keys, f"{self.label}|{first}"

    def attach(self, con: Any) -> None:
        from otel_agents.report.duck import load_postgres

        load_postgres(con)
        try:
            con.execute(f"ATTACH {_quote(self.url)} AS src (TYPE postgres, READ_ONLY)")
        except Exception as exc:  # noqa: BLE001 - re-raised without the password
            raise self.clean(exc) from None

    def copy(self, con: Any, t: Any, lo: int, bulk: bool) -> None:
        """Rows with ``seq > lo`` into the cache table ``t.name`` (``rid`` = ``seq``)."""
        cols = ", ".join(t.column_names)
        if bulk:
            where = f" WHERE seq > {int(lo)}" if lo else ""
            con.execute(f"INSERT INTO {t.name} (rid, {cols}) SELECT seq, {cols} FROM src.{t.source}{where}")
            return
        inner = f"SELECT seq, {cols} FROM {t.source} WHERE seq > {int(lo)}"
        con.execute(f"INSERT INTO {t.name} (rid, {cols}) SELECT * FROM postgres_query('src', {_quote(inner)})")

    def refetch(self, con: Any, t: Any, ids: list[str]) -> None:
        """Replace the cached rows of these workflows with the store's."""
        cols = ", ".join(t.column_names)
        for i in range(0, len(ids), 200):
            chunk = ids[i : i + 200]
            inner = f"SELECT seq, {cols} FROM {t.source} WHERE {t.key} IN ({', '.join(_quote(x) for x in chunk)})"
            con.execute(f"DELETE FROM {t.name} WHERE {t.key} IN (SELECT unnest($1::VARCHAR[]))", [chunk])
            con.execute(f"INSERT INTO {t.name} (rid, {cols}) SELECT * FROM postgres_query('src', {_quote(inner)})")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _password(url: str) -> str | None:
    from urllib.parse import parse_qsl, urlsplit

    u = urlsplit(url)
    if u.password:
        return u.password
    for k, v in parse_qsl(u.query):
        if k.lower() == "password":
            return v
    return None
