"""Claude Code hook latency: one ``otel-agents hook`` event against bare Python start-up.

Claude Code starts the hook as a new process for every event and waits for it (PreToolUse
blocks the tool), so the figure is wall time per event, from spawn to exit, of the real
installed console script, measured side by side with ``python -c "import json,os"`` on the
same interpreter, alternating, in one run. Cases:

- event 10 and event 10,000 of one session (the spool already holds 9 / 9,999 events: the
  cost per event must not grow with the session);
- the collector down (OTLP endpoint on a refused port) and hung (a local socket that accepts
  and never answers);
- a Stop event, which starts the detached drain (the hook must still return at once; each
  sample waits for the previous drain to finish, so drains do not load the next sample).

Peak RSS is the largest ``ru_maxrss`` of a hook process (``wait4``). Bytecode is written and
used as on a normal installation (``PYTHONDONTWRITEBYTECODE`` is dropped; warm-up first).
The last line is ``hook_latency_ratio: X``: the worst case's median over the baseline's.

    .venv/bin/python benchmarks/hook_latency.py [--samples 40]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from otel_agents.claude_code import capture

OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")
BASELINE = [sys.executable, "-c", "import json,os"]


def run(cmd: list[str], data: bytes | None, env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds from spawn to exit, and the process's peak RSS in KiB."""
    t = time.perf_counter()
    p = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    if data is not None:
        assert p.stdin is not None
        p.stdin.write(data)
        p.stdin.close()
    _pid, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{cmd} exited {p.returncode}")
    return elapsed, usage.ru_maxrss


def event(sid: str, n: int, name: str = "PreToolUse") -> bytes:
    return json.dumps(
        {
            "session_id": sid,
            "transcript_path": "/nonexistent/transcript.jsonl",
            "cwd": "/home/dev/proj",
            "hook_event_name": name,
            "permission_mode": "default",
            "tool_name": "Bash",
            "tool_input": {"command": f"pytest -q tests/test_{n}.py", "description": "Run tests"},
            "tool_use_id": f"toolu_{n:06d}",
        }
    ).encode()


def prefill(home: str, sid: str, count: int) -> None:
    """``count`` events already in the session's spool, written the way the hook writes them."""
    base = time.time_ns()
    for i in range(count):
        capture.handle(event(sid, i, "PreToolUse" if i % 2 == 0 else "PostToolUse"), base + i, home, spawn=False)


class HungCollector:
    """Accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)


def refused_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for_drain(state: Path, since: float, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if state.stat().st_mtime >= since:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.05)


def measure(
    name: str, samples: int, env: dict[str, str], payload: Any, after: Any = None, agent: str | None = None
) -> dict[str, Any]:
    hook_t: list[float] = []
    base_t: list[float] = []
    rss: list[int] = []
    base_rss: list[int] = []
    for i in range(samples):
        b, br = run(BASELINE, None, env)
        base_rss.append(br)
        started = time.time()
        h, r = run([OTEL_AGENTS, "hook", *([agent] if agent else [])], payload(i), env)
        base_t.append(b)
        hook_t.append(h)
        rss.append(r)
        if after is not None:
            after(started)
    hm, bm = statistics.median(hook_t), statistics.median(base_t)
    result = {
        "case": name,
        "hook_ms": hm * 1e3,
        "baseline_ms": bm * 1e3,
        "ratio": hm / bm,
        "hook_p90_ms": sorted(hook_t)[int(0.9 * (len(hook_t) - 1))] * 1e3,
        "peak_rss_kib": max(rss),
        "baseline_rss_kib": max(base_rss),
    }
    print(
        f"{name:<50} hook {result['hook_ms']:7.1f} ms (p90 {result['hook_p90_ms']:6.1f})  "
        f"python {result['baseline_ms']:6.1f} ms  ratio {result['ratio']:.3f}  peak RSS {max(rss) / 1024:.1f} MiB",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=40, help="samples per case (default 40)")
    parser.add_argument("--stop-samples", type=int, default=10, help="samples of the Stop cases (default 10)")
    ns = parser.parse_args()

    hung = HungCollector()
    down = refused_port()
    results = []
    with tempfile.TemporaryDirectory(prefix="hook-latency-") as tmp:
        base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        base_env["OTEL_AGENTS_HOME"] = os.path.join(tmp, "home")
        envs = {
            "collector down": dict(base_env, OTEL_AGENTS_OTLP_ENDPOINT=f"http://127.0.0.1:{down}"),
            "collector hung": dict(base_env, OTEL_AGENTS_OTLP_ENDPOINT=f"http://127.0.0.1:{hung.port}"),
        }
        home = base_env["OTEL_AGENTS_HOME"]
        for _ in range(5):  # warm-up: bytecode written, page cache warm
            run(BASELINE, None, base_env)
            run([OTEL_AGENTS, "hook"], event("warm-up", 0), dict(base_env, OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="0"))
        print(f"interpreter {sys.executable}; {ns.samples} samples per case, medians\n", flush=True)
        for label, env in envs.items():
            tag = label.split()[1]
            small, big = f"s10-{tag}", f"s10000-{tag}"
            prefill(home, small, 9)
            prefill(home, big, 9999)
            results.append(
                measure(f"event 10 of a session, {label}", ns.samples, env, lambda i, s=small: event(s, 10 + i))
            )
            results.append(
                measure(f"event 10,000 of a session, {label}", ns.samples, env, lambda i, s=big: event(s, 10_000 + i))
            )
            stop_sid = f"stop-{tag}"
            prefill(home, stop_sid, 9)
            state = Path(home) / "claude-code" / "state" / f"{stop_sid}.json"
            results.append(
                measure(
                    f"Stop (starts the detached drain), {label}",
                    ns.stop_samples,
                    env,
                    lambda i, s=stop_sid: event(s, i, "Stop"),
                    after=lambda started, st=state: wait_for_drain(st, started),
                )
            )
        # Codex CLI and Gemini CLI: the same hook path, spooled under <home>/codex|gemini/.
        for agent, tool_event in (("codex", "PreToolUse"), ("gemini", "BeforeTool")):
            env = envs["collector down"]

            def agent_event(i: int, agent: str = agent, tool_event: str = tool_event) -> bytes:
                return event(f"{agent}-s", i, tool_event)

            results.append(measure(f"{agent}: {tool_event}, collector down", ns.samples, env, agent_event, agent=agent))
        size = os.path.getsize(capture.session_spool(home, "s10000-down"))
        print(f"\nspool of the 10,000-event session: {size / 1e6:.1f} MB")
        print(
            f"peak RSS of a hook process: {max(r['peak_rss_kib'] for r in results) / 1024:.1f} MiB "
            f"(bare python: {max(r['baseline_rss_kib'] for r in results) / 1024:.1f} MiB)"
        )
    worst = max(results, key=lambda r: r["ratio"])
    print(f"worst case: {worst['case']}")
    print(f"hook_latency_ratio: {worst['ratio']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
