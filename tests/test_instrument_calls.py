"""Zero-code instrumentation in-process: sync, async, generators, failures, outcomes, problems."""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
import traceback
import uuid
from pathlib import Path

import pytest
from opentelemetry.trace import StatusCode

from otel_agents import attributes as A
from otel_agents.instrument import installer, problems
from otel_agents.instrument.mapping import Mapping, parse_section
from otel_agents.instrument.problems import reset as reset_problems

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.fixture
def traced(tmp_path, monkeypatch, runtime):
    """``make(source, mapping)``: write a module, install the mapping (``MOD`` = its name), import it."""
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_problems()

    def make(source: str, mapping: str):
        name = f"executor_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        data = tomllib.loads(textwrap.dedent(mapping).replace("MOD", name))
        rules, _enabled = parse_section(data["instrument"], "test mapping")
        installer.install(Mapping(rules=rules))
        return importlib.import_module(name)

    yield make
    installer.uninstall()
    reset_problems()


SOURCE = """
import asyncio

class Boom(RuntimeError):
    pass

class Runner:
    name = "nightly"

    def run(self, issue, fail=False):
        for n, phase in enumerate(("plan", "build"), start=1):
            self.phase(phase, n)
        if fail:
            raise Boom("workflow exploded")
        return {"ok": True}

    def phase(self, phase_name, number):
        Agent("coder").step(phase_name, attempt=1)

class Agent:
    def __init__(self, name):
        self.name = name

    def step(self, task, attempt):
        usage = call_model("claude-haiku-4-5", {"input_tokens": 100, "output_tokens": 10})
        tool("Read", {"path": "a.py"})
        return usage

def call_model(model, usage):
    return {"model": model, "usage": usage}

def tool(name, arguments):
    return {"ok": True}
"""

MAPPING = """
[[instrument.workflow]]
target = "MOD:Runner.run"
name = "self.name"
issue_id = "issue"
outcome = "result['ok']"

[[instrument.phase]]
target = "MOD:Runner.phase"
name = "args.phase_name"
number = "number"

[[instrument.step]]
target = "MOD:Agent.step"
name = "self.name"
agent = "self.name"
attempt = "attempt"

[[instrument.model_usage]]
target = "MOD:call_model"
model = "model"
provider = "'anthropic'"
input_tokens = "result.usage.input_tokens"
output_tokens = "result.usage.output_tokens"

[[instrument.tool_call]]
target = "MOD:tool"
name = "name"
arguments = "arguments"
result = "result"
"""


def _tree(spans):
    by_id = {s.context.span_id: s.name for s in spans}
    return sorted((s.name, by_id.get(s.parent.span_id) if s.parent else None) for s in spans)


def test_sync_methods_and_functions_build_the_tree(traced, exporter):
    mod = traced(SOURCE, MAPPING)
    assert mod.Runner().run("7") == {"ok": True}
    spans = exporter.get_finished_spans()
    assert _tree(spans) == [
        ("chat claude-haiku-4-5", "invoke_agent coder"),
        ("chat claude-haiku-4-5", "invoke_agent coder"),
        ("execute_tool Read", "invoke_agent coder"),
        ("execute_tool Read", "invoke_agent coder"),
        ("invoke_agent coder", "phase build"),
        ("invoke_agent coder", "phase plan"),
        ("invoke_workflow nightly", None),
        ("phase build", "invoke_workflow nightly"),
        ("phase plan", "invoke_workflow nightly"),
    ]
    wf = next(s for s in spans if s.name == "invoke_workflow nightly")
    assert wf.attributes[A.ISSUE_ID] == "7"
    assert wf.attributes[A.ROLLUP_INPUT_TOKENS] == 200
    assert wf.attributes[A.OUTCOME] == "success"
    phase = next(s for s in spans if s.name == "phase build")
    assert phase.attributes[A.PHASE_NUMBER] == 2
    tool = next(s for s in spans if s.name == "execute_tool Read")
    assert tool.attributes[A.TOOL_RESULT_LENGTH] == len('{"ok":true}')
    assert problems() == []


