"""Exit burst: how many spans can be accepted right before exit and still all reach the spool
within the exit deadline (0.5 s by default)?

Each run is a real process with the default sinks (OTLP off: this is about the spool): it
ends N spans (workflows of 100: 1 workflow + 99 steps) as fast as it can, then exits at
once; the spool is then checked span id by span id. Timed: ``shutdown``, our part of the
exit (the atexit handler: bounded by the deadline), and ``exit``, from the process's last
line to its end (that plus the interpreter's own teardown, which frees every span still
referenced: slow on this VM for tens of thousands of spans).

- ``queued`` (the worst case): the sink threads get no CPU during the burst (a GIL switch
  interval of 1000 s), so all N spans are still queued when ``atexit`` runs and the spool
  must encode and write every one of them within the deadline;
- ``live``: the normal case: the spool thread drains while the workflow produces, so
  little is left at exit.

What the metrics and analytics sinks could not write in time is listed in
``state/pending/`` and written at the next start (see docs/reliability.md); this script
reports how many. Last line: ``max_burst_at_exit: N`` (the largest ``queued`` N, of those
tried, that reached the spool entirely in every repetition).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BURST = textwrap.dedent("""
    import json, sys, time
    import otel_agents as oa
    from otel_agents.ids import span_id_for
    n, out, starve = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "queued"
    rt = oa.setup()
    procs = [p for p in rt.processors if hasattr(p, "_lanes")]

    def timed_shutdown(proc=procs[0], orig=procs[0].shutdown):  # our part of the exit, timed
        t0 = time.perf_counter()
        orig()
        with open(out + ".shutdown", "w") as f:
            f.write(str(time.perf_counter() - t0))

    import atexit
    atexit.unregister(procs[0].shutdown)
    atexit.register(timed_shutdown)
    time.sleep(0.3)
    ids = []
    if starve:
        sys.setswitchinterval(1000)
    t0 = time.perf_counter()
    for w in range(n // 100):
        wid = f"b-{w}"
        with oa.workflow("burst", workflow_id=wid) as wf:
            ids.append(f"{span_id_for(wid, wf.key):016x}")
            for s in range(99):
                with wf.step(f"s{s}", agent="a", key=f"s{s}") as st:
                    ids.append(f"{span_id_for(wid, st.key):016x}")
    burst = time.perf_counter() - t0
    queued = {l.name: len(l.q) for p in rt.processors if hasattr(p, "_lanes") for l in p._lanes}
    sys.setswitchinterval(0.005)
    with open(out, "w") as f:
        json.dump({"ids": ids, "queued": queued, "burst_s": burst}, f)
    print("exiting", flush=True)
""")


def run(n: int, mode: str, deadline: float) -> dict:
    from otel_agents.sinks.pending import count_pending
    from otel_agents.sinks.spool import iter_records, iter_spans, spool_files

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        out = Path(tmp) / "ids.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PYTEST_CURRENT_TEST"}
        env.update(
            OTEL_AGENTS_HOME=str(home),
            OTEL_AGENTS_OTLP_ENABLED="false",
            OTEL_AGENTS_REPLAY_ON_START="false",
            OTEL_AGENTS_EXIT_DEADLINE=str(deadline),
        )
        p = subprocess.Popen(
            [sys.executable, "-c", BURST, str(n), str(out), mode], env=env, stdout=subprocess.PIPE, text=True
        )
        assert p.stdout is not None
        line = p.stdout.readline().strip()
        t0 = time.perf_counter()
        code = p.wait()
        exit_s = time.perf_counter() - t0
        if line != "exiting" or code:
            raise SystemExit(f"run failed: {line!r}, exit code {code}")
        doc = json.loads(out.read_text())
        shutdown_s = float(Path(str(out) + ".shutdown").read_text())
        expected = set(doc["ids"])
        got: set[str] = set()
        dups = 0
        for path in spool_files(home / "spans"):
            for _o, _e, req in iter_records(path):
                for s in iter_spans(req or {}):
                    dups += s["spanId"] in got
                    got.add(s["spanId"])
        pending = {k: v["spans"] for k, v in count_pending(home).items()}
        return {
            "n": n,
            "mode": mode,
            "queued": doc["queued"].get("spool", 0),
            "burst_s": doc["burst_s"],
            "exit_s": exit_s,
            "shutdown_s": shutdown_s,
            "spooled": len(expected & got),
            "missing": len(expected - got),
            "dups": dups,
            "pending": pending,
        }


def show(r: dict) -> None:
    print(
        f"{r['mode']:<7} n={r['n']:>6}  queued at exit {r['queued']:>6}  burst {r['burst_s']:5.1f} s  "
        f"shutdown {r['shutdown_s']:.2f} s (exit {r['exit_s']:.2f} s)  spooled {r['spooled']:>6}  missing {r['missing']:>5}  dup {r['dups']}  "
        f"left for recovery {r['pending'] or 0}",
        flush=True,
    )


def encoder_cost() -> tuple[float, float]:
    """CPU microseconds per span of ours (a step span: 19 attributes), fast vs official encoder."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import otel_agents as oa
    from otel_agents import telemetry
    from otel_agents.config import load_config
    from otel_agents.plugins import new_plugin_manager, set_plugin_manager
    from otel_agents.sinks.spool_encoder import encode_line, encode_line_official

    exp = InMemorySpanExporter()
    pm = new_plugin_manager(load_entry_points=False)
    set_plugin_manager(pm)
    with tempfile.TemporaryDirectory() as tmp:
        telemetry.setup(
            provider=TracerProvider(),
            config=load_config(Path(tmp)),
            plugin_manager=pm,
            span_processors=[SimpleSpanProcessor(exp)],
            with_sinks=False,
            set_global=False,
        )
        for w in range(20):
            with oa.workflow("burst", workflow_id=f"b-{w}") as wf:
                for s in range(99):
                    with wf.step(f"s{s}", agent="a", key=f"s{s}"):
                        pass
    spans = list(exp.get_finished_spans())

    def best(fn) -> float:  # type: ignore[no-untyped-def]
        times = []
        for _ in range(5):
            t0 = time.thread_time()
            for i in range(0, len(spans), 256):
                fn(spans[i : i + 256])
            times.append(time.thread_time() - t0)
        return min(times) / len(spans) * 1e6

    return best(encode_line), best(encode_line_official)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes",
        default="10000,15000,20000,25000,30000,40000",
        help="queued burst sizes to try, ascending (stops at the first that loses spans)",
    )
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--live", default="20000,50000", help="live burst sizes")
    ap.add_argument("--deadline", type=float, default=0.5)
    ns = ap.parse_args()
    fast, official = encoder_cost()
    print(
        f"spool encoder: {fast:.1f} us/span (official encoder {official:.1f} us/span, {official / fast:.1f}x); "
        "identical bytes (tests/test_spool_encoder.py)",
        flush=True,
    )
    best = 0
    for n in (int(x) for x in ns.sizes.split(",") if x):
        ok = True
        for _ in range(ns.repeat):
            r = run(n, "queued", ns.deadline)
            show(r)
            ok = ok and r["missing"] == 0 and r["dups"] == 0
        if not ok:
            break
        best = n
    for n in (int(x) for x in ns.live.split(",") if x):
        show(run(n, "live", ns.deadline))
    print(f"max_burst_at_exit: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
