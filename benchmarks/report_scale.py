"""Report at scale: one million steps in the analytics store, then the full report, timed.

Generation (not the figure) bulk-inserts a deterministic synthetic history straight into a
real analytics store (``otel_agents.analytics.schema``: same tables, same indexes): about
100,000 workflows of 4 phases and 10 step attempts (8 logical steps and 2 retries; some
retries fail again and fail the workflow), 0-4 tool calls per attempt (2 on average: 2
million tool calls, with repeated reads of one file and failed calls), one model call per
attempt on one of three models, over 60 days and 4 templates, errors of every category.
Indexes are dropped for the bulk load and rebuilt after it; the schema is unchanged.

What is timed is the command a user runs, ``otel-agents report --db STORE --format F``
in a new process (interpreter start and imports included), output discarded:

1. the first report after generating 990,000 steps: it builds the columnar cache from the
   SQLite store (``report_cold_seconds``, printed, not the figure);
2. the report after 10,000 more steps were written: an incremental cache sync;
3. the figure: ``--repeat`` runs each of text and JSON on the million steps, the cache in
   step with the store (as for every report but the first). Last line:
   ``report_seconds_1m: X``, the slower of the two medians (target <= 2.0 on the project's
   2-core VM).

    python benchmarks/report_scale.py                  # generate (or reuse) and time
    python benchmarks/report_scale.py --steps 50000    # a smaller store, for a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from otel_agents.analytics.schema import connect

BASE_NS = 1_735_689_600 * 1_000_000_000  # 2025-01-01T00:00:00Z
DAYS = 60
STEPS_PER_WORKFLOW = 10
TEMPLATES = ("sdlc", "bugfix", "refactor", "docs")
MODELS = (
    ("claude-sonnet-4-5", 3.0, 15.0, 0.30, 3.75),
    ("claude-haiku-4-5", 1.0, 5.0, 0.10, 1.25),
    ("claude-opus-4-1", 15.0, 75.0, 1.50, 18.75),
)  # name, $/MTok: input, output, cache read, cache write
COMPLEXITY = ("low", "medium", "high")
#: phase -> its two logical steps (agent names)
PHASES = (
    ("plan", ("planner", "researcher")),
    ("build", ("coder", "formatter")),
    ("test", ("tester", "debugger")),
    ("review", ("reviewer", "documenter")),
)
TOOLS = ("Read", "Edit", "Bash", "Grep", "Write", "Glob")
#: (error type, message) per category, for failed attempts
ERRORS = (
    ("TimeoutError", "pytest exceeded 120s"),
    ("ModuleNotFoundError", "No module named 'requests'"),
    ("ConnectionError", "Connection refused"),
    ("SyntaxError", "invalid syntax"),
    ("TypeError", "unsupported operand type(s)"),
    ("FileNotFoundError", "No such file or directory: 'app/x.py'"),
    ("AssertionError", "3 tests failed"),
    ("RateLimitError", "429 Too Many Requests"),
    ("RuntimeError", "something else"),
)


_DAY_PREFIX: dict[int, str] = {}


def _iso(ns: int) -> str:
    """ISO 8601 UTC with microseconds, as the records write it (a per-day cache: fast)."""
    secs, rem = divmod(ns, 1_000_000_000)
    day, sod = divmod(secs, 86_400)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = _DAY_PREFIX[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))
    h, rest = divmod(sod, 3600)
    m, s = divmod(rest, 60)
    return f"{prefix}{h:02d}:{m:02d}:{s:02d}.{rem // 1000:06d}Z"


def _category(etype: str) -> str:
    from otel_agents.errors import categorize

    return categorize(etype, None)


_CATEGORIES = {etype: _category(etype) for etype, _m in ERRORS}
_ARG_HASHES = [hashlib.sha256(f"args-{i}".encode()).hexdigest() for i in range(64)]
NOW = "2025-03-02T00:00:00Z"


def _rr(rng: random.Random, a: int, b: int | None = None) -> int:
    """``rng.randrange(a)`` or ``rng.randrange(a, b)``, faster (uniform enough for a benchmark)."""
    if b is None:
        return int(rng.random() * a)
    return a + int(rng.random() * (b - a))


class _Gen:
    """Builds the rows of one workflow at a time (tuples in each table's column order)."""

    WF_COLS = (
        "workflow_id",
        "record_id",
        "trace_id",
        "workflow_name",
        "template",
        "task_id",
        "session_id",
        "requested_model",
        "model_used",
        "models",
        "status",
        "outcome",
        "success",
        "start_time",
        "end_time",
        "start_unix_nano",
        "end_unix_nano",
        "duration_seconds",
        "day",
        "phase_count",
        "step_count",
        "steps_completed",
        "steps_failed",
        "tool_call_count",
        "tool_calls_failed",
        "model_call_count",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
        "idle_time_seconds",
        "bottleneck_phase",
        "bottleneck_seconds",
        "retry_count",
        "error_type",
        "error_message",
        "error_category",
        "complexity",
        "created_at",
        "updated_at",
    )
    PHASE_COLS = (
        "record_id",
        "workflow_id",
        "trace_id",
        "parent_id",
        "workflow_name",
        "template",
        "phase_name",
        "phase_number",
        "phase_status",
        "outcome",
        "success",
        "start_time",
        "end_time",
        "start_unix_nano",
        "end_unix_nano",
        "duration_seconds",
        "day",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
        "model_calls",
        "error_type",
        "error_message",
        "error_category",
        "created_at",
        "updated_at",
    )
    STEP_COLS = (
        "record_id",
        "workflow_id",
        "trace_id",
        "parent_id",
        "workflow_name",
        "phase_name",
        "step_name",
        "agent",
        "task_id",
        "session_id",
        "model",
        "provider",
        "attempt",
        "retry_count",
        "status",
        "outcome",
        "success",
        "start_time",
        "end_time",
        "start_unix_nano",
        "end_unix_nano",
        "duration_seconds",
        "day",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
        "model_calls",
        "error_type",
        "error_message",
        "error_category",
        "created_at",
        "updated_at",
    )
    TOOL_COLS = (
        "record_id",
        "call_id",
        "workflow_id",
        "trace_id",
        "parent_id",
        "session_id",
        "phase_name",
        "step_name",
        "agent",
        "tool_name",
        "status",
        "outcome",
        "success",
        "start_time",
        "end_time",
        "start_unix_nano",
        "end_unix_nano",
        "duration_seconds",
        "day",
        "arguments_sha256",
        "arguments_length",
        "error_type",
        "error_message",
        "error_category",
        "created_at",
        "updated_at",
    )
    MODEL_COLS = (
        "record_id",
        "workflow_id",
        "trace_id",
        "parent_id",
        "session_id",
        "phase_name",
        "step_name",
        "agent",
        "model",
        "provider",
        "status",
        "outcome",
        "success",
        "start_time",
        "end_time",
        "start_unix_nano",
        "end_unix_nano",
        "duration_seconds",
        "day",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
        "cost_source",
        "created_at",
        "updated_at",
    )

    def __init__(self, seed: int = 7, workflows: int = 100_000) -> None:
        self.rng = random.Random(seed)
        self.next_id = 1
        self.workflows = max(1, workflows)  # spread over DAYS days

    def _id(self) -> str:
        self.next_id += 1
        return f"{self.next_id:016x}"

    def workflow(self, w: int) -> tuple[tuple, list[tuple], list[tuple], list[tuple], list[tuple]]:
        rng = self.rng
        wid = f"{w:032x}"
        trace = f"{w ^ 0x5DEECE66D:032x}"
        wf_rec = self._id()
        template = TEMPLATES[w % len(TEMPLATES)]
        model_name, p_in, p_out, p_cr, p_cw = MODELS[_rr(rng, 3)]
        complexity = COMPLEXITY[_rr(rng, 3)]
        session = f"session-{w % 5000:05d}"
        task = f"task-{w % 40000:05d}"
        name = f"{template}-workflow"
        t = BASE_NS + (w * DAYS * 86_400 * 1_000_000_000) // self.workflows + _rr(rng, 60_000_000_000)
        wf_start = t
        # which logical steps (index 0..7) get the two extra attempts
        r = rng.random()
        if r < 0.5:
            retried = [_rr(rng, 8), _rr(rng, 8)]
        else:
            retried = [6, 6] if r < 0.8 else [2, 6]  # the test debugger, or coder and debugger
        extra = {i: retried.count(i) for i in set(retried)}
        final_fail = rng.random() < 0.06
        phases: list[tuple] = []
        steps: list[tuple] = []
        tools: list[tuple] = []
        models: list[tuple] = []
        tot = [0, 0, 0, 0]
        wf_cost = 0.0
        n_tools = tools_failed = steps_failed = 0
        durations: dict[str, float] = {}
        wf_error: tuple[str, str, str] | None = None
        for pnum, (phase, agents) in enumerate(PHASES, start=1):
            t += _rr(rng, 200_000_000, 3_000_000_000)  # idle before the phase
            ph_start = t
            ph_rec = self._id()
            ph_tok = [0, 0, 0, 0]
            ph_cost = 0.0
            ph_calls = 0
            ph_fail: tuple[str, str, str] | None = None
            for s_idx, agent in enumerate(agents):
                logical = (pnum - 1) * 2 + s_idx
                attempts = 1 + extra.get(logical, 0)
                for attempt in range(1, attempts + 1):
                    last = attempt == attempts
                    fails = (not last) or (final_fail and logical == retried[0])
                    st_rec = self._id()
                    st_start = t
                    base = {"plan": 20, "build": 60, "test": 90, "review": 30}[phase]
                    dur_ns = int(rng.lognormvariate(0, 0.6) * base * 1_000_000_000)
                    inp = _rr(rng, 2_000, 40_000)
                    cr = int(inp * rng.uniform(0.3, 0.9))
                    cw = min(inp - cr, _rr(rng, 0, 3_000))
                    out = _rr(rng, 200, 4_000)
                    cost = round(((inp - cr - cw) * p_in + out * p_out + cr * p_cr + cw * p_cw) / 1e6, 10)
                    m_dur = dur_ns // 3
                    models.append(
                        (
                            self._id(),
                            wid,
                            trace,
                            st_rec,
                            session,
                            phase,
                            agent,
                            agent,
                            model_name,
                            "anthropic",
                            "completed",
                            "success",
                            1,
                            _iso(st_start),
                            _iso(st_start + m_dur),
                            st_start,
                            st_start + m_dur,
                            m_dur / 1e9,
                            _iso(st_start)[:10],
                            inp,
                            out,
                            cr,
                            cw,
                            cost,
                            "local",
                            NOW,
                            NOW,
                        )
                    )
                    n = _rr(rng, 5)
                    tt = st_start + m_dur
                    file_hashes = _ARG_HASHES[_rr(rng, 0, 56) :][:4]
                    for k in range(n):
                        tool = TOOLS[_rr(rng, 3)] if k < 3 else TOOLS[_rr(rng, len(TOOLS))]
                        tdur = _rr(rng, 5_000_000, 2_000_000_000)
                        t_fail = (fails and tool == "Bash") or rng.random() < 0.02
                        args = file_hashes[_rr(rng, 2)] if tool == "Read" else _ARG_HASHES[_rr(rng, 64)]
                        err = (
                            ("CalledProcessError", "command failed: exit code 1", "tool_failure")
                            if t_fail
                            else (None, None, None)
                        )
                        tools.append(
                            (
                                self._id(),
                                f"toolu_{self.next_id:x}",
                                wid,
                                trace,
                                st_rec,
                                session,
                                phase,
                                agent,
                                agent,
                                tool,
                                "failed" if t_fail else "completed",
                                "failure" if t_fail else "success",
                                0 if t_fail else 1,
                                _iso(tt),
                                _iso(tt + tdur),
                                tt,
                                tt + tdur,
                                tdur / 1e9,
                                _iso(tt)[:10],
                                args,
                                40,
                                *err,
                                NOW,
                                NOW,
                            )
                        )
                        n_tools += 1
                        tools_failed += t_fail
                        tt += tdur + 1_000_000
                    st_end = max(st_start + dur_ns, tt)
                    if fails:
                        etype, msg = (
                            ERRORS[_rr(rng, len(ERRORS))] if phase != "test" or rng.random() < 0.4 else ERRORS[0]
                        )
                        err3 = (etype, msg, _CATEGORIES[etype])
                        steps_failed += 1
                        if last:
                            ph_fail = wf_error = err3
                    else:
                        err3 = (None, None, None)
                    steps.append(
                        (
                            st_rec,
                            wid,
                            trace,
                            ph_rec,
                            name,
                            phase,
                            agent,
                            agent,
                            task,
                            session,
                            model_name,
                            "anthropic",
                            attempt,
                            attempt - 1,
                            "failed" if fails else "completed",
                            "failure" if fails else "success",
                            0 if fails else 1,
                            _iso(st_start),
                            _iso(st_end),
                            st_start,
                            st_end,
                            (st_end - st_start) / 1e9,
                            _iso(st_start)[:10],
                            inp,
                            out,
                            cr,
                            cw,
                            cost,
                            1,
                            *err3,
                            NOW,
                            NOW,
                        )
                    )
                    for i, v in enumerate((inp, out, cr, cw)):
                        ph_tok[i] += v
                    ph_cost += cost
                    ph_calls += 1
                    t = st_end + _rr(rng, 50_000_000, (20 if attempts > 1 else 1) * 1_000_000_000)
            ph_end = t
            durations[phase] = (ph_end - ph_start) / 1e9
            phases.append(
                (
                    ph_rec,
                    wid,
                    trace,
                    wf_rec,
                    name,
                    template,
                    phase,
                    pnum,
                    "failed" if ph_fail else "completed",
                    "failure" if ph_fail else "success",
                    0 if ph_fail else 1,
                    _iso(ph_start),
                    _iso(ph_end),
                    ph_start,
                    ph_end,
                    (ph_end - ph_start) / 1e9,
                    _iso(ph_start)[:10],
                    *ph_tok,
                    round(ph_cost, 10),
                    ph_calls,
                    *(ph_fail or (None, None, None)),
                    NOW,
                    NOW,
                )
            )
            for i in range(4):
                tot[i] += ph_tok[i]
            wf_cost += ph_cost
            if ph_fail:
                break
        wf_end = t + _rr(rng, 100_000_000, 1_000_000_000)
        wall = (wf_end - wf_start) / 1e9
        bottleneck = max(durations, key=lambda k: durations[k])
        wf = (
            wid,
            wf_rec,
            trace,
            name,
            template,
            task,
            session,
            model_name,
            model_name,
            f'["{model_name}"]',
            "failed" if wf_error else "completed",
            "failure" if wf_error else "success",
            0 if wf_error else 1,
            _iso(wf_start),
            _iso(wf_end),
            wf_start,
            wf_end,
            wall,
            _iso(wf_start)[:10],
            len(phases),
            len(steps),
            len(steps) - steps_failed,
            steps_failed,
            n_tools,
            tools_failed,
            len(models),
            *tot,
            round(wf_cost, 10),
            round(max(0.0, wall - sum(durations.values())), 6),
            bottleneck,
            round(durations[bottleneck], 6),
            len(steps) - 8,
            *(wf_error or (None, None, None)),
            complexity,
            NOW,
            NOW,
        )
        return wf, phases, steps, tools, models


def _insert(conn: sqlite3.Connection, table: str, cols: tuple[str, ...], rows: list[tuple]) -> None:
    conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)


