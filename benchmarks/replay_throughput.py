"""Replay throughput: spans per second from the spool to a local OTLP receiver.

Fills a spool with N runs of the demo workflow (26 spans each, the collector down), then
runs ``otel-agents replay`` (a real subprocess of the CLI) against a loopback OTLP receiver
that parses every request (HTTP/protobuf, then gRPC, each on a fresh copy of the spool),
and checks that every span arrived exactly once. The figure includes reading the spool,
the ledger check, OTLP-JSON -> protobuf conversion, sending and the ledger appends.

Last line: ``replay_spans_per_second: X`` (HTTP/protobuf).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from _otlp_receiver import GrpcReceiver, HttpReceiver, free_port  # noqa: E402

CLI = str(Path(sys.executable).parent / "otel-agents")

FILL = """
import sys
import otel_agents
from otel_agents.demo import run_demo
otel_agents.setup()
for i in range(int(sys.argv[1])):
    run_demo(workflow_id=f"bench-{i}", pace=0)
otel_agents.shutdown()
"""


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PYTEST_CURRENT_TEST"}
    env.update(
        OTEL_AGENTS_HOME=str(home),
        OTEL_AGENTS_REPLAY_ON_START="false",
        OTEL_AGENTS_METRICS_ENABLED="false",
        OTEL_AGENTS_ANALYTICS_ENABLED="false",
        OTEL_AGENTS_EXIT_DEADLINE="60",
        **extra,
    )
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workflows", type=int, default=400, help="demo runs in the spool (26 spans each)")
    ns = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        seed = Path(tmp) / "seed"
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", FILL, str(ns.workflows)],
            check=True,
            env=env_for(seed, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{free_port()}/v1/traces"),
        )
        spans = ns.workflows * 26
        size = sum(p.stat().st_size for p in (seed / "spans").glob("spans-*.jsonl"))
        print(f"spool: {spans} spans, {size / 1e6:.1f} MB, filled in {time.perf_counter() - t0:.1f} s")
        rates = {}
        for proto, cls in (("http/protobuf", HttpReceiver), ("grpc", GrpcReceiver)):
            home = Path(tmp) / proto.replace("/", "-")
            shutil.copytree(seed, home)
            for p in (home / "spans").glob("delivered-*"):
                p.unlink()
            with cls() as rec:
                env = env_for(home, OTEL_EXPORTER_OTLP_PROTOCOL=proto, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=rec.endpoint)
                t0 = time.perf_counter()
                out = subprocess.run([CLI, "replay", "--quiet"], env=env, capture_output=True, text=True, timeout=600)
                wall = time.perf_counter() - t0
                counts = rec.counts()
            if out.returncode != 0:
                print(out.stdout, out.stderr)
                return 1
            m = re.search(r"in (\d+) batches, ([\d.]+) s", out.stdout)
            inner = float(m.group(2)) if m else wall
            ok = len(counts) == spans and set(counts.values()) == {1}
            rates[proto] = spans / inner
            print(
                f"{proto:<14} {spans / inner:>8.0f} spans/s in the replay ({inner:.2f} s, {m.group(1) if m else '?'} "
                f"batches); {spans / wall:.0f} spans/s including process start; "
                f"{'every span exactly once' if ok else 'MISMATCH: ' + str(len(counts))}"
            )
            if not ok:
                return 1
    print(f"replay_spans_per_second: {rates['http/protobuf']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
