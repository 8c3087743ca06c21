"""Concurrent writers: 8 processes x 10,000 steps into one data home, through every
registered local sink (spool; metrics JSONL and analytics SQLite when installed).

Each worker is a real process running workflows of 100 steps through the public API with
the default sinks (OTLP off: this is about the files and the database), flushes its sinks
(``force_flush``: this measures what many writers store, not the exit deadline, see
``exit_deadline.py``), and writes down the span ids it produced. Then every sink's output
is checked against those ids:

- spool: every span id of every line (OTLP-JSON), corrupt lines;
- metrics: ``record_id`` of every workflow and step record, corrupt lines;
- analytics: ``workflow_history`` and ``step_executions`` rows by ``record_id``.

lost = expected ids missing; duplicated = extra copies of an id; corrupt = unreadable
lines. The analytics sink retries a busy database (jittered backoff, large batches, rows
built before the write lock); anything a sink still could not write is listed in
``state/pending/`` and, if some is left when the workers are done, this script runs the
recovery (as the next start would) and counts again. Last line:
``lost: 0 duplicated: 0 corrupt: 0`` when that holds.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PER_WORKFLOW = 100


def worker(index: int, steps: int, out: str, gap_ms: float) -> None:
    import otel_agents as oa
    from otel_agents.ids import span_id_for

    rt = oa.setup()
    expected: dict[str, list[str]] = {"workflow": [], "step": []}
    for w in range(max(1, steps // PER_WORKFLOW)):
        wid = f"cw-{index}-{w}"
        with oa.workflow("concurrent", workflow_id=wid) as wf:
            expected["workflow"].append(f"{span_id_for(wid, wf.key):016x}")
            for s in range(PER_WORKFLOW):
                with wf.step(f"s{s}", agent="worker", key=f"s{s}") as st:
                    expected["step"].append(f"{span_id_for(wid, st.key):016x}")
                    if gap_ms:
                        time.sleep(gap_ms / 1000)
    stats: dict[str, dict[str, int]] = {}
    for proc in rt.processors:
        flush = getattr(proc, "force_flush", None)
        if flush is not None:
            flush(600_000)
        if not hasattr(proc, "stats"):
            continue
        sinks = {getattr(s, "name", ""): s for s in proc.sinks}
        for name, st in proc.stats().items():
            stats[name] = {
                "failures": st.failures,
                "failed_spans": st.failed_spans,
                "dropped": st.dropped,
                "busy_retries": int(getattr(sinks.get(name), "busy_retries", 0) or 0),
            }
    expected["stats"] = stats  # type: ignore[assignment]
    Path(out).write_text(json.dumps(expected))


def check(name: str, expected: set[str], got: Counter[str], corrupt: int) -> tuple[int, int, int]:
    lost = len(expected - set(got))
    dup = sum(n - 1 for i, n in got.items() if n > 1 and i in expected)
    unexpected = len(set(got) - expected)
    print(
        f"{name:<10} records {sum(got.values()):>7}  lost {lost:>5}  duplicated {dup:>5}  corrupt {corrupt:>3}"
        + (f"  unexpected {unexpected}" if unexpected else "")
    )
    return lost, dup, corrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10_000, help="steps per process")
    ap.add_argument("--gap-ms", type=float, default=0.0, help="sleep inside each step")
    ap.add_argument("--worker", nargs=3, metavar=("INDEX", "STEPS", "OUT"), help=argparse.SUPPRESS)
    ns = ap.parse_args()
    if ns.worker:
        worker(int(ns.worker[0]), int(ns.worker[1]), ns.worker[2], ns.gap_ms)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PYTEST_CURRENT_TEST"}
        env.update(OTEL_AGENTS_HOME=str(home), OTEL_AGENTS_OTLP_ENABLED="false")
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--gap-ms",
                    str(ns.gap_ms),
                    "--worker",
                    str(i),
                    str(ns.steps),
                    str(Path(tmp) / f"expected-{i}.json"),
                ],
                env=env,
            )
            for i in range(ns.processes)
        ]
        codes = [p.wait() for p in procs]
        took = time.perf_counter() - t0
        if any(codes):
            print(f"worker exit codes: {codes}")
            return 1
        exp_wf: set[str] = set()
        exp_step: set[str] = set()
        sink_totals: Counter[str] = Counter()
        for i in range(ns.processes):
            doc = json.loads((Path(tmp) / f"expected-{i}.json").read_text())
            exp_wf.update(doc["workflow"])
            exp_step.update(doc["step"])
            for name, st in doc.get("stats", {}).items():
                for key, v in st.items():
                    sink_totals[f"{name}.{key}"] += v
        expected = exp_wf | exp_step
        print(
            f"{ns.processes} processes x {ns.steps} steps ({len(exp_wf)} workflows) in {took:.1f} s; "
            f"{len(expected)} spans expected in each sink"
        )
        counters = ", ".join(f"{k} {v}" for k, v in sorted(sink_totals.items()) if v)
        print(f"sink counters (all workers): {counters or 'no failures, drops or retries'}")
        from otel_agents.config import load_config
        from otel_agents.sinks.pending import count_pending

        pending = count_pending(home)
        if pending:
            from otel_agents.sinks.recover import recover

            t1 = time.perf_counter()
            res = recover(load_config(home), wait=True, min_age=0.0)
            print(
                f"pending after the run: { {k: v['spans'] for k, v in pending.items()} }; recovered "
                f"{res.delivered} from the spool in {time.perf_counter() - t1:.1f} s"
            )
        else:
            print("pending after the run: none (nothing left for recovery)")
        totals = [0, 0, 0]

        from otel_agents.sinks.spool import iter_records, iter_spans, spool_files

        got: Counter[str] = Counter()
        corrupt = 0
        for p in spool_files(home / "spans"):
            for _o, _e, doc in iter_records(p):
                if doc is None:
                    corrupt += 1
                    continue
                got.update(s["spanId"] for s in iter_spans(doc))
        for i, v in enumerate(check("spool", expected, got, corrupt)):
            totals[i] += v

        try:
            from otel_agents.sinks.metrics import ReadStats, iter_records as metric_records
        except ImportError:
            metric_records = None
        if metric_records is not None and (home / "metrics").exists():
            stats = ReadStats()
            got = Counter(
                r["record_id"]
                for r in metric_records(home / "metrics", stats=stats)
                if r.get("kind") in ("workflow", "step")
            )
            for i, v in enumerate(check("metrics", expected, got, stats.corrupt + stats.partial_tail)):
                totals[i] += v

        db = home / "analytics" / "history.db"
        if db.exists():
            con = sqlite3.connect(db)
            got = Counter(r for (r,) in con.execute("SELECT record_id FROM workflow_history"))
            got.update(r for (r,) in con.execute("SELECT record_id FROM step_executions"))
            con.close()
            for i, v in enumerate(check("analytics", expected, got, 0)):
                totals[i] += v
    print(f"lost: {totals[0]} duplicated: {totals[1]} corrupt: {totals[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