TABLES = (
    ("workflow_history", _Gen.WF_COLS),
    ("phase_logs", _Gen.PHASE_COLS),
    ("step_executions", _Gen.STEP_COLS),
    ("tool_calls", _Gen.TOOL_COLS),
    ("model_calls", _Gen.MODEL_COLS),
)


OUTCOME_COLS = ("outcome_id", "workflow_id", "kind", "name", "value_text", "value_number", "recorded_at")


def _outcomes(w: int) -> list[tuple]:
    """Estimates and outcomes recorded by workflow id for run ``w`` (``workflow_outcomes``):
    an estimated cost and complexity for every run, a pull request for two runs in three."""
    wid = f"{w:032x}"
    rows = [
        ("estimate", "estimated_cost_usd", None, 0.05 + (w * 7919 % 100) / 100.0),
        ("estimate", "complexity", COMPLEXITY[w * 31 % 3], None),
    ]
    if w % 3:
        merged = w % 5 != 0
        rows += [
            ("outcome", "pr_merged", "true" if merged else "false", float(merged)),
            ("outcome", "review_cycles", None, float(w % 4)),
        ]
        if merged:
            rows.append(("outcome", "time_to_merge_hours", None, 1.0 + (w * 104729 % 4800) / 100.0))
    return [(f"{w:024x}{i:08x}", wid, k, n, t, v, NOW) for i, (k, n, t, v) in enumerate(rows)]


