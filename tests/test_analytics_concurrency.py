"""Eight real processes dual-writing at once: the analytics store gets every row exactly
once (WAL, busy timeout, BEGIN IMMEDIATE) and the metrics JSONL has no corrupt line."""

from __future__ import annotations

import sqlite3

from helpers_sinks import DEMO_COST, DEMO_RECORDS, run_workers

from otel_agents.sinks.metrics import ReadStats, iter_records


def test_eight_processes_dual_write_exactly_once(tmp_path):
    home = tmp_path / "home"
    procs, n = 8, 10
    run_workers(home, procs, n, 2_000, "both")
    total = procs * n
    with sqlite3.connect(home / "analytics" / "history.db") as conn:
        counts = {
            t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("workflow_history", "phase_logs", "step_executions", "tool_calls", "model_calls", "hook_events")
        }
        assert counts == {
            "workflow_history": total,
            "phase_logs": 4 * total,
            "step_executions": 5 * total,
            "tool_calls": 11 * total,
            "model_calls": 6 * total,
            "hook_events": 2 * total,
        }
        ids = {r[0] for r in conn.execute("SELECT workflow_id FROM workflow_history")}
        assert ids == {f"p{i}-{j}" for i in range(procs) for j in range(n)}
        per_wf = conn.execute(
            "SELECT MIN(cost_usd), MAX(cost_usd), MIN(retry_count), MAX(retry_count),"
            " MIN(phase_count), MAX(phase_count), SUM(cost_usd) FROM workflow_history"
        ).fetchone()
        assert per_wf[2:6] == (1, 1, 4, 4)
        assert abs(per_wf[0] - DEMO_COST) < 1e-12 and abs(per_wf[1] - DEMO_COST) < 1e-12
        assert abs(per_wf[6] - total * DEMO_COST) < 1e-9
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    st = ReadStats()
    records = list(iter_records(home / "metrics", stats=st))
    assert (st.corrupt, st.partial_tail) == (0, 0)
    assert len(records) == total * (DEMO_RECORDS + 3)
    assert len({r["record_id"] for r in records}) == len(records)


def test_forked_child_writes_through_its_own_connection(make_runtime, tmp_path, monkeypatch):
    """Parent writes, forks; the child and the parent keep writing through the real
    SinkProcessor. SQLite connections never cross the fork; every row lands once."""
    import os

    from otel_agents.config import load_config
    from otel_agents.demo import run_demo
    from otel_agents.sink import SinkProcessor
    from otel_agents.sinks.analytics import AnalyticsSink
    from otel_agents.sinks.metrics import MetricsSink

    monkeypatch.setenv("OTEL_AGENTS_EXIT_DEADLINE", "60")  # shutdown waits: no thread outlives the test
    home = tmp_path / "home"
    cfg = load_config(home)
    proc = SinkProcessor([MetricsSink(cfg), AnalyticsSink(cfg)], config=cfg)
    rt = make_runtime(config=cfg)
    rt.provider.add_span_processor(proc)
    try:
        run_demo(workflow_id="parent-1", pace=0)
        assert proc.force_flush(30_000)
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                run_demo(workflow_id="child-1", pace=0)
                code = 0 if proc.force_flush(30_000) and not proc.stats()["analytics"].failures else 3
                proc.shutdown()
            finally:
                os._exit(code)
        run_demo(workflow_id="parent-2", pace=0)
        assert proc.force_flush(30_000)
        _pid, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert proc.stats()["analytics"].failures == 0
    finally:
        proc.shutdown()
    with sqlite3.connect(home / "analytics" / "history.db") as conn:
        assert sorted(r[0] for r in conn.execute("SELECT workflow_id FROM workflow_history")) == [
            "child-1",
            "parent-1",
            "parent-2",
        ]
        assert conn.execute("SELECT COUNT(*) FROM step_executions").fetchone() == (15,)
    st = ReadStats()
    assert len(list(iter_records(home / "metrics", stats=st))) == 3 * DEMO_RECORDS
    assert st.corrupt == 0
