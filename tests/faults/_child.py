"""The workload of a fault case, run as a REAL subprocess: ``python _child.py '<json spec>'``.

It sets otel-agents up exactly as an executor does (``otel_agents.setup()``: the configured
sinks, entry-point plugins), adds one observer span processor AFTER the sinks' processor (so
it sees exactly the spans the sinks accepted), and runs the demo executor
(``otel_agents.demo.run_demo``) or a generated load, counting every exception that reaches
the workflow and timing each workflow on its own thread.

Spec keys: ``phases`` (workflows per phase; between phases it prints the phase result and
waits for a line on stdin, so the test can change the fault), ``pace`` (the demo's simulated
work), ``prefix`` (workflow ids), ``load`` (``demo`` or ``big``: spans with a ``pad``-byte
attribute), ``forever`` (run until killed), ``truth_file`` (append every accepted span id,
one ``os.write`` each, so the truth survives a kill), ``rlimit_fsize`` (bytes),
``debug_log`` (root logging at DEBUG on stderr), ``fork`` (multiprocessing workers).

Protocol on stdout, one JSON object per line: ``{"event": "started"}``, then per phase
``{"event": "phase", "ids": [...], "exceptions": n, "errors": [...], "durations": [...]}``,
then ``{"event": "end", "t_end": <time.monotonic()>}`` right before the interpreter exits
(so the parent measures the exit: CLOCK_MONOTONIC is system-wide on Linux).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

SPEC: dict[str, Any] = json.loads(sys.argv[1])

if SPEC.get("rlimit_fsize"):
    import resource

    # soft limit only: a command between phases can lift it again (the disk has space again).
    # Python ignores SIGXFSZ: a write past the limit is short, then fails with EFBIG.
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(SPEC["rlimit_fsize"]), resource.RLIM_INFINITY))
if SPEC.get("debug_log"):
    import logging

    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")

import otel_agents as oa  # noqa: E402
from otel_agents.demo import run_demo  # noqa: E402


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Truth:
    """Span ids the sinks' processor has accepted (it runs first), in this process."""

    def __init__(self, path: str | None) -> None:
        self.ids: list[str] = []
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if path else -1

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def _on_ending(self, span: Any) -> None:
        pass

    def on_end(self, span: Any) -> None:
        sid = f"{span.context.span_id:016x}"
        self.ids.append(sid)
        if self.fd >= 0:
            os.write(self.fd, f"{sid} {time.monotonic():.6f}\n".encode())

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def big_workflow(workflow_id: str, pad: str) -> None:
    """Generated load: one workflow of 1 + 1 + 8 spans, each step carrying ``pad``."""
    with oa.workflow("load", workflow_id=workflow_id, template="load") as wf:
        with wf.phase("work", number=1) as ph:
            for j in range(8):
                with ph.step(f"s{j}", agent="loader") as st:
                    st.set_attribute("load.pad", pad)


def odd_workflow(workflow_id: str) -> None:
    """Executor data that is not valid Unicode: names and values holding lone surrogates (as a
    file name with bytes that are not UTF-8 gets from ``os.fsdecode``) and NUL characters."""
    bad = os.fsdecode(b"\xff\xfe")  # '\udcff\udcfe'
    with oa.workflow(f"fix {bad}", workflow_id=f"{workflow_id}{bad}", template="t\x00", issue_id=bad) as wf:
        with wf.phase(f"p{bad}", number=1) as ph:
            with ph.step(f"s{bad}", agent=f"a{bad}", model="claude-sonnet-4-5", skill="\x00") as st:
                st.set_attribute("file.path", f"/tmp/{bad}.txt")
                st.set_attribute("file.paths", (f"/a/{bad}", "/b"))
                st.record_usage(
                    "claude-sonnet-4-5", provider="anthropic", input_tokens=10, output_tokens=5, response_id=f"msg{bad}"
                )
                with st.tool_call(f"Read{bad}", call_id=f"toolu{bad}", arguments={"path": f"/x/{bad}"}) as tc:
                    tc.set_result(f"read {bad}")
                st.fail(OSError(f"cannot open /x/{bad}"))


