"""DuckDB, offline: a connection that never downloads anything, with the SQLite scanner loaded
from the ``duckdb-extension-sqlite-scanner`` wheel (REFERENCE.md §8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class EngineUnavailable(RuntimeError):
    """DuckDB or its SQLite scanner extension is not installed."""


def extension_path() -> Path:
    """The ``sqlite_scanner`` extension file shipped by the PyPI package, for this DuckDB."""
    try:
        import duckdb
        import duckdb_extension_sqlite_scanner as pkg
    except ImportError as exc:  # pragma: no cover - both are dependencies
        raise EngineUnavailable(f"the report needs duckdb and duckdb-extension-sqlite-scanner: {exc}") from exc
    base = Path(pkg.__file__).parent / "extensions"
    exact = base / f"v{duckdb.__version__}" / "sqlite_scanner.duckdb_extension"
    if exact.is_file():
        return exact
    found = sorted(base.glob("*/sqlite_scanner.duckdb_extension"))
    raise EngineUnavailable(
        f"no sqlite_scanner extension for duckdb {duckdb.__version__} under {base}"
        + (f" (found {', '.join(p.parent.name for p in found)}: pin duckdb to the same version)" if found else "")
    )


def load_sqlite(con: Any) -> None:
    """Load the SQLite scanner into ``con`` (once; ~0.2 s, so only when the store is read)."""
    loaded = con.execute("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'sqlite_scanner'").fetchone()
    if not (loaded and loaded[0]):
        quoted = extension_path().as_posix().replace("'", "''")
        con.execute(f"LOAD '{quoted}'")  # LOAD takes no parameters: a path we computed, quoted


def connect(path: str | Path | None = None, *, read_only: bool = False, sqlite: bool = True) -> Any:
    """A DuckDB connection (in memory when ``path`` is None), with the SQLite scanner loaded
    unless ``sqlite`` is false. Extensions are never installed or auto-loaded from the network.
    """
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    con = duckdb.connect(":memory:" if path is None else str(path), read_only=read_only, config=config)
    if sqlite:
        try:
            load_sqlite(con)
        except Exception:
            con.close()
            raise
    return con


def load_postgres(con: Any) -> None:
    """Load the postgres scanner (PyPI ``duckdb-extension-postgres-scanner``) into ``con``."""
    try:
        import duckdb
        import duckdb_extension_postgres_scanner as pkg
    except ImportError as exc:  # pragma: no cover - both are dependencies
        raise EngineUnavailable(f"a PostgreSQL store needs duckdb-extension-postgres-scanner: {exc}") from exc
    loaded = con.execute("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'postgres_scanner'").fetchone()
    if loaded and loaded[0]:
        return
    path = Path(pkg.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "postgres_scanner.duckdb_extension"
    if not path.is_file():
        raise EngineUnavailable(f"no postgres_scanner extension for duckdb {duckdb.__version__} at {path}")
    con.execute(f"LOAD '{path.as_posix().replace(chr(39), chr(39) * 2)}'")
