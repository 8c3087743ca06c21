"""Faults of a shared PostgreSQL analytics store (``analytics.url``), on a real private server:
the server stopped mid-run, hung (every server process SIGSTOPped), a lock held by another
client, a failover (the server restarted between phases), a schema from an older version,
and several machines migrating a new database at once.

Same promise as the SQLite rows: 0 exceptions into the workflow, no blocked workflow, a
bounded exit, and after the documented recovery (next start, replay, reconcile) nothing lost
and nothing duplicated in the spool, the metrics JSONL, the PostgreSQL store and the
collector.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import psycopg
import pytest
from _harness import (
    PG_STORES,
    SOAK,
    Child,
    assert_clean,
    baseline,
    child_env,
    finish_all,
    measure,
    merge,
    n,
    run_workload,
)

from otel_agents.analytics import postgres as pg

LOCK_S = 30.0 if SOAK else 4.0
HANG_S = 20.0 if SOAK else 4.0


@pytest.fixture
def store(pg_url, home):
    """The home's analytics store is a fresh PostgreSQL database."""
    PG_STORES[home] = pg_url
    yield pg_url
    PG_STORES.pop(home, None)


def _env(url: str) -> dict[str, str]:
    return {"OTEL_AGENTS_ANALYTICS_URL": url}


def _server_pids(server) -> list[int]:
    """The postmaster and every server process it started."""
    root = server.postmaster_pid()
    out = subprocess.run(["pgrep", "-P", str(root)], capture_output=True, text=True).stdout.split()
    return [root, *(int(p) for p in out)]


def _row(fault_row, key, fault, case, notes, **data):
    fault_row(
        key,
        "Analytics database (PostgreSQL)",
        fault,
        "standard; analytics = the PostgreSQL store; missed live = records the sink could not write",
        case=case,
        notes=notes,
        **data,
    )


def test_server_stopped_mid_run(tmp_path_factory, home, receiver, store, pg_server, fault_row):
    """Phase 1 writes into the running server; it is stopped before phase 2 and started again
    only after the run."""
    k = n(10, 100)
    try:
        run = run_workload(home, receiver.endpoint, [k, k], heal=[pg_server.stop], env_extra=_env(store))
    finally:
        pg_server.start()
    base = baseline(tmp_path_factory.getbasetemp(), 2 * k)
    case = measure(home, run, base, [], healthy=receiver, env_extra=_env(store))
    _row(fault_row, "3.pg.stopped", "PostgreSQL stopped mid-run", case, f"{k} workflows up, {k} with the server down")
    assert case.live["analytics"]["lost"] > 0  # the fault was real: phase 2 missed the store live
    assert_clean(case)


def test_server_hung(tmp_path_factory, home, receiver, store, pg_server, fault_row):
    """Every server process is SIGSTOPped (connections accepted by the kernel, never
    answered) during phase 2 and the exit; resumed after HANG_S seconds."""
    k = n(10, 100)
    stopped: list[int] = []

    def resume() -> None:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    timer = threading.Timer(HANG_S, resume)

    def hang() -> None:
        stopped.extend(_server_pids(pg_server))
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        timer.start()

    try:
        run = run_workload(home, receiver.endpoint, [k, k], heal=[hang], env_extra=_env(store))
        hung_through_exit = timer.is_alive()
    finally:
        timer.cancel()
        resume()
    pg_server.wait_ready()
    base = baseline(tmp_path_factory.getbasetemp(), 2 * k)
    case = measure(home, run, base, [], healthy=receiver, env_extra=_env(store))
    _row(fault_row, "3.pg.hung", f"PostgreSQL hung (SIGSTOP) for {HANG_S:.0f} s", case, f"{k} workflows hung")
    assert hung_through_exit  # the workflows and the exit ran while the server did not answer
    assert_clean(case)


def test_lock_held_by_another_client(tmp_path_factory, home, receiver, store, fault_row):
    """Another client holds an exclusive lock on the step table for LOCK_S seconds while the
    executor runs; then it commits and the executor runs on."""
    with psycopg.connect(store, autocommit=True) as raw:
        pg.migrate(pg.PgConn(raw))
    holder = psycopg.connect(store)
    holder.execute("LOCK TABLE step_executions IN ACCESS EXCLUSIVE MODE")
    t_locked = time.monotonic()
    timer = threading.Timer(LOCK_S, holder.commit)
    timer.start()
    try:
        k = n(20, 200)
        run = run_workload(
            home, receiver.endpoint, [k, k], heal=[lambda: timer.join()], env_extra=_env(store), pace=1.0
        )
    finally:
        timer.cancel()
        holder.close()
    held = time.monotonic() - t_locked
    base = baseline(tmp_path_factory.getbasetemp(), 2 * k, 1.0)
    case = measure(home, run, base, [], healthy=receiver, env_extra=_env(store))
    _row(
        fault_row,
        "3.pg.locked",
        f"a table locked by another client for {LOCK_S:.0f} s",
        case,
        f"lock held {LOCK_S:.0f} s; {k} workflows under it, {k} after",
        lock_s=LOCK_S,
    )
    assert held >= LOCK_S * 0.9
    assert_clean(case)