def test_exception_keeps_type_traceback_and_is_recorded(traced, exporter):
    mod = traced(SOURCE, MAPPING)
    with pytest.raises(mod.Boom) as info:
        mod.Runner().run("7", fail=True)
    # The original raise site is still in the traceback, and it is the very same exception.
    frames = traceback.extract_tb(info.value.__traceback__)
    assert frames[-1].name == "run" and frames[-1].line == 'raise Boom("workflow exploded")'
    (wf,) = [s for s in exporter.get_finished_spans() if s.name == "invoke_workflow nightly"]
    assert wf.status.status_code is StatusCode.ERROR
    assert wf.attributes[A.ERROR_TYPE] == f"{mod.__name__}.Boom"
    assert wf.attributes[A.ERROR_MESSAGE] == "Boom: workflow exploded"
    assert [e.name for e in wf.events] == ["exception"]
    assert wf.events[0].attributes["exception.type"] == f"{mod.__name__}.Boom"


def test_outcome_from_result_fails_without_exception(traced, exporter):
    mod = traced(
        """
        def check(name):
            return {"ok": False, "reason": "lint errors: 3"}
        """,
        """
        [[instrument.workflow]]
        target = "MOD:check"
        name = "name"
        outcome = "result.ok"
        error = "result.reason"
        """,
    )
    assert mod.check("lint") == {"ok": False, "reason": "lint errors: 3"}
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[A.OUTCOME] == "failure"
    assert span.attributes[A.ERROR_TYPE] == "_OTHER"
    assert span.attributes[A.ERROR_MESSAGE] == "lint errors: 3"


ASYNC_AND_GENERATORS = """
import asyncio

class Agent:
    name = "streamer"

    async def run(self, prompt):
        await asyncio.sleep(0)
        parts = [chunk async for chunk in self.chunks(prompt)]
        total = sum(1 for _ in self.tokens(prompt))
        return {"parts": parts, "total": total}

    async def chunks(self, prompt):
        for word in prompt.split():
            await asyncio.sleep(0)
            yield {"text": word, "usage": {"input": 10, "output": len(word)}}

    def tokens(self, prompt):
        for word in prompt.split():
            yield word
        return {"usage": {"input": 5, "output": 1}}

async def workflow(prompt):
    return await Agent().run(prompt)
"""

ASYNC_MAPPING = """
[[instrument.workflow]]
target = "MOD:workflow"
name = "'stream'"

[[instrument.step]]
target = "MOD:Agent.run"
name = "self.name"
agent = "self.name"

[[instrument.model_usage]]
target = "MOD:Agent.chunks"
model = "'claude-haiku-4-5'"
input_tokens = "result.usage.input"
output_tokens = "result.usage.output"

[[instrument.tool_call]]
target = "MOD:Agent.tokens"
name = "'Tokenize'"
result = "result"
"""


def test_async_functions_async_generators_and_generators(traced, exporter):
    mod = traced(ASYNC_AND_GENERATORS, ASYNC_MAPPING)
    assert asyncio.iscoroutinefunction(mod.Agent.run)
    out = asyncio.run(mod.workflow("fix the cart"))
    assert out["total"] == 3 and [p["text"] for p in out["parts"]] == ["fix", "the", "cart"]
    spans = exporter.get_finished_spans()
    assert _tree(spans) == [
        ("chat claude-haiku-4-5", "invoke_agent streamer"),
        ("execute_tool Tokenize", "invoke_agent streamer"),
        ("invoke_agent streamer", "invoke_workflow stream"),
        ("invoke_workflow stream", None),
    ]
    chat = next(s for s in spans if s.kind.name == "CLIENT")
    # An async generator's result is its last item; a generator's, its return value.
    assert chat.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] == 10
    assert chat.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    tool = next(s for s in spans if s.name == "execute_tool Tokenize")
    assert tool.attributes[A.TOOL_RESULT_LENGTH] == len('{"usage":{"input":5,"output":1}}')


