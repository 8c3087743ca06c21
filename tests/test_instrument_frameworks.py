"""Zero-code instrumentation on the real frameworks, offline: pydantic-ai, LangGraph, langchain, doit.

Each maps the program's own functions that a decorator or builder kept at import time
(``@agent.tool_plain``, ``FunctionModel(fn)``, ``add_node(fn)``, ``@tool``), and the shipped
recipes; the trees are compared whole.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from importlib.metadata import version
from pathlib import Path

import pytest
from opentelemetry.trace import StatusCode

from otel_agents import attributes as A
from otel_agents.instrument import installer, problems
from otel_agents.instrument.mapping import Mapping, parse_section
from otel_agents.instrument.problems import reset as reset_problems
from otel_agents.text import fingerprint

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

OTEL_AGENTS = str(Path(sys.executable).with_name("otel-agents"))


@pytest.fixture
def traced(tmp_path, monkeypatch, runtime):
    """``make(source, mapping, recipes=())``: write a module, install the mapping, import it."""
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_problems()

    def make(source: str, mapping: str, recipes: tuple[str, ...] = ()):
        name = f"app_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        data = tomllib.loads(textwrap.dedent(mapping).replace("MOD", name))
        rules, _enabled = parse_section(data.get("instrument", {}), "test mapping")
        for recipe in recipes:
            from otel_agents.instrument.mapping import load_recipe

            section, origin = load_recipe(recipe)
            rules += parse_section(section, origin)[0]
        installer.install(Mapping(rules=rules))
        return importlib.import_module(name)

    yield make
    installer.uninstall()
    reset_problems()


def tree(exporter) -> list[str]:
    """The finished spans as indented names, children in start order."""
    spans = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time)
    by_parent: dict = {}
    for s in spans:
        by_parent.setdefault(s.parent.span_id if s.parent else None, []).append(s)
    out: list[str] = []

    def walk(parent_id, depth):
        for s in by_parent.get(parent_id, []):
            out.append("  " * depth + s.name)
            walk(s.context.span_id, depth + 1)

    ids = {s.context.span_id for s in spans}
    for root in [s for s in spans if s.parent is None or s.parent.span_id not in ids]:
        out.append(root.name)
        walk(root.context.span_id, 1)
    return out


def without_ids(span) -> dict:
    return {k: v for k, v in span.attributes.items() if k != A.WORKFLOW_ID}


def tool_attributes(tool: str, step: str, arguments, result, agent: str | None = None) -> dict:
    """A tool span's attributes with content capture off (the default): lengths and hashes."""
    args_len, args_hash = fingerprint(arguments)
    result_len, result_hash = fingerprint(result)
    return {
        A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL,
        A.GEN_AI_TOOL_NAME: tool,
        A.KIND: A.KIND_TOOL_CALL,
        A.STEP_NAME: step,
        **({A.GEN_AI_AGENT_NAME: agent} if agent else {}),
        A.TOOL_ARGUMENTS_LENGTH: args_len,
        A.TOOL_ARGUMENTS_SHA256: args_hash,
        A.OUTCOME: "success",
        A.TOOL_RESULT_LENGTH: result_len,
        A.TOOL_RESULT_SHA256: result_hash,
    }


PYDANTIC_APP = """
from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import FunctionModel


def decide(messages, info):
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart("search_tickets", {"query": "checkout"}, tool_call_id="c1")])
    return ModelResponse(parts=[TextPart("label: bug")])


triage = Agent(FunctionModel(decide, model_name="gpt-4o"))


@triage.tool_plain
def search_tickets(query: str) -> list[str]:
    return ["T-1 " + query]


def run(ticket: str) -> str:
    return triage.run_sync("Label " + ticket).output
"""


def test_pydantic_ai_tools_and_function_model_kept_at_import_are_traced(traced, exporter):
    """``@agent.tool_plain`` and ``FunctionModel(fn)`` keep the function: it is traced all the same,
    and the agent gets the name it gets without instrumentation (inferred from the caller's frame)."""
    mod = traced(
        PYDANTIC_APP,
        """
        [[instrument.workflow]]
        target = "MOD:run"
        name = "'triage'"

        [[instrument.step]]
        target = "pydantic_ai.agent.abstract:AbstractAgent.run_sync"
        name = "'agent-run'"
        agent = "'agent-run'"

        [[instrument.model_usage]]
        target = "MOD:decide"
        model = "'gpt-4o'"
        provider = "'openai'"
        input_tokens = 100
        output_tokens = 10

        [[instrument.tool_call]]
        target = "MOD:search_tickets"
        name = "'search_tickets'"
        arguments = "query"
        result = "result"
        """,
    )
    assert mod.run("T-7") == "label: bug"
    assert mod.triage.name == "triage"  # None when the wrapper's frame was the caller's
    assert tree(exporter) == [
        "invoke_workflow triage",
        "  invoke_agent agent-run",
        "    chat gpt-4o",
        "    execute_tool search_tickets",
        "    chat gpt-4o",
    ]
    tool = next(s for s in exporter.get_finished_spans() if s.name == "execute_tool search_tickets")
    assert without_ids(tool) == tool_attributes(
        "search_tickets", "agent-run", "checkout", ["T-1 checkout"], agent="agent-run"
    )
    workflow = next(s for s in exporter.get_finished_spans() if s.name == "invoke_workflow triage")
    assert workflow.attributes[A.ROLLUP_INPUT_TOKENS] == 200
    assert workflow.attributes[A.ROLLUP_OUTPUT_TOKENS] == 20
    assert problems() == []


