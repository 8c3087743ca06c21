"""A fleet into one PostgreSQL: 8 machines writing at once, then the report over a million steps.

1. **Writes.** 8 processes stand for 8 machines: each has its own data home and its own
   ``host.name``, and runs 10,000 steps (workflows of 100 steps, through the public API and
   the default sinks, OTLP off) with ``analytics.url`` pointing at one PostgreSQL. Each worker
   flushes its sinks and writes down the span ids it produced; then every id is looked up in
   PostgreSQL (``workflow_history`` and ``step_executions`` by ``record_id``). What a sink
   left for recovery (``state/pending/``) is recovered, as the next start would, before
   counting. The same run into SQLite (the 8 processes sharing one data home, so one
   database file: a shared store, as PostgreSQL is) gives the comparison: rows per second
   stored, from the workers' start until every row is in the store.
2. **Report.** A deterministic synthetic history of 1,000,000 steps
   (``benchmarks/report_scale.py``'s generator, 8 machines) is written into a SQLite store,
   then copied as is into PostgreSQL (DuckDB's postgres extension, which loads with
   ``COPY``). Timed: ``otel-agents report --format json`` in a new process, first with no
   columnar cache (cold: the cache is built from the store), then with the cache in step
   (warm, median of ``--repeat``), on both stores.

The PostgreSQL server is a private one (``initdb`` in a temporary directory,
``tests/_pgserver.py``) unless ``--url`` names one. Last line: ``fleet_lost_duplicated: L D``.

    python benchmarks/fleet.py                      # everything (several minutes)
    python benchmarks/fleet.py --report-steps 100000 --steps 1000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from concurrent_writers import worker  # noqa: E402

EXE = Path(sys.executable).with_name("otel-agents")
MACHINES = 8


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PYTEST_CURRENT_TEST"}
    env.update(OTEL_AGENTS_HOME=str(home), OTEL_AGENTS_OTLP_ENABLED="false", **extra)
    return env


def run_fleet(tmp: Path, procs: int, steps: int, url: str | None) -> tuple[float, list[Path], set[str]]:
    """``procs`` workers at once; returns the seconds until all exited, their homes, the ids."""
    homes = [tmp / (f"machine-{i}" if url else "shared") for i in range(procs)]
    started = time.perf_counter()
    children = []
    for i, home in enumerate(homes):
        extra = {"OTEL_RESOURCE_ATTRIBUTES": f"host.name=machine-{i}"}
        if url:
            extra["OTEL_AGENTS_ANALYTICS_URL"] = url
        out = tmp / f"expected-{'pg' if url else 'lite'}-{i}.json"
        cmd = [sys.executable, __file__, "--worker", str(i), str(steps), str(out)]
        children.append((subprocess.Popen(cmd, env=_env(home, **extra)), out))
    codes = [p.wait() for p, _o in children]
    took = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"worker exit codes: {codes}")
    ids: set[str] = set()
    for _p, out in children:
        doc = json.loads(out.read_text())
        ids.update(doc["workflow"], doc["step"])
    return took, sorted(set(homes)), ids


def recover_homes(homes: list[Path], url: str | None) -> int:
    """Recover what the sinks left in ``state/pending/`` (as each home's next start would)."""
    from otel_agents.config import load_config
    from otel_agents.sinks.pending import count_pending
    from otel_agents.sinks.recover import recover

    env = {"OTEL_AGENTS_ANALYTICS_URL": url} if url else {}
    done = 0
    for home in homes:
        if count_pending(home):
            done += sum(recover(load_config(home, environ=env), wait=True, min_age=0.0).delivered.values())
    return done


def stored_ids(url: str | None, db: Path | None) -> Counter[str]:
    sql = ("SELECT record_id FROM workflow_history", "SELECT record_id FROM step_executions")
    got: Counter[str] = Counter()
    if url:
        import psycopg

        with psycopg.connect(url) as conn:
            for q in sql:
                got.update(r for (r,) in conn.execute(q))
    elif db is not None and db.exists():
        conn = sqlite3.connect(db)
        for q in sql:
            got.update(r for (r,) in conn.execute(q))
        conn.close()
    return got


def writes(tmp: Path, procs: int, steps: int, url: str | None) -> tuple[float, int, int]:
    """One fleet run into ``url`` (None: SQLite); returns rows per second, lost, duplicated."""
    took, homes, expected = run_fleet(tmp, procs, steps, url)
    recovered = recover_homes(homes, url)
    db = None if url else homes[0] / "analytics" / "history.db"
    got = stored_ids(url, db)
    lost = len(expected - set(got))
    dup = sum(n - 1 for i, n in got.items() if n > 1)
    rate = sum(got.values()) / took
    name = "PostgreSQL" if url else "SQLite (one shared file)"
    print(
        f"{name}: {procs} processes x {steps:,} steps, {sum(got.values()):,} rows in {took:.1f} s = "
        f"{rate:,.0f} rows/s; recovered afterwards {recovered}; lost {lost}, duplicated {dup}",
        flush=True,
    )
    return rate, lost, dup


# --- the report over a million steps -----------------------------------------------------------------
def _machines(db: Path) -> None:
    """Spread the generated workflows over 8 machines and 2 services (every row of a run alike)."""
    conn = sqlite3.connect(db)
    conn.execute("BEGIN")
    for table in ("workflow_history", "phase_logs", "step_executions", "tool_calls", "model_calls"):
        conn.execute(
            f"UPDATE {table} SET host_name = 'machine-' || (abs(unicode(substr(workflow_id, -1))) % {MACHINES}),"
            " service_name = CASE WHEN unicode(substr(workflow_id, -2)) % 2 = 0 THEN 'executor' ELSE 'ci' END"
        )
    conn.execute("COMMIT")
    conn.close()


def copy_to_postgres(db: Path, url: str) -> float:
    """Copy every analytics row of the SQLite ``db`` into the (migrated, empty) PostgreSQL
    store; secondary indexes are dropped for the load and rebuilt after it."""
    import psycopg

    from otel_agents.analytics.postgres import PgAnalyticsStore
    from otel_agents.report.duck import connect as duck_connect, load_postgres

    store = PgAnalyticsStore(url)
    store.open()
    store.close()
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'idx_%'").fetchall()
        for name, _d in indexes:
            conn.execute(f'DROP INDEX "{name}"')
    con = duck_connect()
    load_postgres(con)
    con.execute(f"ATTACH '{db}' AS lite (TYPE sqlite, READ_ONLY)")
    con.execute(f"ATTACH '{url}' AS pg (TYPE postgres)")
    lite = sqlite3.connect(db)
    for table in ("workflow_history", "phase_logs", "step_executions", "tool_calls", "model_calls", "hook_events"):
        cols = ", ".join(r[1] for r in lite.execute(f"PRAGMA table_info({table})"))
        con.execute(f"INSERT INTO pg.public.{table} ({cols}) SELECT {cols} FROM lite.{table}")
    lite.close()
    con.close()
    with psycopg.connect(url, autocommit=True) as conn:
        for _n, definition in indexes:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - t0


def time_report(store: str, home: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [str(EXE), "report", "--store", store, "--format", "json", "--quiet"],
        env=_env(home),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def report(tmp: Path, url: str, steps: int, repeat: int) -> tuple[float, float]:
    """Cold and warm report times over ``steps`` steps, PostgreSQL against SQLite; returns the ratios."""
    from report_scale import generate

    db = tmp / "lite" / "history.db"
    db.parent.mkdir(parents=True)
    t0 = time.perf_counter()
    counts = generate(db, steps, progress=False)
    _machines(db)
    print(f"generated {steps:,} steps in SQLite in {time.perf_counter() - t0:.0f} s: {counts}", flush=True)
    print(f"copied into PostgreSQL in {copy_to_postgres(db, url):.0f} s (COPY through DuckDB)", flush=True)
    home = tmp / "viewer"
    cold = {"sqlite": time_report(str(db), home), "postgresql": time_report(url, home)}
    warm: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    for _ in range(repeat):
        warm["sqlite"].append(time_report(str(db), home))
        warm["postgresql"].append(time_report(url, home))
    w = {k: statistics.median(v) for k, v in warm.items()}
    for name in ("sqlite", "postgresql"):
        print(
            f"report over {steps:,} steps, {name}: cold cache {cold[name]:.2f} s, warm {w[name]:.2f} s "
            f"(median of {repeat}; best {min(warm[name]):.2f} s)",
            flush=True,
        )
    ratios = (cold["postgresql"] / cold["sqlite"], w["postgresql"] / w["sqlite"])
    print(f"report_ratio_postgresql_to_sqlite: cold {ratios[0]:.2f} warm {ratios[1]:.2f} (target <= 2)")
    return ratios


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=MACHINES)
    ap.add_argument("--steps", type=int, default=10_000, help="steps per process")
    ap.add_argument("--report-steps", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--url", help="a PostgreSQL database to use (default: a private server)")
    ap.add_argument("--skip-report", action="store_true")
    ap.add_argument("--worker", nargs=3, metavar=("INDEX", "STEPS", "OUT"), help=argparse.SUPPRESS)
    ns = ap.parse_args()
    if ns.worker:
        worker(int(ns.worker[0]), int(ns.worker[1]), ns.worker[2], 0.0)
        return 0
    server = None
    if ns.url:
        url, report_url = ns.url, ns.url
    else:
        from _pgserver import PgServer

        server = PgServer()
        url, report_url = server.create_database("fleet"), server.create_database("report")
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            pg_rate, lost, dup = writes(tmp / "pg", ns.processes, ns.steps, url)
            lite_rate, _l, _d = writes(tmp / "lite", ns.processes, ns.steps, None)
            print(f"rows per second into PostgreSQL {pg_rate:,.0f}, into SQLite {lite_rate:,.0f}", flush=True)
            if not ns.skip_report:
                report(tmp / "report", report_url, ns.report_steps, ns.repeat)
    finally:
        if server is not None:
            server.destroy()
    print(f"fleet_lost_duplicated: {lost} {dup}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