def test_generator_is_current_only_while_it_runs(traced, exporter):
    mod = traced(
        """
        def produce(n):
            for i in range(n):
                note(i)
                yield i

        def note(i):
            return i

        def consume(n):
            out = []
            for item in produce(n):
                note(100 + item)   # the consumer's work, between two resumes
                out.append(item)
            return out
        """,
        """
        [[instrument.workflow]]
        target = "MOD:consume"
        name = "'consume'"

        [[instrument.step]]
        target = "MOD:produce"
        name = "'produce'"

        [[instrument.tool_call]]
        target = "MOD:note"
        name = "'note'"
        call_id = "'n' + 'x'"
        arguments = "i"
        """,
    )
    assert mod.consume(2) == [0, 1]
    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    parents = sorted(
        (s.attributes[A.TOOL_ARGUMENTS_LENGTH], by_id[s.parent.span_id].name)
        for s in spans
        if s.name == "execute_tool note"
    )
    # notes 0 and 1 run inside the generator; 100 and 101 in the consumer, under the workflow
    # (in an implicit step named after the tool, since a tool call needs one).
    assert parents == [(1, "step produce"), (1, "step produce"), (3, "step note"), (3, "step note")]
    assert all(s.end_time for s in spans)


def test_generator_exception_and_early_close(traced, exporter):
    mod = traced(
        """
        def stream(fail):
            yield 1
            if fail:
                raise KeyError("gone")
            yield 2
        """,
        """
        [[instrument.step]]
        target = "MOD:stream"
        name = "'stream-' + ('fail' if fail else 'ok')"
        """,
    )
    with pytest.raises(KeyError):
        list(mod.stream(True))
    gen = mod.stream(False)
    assert next(gen) == 1
    gen.close()
    spans = {s.name: s for s in exporter.get_finished_spans() if s.name.startswith("step stream")}
    assert spans["step stream-fail"].status.status_code is StatusCode.ERROR
    assert spans["step stream-fail"].attributes[A.ERROR_TYPE] == "KeyError"
    # closed by its consumer before its end: the work was abandoned, not completed
    assert spans["step stream-ok"].attributes[A.OUTCOME] == "abandoned"
    assert spans["step stream-ok"].status.status_code is not StatusCode.ERROR


def test_missing_target_and_bad_expression_reported_once_and_executor_runs(traced, exporter, caplog):
    caplog.set_level("WARNING", logger="otel_agents.instrument")
    mod = traced(
        """
        class Agent:
            def run(self, task):
                return task
        """,
        """
        [[instrument.step]]
        target = "MOD:Agent.run"
        name = "args.tsak"
        attempt = "task.attempt"

        [[instrument.step]]
        target = "MOD:Agent.missing"
        name = "'x'"

        [[instrument.tool_call]]
        target = "MOD:nothing_here"
        name = "__import__('os').system('echo pwned')"
        """,
    )
    for _ in range(3):
        assert mod.Agent().run({"attempt": "two"}) == {"attempt": "two"}
    found = problems()
    assert any("function calls are not allowed" in p for p in found), found
    assert any("'Agent.missing' not found in module" in p for p in found), found
    assert any("'nothing_here' not found in module" in p for p in found), found
    assert any("uses 'args.tsak'" in p for p in found), found
    assert any("field 'attempt'" in p and "must be an integer" in p for p in found), found
    # Each problem is logged once, however many calls hit it.
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == len(set(logged)) == len(found)
    # The step still ran, with the default name (the function's) and without the failed fields.
    (span,) = [s for s in exporter.get_finished_spans() if s.attributes.get(A.KIND) == "step"][:1]
    assert span.name == "step run"
    assert span.attributes[A.ATTEMPT] == 1


def test_uninstall_restores_originals(traced, exporter):
    mod = traced(SOURCE, MAPPING)
    run = mod.Runner.__dict__["run"]
    patched_code = run.__code__
    installer.uninstall()
    assert mod.Runner.__dict__["run"] is run  # wrapped in place: the same function object
    assert run.__code__ is not patched_code
    assert run.__code__.co_name == "run" and not any(callable(c) for c in run.__code__.co_consts)
    assert mod.Runner().run("1") == {"ok": True}
    assert exporter.get_finished_spans() == ()


