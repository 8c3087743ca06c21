"""Analytics database faults: locked by another process (30 s in the soak, 4 s in the fast
run), a corrupt file (not a database; damaged pages), a schema from an older version (one
process, and several opening it at once).

A broken database fails the analytics sink only: the workflow, the spool, the metrics JSONL
and the collector never notice. Recovery is the documented one: ``otel-agents reconcile``
(after moving a corrupt file aside: it is never overwritten).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from _harness import (
    SOAK,
    Child,
    assert_clean,
    baseline,
    child_env,
    cli,
    finish_all,
    measure,
    merge,
    n,
    run_workload,
    wait_stored,
)

from otel_agents.analytics import schema

LOCK_S = 30.0 if SOAK else 4.0


def _db(home):
    return home / "analytics" / "history.db"


def _create(home, version=None):
    """A database made by the real schema code, at ``version`` (default: latest)."""
    path = _db(home)
    conn = schema.connect(path, migrate_schema=version is None)
    if version is not None:
        schema.migrate(conn, target=version)
    return conn


def test_locked_by_another_process(tmp_path_factory, home, receiver, fault_row):
    """Another process holds the write lock (BEGIN EXCLUSIVE) for LOCK_S seconds while the
    executor runs; then it lets go and the executor runs on."""
    _create(home).close()
    locker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sqlite3, sys, time
        conn = sqlite3.connect({str(_db(home))!r}, isolation_level=None, timeout=30)
        conn.execute("BEGIN EXCLUSIVE")
        print("locked", flush=True)
        time.sleep({LOCK_S})
        conn.execute("COMMIT")
    """),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert locker.stdout.readline().strip() == b"locked"
        t_locked = time.monotonic()
        k = n(20, 200)

        def released():
            locker.wait(LOCK_S + 30)

        run = run_workload(home, receiver.endpoint, [k, k], heal=[released], pace=1.0)
    finally:
        if locker.poll() is None:
            locker.kill()
            locker.wait(10)
    held = time.monotonic() - t_locked
    base = baseline(tmp_path_factory.getbasetemp(), 2 * k, 1.0)
    case = measure(home, run, base, [], healthy=receiver)
    fault_row(
        "3.analytics.locked",
        "Analytics database",
        f"locked by another process for {LOCK_S:.0f} s (BEGIN EXCLUSIVE)",
        "standard; analytics missed live = records the sink could not write",
        case=case,
        notes=f"lock held {LOCK_S:.0f} s; the executor ran {k} workflows under it, {k} after",
        lock_s=LOCK_S,
    )
    assert held >= LOCK_S * 0.9
    assert_clean(case)


def _corrupt_garbage(home):
    path = _db(home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(os.urandom(64 * 1024))
    os.chmod(path, 0o600)


def _corrupt_pages(home):
    """A real database whose pages after the first are overwritten: 'disk image is malformed'."""
    conn = _create(home)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    path = _db(home)
    data = bytearray(path.read_bytes())
    page = 4096
    for off in range(page, len(data), page):
        data[off + 16 : off + page] = os.urandom(page - 16)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["garbage", "pages"])
def test_corrupt_database(tmp_path_factory, home, receiver, fault_row, kind):
    {"garbage": _corrupt_garbage, "pages": _corrupt_pages}[kind](home)
    path = _db(home)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    k = n(10, 100)
    run = run_workload(home, receiver.endpoint, [k], pace=0.5)
    base = baseline(tmp_path_factory.getbasetemp(), k, 0.5)
    untouched = hashlib.sha256(path.read_bytes()).hexdigest() == digest
    doctor = cli(["doctor"], child_env(home, receiver.endpoint))
    aside = path.with_name("history.db.corrupt")

    def move_aside():
        os.replace(path, aside)
        for suffix in ("-wal", "-shm"):
            p = path.with_name(path.name + suffix)
            if p.exists():
                p.unlink()

    case = measure(home, run, base, [], healthy=receiver, before_recover=move_aside)
    what = "not a database (64 KiB of random bytes)" if kind == "garbage" else "damaged pages (valid header)"
    fault_row(
        f"3.analytics.corrupt.{kind}",
        "Analytics database",
        f"corrupt file: {what}",
        "standard; recovery: move the file aside, then reconcile",
        case=case,
        notes=("the corrupt file was left byte for byte untouched" if untouched else "the corrupt file WAS modified"),
        untouched=untouched,
        doctor_rc=doctor.returncode,
    )
    assert untouched
    assert doctor.returncode == 0
    # the analytics sink failed; every other store got everything live
    for store in ("spool", "metrics", "receiver"):
        assert case.live[store]["lost"] == 0, (store, case.live[store])
    assert case.scan.bad_databases == []  # the fresh one; the corrupt one is set aside (*.corrupt)
    assert_clean(case)


