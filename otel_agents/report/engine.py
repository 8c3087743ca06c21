"""The report engine: opens (or builds) the columnar cache, syncs it with the store, applies the
filters and computes the report."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from otel_agents.report import cache, duck
from otel_agents.report.filters import Filters
from otel_agents.report.pgsource import PgSource
from otel_agents.report.stats import PERCENTILE_METHOD, one
from otel_agents.report.views import Scope

#: How long to wait for another report holding the cache before reading the store directly.
CACHE_WAIT_S = 30.0
DEFAULT_TOP = 10
#: The report's sections, in the order they print.
SECTIONS = ("cost", "latency", "errors", "attempts", "tools", "patterns", "scores", "trends", "outcomes")
#: The sections the recommendations (in ``errors``) read.
_RECOMMENDATION_INPUTS = ("cost", "latency", "errors", "attempts", "tools")
#: Sections computed at once, each on its own cursor, each query on one DuckDB thread (DuckDB
#: runs queries without the GIL): on 2 cores this beats one section at a time on 2 threads.
WORKERS = 2


def _is_lock_error(exc: BaseException) -> bool:
    return "lock" in str(exc).lower()


def _open_cache(path: Path, wait_s: float, *, read_only: bool = False) -> Any:
    """The cache file's connection; waits while another report writes it; replaces a bad file
    (not when ``read_only``: then it raises)."""
    deadline = time.monotonic() + wait_s
    replaced = False
    while True:
        try:
            con = duck.connect(path, sqlite=False, read_only=read_only)  # the scanner: only if the store has news
        except duck.EngineUnavailable:
            raise
        except Exception as exc:  # duckdb.IOException, SerializationException, ...
            if _is_lock_error(exc) and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            if _is_lock_error(exc) or replaced or read_only:
                raise
            for p in (path, Path(str(path) + ".wal")):  # unreadable or from another DuckDB: derived data, rebuild
                p.unlink(missing_ok=True)
            replaced = True
            continue
        for p in (path, Path(str(path) + ".wal")):
            try:
                if p.exists() and p.stat().st_mode & 0o077:
                    os.chmod(p, 0o600)
            except OSError:
                pass
        return con


def _ensure_schema(store: Path) -> None:
    """Migrate a store written by an older otel-agents (the store's own migrations, as any
    writer opening it would); a newer one is read as it is."""
    import sqlite3

    from otel_agents.analytics.schema import LATEST_VERSION, connect as open_store

    conn = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
    if version < LATEST_VERSION:
        open_store(store).close()


class ReportEngine:
    """A synced DuckDB connection over one analytics store.

    :param store: the SQLite store (``<home>/analytics/history.db``), or a ``postgresql://`` URL.
    :param cache_dir: where the cache of a PostgreSQL store lives (None: in memory).
    :param use_cache: keep the columnar cache next to the store (else build one in memory).
    :param rebuild_cache: rebuild the cache from scratch.
    """

    def __init__(
        self,
        store: str | os.PathLike[str],
        *,
        use_cache: bool = True,
        rebuild_cache: bool = False,
        progress: Callable[[str], None] | None = None,
        cache_wait_s: float = CACHE_WAIT_S,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        from otel_agents.analytics.postgres import is_url

        self.store: cache.Store
        if is_url(store):
            self.store = PgSource(str(store), Path(cache_dir) if cache_dir is not None else None)
            self.store.ensure_schema()
            self.cache_path: Path | None = self.store.cache_path if use_cache else None
            if self.cache_path is not None:
                from otel_agents.foundation.files import private_dir

                private_dir(self.cache_path.parent)
        else:
            self.store = Path(store)
            if not self.store.is_file():
                raise FileNotFoundError(f"no analytics store at {self.store}")
            _ensure_schema(self.store)
            self.cache_path = cache.cache_path_for(self.store) if use_cache else None
        self.con: Any = None
        self.sync = cache.SyncStats()
        if self.cache_path is not None:
            try:
                self.con = self._cached(rebuild_cache, progress, cache_wait_s)
            except Exception as exc:  # noqa: BLE001 - the cache is an optimisation: fall back to memory
                if progress is not None:
                    progress(f"report cache unavailable ({type(exc).__name__}: {exc}); reading the store directly")
                self.cache_path = None
        if self.con is None:
            self.con = duck.connect()
            try:
                self.sync = cache.sync(self.con, self.store, progress=progress)
            except Exception:
                self.close()
                raise
        self.scope = Scope(self.con)
        self.scope.apply(self.con, Filters())

    def _cached(self, rebuild: bool, progress: Callable[[str], None] | None, wait_s: float) -> Any:
        """The cache, read-only (so reports run side by side), synced first if the store has news."""
        assert self.cache_path is not None
        if not rebuild and self.cache_path.exists():
            try:
                con = _open_cache(self.cache_path, wait_s, read_only=True)
            except Exception:  # noqa: BLE001 - unreadable: the read-write open below replaces it
                con = None
            if con is not None:
                try:
                    if cache.up_to_date(con, self.store):
                        return con
                except Exception:  # noqa: BLE001 - an old or partial cache: sync decides
                    pass
                con.close()
        con = _open_cache(self.cache_path, wait_s)
        try:
            self.sync = cache.sync(con, self.store, rebuild=rebuild, progress=progress)
        finally:
            con.close()
        return _open_cache(self.cache_path, wait_s, read_only=True)

    @property
    def filters(self) -> Filters:
        return self.scope.filters

    def apply(self, filters: Filters) -> None:
        """Select what the report covers."""
        self.scope.apply(self.con, filters)

    def _on_cursor(self, job: Callable[[Any], Any]) -> Any:
        cur = self.con.cursor()
        try:
            self.scope.views(cur)
            return job(cur)
        finally:
            cur.close()

    def cache_rates(self, model: str, provider: str | None) -> tuple[float, float] | None:
        """``cost.cache_rates``, remembered for the day next to the cache (loading the price
        data takes ~0.3 s), keyed by the genai-prices version so an upgrade is seen at once."""
        import json
        from importlib.metadata import PackageNotFoundError, version

        from otel_agents.report.cost import cache_rates

        try:
            prices = version("genai-prices")
        except PackageNotFoundError:  # pragma: no cover
            prices = "?"
        stamp = f"2|{prices}|{time.strftime('%Y-%m-%d', time.gmtime())}"
        key = f"{model}|{provider or ''}"
        path = self.cache_path.with_name(self.cache_path.stem + ".prices.json") if self.cache_path else None
        memo: dict[str, Any] = {}
        if path is not None:
            try:
                memo = json.loads(path.read_text())
            except (OSError, ValueError):
                memo = {}
        if memo.get("stamp") != stamp:
            memo = {"stamp": stamp, "rates": {}}
        rates = memo.setdefault("rates", {})
        if key in rates:
            return tuple(rates[key]) if rates[key] is not None else None
        rates[key] = rate = cache_rates(model, provider)
        if path is not None:
            try:  # one small file, replaced atomically; losing it costs 0.3 s next time
                tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(memo, f)
                os.replace(tmp, path)
            except OSError:
                pass
        return rate

    def meta(self) -> dict[str, Any]:
        """The ``meta`` section: provenance, filters, method, row counts, period."""
        return self._meta(self.con)

    def _meta(self, con: Any) -> dict[str, Any]:
        counts = {
            v: int(one(con, f"SELECT count(*) AS n FROM {v}")["n"])
            for v in ("v_wf", "v_ph", "v_lg", "v_st", "v_tc", "v_mc")
        }
        period = one(
            con,
            """SELECT min(lo) AS first, max(hi) AS last FROM (
                                 SELECT min(day) AS lo, max(day) AS hi FROM v_st UNION ALL
                                 SELECT min(day), max(day) FROM v_mc UNION ALL SELECT min(day), max(day) FROM v_wf)""",
        )
        return {
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "store": str(self.store),
            "cache": str(self.cache_path) if self.cache_path else None,
            "cache_sync": {
                "rebuilt": self.sync.rebuilt,
                "reason": self.sync.reason or None,
                "new_rows": self.sync.copied,
                "seconds": round(self.sync.seconds, 3),
            },
            "filters": self.filters.describe(),
            "percentile_method": PERCENTILE_METHOD,
            "rows": {
                "workflows": counts["v_wf"],
                "phases": counts["v_ph"],
                "steps": counts["v_lg"],
                "step_attempts": counts["v_st"],
                "tool_calls": counts["v_tc"],
                "model_calls": counts["v_mc"],
            },
            # a filter that selects nothing: the report says so rather than printing empty tables
            "matched": any(counts.values()) or self.filters.empty,
            "period": {"first_day": period.get("first"), "last_day": period.get("last")},
        }

    def report(
        self, *, top: int = DEFAULT_TOP, workers: int = WORKERS, sections: tuple[str, ...] = SECTIONS
    ) -> dict[str, Any]:
        """The report's ``sections`` (default: all), with ``meta``, as one JSON-ready dict (sections
        computed concurrently). The recommendations read every section: with ``errors``, all are
        computed, then the ones not asked for are left out."""
        from concurrent.futures import ThreadPoolExecutor

        from otel_agents.report.attempts import attempts_section
        from otel_agents.report.cost import cost_section
        from otel_agents.report.errors import errors_section
        from otel_agents.report.latency import latency_section, tool_stats
        from otel_agents.report.recommend import recommendations
        from otel_agents.report.tools import tools_section

        unknown = set(sections) - set(SECTIONS)
        if unknown:
            raise ValueError(f"unknown section {', '.join(sorted(unknown))}: use {', '.join(SECTIONS)}")
        needed = set(sections) | (set(_RECOMMENDATION_INPUTS) if "errors" in sections else set())

        def tool_sections(con: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
            tools = tool_stats(con)
            return (
                latency_section(con, tools, top=top) if "latency" in needed else None,
                tools_section(con, top=top, tools=tools) if "tools" in needed else None,
            )

        jobs: dict[str, Callable[[Any], Any]] = {"meta": self._meta}
        if needed & {"latency", "tools"}:
            jobs["tools"] = tool_sections
        if "attempts" in needed:
            jobs["attempts"] = lambda con: attempts_section(con, top=top)
        if "cost" in needed:
            jobs["cost"] = lambda con: cost_section(con, top=top, rate=self.cache_rates)
        if "errors" in needed:
            jobs["errors"] = lambda con: errors_section(con, top=top)
        if "patterns" in needed:
            jobs["patterns"] = self._patterns_job(top)
        if "scores" in needed:
            from otel_agents.report.scores import scores_section

            jobs["scores"] = lambda con: scores_section(con, top=top)
        if "trends" in needed:
            from otel_agents.report.trends import trends_section

            jobs["trends"] = trends_section
        if "outcomes" in needed:
            from otel_agents.report.outcomes import outcomes_section

            jobs["outcomes"] = lambda con: outcomes_section(con, top=top)
        if workers <= 1:
            done = {name: self._on_cursor(job) for name, job in jobs.items()}
        else:
            threads = int(self.con.execute("SELECT current_setting('threads')").fetchone()[0])
            self.con.execute("SET threads = 1")
            try:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    futures = {name: pool.submit(self._on_cursor, job) for name, job in jobs.items()}
                    done = {name: f.result() for name, f in futures.items()}
            finally:
                self.con.execute(f"SET threads = {threads}")  # an int we read back
        done["latency"], done["tools"] = done.get("tools", (None, None))
        report = {name: done[name] for name in ("meta", *SECTIONS) if done.get(name) is not None}
        if "errors" in report:
            report["errors"]["recommendations"] = recommendations(report)
        return {name: report[name] for name in ("meta", *SECTIONS) if name == "meta" or name in sections}

    def _patterns_job(self, top: int) -> Callable[[Any], Any]:
        """The ``patterns`` section's job, with the decisions recorded in the store."""
        from otel_agents.analytics.decisions import load
        from otel_agents.report.patterns import patterns_section

        decisions = self.store.decisions() if isinstance(self.store, PgSource) else load(self.store)
        precomputed = self.scope.filters.empty  # unfiltered: the cache's pattern_stats
        return lambda con: patterns_section(con, top=top, decisions=decisions, precomputed=precomputed)

    def close(self) -> None:
        if self.con is not None:
            try:
                if getattr(self, "scope", None) is not None:
                    self.scope.close(self.con)
                self.con.close()
            finally:
                self.con = None

    def __enter__(self) -> ReportEngine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def build_report(
    store: str | os.PathLike[str],
    filters: Filters | None = None,
    *,
    top: int = DEFAULT_TOP,
    use_cache: bool = True,
    rebuild_cache: bool = False,
    sections: tuple[str, ...] = SECTIONS,
    progress: Callable[[str], None] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The report of ``store`` (see :class:`ReportEngine`)."""
    with ReportEngine(
        store, use_cache=use_cache, rebuild_cache=rebuild_cache, progress=progress, cache_dir=cache_dir
    ) as engine:
        if filters is not None and not filters.empty:
            engine.apply(filters)
        return engine.report(top=top, sections=sections)


def stderr_progress(message: str) -> None:
    """A progress callback printing to stderr."""
    print(message, file=sys.stderr, flush=True)