def test_pydantic_ai_recipe_names_steps_after_the_agent_and_traces_its_tools(traced, exporter):
    """The recipe maps ``Agent.iter`` (an async context manager: the step lasts over the run) and
    the tool manager; an agent held in a local variable is named after it, as without us."""
    mod = traced(
        PYDANTIC_APP
        + """

import asyncio


def run_local(ticket):
    async def main():
        reviewer = Agent(FunctionModel(decide, model_name="gpt-4o"), tools=[search_tickets])
        async with reviewer.iter("Label " + ticket) as agent_run:
            async for _node in agent_run:
                pass
        return reviewer, agent_run.result.output
    return asyncio.run(main())
""",
        """
        [[instrument.workflow]]
        target = "MOD:run_local"
        name = "'review'"
        """,
        recipes=("pydantic-ai",),
    )
    reviewer, output = mod.run_local("T-8")
    assert output == "label: bug"
    tree_seen = tree(exporter)
    installer.uninstall()
    plain, _ = mod.run_local("T-8")
    assert reviewer.name == plain.name  # the same name as without instrumentation
    if version("pydantic-ai-slim") == "2.78.0":  # names an agent run through `iter` (2.68.0 leaves it None)
        assert reviewer.name == "reviewer"
    step_name = f"invoke_agent {plain.name}" if plain.name else "step agent"  # no agent name: a plain step
    assert tree_seen == [
        "invoke_workflow review",
        f"  {step_name}",
        "    execute_tool search_tickets",
    ]
    step = next(s for s in exporter.get_finished_spans() if s.name == step_name)
    tool = next(s for s in exporter.get_finished_spans() if s.name == "execute_tool search_tickets")
    # the step lasts over the whole run (the managed block), not the call that returned the manager
    assert step.start_time < tool.start_time and tool.end_time < step.end_time
    assert step.attributes[A.OUTCOME] == "success"
    assert tool.attributes[A.GEN_AI_TOOL_CALL_ID] == "c1"
    assert problems() == []


LANGGRAPH_APP = """
from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy


class State(TypedDict):
    n: int


calls = {"flaky": 0}


def flaky(state: State, config) -> dict:
    calls["flaky"] += 1
    if calls["flaky"] == 1:
        raise ValueError("first attempt fails")
    return {"n": state["n"] + 1}


def double(state: State) -> dict:
    return {"n": state["n"] * 2}


builder = StateGraph(State)
builder.add_node("flaky", flaky, retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.0, jitter=False,
                                                            retry_on=ValueError))
builder.add_node("double", double)
builder.add_edge(START, "flaky")
builder.add_edge("flaky", "double")
builder.add_edge("double", END)
graph = builder.compile(name="counter")


def run():
    return graph.invoke({"n": 1})
"""


def test_langgraph_nodes_added_at_import_are_traced_with_their_attempt(traced, exporter):
    """``add_node(fn)`` keeps the function; the attempt number is read under ``__pregel_runtime``."""
    mod = traced(
        LANGGRAPH_APP,
        """
        [[instrument.workflow]]
        target = "MOD:run"
        name = "'counter'"

        [[instrument.step]]
        target = "MOD:flaky"
        name = "'flaky'"
        attempt = "config['configurable']['__pregel_runtime'].execution_info.node_attempt"

        [[instrument.step]]
        target = "MOD:double"
        name = "'double'"
        """,
    )
    assert mod.run() == {"n": 4}
    steps = sorted(
        (s for s in exporter.get_finished_spans() if s.attributes.get(A.KIND) == "step"), key=lambda s: s.start_time
    )
    assert [(s.name, s.attributes[A.ATTEMPT], s.attributes[A.OUTCOME]) for s in steps] == [
        ("step flaky", 1, "failure"),
        ("step flaky", 2, "success"),
        ("step double", 1, "success"),
    ]
    assert steps[0].status.status_code is StatusCode.ERROR
    assert problems() == []