def _fill(conn: sqlite3.Connection, gen: _Gen, first: int, steps: int, progress: bool) -> dict[str, int]:
    """Insert workflows ``first``, ``first + 1``, ... until ``steps`` step rows are written."""
    counts = dict.fromkeys((t for t, _c in TABLES), 0)
    t0 = time.perf_counter()
    w = first
    while counts["step_executions"] < steps:
        buf: list[list[tuple]] = [[], [], [], [], []]
        outcomes: list[tuple] = []
        n_steps = counts["step_executions"]
        while n_steps < steps and len(buf[0]) < 2000:
            rows = gen.workflow(w)
            w += 1
            cut = steps - n_steps  # exactly ``steps`` step rows: the last workflow may be cut short
            step_ids = {r[0] for r in rows[2][:cut]}
            buf[0].append(rows[0])
            outcomes.extend(_outcomes(w - 1))
            buf[1].extend(rows[1])
            buf[2].extend(rows[2][:cut])
            buf[3].extend(r for r in rows[3] if r[4] in step_ids)
            buf[4].extend(r for r in rows[4] if r[3] in step_ids)
            n_steps += min(cut, len(rows[2]))
        conn.execute("BEGIN")
        for (table, cols), rows_ in zip(TABLES, buf, strict=True):
            _insert(conn, table, cols, rows_)
            counts[table] += len(rows_)
        _insert(conn, "workflow_outcomes", OUTCOME_COLS, outcomes)
        conn.execute("COMMIT")
        if progress:
            print(
                f"\rgenerating: {w - first} workflows, {counts['step_executions']}/{steps} steps "
                f"({time.perf_counter() - t0:.0f} s)",
                end="",
                file=sys.stderr,
                flush=True,
            )
    if progress:
        print(file=sys.stderr)
    return counts