def test_when_condition_skips_calls(traced, exporter):
    mod = traced(
        """
        def act(kind, name):
            return name
        """,
        """
        [[instrument.tool_call]]
        target = "MOD:act"
        when = "kind == 'tool'"
        name = "name"
        """,
    )
    mod.act("thought", "x")
    mod.act("tool", "Bash")
    names = [s.name for s in exporter.get_finished_spans() if s.attributes.get(A.KIND) == "tool_call"]
    assert names == ["execute_tool Bash"]


def test_static_and_class_methods(traced, exporter):
    mod = traced(
        """
        class Tools:
            prefix = "cls"

            @staticmethod
            def grep(pattern):
                return pattern

            @classmethod
            def read(cls, path):
                return path
        """,
        """
        [[instrument.tool_call]]
        target = "MOD:Tools.grep"
        name = "'Grep-' + pattern"

        [[instrument.tool_call]]
        target = "MOD:Tools.read"
        name = "cls.prefix + '-' + path"
        """,
    )
    assert mod.Tools.grep("def") == "def"
    assert mod.Tools().read("a.py") == "a.py"
    names = sorted(s.name for s in exporter.get_finished_spans() if s.attributes.get(A.KIND) == "tool_call")
    assert names == ["execute_tool Grep-def", "execute_tool cls-a.py"]


def test_usage_and_tools_outside_any_workflow_get_an_implicit_one(traced, exporter):
    mod = traced(
        """
        def complete(model, prompt):
            return {"usage": {"in": 120, "out": 7}}

        def read(path):
            return path
        """,
        """
        [[instrument.model_usage]]
        target = "MOD:complete"
        model = "model"
        provider = "'anthropic'"
        input_tokens = "result.usage['in']"
        output_tokens = "result.usage.out"

        [[instrument.tool_call]]
        target = "MOD:read"
        name = "'Read'"
        """,
    )
    mod.complete("claude-haiku-4-5", "hi")
    mod.read("a.py")
    spans = exporter.get_finished_spans()
    assert _tree(spans) == [
        ("chat claude-haiku-4-5", "invoke_workflow implicit"),
        ("execute_tool Read", "step Read"),
        ("invoke_workflow implicit", None),
        ("invoke_workflow implicit", None),
        ("step Read", "invoke_workflow implicit"),
    ]
    chat = next(s for s in spans if s.name == "chat claude-haiku-4-5")
    assert dict(chat.attributes) == {
        A.GEN_AI_OPERATION_NAME: "chat",
        A.GEN_AI_REQUEST_MODEL: "claude-haiku-4-5",
        A.KIND: "model_call",
        A.WORKFLOW_ID: chat.attributes[A.WORKFLOW_ID],
        A.GEN_AI_PROVIDER_NAME: "anthropic",
        A.GEN_AI_USAGE_INPUT_TOKENS: 120,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: 7,
        A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
        A.GEN_AI_USAGE_COST_AMOUNT: chat.attributes[A.GEN_AI_USAGE_COST_AMOUNT],
        A.GEN_AI_USAGE_COST_CURRENCY: "USD",
        A.GEN_AI_USAGE_COST_SOURCE: "local",
    }
    assert chat.attributes[A.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx(120 * 1e-6 + 7 * 5e-6)
    assert problems() == []


def test_arguments_defaults_keyword_only_and_kwargs(traced, exporter):
    mod = traced(
        """
        def simple(tool, call_id="c-default"):
            return tool

        def fancy(tool, /, *rest, call_id, **extra):
            return tool
        """,
        """
        [[instrument.tool_call]]
        target = "MOD:simple"
        name = "args.tool"
        call_id = "call_id"

        [[instrument.tool_call]]
        target = "MOD:fancy"
        name = "tool + '-' + extra.flavour"
        call_id = "args.call_id + '/' + args.flavour"
        attributes = { "rest.count" = "rest[0]" }
        """,
    )
    mod.simple("Read")
    mod.simple(call_id="c-kw", tool="Grep")
    mod.fancy("Bash", 7, call_id="c-9", flavour="vanilla")
    calls = sorted(
        (s.name, s.attributes[A.GEN_AI_TOOL_CALL_ID], s.attributes.get("rest.count"))
        for s in exporter.get_finished_spans()
        if s.attributes.get(A.KIND) == "tool_call"
    )
    assert calls == [
        ("execute_tool Bash-vanilla", "c-9/vanilla", 7),
        ("execute_tool Grep", "c-kw", None),
        ("execute_tool Read", "c-default", None),
    ]
    assert problems() == []


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [("SystemExit(0)", "success"), ("SystemExit(3)", "failure"), ("KeyboardInterrupt()", "abandoned")],
)
def test_a_mapped_step_outside_a_workflow_ends_its_implicit_workflow_as_the_exception_means(
    traced, exporter, monkeypatch, exc, outcome
):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")  # the implicit workflow is reported
    mod = traced(
        f"""
        def work():
            raise {exc}
    """,
        """
        [[instrument.step]]
        target = "MOD:work"
        name = "'work'"
    """,
    )
    with pytest.raises(BaseException) as info:
        mod.work()
    assert type(info.value).__name__ == exc.split("(")[0]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert sorted(spans) == ["invoke_workflow implicit", "step work"]
    assert {n: s.attributes[A.OUTCOME] for n, s in spans.items()} == {
        "invoke_workflow implicit": outcome,
        "step work": outcome,
    }


