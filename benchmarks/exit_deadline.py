"""Exit deadline: how long a process takes to EXIT after its workflow is done, when the
collector is unreachable, against the same run with ``OTEL_SDK_DISABLED=true``.

Each run is a fresh ``python`` process: set up otel-agents with every registered sink
(spool, OTLP, metrics, analytics), run the demo workflow (26 spans), print the wall clock,
and return from main. The parent notes when the process has fully exited. Exit time =
exit moment - printed moment: atexit handlers, the sinks' flush, interpreter teardown.

Scenarios (OTLP over HTTP and gRPC each):
- refused: nothing listens on the port;
- hung: a loopback socket accepts connections and never answers;
- 503: a loopback server answers 503 with ``Retry-After: 30``.
For comparison the stock SDK pipeline (BatchSpanProcessor + OTLP exporter, refused) is
measured once with ``--stock``: REFERENCE §4 reports 6-30 s.

Last line: ``exit_extra_seconds_max: X`` = the worst scenario's median exit time minus
the disabled run's median (target <= 1.0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from _otlp_receiver import HttpReceiver, HungSocket, free_port  # noqa: E402

CHILD = """
import sys, time
import otel_agents
from otel_agents.demo import run_demo
otel_agents.setup()
run_demo(pace=float(sys.argv[1]))
print(repr(time.time()), flush=True)
"""

STOCK_CHILD = """
import sys, time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
tp = TracerProvider(); tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[2])))
trace.set_tracer_provider(tp)
tr = tp.get_tracer("stock")
for i in range(26):
    with tr.start_as_current_span(f"s{i}"):
        time.sleep(0.01 * float(sys.argv[1]))
print(repr(time.time()), flush=True)
"""


def run_once(
    env: dict[str, str], pace: float, code: str = CHILD, extra: list[str] | None = None
) -> tuple[float, float]:
    """(exit seconds, total seconds) of one child process."""
    t0 = time.time()
    p = subprocess.run(
        [sys.executable, "-c", code, str(pace), *(extra or [])], env=env, capture_output=True, text=True, timeout=120
    )
    t_exit = time.time()
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    printed = float(p.stdout.strip().splitlines()[-1])
    return t_exit - printed, t_exit - t0


def base_env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PYTEST_CURRENT_TEST"}
    env.update(OTEL_AGENTS_HOME=home, OTEL_AGENTS_REPLAY_ON_START="false")
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per scenario (median reported)")
    ap.add_argument("--pace", type=float, default=1.0, help="demo pace (1: ~0.3 s of simulated work)")
    ap.add_argument("--stock", action="store_true", help="also measure the stock SDK pipeline once")
    ns = ap.parse_args()

    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, HungSocket() as hung, HttpReceiver() as busy:
        busy.mode, busy.status, busy.retry_after = "status", 503, "30"
        refused = free_port()
        scenarios: dict[str, dict[str, str]] = {
            "disabled": {"OTEL_SDK_DISABLED": "true"},
            "refused http": {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{refused}/v1/traces"},
            "refused grpc": {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{refused}",
            },
            "hung http": {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{hung.port}/v1/traces"},
            "hung grpc": {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{hung.port}",
            },
            "503 http": {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": busy.endpoint},
        }
        for i in range(ns.runs):  # interleaved, so machine noise hits every scenario alike
            for name, extra in scenarios.items():
                env = base_env(os.path.join(tmp, f"home-{i}-{name.replace(' ', '-')}"))
                env.update(extra)
                results.setdefault(name, []).append(run_once(env, ns.pace))
        stock = None
        if ns.stock:
            env = base_env(os.path.join(tmp, "stock"))
            stock = run_once(env, ns.pace, STOCK_CHILD, [f"http://127.0.0.1:{refused}/v1/traces"])

    base_exit = statistics.median(e for e, _t in results["disabled"])
    base_total = statistics.median(t for _e, t in results["disabled"])
    print(f"{'scenario':<14} {'exit s (median)':>16} {'exit max':>9} {'extra s':>8} {'total s':>8}")
    worst = 0.0
    for name, rs in results.items():
        exits = [e for e, _t in rs]
        med = statistics.median(exits)
        extra = med - base_exit
        if name != "disabled":
            worst = max(worst, extra)
        print(f"{name:<14} {med:>16.3f} {max(exits):>9.3f} {extra:>8.3f} {statistics.median(t for _e, t in rs):>8.3f}")
    print(f"(disabled run total {base_total:.3f} s; exit deadline 0.5 s; {ns.runs} runs per scenario)")
    if stock is not None:
        print(f"stock SDK BatchSpanProcessor + OTLP/HTTP, refused: exit {stock[0]:.2f} s, total {stock[1]:.2f} s")
    print(f"exit_extra_seconds_max: {worst:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
