"""Concurrent workflows are never cross-linked.

16 workflows run at once and fan their steps, tool calls and model calls out over ONE shared
thread pool and over ``asyncio.gather``: through the API with ``ContextExecutor``, through the
decorators with ``bind``, and as a plain program traced by ``otel-agents run`` (which carries
the context through thread pools itself). Every span must land in its own workflow's trace and
every roll-up must equal the exact sum of that workflow's own model calls. Threads without
context never guess: with several workflows open they get implicit workflows (and one warning);
with one open they still find it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import otel_agents as oa
from otel_agents import attributes as A, safety
from otel_agents.instrument.spans_file import read_records, span_record
from otel_agents.sinks.spool import iter_records, iter_spans, spool_files

OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")
WORKFLOWS = 16
MODEL = "claude-haiku-4-5"

# Every model call of workflow ``w`` is one of these (``j``: the call's number in it), so the
# sums of two workflows never coincide. Costs are multiples of 1/1024: sums are exact floats.


def _usage(w: int, j: int) -> dict[str, Any]:
    return {
        "input_tokens": 1000 * (w + 1) + j,
        "output_tokens": 7 * (w + 1) + j,
        "cost": (w + 1) / 64 + j / 1024,
        "response_id": f"w{w}:r{j}",
    }


def _expected(w: int, calls: list[int]) -> dict[str, Any]:
    usages = [_usage(w, j) for j in calls]
    return {
        A.ROLLUP_INPUT_TOKENS: sum(u["input_tokens"] for u in usages),
        A.ROLLUP_OUTPUT_TOKENS: sum(u["output_tokens"] for u in usages),
        A.ROLLUP_COST_AMOUNT: sum(u["cost"] for u in usages),
        A.ROLLUP_MODEL_CALLS: len(usages),
    }


_ROLLUP_OF_CHAT = {
    A.ROLLUP_INPUT_TOKENS: A.GEN_AI_USAGE_INPUT_TOKENS,
    A.ROLLUP_OUTPUT_TOKENS: A.GEN_AI_USAGE_OUTPUT_TOKENS,
    A.ROLLUP_COST_AMOUNT: A.GEN_AI_USAGE_COST_AMOUNT,
}


def _owner(record: dict[str, Any]) -> str | None:
    """The workflow (``w3``) a span was made for, from the tag the test put in it."""
    attrs = record["attributes"]
    tag = {
        A.KIND_WORKFLOW: attrs.get(A.GEN_AI_WORKFLOW_NAME),
        A.KIND_STEP: attrs.get(A.STEP_NAME),
        A.KIND_TOOL_CALL: attrs.get(A.GEN_AI_TOOL_CALL_ID),
        A.KIND_MODEL_CALL: attrs.get(A.GEN_AI_RESPONSE_ID),
    }.get(attrs[A.KIND])
    return tag.split(":")[0] if tag and tag.startswith("w") else None


def assert_no_cross_links(records: list[dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    """Every span in its own workflow's trace; every roll-up the exact sum of the calls beneath it;
    each workflow's roll-up the sum of its own calls (``expected``: workflow name -> roll-up)."""
    by_id = {(r["trace_id"], r["span_id"]): r for r in records}
    children: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    roots: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["parent_span_id"] is None:
            assert r["trace_id"] not in roots, "two roots in one trace"
            roots[r["trace_id"]] = r
        else:
            children[(r["trace_id"], r["parent_span_id"])].append(r)
    names = sorted(r["attributes"][A.GEN_AI_WORKFLOW_NAME] for r in roots.values())
    assert names == sorted(expected), "implicit or missing workflows"
    misplaced = []
    for r in records:
        root = roots[r["trace_id"]]
        node = r
        while node["parent_span_id"] is not None:
            node = by_id[(r["trace_id"], node["parent_span_id"])]  # KeyError: a parent in another trace
        assert node is root
        wf_name = root["attributes"][A.GEN_AI_WORKFLOW_NAME]
        owner = _owner(r)
        if r["attributes"][A.WORKFLOW_ID] != root["attributes"][A.WORKFLOW_ID] or owner not in (None, wf_name):
            misplaced.append((r["name"], owner, wf_name))
    assert misplaced == [], f"{len(misplaced)} cross-linked spans"

    def chats_below(r: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for c in children[(r["trace_id"], r["span_id"])]:
            out += [c] if c["attributes"][A.KIND] == A.KIND_MODEL_CALL else chats_below(c)
        return out

    checked = 0
    for r in records:
        attrs = r["attributes"]
        if A.ROLLUP_MODEL_CALLS not in attrs:
            continue
        chats = chats_below(r)
        got = {k: attrs[k] for k in (*_ROLLUP_OF_CHAT, A.ROLLUP_MODEL_CALLS)}
        want = {k: sum(c["attributes"][v] for c in chats) for k, v in _ROLLUP_OF_CHAT.items()}
        want[A.ROLLUP_MODEL_CALLS] = len(chats)
        assert got == want, r["name"]
        if attrs[A.KIND] == A.KIND_WORKFLOW:
            assert got == expected[attrs[A.GEN_AI_WORKFLOW_NAME]], r["name"]
        checked += 1
    assert checked > len(expected)


def _run_concurrently(run_one: Any) -> None:
    """``run_one(w)`` for every workflow, each on its own thread, all at once."""
    errors: list[BaseException] = []

    def target(w: int) -> None:
        try:
            run_one(w)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(w,), daemon=True) for w in range(WORKFLOWS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


# Per workflow: model calls 0-5 in pool steps (0-3 by submit, 4-5 by map), 10-13 in async steps,
# 20-23 recorded from the shared pool by the async steps, 30 from a bound callback on a thread.
POOL_CALLS = [0, 1, 2, 3, 4, 5]
ASYNC_CALLS = [10, 11, 12, 13]
EXECUTOR_CALLS = [20, 21, 22, 23]
ALL_CALLS = [*POOL_CALLS, *ASYNC_CALLS, *EXECUTOR_CALLS, 30]


def _record(w: int, j: int) -> None:
    oa.record_usage(MODEL, provider="anthropic", **_usage(w, j))


# --- (a) the API, with ContextExecutor and bind ---------------------------------------------


def test_api_workflows_over_a_shared_pool_and_gather_are_never_cross_linked(runtime, exporter):
    shared = ThreadPoolExecutor(8)
    barrier = threading.Barrier(WORKFLOWS, timeout=60)

    def pool_step(w: int, j: int) -> None:
        with oa.step(f"w{w}:pool:{j}"):
            with oa.tool_call("Read", call_id=f"w{w}:t{j}"):
                pass
            _record(w, j)

    async def async_step(w: int, j: int, pool: oa.ContextExecutor) -> None:
        with oa.step(f"w{w}:async:{j}", agent="coder"):
            await asyncio.sleep(0)
            with oa.tool_call("Bash", call_id=f"w{w}:t{j}"):
                await asyncio.sleep(0)
            _record(w, j)
            await asyncio.get_running_loop().run_in_executor(pool, _record, w, j + 10)

    def run_one(w: int) -> None:
        with oa.workflow(f"w{w}") as wf:
            barrier.wait()  # all 16 open before any work is submitted
            pool = oa.ContextExecutor(shared)
            with wf.phase("fan-out"):
                futures = [pool.submit(pool_step, w, j) for j in range(4)]
                list(pool.map(pool_step, [w, w], [4, 5]))
                for f in futures:
                    f.result()
            with oa.phase("gather"):
                asyncio.run(_gather(async_step(w, j, pool) for j in ASYNC_CALLS))
                callback = oa.bind(_record)
                t = threading.Thread(target=callback, args=(w, 30))
                t.start()
                t.join()
            barrier.wait()  # none ends before all have finished their work

    try:
        _run_concurrently(run_one)
    finally:
        shared.shutdown()
    records = [span_record(s) for s in exporter.get_finished_spans()]
    assert len(records) == WORKFLOWS * (1 + 2 + 10 * 3 + 4 + 1)
    assert_no_cross_links(records, {f"w{w}": _expected(w, ALL_CALLS) for w in range(WORKFLOWS)})


async def _gather(coros: Any) -> None:
    await asyncio.gather(*coros)


# --- (b) the decorators ------------------------------------------------------------------------


@oa.tool_call("Read")
def _read(w: int, j: int) -> None:
    pass


@oa.step("pool-step")
def _decorated_pool_step(w: int, j: int) -> None:
    _read(w, j)
    _record(w, j)


@oa.step("async-step", agent="reviewer")
async def _decorated_async_step(w: int, j: int, pool: ThreadPoolExecutor) -> None:
    await asyncio.sleep(0)
    _record(w, j)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(pool, oa.bind(_record), w, j + 10)


def test_decorated_workflows_over_a_shared_pool_and_gather_are_never_cross_linked(runtime, exporter):
    shared = ThreadPoolExecutor(8)
    barrier = threading.Barrier(WORKFLOWS, timeout=60)

    @oa.phase("fan-out")
    def fan_out(w: int) -> None:
        futures = [shared.submit(oa.bind(_decorated_pool_step), w, j) for j in range(4)]
        list(shared.map(oa.bind(_decorated_pool_step), [w, w], [4, 5]))
        for f in futures:
            f.result()

    @oa.phase("gather")
    async def gather(w: int) -> None:
        await asyncio.gather(*(_decorated_async_step(w, j, shared) for j in ASYNC_CALLS))
        await asyncio.to_thread(oa.bind(_record), w, 30)

    def run_one(w: int) -> None:
        @oa.workflow(f"w{w}")
        async def workflow() -> None:
            await asyncio.to_thread(barrier.wait)
            await asyncio.to_thread(fan_out, w)  # to_thread copies the context too
            await gather(w)
            await asyncio.to_thread(barrier.wait)

        asyncio.run(workflow())

    try:
        _run_concurrently(run_one)
    finally:
        shared.shutdown()
    records = [span_record(s) for s in exporter.get_finished_spans()]
    assert len(records) == WORKFLOWS * (1 + 2 + 6 * 3 + 4 * 2 + 4 + 1)
    assert_no_cross_links(records, {f"w{w}": _expected(w, ALL_CALLS) for w in range(WORKFLOWS)})


# --- (c) a plain program, traced by `otel-agents run` ------------------------------------------

PROGRAM = """
    import asyncio
    import threading
    from concurrent.futures import ThreadPoolExecutor

    WORKFLOWS = 16
    POOL = ThreadPoolExecutor(8)  # shared by every workflow
    BARRIER = threading.Barrier(WORKFLOWS, timeout=60)


    class Reply:
        def __init__(self, w, j):
            self.input_tokens = 1000 * (w + 1) + j
            self.output_tokens = 7 * (w + 1) + j
            self.cost = (w + 1) / 64 + j / 1024
            self.id = f"w{w}:r{j}"


    class Model:
        def complete(self, w, j):
            return Reply(w, j)


    class Tools:
        def run(self, tool, call_id):
            return "ok"


    class Agent:
        def work(self, name, w, j):
            Tools().run("Read", f"w{w}:t{j}")
            Model().complete(w, j)
            return name

        async def work_async(self, name, w, j):
            await asyncio.sleep(0)
            Tools().run("Bash", f"w{w}:t{j}")
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(POOL, Model().complete, w, j)
            await loop.run_in_executor(None, Model().complete, w, j + 10)  # the default executor
            return name


    class Orchestrator:
        def run(self, name, w):
            BARRIER.wait()
            self.fan_out("fan-out", w)
            self.gather("gather", w)
            BARRIER.wait()

        def fan_out(self, phase, w):
            futures = [POOL.submit(Agent().work, f"w{w}:pool:{j}", w, j) for j in range(4)]
            list(POOL.map(Agent().work, [f"w{w}:pool:4", f"w{w}:pool:5"], [w, w], [4, 5]))
            for f in futures:
                f.result()

        def gather(self, phase, w):
            async def main():
                await asyncio.gather(*(Agent().work_async(f"w{w}:async:{j}", w, j) for j in (10, 11, 12, 13)))

            asyncio.run(main())


    def main():
        threads = [threading.Thread(target=Orchestrator().run, args=(f"w{w}", w)) for w in range(WORKFLOWS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("done")
"""

MAPPING = """
    [[tool.otel-agents.instrument.workflow]]
    target = "crowd:Orchestrator.run"
    name = "name"

    [[tool.otel-agents.instrument.phase]]
    target = "crowd:Orchestrator.fan_out"
    name = "phase"

    [[tool.otel-agents.instrument.phase]]
    target = "crowd:Orchestrator.gather"
    name = "phase"

    [[tool.otel-agents.instrument.step]]
    target = "crowd:Agent.work"
    name = "name"

    [[tool.otel-agents.instrument.step]]
    target = "crowd:Agent.work_async"
    name = "name"

    [[tool.otel-agents.instrument.tool_call]]
    target = "crowd:Tools.run"
    name = "tool"
    call_id = "call_id"

    [[tool.otel-agents.instrument.model_usage]]
    target = "crowd:Model.complete"
    model = "'claude-haiku-4-5'"
    provider = "'anthropic'"
    input_tokens = "result.input_tokens"
    output_tokens = "result.output_tokens"
    cost = "result.cost"
    response_id = "result.id"
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_EXPORTER_OTLP", "OTEL_AGENTS_"))}
    env.pop("PYTHONPATH", None)
    env.update({"OTEL_AGENTS_HOME": str(tmp_path / "home"), "OTEL_AGENTS_OTLP_ENABLED": "false"})
    return env


def test_zero_code_program_over_a_shared_pool_and_gather_is_never_cross_linked(tmp_path):
    (tmp_path / "crowd.py").write_text(textwrap.dedent(PROGRAM))
    (tmp_path / "main.py").write_text("import crowd\ncrowd.main()\n")
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(MAPPING))
    spans_file = tmp_path / "spans.jsonl"
    proc = subprocess.run(
        [OTEL_AGENTS, "run", "--spans-file", str(spans_file), "--", sys.executable, "main.py"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "done\n", "")
    calls = [*POOL_CALLS, *ASYNC_CALLS, *EXECUTOR_CALLS]
    expected = {f"w{w}": _expected(w, calls) for w in range(WORKFLOWS)}
    records = read_records(spans_file)
    assert len(records) == WORKFLOWS * (1 + 2 + 6 * 3 + 4 * 3 + 4)
    assert_no_cross_links(records, expected)
    # What the durable spool holds (and a backend gets) is the same.
    spooled = [
        _from_otlp(s)
        for p in spool_files(tmp_path / "home" / "spans")
        for _o, _e, doc in iter_records(p)
        for s in iter_spans(doc)
    ]
    assert sorted(r["span_id"] for r in spooled) == sorted(r["span_id"] for r in records)
    assert_no_cross_links(spooled, expected)


def _from_otlp(span: dict[str, Any]) -> dict[str, Any]:
    """An OTLP-JSON span of the spool as a ``span_record``-shaped dict (ids, name, attributes)."""

    def value(v: dict[str, Any]) -> Any:
        if "intValue" in v:
            return int(v["intValue"])
        (item,) = v.values()
        return item

    return {
        "name": span["name"],
        "trace_id": span["traceId"],
        "span_id": span["spanId"],
        "parent_span_id": span.get("parentSpanId") or None,
        "attributes": {a["key"]: value(a["value"]) for a in span.get("attributes", ())},
    }


# --- threads without context ------------------------------------------------------------------


def _by_name(exporter: Any) -> dict[str, Any]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_pool_threads_without_context_get_implicit_workflows_and_one_warning(runtime, exporter, monkeypatch, caplog):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    shared = ThreadPoolExecutor(4)
    barrier = threading.Barrier(2, timeout=60)

    def work(name: str, j: int) -> None:  # no helper: the pool's thread has no context
        with oa.step(f"{name}-{j}"):
            with oa.tool_call("Read", call_id=f"{name}-{j}"):
                pass
            oa.record_usage(MODEL, provider="anthropic", input_tokens=10, output_tokens=1, cost=0.25)

    def run(name: str) -> None:
        with oa.workflow(name):
            barrier.wait()
            for f in [shared.submit(work, name, j) for j in range(4)]:
                f.result()
            barrier.wait()

    with caplog.at_level(logging.WARNING, logger="otel_agents"):
        threads = [threading.Thread(target=run, args=(n,)) for n in ("A", "B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    shared.shutdown()
    spans = exporter.get_finished_spans()
    ids = {s.name: s.context.trace_id for s in spans if s.name in ("invoke_workflow A", "invoke_workflow B")}
    assert len(ids) == 2
    steps = [s for s in spans if s.name.startswith("step ")]
    assert sorted(s.name for s in steps) == [f"step {n}-{j}" for n in "AB" for j in range(4)]
    assert not any(s.context.trace_id in ids.values() for s in steps)  # not under A, not under B
    implicit = [s for s in spans if s.name == "invoke_workflow implicit"]
    assert len(implicit) == 8 and len({s.context.trace_id for s in implicit}) == 8
    for s in implicit:
        assert (s.attributes[A.ROLLUP_INPUT_TOKENS], s.attributes[A.ROLLUP_MODEL_CALLS]) == (10, 1)
    for name in ("invoke_workflow A", "invoke_workflow B"):
        wf = next(s for s in spans if s.name == name)
        assert (wf.attributes[A.ROLLUP_INPUT_TOKENS], wf.attributes[A.ROLLUP_MODEL_CALLS]) == (0, 0)
    assert safety.failure_counts() == {"parent lookup": 8}
    warnings = [r.getMessage() for r in caplog.records if r.name == "otel_agents"]
    assert warnings == [
        "otel-agents: parent lookup failed (1 so far; further failures logged at most once a minute): "
        "RuntimeError: step ran on a thread with no current workflow (a thread pool or callback) while "
        "2 workflows are open; recorded under an implicit workflow rather than guessing which. Carry the "
        "context: otel_agents.bind(fn) or otel_agents.ContextExecutor(pool)"
    ]


def test_pool_threads_without_context_find_the_only_open_workflow(runtime, exporter):
    # Strict mode (the default under pytest) raises on any warning: none here.
    def in_pool(fn: Any) -> None:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(fn).result()

    def step(name: str) -> Any:
        return lambda: oa.step(name).start().stop()

    def usage(tokens: int) -> Any:
        return lambda: oa.record_usage(MODEL, provider="anthropic", input_tokens=tokens, cost=0.5)

    with oa.workflow("only") as wf:
        in_pool(step("s-workflow"))  # nothing but the workflow open
        with wf.phase("p1") as p1:
            in_pool(step("s-p1"))  # one phase open: that phase
            st = p1.step("open-step").start()
            in_pool(usage(1))  # one step open in it: that step
            p1.step("other-step").start().stop()
            st2 = p1.step("second-step").start()
            in_pool(usage(2))  # two steps open: their phase, not either step
            st2.stop()
            st.stop()
        p2, p3 = wf.phase("p2").start(), wf.phase("p3").start()
        in_pool(step("s-parallel"))  # two phases in parallel: the workflow
        in_pool(usage(4))
        p2.stop()
        p3.stop()
    spans = _by_name(exporter)
    by_id = {s.context.span_id: s.name for s in spans.values()}
    parent = {name: by_id.get(s.parent.span_id) if s.parent else None for name, s in spans.items()}
    assert {n: parent[n] for n in ("step s-workflow", "step s-p1", "step s-parallel")} == {
        "step s-workflow": "invoke_workflow only",
        "step s-p1": "phase p1",
        "step s-parallel": "invoke_workflow only",
    }
    rollup = {
        n: spans[n].attributes[A.ROLLUP_INPUT_TOKENS]
        for n in ("step open-step", "step second-step", "phase p1", "invoke_workflow only")
    }
    assert rollup == {"step open-step": 1, "step second-step": 0, "phase p1": 3, "invoke_workflow only": 7}
    assert safety.failure_counts() == {}


def test_record_usage_outside_a_workflow_goes_to_an_implicit_workflow(runtime, exporter, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    usage = oa.record_usage(
        MODEL, provider="anthropic", input_tokens=12, output_tokens=3, cost=0.125, start_time=1_000, end_time=2_000
    )
    assert (usage.input_tokens, usage.output_tokens) == (12, 3)
    chat, wf = exporter.get_finished_spans()
    assert (chat.name, wf.name) == (f"chat {MODEL}", "invoke_workflow implicit")
    assert chat.parent.span_id == wf.context.span_id and wf.start_time == 1_000
    assert {k: v for k, v in wf.attributes.items() if k.startswith("otel_agents.rollup.")} == {
        A.ROLLUP_INPUT_TOKENS: 12,
        A.ROLLUP_OUTPUT_TOKENS: 3,
        A.ROLLUP_CACHE_READ_INPUT_TOKENS: 0,
        A.ROLLUP_CACHE_WRITE_INPUT_TOKENS: 0,
        A.ROLLUP_REASONING_OUTPUT_TOKENS: 0,
        A.ROLLUP_COST_AMOUNT: 0.125,
        A.ROLLUP_COST_CURRENCY: "USD",
        A.ROLLUP_MODEL_CALLS: 1,
        A.ROLLUP_UNPRICED_MODEL_CALLS: 0,
    }
    assert safety.failure_counts() == {"api": 1}


# --- the helpers ------------------------------------------------------------------------------


def test_bind_runs_each_call_in_its_own_copy_of_the_context(runtime, exporter):
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("bound")
    seen: list[str] = []
    barrier = threading.Barrier(4, timeout=60)

    def fn(i: int) -> None:
        if i < 4:
            barrier.wait()  # four threads inside one bound function at once
        seen.append(var.get())
        var.set(f"changed-{i}")  # stays in this call's copy

    bound = oa.bind(fn)
    var.set("later")  # bind took the context as it was
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(bound, range(4)))
    bound(9)
    assert seen == ["bound"] * 5
    assert var.get() == "later"
    assert bound.__name__ == "fn"


def test_context_executor_carries_the_submitters_context(runtime, exporter):
    with ThreadPoolExecutor(2) as shared:
        pool = oa.ContextExecutor(shared)
        with oa.workflow("w"):
            with oa.step("s") as st:
                got = [pool.submit(oa.current).result(), *pool.map(lambda _: oa.current(), range(2))]

                async def via_loop() -> Any:
                    return await asyncio.get_running_loop().run_in_executor(pool, oa.current)

                got.append(asyncio.run(via_loop()))
        assert got == [st] * 4
        assert shared.submit(oa.current).result() is None  # the pool itself is left alone


def test_the_library_api_never_patches_thread_pools():
    code = """
import asyncio, concurrent.futures, threading
submit = concurrent.futures.ThreadPoolExecutor.submit
run_in_executor = asyncio.BaseEventLoop.run_in_executor
thread_start = threading.Thread.start
import otel_agents
otel_agents.setup(with_sinks=False)
pool = otel_agents.ContextExecutor(concurrent.futures.ThreadPoolExecutor(2))
with otel_agents.workflow("w"):
    with otel_agents.step("s"):
        pool.submit(otel_agents.bind(lambda: otel_agents.record_usage("m", input_tokens=1))).result()
pool.shutdown()
assert concurrent.futures.ThreadPoolExecutor.submit is submit
assert asyncio.BaseEventLoop.run_in_executor is run_in_executor
assert threading.Thread.start is thread_start
print("untouched")
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OTEL_AGENTS_OTLP_ENABLED": "false"},
    )
    assert (out.returncode, out.stdout) == (0, "untouched\n"), out.stderr


