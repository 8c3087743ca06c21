"""Mapping expressions: what they read, and that nothing in them can run code."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from hypothesis import given, settings, strategies as st

from otel_agents.instrument.expr import ExprError, compile_expr


@dataclass
class Usage:
    input_tokens: int
    cache_read_input_tokens: int


@dataclass
class Result:
    ok: bool
    usage: Usage
    status: str = "done"


SCOPE = {
    "args": {"phase_name": "build", "attempt": 2, "task": {"model": None, "tags": ["a", "b"]}},
    "phase_name": "build",
    "attempt": 2,
    "self": type("Agent", (), {"name": "coder", "_private": 1})(),
    "result": Result(True, Usage(100, 40)),
}


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("args.phase_name", "build"),
        ("phase_name", "build"),
        ("self.name", "coder"),
        ("self._private", 1),
        ("result.usage.input_tokens + result.usage.cache_read_input_tokens", 140),
        ("result.usage.input_tokens - 1", 99),
        ("args['task']['tags'][-1]", "b"),
        ("args.task.tags[0]", "a"),
        ("args.task.model or 'claude-sonnet-4-5'", "claude-sonnet-4-5"),
        ("args.task.model and 'x'", None),
        ("'success' if result.ok else 'failure'", "success"),
        ("result.status in ('ok', 'done')", True),
        ("result.status not in ['ok']", True),
        ("attempt > 1", True),
        ("1 < attempt <= 2", True),
        ("not result.ok", False),
        ("args.task.model is None", True),
        ("'/' + phase_name", "/build"),
        ("-3", -3),
        ("'sdlc'", "sdlc"),
        ("None", None),
    ],
)
def test_allowed_expressions(source, value):
    assert compile_expr(source).evaluate(SCOPE) == value


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("__import__('os').system('id')", "function calls are not allowed"),
        ("self.name.upper()", "function calls are not allowed"),
        ("self.__class__", "attribute '__class__' is not allowed"),
        ("result.__dict__", "attribute '__dict__' is not allowed"),
        ("__builtins__", "name '__builtins__' is not allowed"),
        ("args[phase_name]", "subscripts must be a constant"),
        ("args[0:2]", "subscripts must be a constant"),
        ("result.gi_frame", "attribute 'gi_frame' is not allowed"),
        ("result.f_globals", "attribute 'f_globals' is not allowed"),
        ("lambda: 1", "lambdas are not allowed"),
        ("[x for x in args]", "ListComp are not allowed"),
        ("f'{phase_name}'", "f-strings are not allowed"),
        ("(x := 1)", "assignments are not allowed"),
        ("'a' * 10**9", "only + and - are allowed"),
        ("~attempt", "only 'not x' and negative number constants"),
        ("-attempt", "only 'not x' and negative number constants"),
        ("{'a': 1}", "Dict are not allowed"),
        ("b'bytes'", "is not allowed"),
        ("import os", "syntax error"),
        ("phase_name; 1", "syntax error"),
        ("", "empty expression"),
        ("x" * 501, "longer than 500"),
    ],
)
def test_rejected_expressions(source, reason):
    with pytest.raises(ExprError, match=re.escape(reason)):
        compile_expr(source)


def test_non_string_is_rejected():
    with pytest.raises(ExprError, match="expressions are strings"):
        compile_expr(3)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("args.atempt", "no key or attribute 'atempt' in dict"),
        ("self.missing", "Agent object has no attribute 'missing'"),
        ("args.task.tags[5]", "IndexError: list index out of range"),
        ("unknown", "unknown name 'unknown'"),
        ("args.task.model.name", "NoneType object has no attribute 'name'"),
        ("phase_name + 1", "TypeError"),
    ],
)
def test_evaluation_errors_are_clear(source, message):
    with pytest.raises(ExprError, match=message):
        compile_expr(source).evaluate(SCOPE)


def test_property_errors_become_expr_errors():
    class Weird:
        @property
        def value(self):
            raise RuntimeError("broken property")

    with pytest.raises(ExprError, match="RuntimeError: broken property"):
        compile_expr("self.value").evaluate({"self": Weird()})


def test_names_and_args_attributes_are_known_before_evaluation():
    expr = compile_expr("args.task.model or self.model or result.model")
    assert expr.names == frozenset({"args", "self", "result"})
    assert expr.args_attributes == frozenset({"task"})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_runs_code(text):
    """Any text either is rejected or evaluates over plain data without calling anything."""
    calls = []

    class Trap:
        def __getattr__(self, name):
            return self

        def __call__(self, *a, **k):  # pragma: no cover - must never happen
            calls.append(a)
            raise AssertionError("called")

    try:
        expr = compile_expr(text)
    except ExprError:
        return
    try:
        expr.evaluate({"args": Trap(), "self": Trap(), "result": Trap(), "x": 1})
    except ExprError:
        pass
    assert calls == []


def test_dunder_dictionary_keys_are_data():
    """LangGraph keeps a node's runtime (and its attempt number) under ``__pregel_runtime``."""
    runtime = type("Runtime", (), {"execution_info": type("Info", (), {"node_attempt": 2})()})()
    scope = {"config": {"configurable": {"__pregel_runtime": runtime, "__x__": "y"}}}
    expr = compile_expr("config['configurable']['__pregel_runtime'].execution_info.node_attempt")
    assert expr.evaluate(scope) == 2
    assert compile_expr("config['configurable']['__x__']").evaluate(scope) == "y"
    # a dunder attribute is still no data: rejected
    with pytest.raises(ExprError, match="attribute '__class__' is not allowed"):
        compile_expr("config['configurable']['__pregel_runtime'].__class__")