def test_langgraph_recipe(traced, exporter):
    mod = traced(LANGGRAPH_APP, "", recipes=("langgraph",))
    assert mod.run() == {"n": 4}
    assert tree(exporter) == ["invoke_workflow counter", "  invoke_agent flaky", "  invoke_agent double"]
    flaky = next(s for s in exporter.get_finished_spans() if s.name == "invoke_agent flaky")
    assert flaky.attributes[A.OUTCOME] == "success"  # one step over the node's run, retries included
    assert problems() == []


def test_langchain_tool_decorator_is_traced(traced, exporter):
    """``@tool`` replaces the module attribute with a ``StructuredTool``: its function is wrapped."""
    mod = traced(
        """
        from langchain_core.tools import tool


        @tool
        def lookup(query: str) -> str:
            \"\"\"Look a ticket up.\"\"\"
            return "found " + query


        def run():
            return lookup.invoke({"query": "T-9"})
        """,
        """
        [[instrument.workflow]]
        target = "MOD:run"
        name = "'lookup'"

        [[instrument.tool_call]]
        target = "MOD:lookup"
        name = "'lookup'"
        arguments = "query"
        result = "result"
        """,
    )
    assert mod.run() == "found T-9"
    assert tree(exporter) == ["invoke_workflow lookup", "  step lookup", "    execute_tool lookup"]
    tool = next(s for s in exporter.get_finished_spans() if s.name == "execute_tool lookup")
    assert without_ids(tool) == tool_attributes("lookup", "lookup", "T-9", "found T-9")
    assert problems() == []


DODO = """
def hello():
    print("hello from python")
    return True


def task_greet():
    return {"actions": [hello, "echo shell-action"], "verbosity": 2}


def task_fail():
    return {"actions": ["exit 3"], "task_dep": ["greet"]}
"""


def test_doit_recipe_in_a_subprocess(tmp_path):
    (tmp_path / "dodo.py").write_text(DODO)
    spans_file = tmp_path / "spans.jsonl"
    env = {**os.environ, "OTEL_AGENTS_HOME": str(tmp_path / ".otel-agents"), "OTEL_TRACES_EXPORTER": "none"}
    proc = subprocess.run(
        [
            OTEL_AGENTS,
            "run",
            "--recipe",
            "doit",
            "--spans-file",
            str(spans_file),
            "--",
            str(Path(sys.executable).with_name("doit")),
            "fail",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "hello from python" in proc.stdout and "shell-action" in proc.stdout
    assert "otel-agents instrument" not in proc.stderr, proc.stderr
    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    got = sorted((s["name"], s["attributes"].get(A.OUTCOME)) for s in spans)
    assert got == [
        ("execute_tool greet:python", "success"),
        ("execute_tool shell", "failure"),
        ("execute_tool shell", "success"),
        ("invoke_workflow doit", "failure"),
        ("step fail", "failure"),
        ("step greet", "success"),
    ]


def test_pydantic_ai_recipe_combined_with_pydantic_ais_own_instrumentation(traced, exporter, runtime):
    """pydantic-ai's own model-call and tool spans nest under the recipe's step (so their tokens
    count there); its agent-run span, opened by the run's set-up, sits beside the step."""
    from pydantic_ai.models.instrumented import InstrumentationSettings

    mod = traced(
        PYDANTIC_APP
        + """

def run_instrumented(settings, ticket):
    triage.instrument = settings
    return triage.run_sync("Label " + ticket).output
""",
        """
        [[instrument.workflow]]
        target = "MOD:run_instrumented"
        name = "'triage'"
        """,
        recipes=("pydantic-ai",),
    )
    settings = InstrumentationSettings(tracer_provider=runtime.provider)
    assert mod.run_instrumented(settings, "T-7") == "label: bug"
    assert mod.triage.name == "triage"
    names = {s.context.span_id: (s.instrumentation_scope.name, s.name) for s in exporter.get_finished_spans()}
    edges = sorted(
        (names[s.parent.span_id], names[s.context.span_id])
        for s in exporter.get_finished_spans()
        if s.parent is not None and s.parent.span_id in names
    )
    ours, theirs = "otel_agents", "pydantic-ai"
    assert edges == [
        ((ours, "execute_tool search_tickets"), (theirs, "execute_tool search_tickets")),
        ((ours, "invoke_agent triage"), (ours, "execute_tool search_tickets")),
        ((ours, "invoke_agent triage"), (theirs, "chat gpt-4o")),
        ((ours, "invoke_agent triage"), (theirs, "chat gpt-4o")),
        ((ours, "invoke_workflow triage"), (ours, "invoke_agent triage")),
        ((ours, "invoke_workflow triage"), (theirs, "invoke_agent triage")),
    ]
