"""Wrap a function in place: every reference to it is traced, even one kept before the mapping applied.

Decorators and builders often keep the function object they are given at import time
(``@agent.tool_plain``, ``FunctionModel(fn)``, LangGraph's ``add_node(fn)``, a registry's dict):
replacing the module attribute afterwards does not reach them. Instead the function object
itself is changed: its ``__code__`` becomes a trampoline with the same parameters (names,
kinds, defaults, flags: ``inspect.signature``, ``co_varnames`` and ``iscoroutinefunction``
read the same) that hands the call to the binding, which runs a copy of the original
function (same code, globals, closure cells and defaults). ``restore`` puts the code back.

Only plain Python functions (``types.FunctionType``) can be wrapped this way; anything else
is wrapped where the module or class keeps it (wrapt), as before.
"""

from __future__ import annotations

import inspect
import types
import warnings
from collections.abc import Callable
from typing import Any

_PLACEHOLDER = "__otel_agents_dispatch__"


def _parameters(code: types.CodeType) -> tuple[str, str]:
    """(the trampoline's parameter list, the call that forwards them)."""
    names = code.co_varnames
    npos, nposonly, nkwonly = code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount
    flags = code.co_flags
    pos = list(names[:npos])
    kwonly = list(names[npos : npos + nkwonly])
    i = npos + nkwonly
    varargs = names[i] if flags & inspect.CO_VARARGS else None
    i += 1 if varargs else 0
    varkw = names[i] if flags & inspect.CO_VARKEYWORDS else None
    params: list[str] = []
    for n, name in enumerate(pos):
        params.append(name)
        if nposonly and n == nposonly - 1:
            params.append("/")
    if varargs:
        params.append("*" + varargs)
    elif kwonly:
        params.append("*")
    params.extend(kwonly)
    if varkw:
        params.append("**" + varkw)
    positional = "(" + "".join(f"{p}, " for p in pos) + (f"*{varargs}," if varargs else "") + ")"
    keywords = "{" + "".join(f"{k!r}: {k}, " for k in kwonly) + (f"**{varkw}" if varkw else "") + "}"
    return ", ".join(params), f"{positional}, {keywords}"


_BODIES = {
    "sync": "def {name}({params}):\n    return {d}({call})\n",
    "coroutine": "async def {name}({params}):\n    return await {d}({call})\n",
    "generator": "def {name}({params}):\n    return (yield from {d}({call}))\n",
    "asyncgen": (
        "async def {name}({params}):\n"
        "    _otel_agents_gen = {d}({call})\n"
        "    _otel_agents_send, _otel_agents_value = _otel_agents_gen.asend, None\n"
        "    while True:\n"
        "        try:\n"
        "            _otel_agents_item = await _otel_agents_send(_otel_agents_value)\n"
        "        except StopAsyncIteration:\n"
        "            return\n"
        "        try:\n"
        "            _otel_agents_value = yield _otel_agents_item\n"
        "        except GeneratorExit:\n"
        "            await _otel_agents_gen.aclose()\n"
        "            raise\n"
        "        except BaseException as _otel_agents_exc:\n"
        "            _otel_agents_send, _otel_agents_value = _otel_agents_gen.athrow, _otel_agents_exc\n"
        "        else:\n"
        "            _otel_agents_send = _otel_agents_gen.asend\n"
    ),
}


def trampoline(
    func: types.FunctionType, kind: str, dispatch: Callable[[tuple[Any, ...], dict[str, Any]], Any]
) -> types.CodeType:
    """A code object for ``func`` that calls ``dispatch(args, kwargs)`` with its arguments."""
    code = func.__code__
    params, call = _parameters(code)
    body = _BODIES[kind].format(name="_otel_agents_trampoline", params=params, d=repr(_PLACEHOLDER), call=call)
    cells = [f"_otel_agents_cell{i}" for i in range(len(code.co_freevars))]
    if cells:  # the same number of free variables as the original: __code__ must match __closure__
        inner = body.replace(":\n", ":\n    if 0:\n        " + ", ".join(cells) + "\n", 1)
        source = f"def _otel_agents_factory({', '.join(cells)}):\n" + "".join(
            "    " + line + "\n" for line in inner.splitlines()
        )
    else:
        source = body
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # "'str' object is not callable": replaced below
        module = compile(source, code.co_filename, "exec")
    found = next(c for c in module.co_consts if isinstance(c, types.CodeType))
    if cells:
        found = next(c for c in found.co_consts if isinstance(c, types.CodeType))
    consts = tuple(dispatch if c == _PLACEHOLDER else c for c in found.co_consts)
    names: dict[str, Any] = {"co_name": code.co_name}
    if hasattr(code, "co_qualname"):  # Python 3.11+
        names["co_qualname"] = code.co_qualname
    return found.replace(co_consts=consts, co_firstlineno=code.co_firstlineno, **names)


def copy_function(func: types.FunctionType) -> types.FunctionType:
    """A new function object running ``func``'s current code with its globals, cells and defaults."""
    copy = types.FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__qualname__ = func.__qualname__
    copy.__module__ = func.__module__
    copy.__doc__ = func.__doc__
    copy.__annotations__ = func.__annotations__
    return copy


class Patched:
    """``func`` with its code swapped for a trampoline to ``dispatch``; ``restore()`` undoes it."""

    __slots__ = ("func", "original_code", "copy")

    def __init__(self, func: types.FunctionType, kind: str, dispatcher: Callable[[Any], Callable[..., Any]]) -> None:
        """``dispatcher(copy)`` gives the callable the trampoline hands ``(args, kwargs)`` to."""
        self.func = func
        self.original_code = func.__code__
        self.copy = copy_function(func)
        func.__code__ = trampoline(func, kind, dispatcher(self.copy))

    def restore(self) -> None:
        self.func.__code__ = self.original_code


def underlying_function(obj: Any, module: str, qualname: str) -> types.FunctionType | None:
    """The plain function a target resolves to: itself, a class or static method's, or the one
    a decorator object was built from (langchain's ``@tool`` gives a ``StructuredTool`` whose
    ``func`` is the function defined at ``module:qualname``)."""
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType):
        return obj
    name = qualname.rsplit(".", 1)[-1]
    try:
        values = list(vars(obj).values())
    except TypeError:
        return None
    for value in values:
        if (
            isinstance(value, types.FunctionType)
            and value.__module__ == module
            and value.__name__ == name
            and value.__qualname__.endswith(name)
        ):
            return value
    return None