def test_instrumentor_carries_the_context_through_pools_and_uninstrument_restores(
    tmp_path, monkeypatch, runtime, exporter
):
    from otel_agents.instrument.instrumentor import OtelAgentsInstrumentor

    module = "pooled_" + os.urandom(4).hex()
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent("""
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        def step(name):
            return name

        def main(pool):
            list(pool.map(step, ["mapped"]))
            pool.submit(step, "submitted").result()
            asyncio.run(run_in_loop())

        async def run_in_loop():
            await asyncio.get_running_loop().run_in_executor(None, step, "in-loop")
    """)
    )
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(f"""
        [[tool.otel-agents.instrument.workflow]]
        target = "{module}:main"
        name = "'w'"
        [[tool.otel-agents.instrument.step]]
        target = "{module}:step"
        name = "name"
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    original = ThreadPoolExecutor.submit
    instrumentor = OtelAgentsInstrumentor()
    instrumentor.instrument()
    try:
        assert ThreadPoolExecutor.submit is not original
        mod = __import__(module)
        with ThreadPoolExecutor(2) as pool:
            mod.main(pool)
    finally:
        instrumentor.uninstrument()
    assert ThreadPoolExecutor.submit is original
    spans = _by_name(exporter)
    root = spans["invoke_workflow w"].context.span_id
    assert {n: spans[n].parent.span_id == root for n in ("step mapped", "step submitted", "step in-loop")} == {
        "step mapped": True,
        "step submitted": True,
        "step in-loop": True,
    }


# --- the documented examples ------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _python_block(doc: str, containing: str) -> str:
    text = (ROOT / doc).read_text()
    (block,) = [b for b in text.split("```python\n")[1:] if containing in b.split("```")[0]]
    return block.split("```")[0]


def test_the_readme_thread_pool_example_nests_each_task_under_its_workflow(runtime, exporter):
    namespace: dict[str, Any] = {}
    exec(compile(_python_block("README.md", "ContextExecutor"), "README.md", "exec"), namespace)
    namespace["pool"].shutdown()
    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s.name for s in spans}
    assert sorted((s.name, by_id[s.parent.span_id]) for s in spans if s.parent) == [
        ("chat claude-haiku-4-5", "invoke_agent reviewer"),
        ("chat claude-haiku-4-5", "invoke_agent reviewer"),
        ("invoke_agent reviewer", "phase review"),
        ("invoke_agent reviewer", "phase review"),
        ("phase review", "invoke_workflow review-pr"),
    ]
    (wf,) = [s for s in spans if s.parent is None]
    assert (wf.attributes[A.ROLLUP_INPUT_TOKENS], wf.attributes[A.ROLLUP_MODEL_CALLS]) == (1800, 2)


def test_the_documented_thread_pool_example_keeps_concurrent_workflows_apart(runtime, exporter):
    namespace: dict[str, Any] = {}
    code = _python_block("docs/instrumenting.md", "ContextExecutor")
    exec(compile(code, "docs/instrumenting.md", "exec"), namespace)
    barrier = threading.Barrier(WORKFLOWS, timeout=60)

    def run_one(w: int) -> None:
        barrier.wait()
        assert namespace["run"](f"pr-{w}", [f"f{k}.py" for k in range(w + 1)]) == [f"f{k}.py" for k in range(w + 1)]

    try:
        _run_concurrently(run_one)
    finally:
        namespace["pool"].shutdown()
    records = [span_record(s) for s in exporter.get_finished_spans()]
    roots = {r["trace_id"]: r for r in records if r["parent_span_id"] is None}
    assert len(roots) == WORKFLOWS
    tokens = {}
    for root in roots.values():
        w = int(root["attributes"][A.ISSUE_ID].removeprefix("pr-"))
        steps = [r for r in records if r["trace_id"] == root["trace_id"] and r["attributes"][A.KIND] == A.KIND_STEP]
        assert len(steps) == w + 1
        tokens[w] = root["attributes"][A.ROLLUP_INPUT_TOKENS]
    assert tokens == {w: 900 * (w + 1) for w in range(WORKFLOWS)}
    assert all(r["attributes"][A.WORKFLOW_ID] == roots[r["trace_id"]]["attributes"][A.WORKFLOW_ID] for r in records)