def one(i: int, prefix: str) -> None:
    if SPEC.get("load") == "odd":
        odd_workflow(f"{prefix}-{i}")
    elif SPEC.get("load") == "big":
        big_workflow(f"{prefix}-{i}", "x" * int(SPEC.get("pad", 4096)))
    else:
        run_demo(workflow_id=f"{prefix}-{i}", pace=float(SPEC.get("pace", 0)))


def run_phase(n: int, prefix: str, start: int, truth: Truth) -> dict[str, Any]:
    """``n`` workflows: wall and thread-CPU time of each (the workflow's own thread)."""
    before = len(truth.ids)
    durations: list[float] = []
    cpu: list[float] = []
    exceptions = 0
    errors: list[str] = []
    for i in range(start, start + n):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            one(i, prefix)
        except BaseException as exc:  # noqa: BLE001 - this is what the suite counts
            exceptions += 1
            if len(errors) < 5:
                errors.append(f"{type(exc).__name__}: {exc}")
        durations.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return {
        "event": "phase",
        "ids": truth.ids[before:],
        "exceptions": exceptions,
        "errors": errors,
        "durations": durations,
        "cpu": cpu,
    }


# --- multiprocessing (fork) ---------------------------------------------------------------------
def _worker(args: tuple[str, int]) -> int:
    prefix, n = args
    for i in range(n):
        one(i, f"{prefix}-{os.getpid()}")
    return n


def fork_mode(truth: Truth) -> dict[str, Any]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    f = SPEC["fork"]
    n = int(f.get("workflows", 5))
    ctx = multiprocessing.get_context("fork")
    exceptions, errors = 0, []
    try:
        one(0, "parent")  # the parent has live sink threads and queues when it forks
        procs = [ctx.Process(target=_worker, args=((f"proc{k}", n),)) for k in range(int(f.get("processes", 3)))]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
            if p.exitcode != 0:
                raise RuntimeError(f"worker exit code {p.exitcode}")
        with ctx.Pool(2) as pool:  # leaving the block terminates the workers (SIGTERM)
            pool.map(_worker, [(f"pool{k}", n) for k in range(int(f.get("pool_tasks", 4)))])
        with ProcessPoolExecutor(2, mp_context=ctx) as ex:
            list(ex.map(_worker, [(f"ppe{k}", n) for k in range(int(f.get("pool_tasks", 4)))]))
        one(1, "parent")
    except BaseException as exc:  # noqa: BLE001
        exceptions += 1
        errors.append(f"{type(exc).__name__}: {exc}")
    return {"event": "phase", "ids": [], "exceptions": exceptions, "errors": errors, "durations": []}


def command(line: str) -> None:
    """A line from the test between phases: ``go``, or a JSON object of changes to make."""
    try:
        cmd = json.loads(line)
    except ValueError:
        return
    if isinstance(cmd, dict) and "rlimit_fsize" in cmd:
        import resource

        soft = cmd["rlimit_fsize"]
        resource.setrlimit(
            resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY if soft is None else int(soft), resource.RLIM_INFINITY)
        )


def main() -> None:
    rt = oa.setup()
    truth = Truth(SPEC.get("truth_file"))
    if rt.enabled:  # OTEL_SDK_DISABLED=true (the baseline): a no-op provider
        rt.provider.add_span_processor(truth)  # after the sinks' processor: sees what it accepted
    emit({"event": "started", "pid": os.getpid(), "sinks": [getattr(s, "name", "?") for s in rt.sinks]})
    prefix = str(SPEC.get("prefix", "wf"))
    if SPEC.get("forever"):
        i = 0
        t_stop = time.monotonic() + float(SPEC.get("max_s", 120))
        while time.monotonic() < t_stop:  # bounded: the test kills it long before
            one(i, prefix)
            i += 1
        return
    if SPEC.get("fork"):
        emit(fork_mode(truth))
    else:
        phases = list(SPEC.get("phases", [3]))
        start = 0
        for k, n in enumerate(phases):
            result = run_phase(int(n), prefix, start, truth)
            if SPEC.get("settle") and rt.enabled and k < len(phases) - 1:
                # every sink has tried this phase's spans before the test changes the fault
                result["settled"] = rt.provider.force_flush(30_000)
            emit(result)
            start += int(n)
            if k < len(phases) - 1:
                command(sys.stdin.readline())  # the test changes the fault, then says go
    emit({"event": "end", "t_end": time.monotonic(), "cpu_end": time.process_time()})


if __name__ == "__main__":
    main()