def _spans_by_name(exporter) -> dict:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_functions_kept_by_a_decorator_or_builder_at_import_are_traced(traced, exporter):
    mod = traced(
        """
        REGISTRY = {}

        def register(fn):
            REGISTRY[fn.__name__] = fn  # keeps the original, returns it unchanged
            return fn

        @register
        def search(query, limit=3):
            return [query] * limit

        class Graph:
            def __init__(self):
                self.nodes = []

            def add_node(self, fn):
                self.nodes.append(fn)

        def plan(state):
            return state + 1

        builder = Graph()
        builder.add_node(plan)

        def run():
            with_tool = REGISTRY["search"]("x", limit=2)
            return with_tool, [node(1) for node in builder.nodes]
        """,
        """
        [[instrument.workflow]]
        target = "MOD:run"
        name = "'kept'"

        [[instrument.step]]
        target = "MOD:plan"
        name = "'plan'"
        agent = "'planner'"

        [[instrument.tool_call]]
        target = "MOD:search"
        name = "'search'"
        arguments = "limit"
        """,
    )
    assert mod.run() == (["x", "x"], [2])
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["execute_tool search", "invoke_agent planner", "invoke_workflow kept", "step search"]
    assert problems() == []
    # the signature, the code's argument names and the kind are what they were
    import inspect

    assert str(inspect.signature(mod.search)) == "(query, limit=3)"
    assert mod.search.__code__.co_varnames[:2] == ("query", "limit")
    assert all(b.fired for b in installer.current_installer().bindings.values())


def test_context_manager_targets_are_timed_over_the_managed_block(traced, exporter):
    mod = traced(
        """
        import asyncio
        import contextlib
        import time

        @contextlib.contextmanager
        def session(name):
            yield {"name": name}

        @contextlib.asynccontextmanager
        async def asession(name):
            yield {"name": name}

        def work():
            time.sleep(0.05)

        def run():
            with session("sync") as s:
                work()
            async def main():
                async with asession("async") as a:
                    work()
                return a
            return s, asyncio.run(main())
        """,
        """
        [[instrument.workflow]]
        target = "MOD:run"
        name = "'cm'"

        [[instrument.step]]
        target = "MOD:session"
        name = "name"

        [[instrument.step]]
        target = "MOD:asession"
        name = "name"

        [[instrument.tool_call]]
        target = "MOD:work"
        """,
    )
    assert mod.run() == ({"name": "sync"}, {"name": "async"})
    spans = _spans_by_name(exporter)
    for name in ("step sync", "step async"):
        step = spans[name]
        assert step.end_time - step.start_time >= 50_000_000, name  # the block, not the call
        assert step.attributes[A.OUTCOME] == "success"
    tools = [s for s in exporter.get_finished_spans() if s.name == "execute_tool work"]
    assert sorted(t.parent.span_id for t in tools) == sorted(
        spans[n].context.span_id for n in ("step sync", "step async")
    )


