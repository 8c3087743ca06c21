"""Agent-CLI hook latency: the native hook and ``otel-agents hook`` against bare Python
start-up, ``/bin/true`` and opentelemetry-hooks (the peer), side by side in one run.

Claude Code starts the hook as a new process for every event and waits for it (PreToolUse
blocks the tool), so the figure is wall time per event, from spawn to exit, of the real
installed console script, measured side by side with ``python -c "import json,os"`` on the
same interpreter, alternating, in one run. Cases:

- event 10 and event 10,000 of one session (the spool already holds 9 / 9,999 events: the
  cost per event must not grow with the session);
- the collector down (OTLP endpoint on a refused port) and hung (a local socket that accepts
  and never answers);
- a Stop event, which starts the detached drain (the hook must still return at once; each
  sample waits for the previous drain to finish, so drains do not load the next sample);
- Codex CLI and Gemini CLI (``otel-agents-hook codex|gemini``, ``otel-agents hook
  codex|gemini``, the peer's ``--codex|--gemini``): event 10, and the event that starts their
  drain (Codex CLI's Stop, Gemini CLI's AfterAgent), collector down.

Each sample runs, in turn: the native hook (``claude_code/native/hook.c``, built for this run
into a temporary directory), the project launcher running it (``.claude/hooks/otel-agents-hook``,
what a project's committed settings run; Claude Code only), the Python hook, ``python -c "import json,os"``, ``/bin/true``
and, where ``make peer`` installed it (``.peer-venv``), opentelemetry-hooks' ``otel-hook
--claude`` on the same payload (the same collector down or hung). Peak RSS is the largest
``ru_maxrss`` of a hook process (``wait4``). Bytecode is written and used as on a normal
installation (``PYTHONDONTWRITEBYTECODE`` is dropped; warm-up first).
The last lines are ``native_hook_p50_ms`` (the worst case's median of the native hook),
``native_vs_peer`` (the smallest ratio of the peer's median over the native hook's) and
``hook_latency_ratio: X``: the Python hook's worst median over the bare interpreter's.

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

from otel_agents.claude_code import capture, launcher, native, settings

OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")
BASELINE = [sys.executable, "-c", "import json,os"]
TRUE = ["/bin/true"]
#: opentelemetry-hooks in its own virtual environment (``make peer``)
PEER = Path(__file__).resolve().parents[1] / ".peer-venv" / "bin" / "otel-hook"


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


def prefill(home: str, sid: str, count: int, agent: str | None = None) -> None:
    """``count`` events already in the session's spool, written the way the hook writes them."""
    base = time.time_ns()
    for i in range(count):
        name = "PreToolUse" if i % 2 == 0 else "PostToolUse"
        capture.handle(event(sid, i, name), base + i, home, spawn=False, agent=agent)


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
    name: str, samples: int, env: dict[str, str], payload: Any, commands: dict[str, list[str]], after: Any = None
) -> dict[str, Any]:
    """``samples`` rounds; in each, every command once on the same payload (``after`` waits out a drain)."""
    times: dict[str, list[float]] = {k: [] for k in commands}
    rss: dict[str, list[int]] = {k: [] for k in commands}
    for i in range(samples):
        data = payload(i)
        for label, cmd in commands.items():
            started = time.time()
            t, r = run(cmd, None if label in ("python", "/bin/true") else data, env)
            times[label].append(t)
            rss[label].append(r)
            if after is not None and label in ("native", "launcher", "hook"):
                after(started)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    p90 = {k: sorted(v)[int(0.9 * (len(v) - 1))] * 1e3 for k, v in times.items()}
    result = {
        "case": name,
        "median_ms": med,
        "p90_ms": p90,
        "hook_ms": med["hook"],
        "baseline_ms": med["python"],
        "ratio": med["hook"] / med["python"],
        "peak_rss_kib": max(rss["hook"]),
        "baseline_rss_kib": max(rss["python"]),
    }
    cells = "  ".join(f"{k} {med[k]:6.1f}" for k in commands)
    print(f"{name:<46} {cells}  (ms, medians; python hook / python {result['ratio']:.2f})", flush=True)
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
        dropped = ("PYTHONDONTWRITEBYTECODE", launcher.NATIVE_ENV, launcher.PATH_ENV)
        base_env = {k: v for k, v in os.environ.items() if k not in dropped}
        base_env["OTEL_AGENTS_HOME"] = os.path.join(tmp, "home")
        envs = {
            "collector down": dict(
                base_env,
                OTEL_AGENTS_OTLP_ENDPOINT=f"http://127.0.0.1:{down}",
                OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{down}",
            ),
            "collector hung": dict(
                base_env,
                OTEL_AGENTS_OTLP_ENDPOINT=f"http://127.0.0.1:{hung.port}",
                OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{hung.port}",
            ),
        }
        home = base_env["OTEL_AGENTS_HOME"]
        hook_bin, message = native.build(os.path.join(tmp, "otel-agents-hook"))
        if hook_bin is None:
            raise SystemExit(f"the native hook did not build: {message}")
        # the committed project launcher, as `install-hooks claude-code` sets it up, running the native hook
        project = Path(tmp) / "project"
        launcher.write(project)
        settings.set_env(settings.settings_path("local", str(project)), launcher.NATIVE_ENV, str(hook_bin))
        commands = {
            "native": [str(hook_bin)],
            "launcher": [str(launcher.launcher_path(project))],
            "hook": [OTEL_AGENTS, "hook"],
            "python": BASELINE,
            "/bin/true": TRUE,
        }
        if PEER.exists():
            commands["opentelemetry-hooks"] = [str(PEER), "--claude"]
        else:
            print(f"opentelemetry-hooks is not installed ({PEER}; `make peer` installs it): not measured")
        for _ in range(5):  # warm-up: bytecode written, page cache warm
            for label, cmd in commands.items():
                data = None if label in ("python", "/bin/true") else event("warm-up", 0)
                run(cmd, data, dict(base_env, OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="0"))
        print(f"interpreter {sys.executable}; {ns.samples} samples per case, medians\n", flush=True)
        for label, env in envs.items():
            tag = label.split()[1]
            small, big = f"s10-{tag}", f"s10000-{tag}"
            prefill(home, small, 9)
            prefill(home, big, 9999)
            results.append(
                measure(
                    f"event 10 of a session, {label}", ns.samples, env, lambda i, s=small: event(s, 10 + i), commands
                )
            )
            results.append(
                measure(
                    f"event 10,000 of a session, {label}",
                    ns.samples,
                    env,
                    lambda i, s=big: event(s, 10_000 + i),
                    commands,
                )
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
                    commands,
                    after=lambda started, st=state: wait_for_drain(st, started),
                )
            )
        # Codex CLI and Gemini CLI: the same hook path, spooled under <home>/codex|gemini/; the
        # peer run as that CLI's hook (--codex, --gemini). Event 10, and the drain event.
        for agent, tool_event, stop_event in (("codex", "PreToolUse", "Stop"), ("gemini", "BeforeTool", "AfterAgent")):
            env = envs["collector down"]
            agent_commands = {
                "native": [str(hook_bin), agent],
                "hook": [OTEL_AGENTS, "hook", agent],
                "python": BASELINE,
                "/bin/true": TRUE,
            }
            if PEER.exists():
                agent_commands["opentelemetry-hooks"] = [str(PEER), f"--{agent}"]
            sid = f"{agent}-s10"
            prefill(home, sid, 9, agent)
            results.append(
                measure(
                    f"{agent}: event 10 ({tool_event}), collector down",
                    ns.samples,
                    env,
                    lambda i, s=sid, e=tool_event: event(s, 10 + i, e),
                    agent_commands,
                )
            )
            stop_sid = f"{agent}-stop"
            prefill(home, stop_sid, 9, agent)
            state = Path(home) / agent / "state" / f"{stop_sid}.json"
            results.append(
                measure(
                    f"{agent}: {stop_event} (starts the drain), collector down",
                    ns.stop_samples,
                    env,
                    lambda i, s=stop_sid, e=stop_event: event(s, i, e),
                    agent_commands,
                    after=lambda started, st=state: wait_for_drain(st, started),
                )
            )
        size = os.path.getsize(capture.session_spool(home, "s10000-down"))
        print(f"\nspool of the 10,000-event session: {size / 1e6:.1f} MB")
        print(
            f"peak RSS of a hook process: {max(r['peak_rss_kib'] for r in results) / 1024:.1f} MiB "
            f"(bare python: {max(r['baseline_rss_kib'] for r in results) / 1024:.1f} MiB; a process's peak "
            "includes this benchmark's own pages, shared until exec: not shown for the native hook)"
        )
    worst_native = max(results, key=lambda r: r["median_ms"]["native"])
    print(f"native_hook_p50_ms: {worst_native['median_ms']['native']:.2f} (worst case: {worst_native['case']})")
    if "opentelemetry-hooks" in commands:
        vs = min(
            r["median_ms"]["opentelemetry-hooks"] / r["median_ms"]["native"]
            for r in results
            if "opentelemetry-hooks" in r["median_ms"]
        )
        print(f"native_vs_peer: {vs:.1f}x (the smallest, over every case)")
    worst = max(results, key=lambda r: r["ratio"])
    print(f"worst case: {worst['case']}")
    print(f"hook_latency_ratio: {worst['ratio']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
