"""Safe expressions over a call's arguments and result: parsed with ``ast``, never executed.

A mapping says *where* a name, an id or a token count is, not *how* to compute it:

    args.phase_name                      # a bound argument (also just ``phase_name``)
    self.config.workflow_name            # the instance a method was called on
    result.usage.input_tokens            # the return value (end-of-call fields only)
    result["usage"]["output_tokens"]     # subscripts with constant keys; dict keys also work as attributes
    args.task.model or 'claude-sonnet-4-5'
    '/' + task.phase                     # + and - only
    'success' if result.ok else 'failure'
    result.status in ('ok', 'done')

Allowed: names, attribute access (no dunder or frame/code-object attributes), subscripts
with constant keys (any string: ``config['__pregel_runtime']`` reads a dictionary's data), constants, ``and``/``or``/``not``, comparisons, ``x if c else y``, tuples
and lists, unary minus and binary ``+``/``-``. Everything else (calls, lambdas,
comprehensions, ``*``, f-strings, walrus, ...) is rejected when the mapping is loaded.

Evaluation walks the parsed tree: no ``eval``/``compile`` of the text ever happens. Reading an
attribute can still run a ``@property`` of the executor's own classes; nothing else runs.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 500
MAX_DEPTH = 32

#: Attribute names that reach interpreter internals (frames, code, globals) without a dunder.
BLOCKED_ATTRIBUTES = frozenset(
    {
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "ag_frame",
        "ag_code",
        "ag_await",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "co_consts",
        "func_globals",
        "func_code",
    }
)

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub}
_CONSTANT_TYPES = (str, int, float, bool, type(None))


class ExprError(ValueError):
    """An expression that is not allowed, or that failed on this call's values."""


def _blocked(name: str) -> bool:
    return name.startswith("__") or name in BLOCKED_ATTRIBUTES


def _check(node: ast.AST, depth: int = 0) -> None:
    """Raise ExprError unless every node of ``node`` is allowed."""
    if depth > MAX_DEPTH:
        raise ExprError("expression nests too deeply")
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, _CONSTANT_TYPES):
            raise ExprError(f"constant {node.value!r} is not allowed")
        return
    if isinstance(node, ast.Name):
        if _blocked(node.id):
            raise ExprError(f"name {node.id!r} is not allowed")
        return
    if isinstance(node, ast.Attribute):
        if _blocked(node.attr):
            raise ExprError(f"attribute {node.attr!r} is not allowed")
        _check(node.value, depth + 1)
        return
    if isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.UnaryOp) and isinstance(key.op, ast.USub):
            key = key.operand
        if not isinstance(key, ast.Constant) or not isinstance(key.value, (str, int)) or isinstance(key.value, bool):
            raise ExprError("subscripts must be a constant string or integer, e.g. result['usage'] or items[0]")
        _check(node.value, depth + 1)
        return
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, depth + 1)
        return
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            _check(node.operand, depth + 1)
            return
        if (
            isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, (int, float))
            and not isinstance(node.operand.value, bool)
        ):
            return
        raise ExprError("only 'not x' and negative number constants are allowed as unary operations")
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ExprError("only + and - are allowed as arithmetic")
        _check(node.left, depth + 1)
        _check(node.right, depth + 1)
        return
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise ExprError(f"comparison {type(op).__name__} is not allowed")
        _check(node.left, depth + 1)
        for comparator in node.comparators:
            _check(comparator, depth + 1)
        return
    if isinstance(node, ast.IfExp):
        _check(node.test, depth + 1)
        _check(node.body, depth + 1)
        _check(node.orelse, depth + 1)
        return
    if isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            _check(elt, depth + 1)
        return
    what = {
        ast.Call: "function calls",
        ast.Lambda: "lambdas",
        ast.JoinedStr: "f-strings",
        ast.NamedExpr: "assignments",
    }.get(type(node), type(node).__name__)
    raise ExprError(f"{what} are not allowed in expressions")


def _free_names(tree: ast.AST) -> frozenset[str]:
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))


def _args_attributes(tree: ast.AST) -> frozenset[str]:
    """The ``X`` of every ``args.X`` in the expression (checked against the signature)."""
    return frozenset(
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "args"
    )


@dataclass(frozen=True, slots=True)
class Expr:
    """A checked expression. ``evaluate(scope)`` reads values from ``scope``."""

    source: str
    tree: ast.expr
    names: frozenset[str]
    args_attributes: frozenset[str]

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """The expression's value; raises ExprError with a short reason on failure."""
        try:
            return _eval(self.tree, scope)
        except ExprError:
            raise
        except (AttributeError, KeyError, IndexError, TypeError, ValueError, ArithmeticError) as exc:
            raise ExprError(_describe(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a property of the executor raised
            raise ExprError(f"{type(exc).__name__}: {exc}") from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"no key {exc.args[0]!r}" if exc.args else "missing key"
    if isinstance(exc, AttributeError) and str(exc):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def compile_expr(source: Any) -> Expr:
    """Parse and check ``source``; raises ExprError saying what is not allowed."""
    if not isinstance(source, str):
        raise ExprError(f"expressions are strings, got {type(source).__name__} {source!r}")
    text = source.strip()
    if not text:
        raise ExprError("empty expression")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"syntax error: {exc.msg}") from None
    _check(tree)
    return Expr(text, tree, _free_names(tree), _args_attributes(tree))


_MISSING = object()


def _attribute(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        value = obj.get(name, _MISSING)
        if value is not _MISSING:
            return value
    try:
        return getattr(obj, name)
    except AttributeError:
        if isinstance(obj, Mapping):
            raise AttributeError(f"no key or attribute {name!r} in {type(obj).__name__}") from None
        raise AttributeError(f"{type(obj).__name__} object has no attribute {name!r}") from None


def _eval(node: ast.AST, scope: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        try:
            return scope[node.id]
        except KeyError:
            raise ExprError(f"unknown name {node.id!r} (known: {', '.join(sorted(scope))})") from None
    if isinstance(node, ast.Attribute):
        return _attribute(_eval(node.value, scope), node.attr)
    if isinstance(node, ast.Subscript):
        key_node = node.slice
        key = -key_node.operand.value if isinstance(key_node, ast.UnaryOp) else key_node.value  # type: ignore[attr-defined]
        return _eval(node.value, scope)[key]
    if isinstance(node, ast.BoolOp):
        is_and = isinstance(node.op, ast.And)
        value: Any = None
        for sub in node.values:
            value = _eval(sub, scope)
            if bool(value) is not is_and:
                return value
        return value
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            return not _eval(node.operand, scope)
        return -node.operand.value  # type: ignore[attr-defined]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_eval(node.left, scope), _eval(node.right, scope))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, scope)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, scope) else node.orelse, scope)
    if isinstance(node, ast.Tuple):
        return tuple(_eval(e, scope) for e in node.elts)
    if isinstance(node, ast.List):
        return [_eval(e, scope) for e in node.elts]
    raise ExprError(f"{type(node).__name__} is not allowed")  # unreachable after _check
