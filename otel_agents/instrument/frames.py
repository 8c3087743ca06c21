"""Call a traced function from a frame that looks like its caller's, for frame-inspecting code.

Some libraries read their caller's frame: pydantic-ai names an ``Agent`` after the variable
that holds it in the frame that called ``run``/``run_sync``/``iter``; ``warnings.warn``
with ``stacklevel=2`` names the caller's file and line. Under a wrapper, the frame above the
original function is the wrapper's. So the original is called from a one-line frame run with
``eval`` over the caller's globals, a copy of its locals (plus the call itself) and its file
name and line: what such code reads there is what it would read without instrumentation.
"""

from __future__ import annotations

import ast
import types
from typing import Any

_CALL = "_otel_agents_call"
_ARGS = "_otel_agents_args"
_KWARGS = "_otel_agents_kwargs"
_SOURCE = f"{_CALL}(*{_ARGS}, **{_KWARGS})"
_AWAIT = f"await {_CALL}"
_cache: dict[tuple[str, int, bool], types.CodeType] = {}
_CACHE_SIZE = 1024


def _code(frame: Any, awaiting: bool) -> types.CodeType:
    filename, line = frame.f_code.co_filename, frame.f_lineno or 1
    key = (filename, line, awaiting)
    code = _cache.get(key)
    if code is None:
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if awaiting else 0
        code = compile("\n" * (line - 1) + (_AWAIT if awaiting else _SOURCE), filename, "eval", flags=flags)
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = code
    return code


def _locals(frame: Any) -> dict[str, Any]:
    f_locals = frame.f_locals
    # at module level the locals are the globals: only the call's own names then
    return {} if f_locals is frame.f_globals else dict(f_locals)


def call_as(caller: Any, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``fn(*args, **kwargs)``, called from a frame like ``caller`` (or directly without one)."""
    if caller is None:
        return fn(*args, **kwargs)
    names = _locals(caller)
    names[_CALL], names[_ARGS], names[_KWARGS] = fn, args, kwargs
    return eval(_code(caller, False), caller.f_globals, names)


def await_as(caller: Any, awaitable: Any) -> Any:
    """An awaitable that awaits ``awaitable`` from a frame like ``caller``."""
    if caller is None:
        return awaitable
    names = _locals(caller)
    names[_CALL] = awaitable
    return eval(_code(caller, True), caller.f_globals, names)