def generate(path: Path, steps: int = 1_000_000, *, seed: int = 7, progress: bool = True) -> dict[str, int]:
    """Write a synthetic history of ``steps`` step attempts into a new analytics store at ``path``.

    The store is created by the real schema code (every migration); its indexes are dropped
    for the bulk load and rebuilt after it.
    """
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    conn = connect(path)
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall()
    for name, _sql in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    conn.execute("PRAGMA synchronous = OFF")
    counts = _fill(conn, _Gen(seed, workflows=steps // STEPS_PER_WORKFLOW), 0, steps, progress)
    if progress:
        print("rebuilding indexes ...", file=sys.stderr, flush=True)
    for _name, sql in indexes:
        conn.execute(sql)
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return counts


def append(path: Path, steps: int, *, seed: int = 11) -> dict[str, int]:
    """Add ``steps`` more step attempts (new workflows after the existing ones), indexes in place,
    as the analytics sink would have written them since the last report."""
    conn = connect(path)
    first = int(conn.execute("SELECT count(*) FROM workflow_history").fetchone()[0])
    gen = _Gen(seed, workflows=max(1, first))
    gen.next_id = (1 << 48) + first * 1000  # record ids apart from every earlier batch
    counts = _fill(conn, gen, first, steps, progress=False)
    conn.close()
    return counts


def _counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t, _c in TABLES}
    finally:
        conn.close()


def time_cli(db: Path, fmt: str) -> float:
    """Wall-clock seconds of ``otel-agents report --db DB --format FMT`` (output discarded): what a
    user waits for, interpreter start and imports included."""
    exe = Path(sys.executable).with_name("otel-agents")
    t0 = time.perf_counter()
    subprocess.run(
        [str(exe), "report", "--db", str(db), "--format", fmt, "--quiet"], check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - t0


INCREMENT = 10_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="store path (default: a file under the temp dir, reused if present)")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the store even if it exists")
    parser.add_argument("--repeat", type=int, default=5)
    ns = parser.parse_args(argv)
    db = ns.db or Path(tempfile.gettempdir()) / f"otel-agents-report-scale-{ns.steps}.db"
    cache = db.with_name(db.stem + ".report.duckdb")
    fresh = ns.regenerate or not db.exists()
    if fresh:
        t0 = time.perf_counter()
        generate(db, ns.steps - INCREMENT)
        print(f"generated {ns.steps - INCREMENT:,} steps in {time.perf_counter() - t0:.0f} s (not the figure)")
        for suffix in ("", ".wal"):
            Path(str(cache) + suffix).unlink(missing_ok=True)
        cold = time_cli(db, "json")
        print(f"first report, building the columnar cache: {cold:.2f} s (report_cold_seconds)")
        append(db, INCREMENT)
        inc = time_cli(db, "json")
        print(f"report after {INCREMENT:,} more steps (incremental cache sync): {inc:.2f} s")
    counts = _counts(db)
    print(f"store {db}: {os.path.getsize(db) / 1e6:,.0f} MB, rows {counts}")
    if counts["step_executions"] != ns.steps:
        print(f"(the store has {counts['step_executions']:,} steps, not {ns.steps:,}: use --regenerate)")
    time_cli(db, "json")  # the cache in step with the store: what every later report sees
    results: dict[str, list[float]] = {"text": [], "json": []}
    for _ in range(ns.repeat):
        for fmt in ("text", "json"):
            results[fmt].append(time_cli(db, fmt))
    for fmt, times in results.items():
        print(
            f"{fmt:>4}: median {statistics.median(times):.2f} s, best {min(times):.2f} s, worst {max(times):.2f} s "
            f"over {len(times)} runs of `otel-agents report --format {fmt}`"
        )
    figure = max(statistics.median(t) for t in results.values())
    print(f"report_seconds_1m: {figure:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