def _old_database(home):
    conn = _create(home, version=1)
    conn.execute(
        "INSERT INTO workflow_history (workflow_id, record_id, workflow_name, status, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        ("wf-from-v1", "00000000000000aa", "old", "completed", "2025-01-01", "2025-01-01"),
    )
    conn.close()


def test_older_schema(tmp_path_factory, home, receiver, fault_row):
    """A database at schema v1 with a row in it: migrated in place by the executor's live
    analytics writes, nothing of it lost."""
    _old_database(home)
    k = n(10, 100)
    child = Child({"phases": [k, k], "prefix": "wf", "pace": 0.5}, child_env(home, receiver.endpoint))
    try:
        child.phase()
        # the first phase reaches the database live (after the migration), not by recovery;
        # how soon depends on the machine's load, so wait for it rather than assume it
        waited = wait_stored(home, set(child.result.ids), ("analytics",))
        child.go()
        child.phase()
        run = child.finish()
    finally:
        child.kill()
    base = baseline(tmp_path_factory.getbasetemp(), 2 * k, 0.5)
    with sqlite3.connect(_db(home)) as conn:
        version = schema.schema_version(conn)
        old_row = conn.execute("SELECT workflow_name FROM workflow_history WHERE workflow_id = 'wf-from-v1'").fetchone()
        applied = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    case = measure(home, run, base, [], healthy=receiver)
    fault_row(
        "3.analytics.old_schema",
        "Analytics database",
        "schema from an older version (v1, with data)",
        "standard; the first phase's records written live, after the migration",
        case=case,
        notes=f"migrated to v{version} ({applied}); the v1 row kept; the first phase was in the "
        f"database {waited:.1f} s after it ended",
        version=version,
    )
    assert version == schema.LATEST_VERSION and applied == [m.version for m in schema.MIGRATIONS]
    assert old_row == ("old",)
    assert_clean(case)


def test_older_schema_opened_by_many_processes_at_once(tmp_path_factory, home, receiver, fault_row):
    """Four executors start at once on a v1 database: it is migrated exactly once, and each
    one's records are written live."""
    _old_database(home)
    k = n(5, 50)
    env = child_env(home, receiver.endpoint)
    children = [Child({"phases": [k, k], "prefix": f"p{i}", "pace": 0}, env) for i in range(4)]
    try:
        for c in children:
            c.phase()
        waited = wait_stored(home, {i for c in children for i in c.result.ids}, ("analytics",))
        for c in children:
            c.go()
            c.phase()
        runs = finish_all(children)
    finally:
        for c in children:
            c.kill()
    with sqlite3.connect(_db(home)) as conn:
        applied = conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]
    case = measure(home, merge(runs), baseline(tmp_path_factory.getbasetemp(), 2 * k, 0), [], healthy=receiver)
    fault_row(
        "3.analytics.old_schema.concurrent",
        "Analytics database",
        "older schema, opened by 4 processes at once",
        "standard; migrations applied",
        case=case,
        notes=f"{applied} migration rows (one per version: applied once); the first phases were in "
        f"the database {waited:.1f} s after they ended",
    )
    assert applied == len(schema.MIGRATIONS)
    assert_clean(case)