def test_context_manager_block_failure_is_recorded(traced, exporter):
    mod = traced(
        """
        import contextlib

        @contextlib.contextmanager
        def session():
            yield

        def run():
            with session():
                raise KeyError("inside the block")
        """,
        """
        [[instrument.step]]
        target = "MOD:session"
        """,
    )
    with pytest.raises(KeyError):
        mod.run()
    step = _spans_by_name(exporter)["step session"]
    assert step.status.status_code is StatusCode.ERROR
    assert step.attributes[A.ERROR_TYPE] == "KeyError"


def test_frame_inspecting_code_sees_the_callers_frame(traced, exporter):
    """pydantic-ai names an agent after the variable holding it in its caller's frame;
    ``warnings.warn(stacklevel=2)`` names the caller's file and line."""
    mod = traced(
        """
        import inspect
        import warnings

        class Agent:
            name = None

            def run(self):
                caller = inspect.currentframe().f_back
                for name, value in caller.f_locals.items():
                    if value is self:
                        self.name = name
                        break
                else:
                    for name, value in caller.f_globals.items():
                        if value is self:
                            self.name = name
                warnings.warn("deprecated", DeprecationWarning, stacklevel=2)
                return self.name

        planner = Agent()

        def local_agent():
            reviewer = Agent()
            return reviewer.run()

        def global_agent():
            return planner.run()
        """,
        """
        [[instrument.step]]
        target = "MOD:Agent.run"
        """,
    )
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert mod.local_agent() == "reviewer"
        assert mod.global_agent() == "planner"
    lines = Path(mod.__file__).read_text().splitlines()
    callers = {n for n, line in enumerate(lines, start=1) if line.strip().endswith(".run()")}
    assert len(callers) == 2
    assert {(w.filename, w.lineno) for w in caught} == {(mod.__file__, n) for n in callers}
    assert len([s for s in exporter.get_finished_spans() if s.name == "step run"]) == 2


def test_an_agent_run_from_a_tool_nests_under_the_tool_call(traced, exporter):
    mod = traced(
        """
        def sub_agent(task):
            return task.upper()

        def delegate(task):
            return sub_agent(task)

        def run():
            return delegate("review")
        """,
        """
        [[instrument.workflow]]
        target = "MOD:run"
        name = "'main'"

        [[instrument.tool_call]]
        target = "MOD:delegate"
        name = "'delegate'"

        [[instrument.step]]
        target = "MOD:sub_agent"
        name = "'reviewer'"
        agent = "'reviewer'"
        """,
    )
    assert mod.run() == "REVIEW"
    spans = _spans_by_name(exporter)
    assert spans["invoke_agent reviewer"].parent.span_id == spans["execute_tool delegate"].context.span_id


def test_a_rule_that_never_fired_is_reported_with_the_reason(traced, exporter):
    mod = traced(
        """
        class Greeter:
            def __call__(self, name):
                return "hi " + name

        greet = Greeter()
        HANDLERS = {"greet": greet}  # kept before the mapping applied

        def never_called():
            return 1

        def run():
            return HANDLERS["greet"]("bob")
        """,
        """
        [[instrument.tool_call]]
        target = "MOD:greet"

        [[instrument.tool_call]]
        target = "MOD:never_called"
        """,
    )
    assert mod.run() == "hi bob"
    installer.current_installer().report_unused()
    found = [p for p in problems() if "never fired" in p]
    assert len(found) == 2, found
    greet = next(p for p in found if ":greet" in p)
    assert "but a dict kept the original at import time" in greet, greet
    assert "map the plain function" in greet
    never = next(p for p in found if ":never_called" in p)
    assert "the program did not call it in this run" in never