def test_failover_restart(tmp_path_factory, home, receiver, store, pg_server, fault_row):
    """The server restarts (immediate shutdown, then start) between phases: the pooled
    connections are dead; the next batch gets new ones."""
    k = n(10, 100)
    run = run_workload(home, receiver.endpoint, [k, k, k], heal=[pg_server.restart, None], env_extra=_env(store))
    base = baseline(tmp_path_factory.getbasetemp(), 3 * k)
    case = measure(home, run, base, [], healthy=receiver, env_extra=_env(store))
    _row(fault_row, "3.pg.failover", "PostgreSQL restarted between phases (failover)", case, f"{3 * k} workflows")
    assert_clean(case)


def test_older_schema(tmp_path_factory, home, receiver, store, fault_row):
    """The database was created by an older otel-agents (schema v1, with a row): the first
    writer migrates it and keeps the row."""
    with psycopg.connect(store, autocommit=True) as raw:
        pg.migrate(pg.PgConn(raw), target=1)
        raw.execute(
            "INSERT INTO workflow_history (workflow_id, status, created_at, updated_at)"
            " VALUES ('from-v1', 'completed', 'x', 'x')"
        )
    k = n(10, 100)
    run = run_workload(home, receiver.endpoint, [k], env_extra=_env(store))
    base = baseline(tmp_path_factory.getbasetemp(), k)
    case = measure(home, run, base, [], healthy=receiver, env_extra=_env(store))
    with psycopg.connect(store) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        kept = conn.execute("SELECT count(*) FROM workflow_history WHERE workflow_id = 'from-v1'").fetchone()[0]
    _row(fault_row, "3.pg.older_schema", "a PostgreSQL schema from an older version (v1)", case, "migrated in place")
    assert versions == [m.version for m in pg.MIGRATIONS] and kept == 1
    assert_clean(case)


def test_machines_migrating_at_once(tmp_path_factory, tmp_path, receiver, pg_url, fault_row):
    """Several machines (data homes, host names) start at once on a new database: it is
    migrated exactly once, and every machine's records are in it exactly once."""
    procs = n(4, 8)
    k = n(5, 50)
    homes = [tmp_path / f"machine-{i}" for i in range(procs)]
    for h in homes:
        PG_STORES[h] = pg_url
    try:
        children = [
            Child(
                {"phases": [k], "prefix": f"m{i}", "pace": 0},
                child_env(h, receiver.endpoint, OTEL_RESOURCE_ATTRIBUTES=f"host.name=machine-{i}", **_env(pg_url)),
            )
            for i, h in enumerate(homes)
        ]
        for c in children:
            c.phase()
        runs = finish_all(children)
        cases = [
            measure(
                h,
                r,
                None,
                [],
                healthy=receiver,
                env_extra={**_env(pg_url), "OTEL_RESOURCE_ATTRIBUTES": f"host.name={h.name}"},
                recover_prefix=f"next-{h.name}",  # one database: workflow ids must differ per machine
            )
            for h, r in zip(homes, runs, strict=True)
        ]
    finally:
        for h in homes:
            PG_STORES.pop(h, None)
    with psycopg.connect(pg_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        machines = dict(conn.execute("SELECT host_name, count(*) FROM workflow_history GROUP BY 1").fetchall())
    case = cases[0]
    case.run = merge(runs)
    fault_row(
        "3.pg.migrating",
        "Analytics database (PostgreSQL)",
        f"{procs} machines start at once on a new database (each migrates it)",
        "standard, over all machines",
        f"{sum(c.run.exceptions for c in cases)} exceptions; migrated once ({len(versions)} versions); "
        f"after recovery lost {sum(c.after['analytics']['lost'] for c in cases)}, duplicated "
        f"{sum(c.after['analytics']['dup'] for c in cases)} (analytics)",
        machines=procs,
    )
    assert versions == [m.version for m in pg.MIGRATIONS]
    assert machines == {f"machine-{i}": k + 1 for i in range(procs)}  # + the recovery's next workflow
    for c in cases:
        assert_clean(c)
