"""The fault suite's harness: run a workload child under a fault, recover, count every record.

A case:

1. starts ``_child.py`` (a real process running the demo executor or a generated load, with
   ``OTEL_AGENTS_STRICT=0``: production behaviour) against a data home and an OTLP endpoint;
2. injects and heals the fault between the child's phases;
3. measures: exceptions that reached the workflow, the workflow's own time against the same
   workload with ``OTEL_SDK_DISABLED=true``, and the process exit (from the child's last line
   to ``wait()`` returning);
4. counts what each store holds right after the run ("live"), then runs the documented
   recovery: the next start of the executor, ``otel-agents replay`` to a healthy receiver,
   ``otel-agents reconcile`` (metrics JSONL, then the spool), and counts again ("after");
5. scans every file of the home: lines that do not parse, torn last lines, SQLite
   ``integrity_check``.

Counting is by id: span ids in the spool, the ledger and at every receiver; ``record_id``
(the span id) in the metrics JSONL and the analytics tables. Lost = expected ids missing;
duplicated = ids stored more than once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _waiting import wait_until

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
ROOT = TESTS.parent
PY = sys.executable
OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")
CHILD = str(HERE / "_child.py")

#: ``fast`` (``make test``) or ``soak`` (``make reliability``).
MODE = os.environ.get("OTEL_AGENTS_FAULTS", "fast").strip().lower() or "fast"
SOAK = MODE == "soak"

#: Exit deadline the children run with (the default).
EXIT_DEADLINE = 0.5
#: What process exit may take beyond the deadline on a loaded 2-core machine: interpreter
#: teardown and scheduling, not telemetry (the baseline shows what a bare exit costs).
EXIT_SLACK = 1.5

STORES = ("spool", "metrics", "analytics", "receiver")


def n(fast: int, soak: int) -> int:
    """A size for the current mode."""
    return soak if SOAK else fast


# --- environment ----------------------------------------------------------------------------------
def child_env(home: Path, endpoint: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a workload child or CLI: production mode, its own home, no
    inherited OTLP settings; ``endpoint`` is the OTLP/HTTP traces URL (None: OTLP off)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_EXPORTER_OTLP", "OTEL_AGENTS_", "PYTEST_")) and k != "OTEL_SDK_DISABLED"
    }
    env.update(
        OTEL_AGENTS_HOME=str(home),
        OTEL_AGENTS_STRICT="0",
        OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="0",
        PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
    )
    if endpoint is None:
        env["OTEL_AGENTS_OTLP_ENABLED"] = "false"
    else:
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = endpoint
    env.update(extra)
    return env


def cli(
    args: list[str], env: dict[str, str], timeout: float = 120, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([OTEL_AGENTS, *args], env=env, input=stdin, capture_output=True, timeout=timeout)


# --- the workload child ---------------------------------------------------------------------------
@dataclass
class RunResult:
    ids: list[str] = field(default_factory=list)
    exceptions: int = 0
    errors: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    exit_s: float | None = None
    exit_cpu_s: float | None = None  # CPU the process used after its last line (all threads)
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    phases: list[dict[str, Any]] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)  # the sinks the child registered


class Child:
    """A running workload child. ``phase()`` reads the next phase result; ``go()`` lets the
    next phase start; ``finish()`` waits for the exit and measures it.

    A thread waits for the process (``os.wait4``) from the start, so the exit time is taken
    when it happens, however many children run at once.
    """

    def __init__(self, spec: dict[str, Any], env: dict[str, str], preexec: Any = None) -> None:
        import tempfile
        import threading

        self.spec = spec
        self._err = tempfile.TemporaryFile()  # a file, not a pipe: a chatty child never blocks on it
        self.proc = subprocess.Popen(
            [PY, CHILD, json.dumps(spec)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            preexec_fn=preexec,
        )
        self.exited = threading.Event()
        self.t_exit = 0.0
        self.usage: Any = None
        threading.Thread(target=self._waiter, daemon=True).start()
        self.result = RunResult()
        self.started = self._read("started")
        self.result.sinks = list(self.started.get("sinks", []))

    def _waiter(self) -> None:
        _pid, status, usage = os.wait4(self.proc.pid, 0)
        self.t_exit = time.monotonic()
        self.usage = usage
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.exited.set()

    def _read(self, event: str, timeout: float = 300) -> dict[str, Any]:
        import select

        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if not r:
                if self.exited.is_set():
                    break
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            self.result.stdout += line.decode(errors="replace")
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("event") == event:
                return msg
        self.kill()
        err = self.stderr()[-3000:]
        raise AssertionError(f"child did not report {event!r} (exit {self.proc.returncode}): {err}")

    def phase(self) -> dict[str, Any]:
        msg = self._read("phase")
        r = self.result
        r.phases.append(msg)
        r.ids += msg["ids"]
        r.exceptions += msg["exceptions"]
        r.errors += msg["errors"]
        r.durations += msg["durations"]
        r.cpu += msg.get("cpu", [])
        return msg

    def stderr(self) -> str:
        self._err.seek(0)
        return self._err.read().decode(errors="replace")

    def go(self, command: dict[str, Any] | None = None) -> None:
        self.proc.stdin.write((json.dumps(command) if command else "go").encode() + b"\n")
        self.proc.stdin.flush()

    def wait_exit(self, timeout: float = 120) -> int:
        if not self.exited.wait(timeout):
            self.kill()
            raise AssertionError(f"child did not exit within {timeout} s")
        return int(self.proc.returncode)

    def finish(self, timeout: float = 120) -> RunResult:
        end = self._read("end", timeout)
        self.proc.stdin.close()
        rc = self.wait_exit(timeout)
        r = self.result
        r.exit_s = self.t_exit - float(end["t_end"])
        if self.usage is not None:
            r.exit_cpu_s = max(0.0, self.usage.ru_utime + self.usage.ru_stime - float(end.get("cpu_end", 0.0)))
        r.returncode = rc
        r.stdout += self.proc.stdout.read().decode(errors="replace")
        r.stderr = self.stderr()
        return r

    def kill(self) -> None:
        if not self.exited.is_set():
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            self.exited.wait(30)


def finish_all(children: list[Child], timeout: float = 300) -> list[RunResult]:
    """Finish children that run at the same time, each measured on its own thread (waiting
    for one must not add to the next one's exit time)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(children)) as ex:
        return list(ex.map(lambda c: c.finish(timeout), children))


def merge(runs: list[RunResult]) -> RunResult:
    """One result for processes that ran together: ids and exceptions summed, the first
    one's timings, the slowest exit."""
    return RunResult(
        ids=[i for r in runs for i in r.ids],
        exceptions=sum(r.exceptions for r in runs),
        errors=[e for r in runs for e in r.errors],
        durations=runs[0].durations,
        cpu=runs[0].cpu,
        exit_s=max(r.exit_s or 0 for r in runs),
        returncode=max(abs(r.returncode or 0) for r in runs),
        stderr="".join(r.stderr for r in runs),
    )


def run_workload(
    home: Path,
    endpoint: str | None,
    phases: list[int],
    *,
    heal: Iterable[Any] = (),
    env_extra: dict[str, str] | None = None,
    preexec: Any = None,
    **spec: Any,
) -> RunResult:
    """Run the demo in a child: ``phases`` workflows per phase; before phase k+1 the k-th
    callable of ``heal`` runs (the fault changes; it may return a command for the child,
    e.g. ``{"rlimit_fsize": None}``). ``settle=True``: before each heal, every sink has tried
    the phase's spans (the child flushes them). Returns the measured run."""
    spec = {"phases": phases, "prefix": spec.pop("prefix", "wf"), "pace": spec.pop("pace", 0), **spec}
    child = Child(spec, child_env(home, endpoint, **(env_extra or {})), preexec=preexec)
    heals = list(heal)
    try:
        for k in range(len(phases)):
            msg = child.phase()
            assert msg.get("settled", True), f"phase {k + 1}: the sinks did not settle within 30 s"
            if k < len(phases) - 1:
                command = None
                if k < len(heals) and heals[k] is not None:
                    command = heals[k]()  # may return a command for the child
                child.go(command)
        return child.finish()
    finally:
        child.kill()


_baselines: dict[tuple[Any, ...], RunResult] = {}


def baseline(tmp_root: Path, count: int, pace: float = 0, load: str = "demo") -> RunResult:
    """The same workload with ``OTEL_SDK_DISABLED=true``: what the workflow costs with no
    telemetry at all (cached per process)."""
    key = (count, pace, load)
    if key not in _baselines:
        home = tmp_root / f"baseline-{count}-{pace}-{load}"
        _baselines[key] = run_workload(
            home, None, [count], pace=pace, load=load, env_extra={"OTEL_SDK_DISABLED": "true"}
        )
    return _baselines[key]


def workflow_overhead(run: RunResult, base: RunResult) -> dict[str, float]:
    """Time on the workflow's thread against the baseline, in ms per workflow.

    The first workflow of a process pays the lazy imports; it is reported apart
    (``first_ms``). For the others: the median extra wall time and thread CPU time, and the
    worst wall time (``max_ms``, absolute: a blocked workflow shows here). Wall time includes
    waiting for the GIL and for a CPU on a shared machine; CPU time is the work done.
    """
    if len(run.durations) < 2 or len(base.durations) < 2:
        return {}
    steady, bsteady = run.durations[1:], base.durations[1:]
    out = {
        "first_ms": round(run.durations[0] * 1000, 1),
        "median_ms": round((statistics.median(steady) - statistics.median(bsteady)) * 1000, 2),
        "max_ms": round(max(steady) * 1000, 1),
    }
    if len(run.cpu) > 1 and len(base.cpu) > 1:
        out["cpu_ms"] = round((statistics.median(run.cpu[1:]) - statistics.median(base.cpu[1:])) * 1000, 2)
    return out


#: A workflow slower than this (after the first) was blocked: every fault that could block
#: does so for seconds (a 5 s collector, a 10 s busy timeout, a sink that never returns).
BLOCKED_S = 3.0


# --- counting ---------------------------------------------------------------------------------------
@dataclass
class Scan:
    """Every file of a home: lines that do not parse, torn last lines, database checks."""

    corrupt: int = 0
    torn: int = 0
    files: int = 0
    bad_databases: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _lines(path: Path) -> tuple[list[bytes], bool]:
    data = path.read_bytes()
    parts = data.split(b"\n")
    tail = parts.pop()
    return [p for p in parts if p.strip()], bool(tail)


def _check_line(path: Path, line: bytes) -> bool:
    name = path.name
    if name.endswith(".ids"):
        return len(line.strip()) == 16 and all(c in b"0123456789abcdef" for c in line.strip())
    try:
        doc = json.loads(line)
    except ValueError:
        return False
    if not isinstance(doc, dict):
        return False
    if name.startswith("spans-"):
        return "resourceSpans" in doc
    if name.startswith("executions_"):
        return bool(doc.get("record_id")) and bool(doc.get("kind"))
    if path.parent.name == "sessions":
        return "t" in doc and "e" in doc
    return True


LINE_FILES = ("spans-", "executions_", "delivered-")


def scan_home(home: Path) -> Scan:
    """Parse every line-oriented file and check every SQLite database under ``home``."""
    s = Scan()
    if not home.exists():
        return s
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        s.files += 1
        name = path.name
        line_file = (
            name.startswith(LINE_FILES)
            or (path.parent.name == "sessions" and name.endswith(".jsonl"))
            or name in ("hook.log", "hook.log.1")
        )
        if line_file:
            lines, torn = _lines(path)
            s.torn += int(torn)
            if torn:
                s.problems.append(f"{path.relative_to(home)}: torn last line")
            for line in lines:
                if not _check_line(path, line):
                    s.corrupt += 1
                    if len(s.problems) < 20:
                        s.problems.append(f"{path.relative_to(home)}: corrupt line {line[:80]!r}")
        elif name.endswith(".db"):
            try:
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
                try:
                    ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
                finally:
                    conn.close()
            except sqlite3.Error as exc:
                ok = f"{type(exc).__name__}: {exc}"
            if ok != "ok":
                s.bad_databases.append(f"{path.relative_to(home)}: {ok}")
        elif name.endswith(".json") and not name.startswith("."):
            try:
                json.loads(path.read_bytes())
            except ValueError:
                s.corrupt += 1
                s.problems.append(f"{path.relative_to(home)}: not JSON")
    return s


def spool_ids(home: Path) -> Counter[str]:
    return Counter(sp.get("spanId") for sp in spool_spans(home))


def spool_spans(home: Path) -> Iterator[dict[str, Any]]:
    """Every span (OTLP-JSON) in the complete, parseable lines of the spool files."""
    for path in sorted((home / "spans").glob("spans-*.jsonl")):
        for line in _lines(path)[0]:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            for rs in doc.get("resourceSpans") or ():
                for ss in rs.get("scopeSpans") or ():
                    yield from ss.get("spans") or ()


def ledger_ids(home: Path) -> Counter[str]:
    c: Counter[str] = Counter()
    for path in sorted((home / "spans").glob("delivered-*.ids")):
        for line in _lines(path)[0]:
            c[line.strip().decode()] += 1
    return c


def metrics_ids(home: Path) -> Counter[str]:
    c: Counter[str] = Counter()
    for path in sorted((home / "metrics").glob("executions_*.jsonl")):
        for line in _lines(path)[0]:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and doc.get("record_id"):
                c[doc["record_id"]] += 1
    return c


ANALYTICS_TABLES = {
    "workflow_history": "record_id",
    "phase_logs": "record_id",
    "step_executions": "record_id",
    "tool_calls": "record_id",
    "model_calls": "record_id",
    "hook_events": "event_id",
}


#: Homes whose analytics store is a PostgreSQL database (home -> URL): their ids are counted there.
PG_STORES: dict[Path, str] = {}


def pg_analytics_ids(url: str) -> Counter[str] | None:
    """Record ids in a PostgreSQL analytics store's tables (None: unreachable)."""
    import psycopg

    c: Counter[str] = Counter()
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            for table, col in ANALYTICS_TABLES.items():
                for (rid,) in conn.execute(f"SELECT {col} FROM {table}"):
                    if rid:
                        c[rid] += 1
    except psycopg.errors.UndefinedTable:
        return Counter()
    except psycopg.Error:
        return None
    return c


def analytics_ids(home: Path, db: Path | None = None) -> Counter[str] | None:
    """Record ids in the analytics tables (None: no readable database)."""
    if db is None and home in PG_STORES:
        return pg_analytics_ids(PG_STORES[home])
    path = db or home / "analytics" / "history.db"
    if not path.exists():
        return Counter()
    c: Counter[str] = Counter()
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            for table, col in ANALYTICS_TABLES.items():
                try:
                    for (rid,) in conn.execute(f"SELECT {col} FROM {table}"):
                        if rid:
                            c[rid] += 1
                except sqlite3.OperationalError as exc:
                    if "no such table" not in str(exc):
                        raise
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return c


def tally(
    expected: set[str], got: Counter[str] | None, window: set[str] | None = None, recorded: Counter[str] | None = None
) -> dict[str, int]:
    """present / lost / dup (extra copies) / foreign (ids nobody expected).

    For receivers, a second copy is ``resent``, not ``dup``, when the delivery ledger never
    recorded one of the sends: the span is in ``window`` (received, spooled, not in the
    ledger), or the receiver holds more copies than ``recorded`` (the final ledger) lists.
    That is the window docs/reliability.md describes: a request the receiver took while its
    sender died (or its deadline passed) before the acknowledgement was recorded; a later
    replay, maybe already during the run, sends it again and records it. A copy the ledger
    recorded twice is a ``dup``: two senders both believed they were first.
    """
    if got is None:
        return {"present": 0, "lost": len(expected), "dup": 0, "foreign": 0, "unreadable": 1}
    present = expected & set(got)
    dup = resent = 0
    for k, v in got.items():
        if v <= 1:
            continue
        extra = v - 1
        if window is not None and k in window:
            resent += extra
            continue
        if recorded is not None:
            unrecorded = min(extra, max(0, v - max(recorded.get(k, 0), 1)))
            resent += unrecorded
            extra -= unrecorded
        dup += extra
    out = {"present": len(present), "lost": len(expected - present), "dup": dup, "foreign": len(set(got) - expected)}
    if window is not None:
        out["resent"] = resent
    return out


def received(receivers: Iterable[Any]) -> Counter[str]:
    rc: Counter[str] = Counter()
    for r in receivers:
        rc.update(r.counts())
    return rc


def ack_window(home: Path, receivers: Iterable[Any]) -> set[str]:
    """Spans a receiver has that the delivery ledger does not list, while the spool does:
    acknowledged (or taken) without the ledger knowing, so the next replay sends them again
    (docs/reliability.md, "the window that remains")."""
    return (set(received(receivers)) & set(spool_ids(home))) - set(ledger_ids(home))


def wait_stored(
    home: Path, ids: set[str], stores: Iterable[str] = ("spool", "metrics"), timeout: float = 60.0
) -> float:
    """Wait until every store in ``stores`` (spool, metrics, analytics) holds ``ids``: the
    sinks write within moments, a loaded machine may take seconds. Returns the seconds
    waited; raises if ``timeout`` passes first."""
    readers = {"spool": spool_ids, "metrics": metrics_ids, "analytics": analytics_ids}
    t0 = time.monotonic()
    missing: dict[str, int] = {}

    def stored() -> bool:
        missing.update({s: len(ids - set(readers[s](home) or ())) for s in stores})
        return not any(missing.values())

    wait_until(stored, timeout, lambda: f"records written after the phase ({missing} missing)", interval=0.05)
    return time.monotonic() - t0


def home_processes(home: Path) -> list[int]:
    """Processes still running with ``OTEL_AGENTS_HOME=home`` (this one aside), such as the
    detached drains ``otel-agents hook`` starts, which nobody can ``wait()`` for (Linux)."""
    mark = b"OTEL_AGENTS_HOME=" + os.fsencode(home)
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if mark in environ.split(b"\0"):
            out.append(int(pid))
    return out


def wait_home_idle(home: Path, timeout: float = 60.0) -> None:
    """Wait until no process runs with this data home (detached drains have exited)."""
    wait_until(
        lambda: not home_processes(home),
        timeout,
        lambda: f"processes using {home} to exit: {home_processes(home)}",
        interval=0.05,
    )


def count_all(
    home: Path, expected: set[str], receivers: Iterable[Any] = (), window: set[str] | None = None
) -> dict[str, dict[str, int]]:
    """Per store: what of ``expected`` it holds (receivers: summed over all of them)."""
    return {
        "spool": tally(expected, spool_ids(home)),
        "metrics": tally(expected, metrics_ids(home)),
        "analytics": tally(expected, analytics_ids(home)),
        "receiver": tally(expected, received(receivers), window or set(), ledger_ids(home)),
    }


# --- recovery ---------------------------------------------------------------------------------------
@dataclass
class Recovery:
    next_ids: list[str]
    replay: str
    reconcile: str
    returncodes: dict[str, int]


def recover(
    home: Path,
    receiver: Any,
    *,
    env_extra: dict[str, str] | None = None,
    expected: set[str] | None = None,
    prefix: str = "next",
) -> Recovery:
    """The documented recovery: the next start of the executor (one workflow), then
    ``otel-agents replay`` to ``receiver``, then ``otel-agents reconcile`` from the metrics
    JSONL and, if the analytics store still misses some of ``expected``, from the spool."""
    nxt = run_workload(home, receiver.endpoint, [1], prefix=prefix, env_extra=env_extra)
    assert nxt.exceptions == 0, nxt.errors
    env = child_env(home, receiver.endpoint, **(env_extra or {}))
    rp = cli(["replay", "--quiet"], env)
    rc1 = cli(["reconcile", "--quiet"], env)
    codes = {"replay": rp.returncode, "reconcile": rc1.returncode}
    text = rc1.stdout + rc1.stderr
    have = analytics_ids(home)
    if expected is None or have is None or (expected | set(nxt.ids)) - set(have):
        rc2 = cli(["reconcile", "--quiet", "--from-spool"], env)
        codes["reconcile_spool"] = rc2.returncode
        text += rc2.stdout + rc2.stderr
    return Recovery(
        next_ids=nxt.ids,
        replay=(rp.stdout + rp.stderr).decode(errors="replace").strip(),
        reconcile=text.decode(errors="replace").strip(),
        returncodes=codes,
    )


# --- a whole case ------------------------------------------------------------------------------------
@dataclass
class Case:
    """Everything one fault case measured; ``row()`` is its line in the results table."""

    run: RunResult
    base: RunResult | None
    expected: set[str]
    live: dict[str, dict[str, int]]
    after: dict[str, dict[str, int]]
    scan: Scan
    recovery: Recovery | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def overhead(self) -> dict[str, float]:
        return workflow_overhead(self.run, self.base) if self.base else {}

    def lost(self, store: str) -> int:
        return self.after[store]["lost"]

    def dup(self, store: str) -> int:
        return self.after[store]["dup"]

    def summary(self) -> dict[str, Any]:
        return {
            "workflows": len(self.run.durations),
            "spans": len(self.expected),
            "load_average": round(os.getloadavg()[0], 2),
            "exceptions": self.run.exceptions,
            "errors": self.run.errors,
            "workflow_thread": self.overhead,
            "exit_s": None if self.run.exit_s is None else round(self.run.exit_s, 3),
            "baseline_exit_s": None if not self.base or self.base.exit_s is None else round(self.base.exit_s, 3),
            "returncode": self.run.returncode,
            "live": self.live,
            "after": self.after,
            "corrupt_lines": self.scan.corrupt,
            "torn_lines": self.scan.torn,
            "bad_databases": self.scan.bad_databases,
            "scan_problems": self.scan.problems[:10],
            "recovery": None if self.recovery is None else self.recovery.returncodes,
            **self.extra,
        }


def measure(
    home: Path,
    run: RunResult,
    base: RunResult | None,
    live_receivers: list[Any],
    *,
    healthy: Any,
    expected: set[str] | None = None,
    do_recover: bool = True,
    before_recover: Any = None,
    env_extra: dict[str, str] | None = None,
    recover_prefix: str = "next",
) -> Case:
    """Count live, recover, count again, scan the files.

    Receiver duplicates of spans in the ack window (taken live, never in the ledger) are
    counted as ``resent``; any other second copy is a ``dup``.
    """
    exp = set(run.ids) if expected is None else set(expected)
    receivers = [*live_receivers, healthy]
    window = ack_window(home, receivers)
    live = count_all(home, exp, receivers, window)
    recovery = None
    if do_recover:
        if before_recover is not None:
            before_recover()
        recovery = recover(home, healthy, env_extra=env_extra, expected=exp, prefix=recover_prefix)
        exp |= set(recovery.next_ids)
    after = count_all(home, exp, receivers, window)
    try:
        counters = json.loads((home / "state" / "sinks.json").read_text()).get("sinks", {})
    except (OSError, ValueError):
        counters = {}
    return Case(
        run, base, exp, live, after, scan_home(home), recovery, {"ack_window": len(window), "sink_counters": counters}
    )


def assert_clean(case: Case, *, stores: Iterable[str] = STORES, exit_limit: float | None = None) -> None:
    """The suite's promise: 0 exceptions, no blocked workflow, bounded exit, nothing lost or
    duplicated after recovery in ``stores`` (a receiver's second copy of a span in the ack
    window is ``resent``, reported, not a duplicate), no corrupt or torn line, every
    database intact."""
    r = case.run
    assert r.exceptions == 0, r.errors
    if len(r.durations) > 1:
        assert max(r.durations[1:]) < BLOCKED_S, f"a workflow took {max(r.durations[1:]):.2f} s: blocked"
    if r.exit_s is not None:
        limit = EXIT_DEADLINE + EXIT_SLACK if exit_limit is None else exit_limit
        assert r.exit_s <= limit, f"exit took {r.exit_s:.2f} s"
    for store in stores:
        got = case.after[store]
        assert got["lost"] == 0, f"{store}: {got} (live: {case.live[store]})"
        assert got["dup"] == 0, f"{store}: {got}; the child's sink counters: {case.extra.get('sink_counters')}"
    assert case.scan.corrupt == 0 and case.scan.torn == 0, case.scan.problems
    assert not case.scan.bad_databases, case.scan.bad_databases


def sigterm(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
