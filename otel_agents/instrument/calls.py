"""One traced call: evaluate the rule's fields, open the handles, end them with the outcome.

``Binding`` holds what is fixed per target (rules, signature, kind of callable); ``Call`` is
one invocation. Sync functions, coroutines, generators and async generators are traced for
their whole life: a generator's handles open at its first ``next()`` and end when it is
exhausted, fails or is closed, and are the current ones only while it runs (not while it
is suspended in the consumer).

An exception raised by the executor passes through unchanged (same object, type and
traceback); its span records it. A problem in the mapping (an expression that fails on
this call) is reported once and the field left unset. Anything unexpected in this module
goes to ``otel_agents.safety.report`` and never into the executor (except in strict mode).
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from otel_agents.instrument.expr import ExprError
from otel_agents.instrument.frames import await_as, call_as
from otel_agents.instrument.mapping import END, START, Rule, Target, Value, fields_of
from otel_agents.instrument.problems import problem
from otel_agents.safety import report

if TYPE_CHECKING:
    from otel_agents.api import _Handle

    _H = TypeVar("_H", bound=_Handle)

#: Called once with the runtime, the first time a traced call needs it (``--spans-file``).
on_runtime: list[Callable[[Any], None]] = []
_ready: Any = None

_OUTCOMES = {"success", "failure", "abandoned"}
_LEVEL = {"workflow": 0, "phase": 1, "step": 2, "tool_call": 3}
#: Name of the workflow opened for a mapped call that has no enclosing workflow.
IMPLICIT_WORKFLOW = "implicit"
_RESERVED = frozenset({"args", "self", "result"})
#: Fields that steer the call rather than set an event field.
_CONTROL_FIELDS = frozenset({"when", "outcome", "error"})


def _api() -> Any:
    """``otel_agents.api``, imported on first use (it pulls in the OpenTelemetry SDK)."""
    global _api_module
    if _api_module is None:
        from otel_agents import api

        _api_module = api
    return _api_module


_api_module: Any = None


def _runtime() -> Any:
    global _ready
    from otel_agents.telemetry import get_runtime

    rt = get_runtime()
    if rt is not _ready:
        _ready = rt
        for callback in on_runtime:
            try:
                callback(rt)
            except Exception as exc:  # noqa: BLE001
                report("instrument runtime callback", exc)
    return rt


class Arguments(dict):  # type: ignore[type-arg]
    """A call's bound arguments by name (defaults applied; ``**kwargs`` entries merged in)."""


def _cm_helper_codes() -> dict[Any, str]:
    def gen() -> Any:
        yield

    async def agen() -> Any:
        yield

    return {
        contextlib.contextmanager(gen).__code__: "contextmanager",
        contextlib.asynccontextmanager(agen).__code__: "asynccontextmanager",
    }


#: contextlib's ``helper`` code -> the kind of manager it returns (``@contextmanager`` targets)
_CM_HELPERS = _cm_helper_codes()


def _kind(func: Any) -> str:
    cm = _CM_HELPERS.get(getattr(func, "__code__", None))
    if cm is not None and hasattr(func, "__wrapped__"):
        return cm
    if inspect.isasyncgenfunction(func):
        return "asyncgen"
    if inspect.iscoroutinefunction(func):
        return "coroutine"
    if inspect.isgeneratorfunction(func):
        return "generator"
    return "sync"


class Binding:
    """A target and its rules, ready to trace calls once ``prepare`` has seen the callable."""

    def __init__(self, target: Target, rules: list[Rule]) -> None:
        self.target = target
        self.span_rules = [r for r in rules if r.event != "model_usage"]
        self.usage_rules = [r for r in rules if r.event == "model_usage"]
        self.active = True
        self.patched = False
        #: set on the first traced call: a rule installed but never fired is reported at exit
        self.fired = False
        self.from_recipes = all(r.origin.startswith("recipe ") for r in rules)
        #: the function object itself was changed (``inplace``): every reference to it is traced
        self.in_place = False
        #: a method's function patched in place: its first argument is ``self`` (or ``cls``)
        self.method = False
        self.kind = "sync"
        self.signature: inspect.Signature | None = None
        self.bind_instance = False
        self.var_keyword: str | None = None
        self.default_name = target.qualname
        #: (rule id, field) pairs whose expression can never work on this callable (reported)
        self.disabled: set[tuple[int, str]] = set()
        #: rule id -> start|end -> [(field, value, type)]: the event fields, read in that phase
        self.plan: dict[int, dict[str, list[tuple[str, Value, str]]]] = {}
        for rule in rules:
            specs = fields_of(rule.event)
            plan: dict[str, list[tuple[str, Value, str]]] = {START: [], END: []}
            for name, value in rule.fields.items():
                kind, when = specs[name]
                if name not in _CONTROL_FIELDS:
                    plan[when].append((name, value, kind))
            self.plan[id(rule)] = plan
        self._fast: tuple[tuple[str, ...], dict[str, Any]] | None = None
        self._needs_arguments = True

    def describe(self) -> str:
        return ", ".join(r.describe() for r in (*self.span_rules, *self.usage_rules))

    def prepare(self, original: Any, owner: Any, *, in_place: bool = False) -> None:
        """Inspect the callable about to be wrapped; check the expressions' names against it."""
        func = original.__func__ if isinstance(original, (classmethod, staticmethod)) else original
        self.kind = _kind(func)
        method = isinstance(original, classmethod) or (inspect.isclass(owner) and inspect.isfunction(original))
        self.in_place = in_place
        self.method = in_place and method
        self.bind_instance = method and not in_place
        self.default_name = getattr(func, "__name__", self.target.qualname.rsplit(".", 1)[-1])
        try:
            self.signature = inspect.signature(func)
        except (TypeError, ValueError):
            self.signature = None
            return
        params = self.signature.parameters
        for p in params.values():
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                self.var_keyword = p.name
        if all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params.values()):
            # The common case: bind by hand (~1 us) instead of Signature.bind (~10 us).
            self._fast = (tuple(params), {n: p.default for n, p in params.items() if p.default is not p.empty})
        used: set[str] = set()
        for rule in (*self.span_rules, *self.usage_rules):
            for value in (*rule.fields.values(), *rule.attributes.values()):
                if value.expr is not None:
                    used |= value.expr.names
        self._needs_arguments = bool(used - {"self", "result"})
        known = set(params) | _RESERVED
        for rule in (*self.span_rules, *self.usage_rules):
            for fname, value in (*rule.fields.items(), *((f"attributes.{k}", v) for k, v in rule.attributes.items())):
                expr = value.expr
                if expr is None:
                    continue
                unknown = sorted(expr.names - known)
                missing = [] if self.var_keyword else sorted(expr.args_attributes - set(params))
                if unknown or missing:
                    self.disabled.add((id(rule), fname))
                    names = ", ".join(repr(n) for n in (*unknown, *(f"args.{m}" for m in missing)))
                    problem(
                        f"{rule.describe()}: field {fname!r}: {expr.source!r} uses {names}, but "
                        f"{self.target.spec} takes ({', '.join(params) or 'no arguments'}); the field will be unset"
                    )

    def scope(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Names the expressions can read for one call."""
        bound = Arguments()
        sig = self.signature
        fast = self._fast
        if not self._needs_arguments:
            pass
        elif fast is not None:
            names, defaults = fast
            positional = (instance, *args) if self.bind_instance and instance is not None else args
            if len(positional) <= len(names) and all(k in names for k in kwargs):
                bound.update(defaults)
                bound.update(zip(names, positional, strict=False))  # defaults fill the rest
                bound.update(kwargs)
        elif sig is not None:
            try:
                ba = (
                    sig.bind(instance, *args, **kwargs)
                    if self.bind_instance and instance is not None
                    else sig.bind(*args, **kwargs)
                )
                ba.apply_defaults()
                bound.update(ba.arguments)
                if self.var_keyword and isinstance(bound.get(self.var_keyword), dict):
                    for k, v in bound[self.var_keyword].items():
                        bound.setdefault(k, v)
            except TypeError:
                pass  # the call itself will raise the same TypeError
        scope: dict[str, Any] = dict(bound)
        scope["args"] = bound
        scope.setdefault("self", instance)
        scope["result"] = None
        return scope

    # --- the wrappers ----------------------------------------------------------------------
    def __call__(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The wrapt wrapper (a callable kept where the module or class keeps it)."""
        return self.invoke(wrapped, instance, args, kwargs, sys._getframe(1))

    def dispatcher(self, copy: Any) -> Any:
        """What a function patched in place (``inplace``) calls with its arguments."""
        invoke = self.invoke
        method = self.method

        def dispatch(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            # sys._getframe(1) is the trampoline, which has the function's name; (2) its caller
            return invoke(copy, args[0] if method and args else None, args, kwargs, sys._getframe(2))

        return dispatch

    def invoke(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any], caller: Any) -> Any:
        """Trace one call of ``wrapped``; ``caller`` is the frame that made it."""
        if not self.active:
            return wrapped(*args, **kwargs)
        call: Call | None
        try:
            self.fired = True
            rt = _runtime()
            call = Call(self, self.scope(instance, args, kwargs)) if rt.enabled else None
        except Exception as exc:  # noqa: BLE001
            report(f"instrument {self.target.spec}", exc)
            call = None
        if call is None:
            return wrapped(*args, **kwargs)
        kind = self.kind
        if kind == "sync":
            return call.run(wrapped, args, kwargs, caller)
        if kind == "coroutine":
            return call.run_coroutine(wrapped(*args, **kwargs), caller)
        if kind == "generator":
            return call.run_generator(wrapped(*args, **kwargs))
        if kind == "asyncgen":
            return call.run_async_generator(wrapped(*args, **kwargs))
        manager = call_as(caller, wrapped, args, kwargs)
        return _AsyncManager(call, manager) if kind == "asynccontextmanager" else _Manager(call, manager)


class _Activated:
    """Make the call's innermost handle current for one resume of its body."""

    __slots__ = ("call", "_inner")

    def __init__(self, call: Call) -> None:
        self.call = call
        self._inner: Any = None

    def __enter__(self) -> None:
        handles = self.call.handles
        if handles:
            try:
                inner = _api().activate(handles[-1][1])
                inner.__enter__()
                self._inner = inner
            except Exception as exc:  # noqa: BLE001
                report(f"instrument {self.call.binding.target.spec}", exc)

    def __exit__(self, *exc: Any) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.__exit__(None, None, None)


def _calling_tool(parent: _Handle) -> _Handle | None:
    """The tool call running in this context below ``parent``, if any (a step started from a tool)."""
    from otel_agents.api import ToolCall, _current

    h = _current.get()
    while h is not None and h is not parent:
        if isinstance(h, ToolCall):
            return h
        h = h.parent
    return None


def _end_as(handle: _Handle, exc: BaseException | None) -> None:
    """End ``handle`` as ``exc`` means; a generator closed before its end was abandoned."""
    if isinstance(exc, GeneratorExit):
        handle.abandon()
    else:
        handle.finish(exc)


def _as_outcome(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "success" if value else "failure"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, str) and value.strip().lower() in _OUTCOMES:
        return value.strip().lower()
    raise ExprError(f"outcome must be success/failure/abandoned or a boolean, got {value!r}")


def _coerce(kind: str, value: Any) -> Any:
    if value is None or kind == "any":
        return value
    if kind == "str":
        if isinstance(value, enum.Enum):
            value = value.value
        if isinstance(value, (str, int, float, bool)):
            return str(value)
        raise ExprError(f"must be text, got {type(value).__name__} {value!r}")
    if kind == "int":
        if isinstance(value, bool):
            raise ExprError(f"must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise ExprError(f"must be an integer, got {type(value).__name__} {value!r}")
    if kind == "float":
        if isinstance(value, bool):
            raise ExprError(f"must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ExprError(f"must be a number, got {type(value).__name__} {value!r}") from None
    if kind == "bool":
        return bool(value)
    if kind == "outcome":
        return _as_outcome(value)
    return value


def _attribute_value(value: Any) -> Any:
    """A value OpenTelemetry accepts as an attribute."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, enum.Enum):
        return _attribute_value(value.value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, bool, int, float)) for v in value):
        return list(value)
    return str(value)


class Call:
    """One traced invocation of a target."""

    __slots__ = ("binding", "scope", "handles", "start_ns")

    def __init__(self, binding: Binding, scope: dict[str, Any]) -> None:
        self.binding = binding
        self.scope = scope
        self.handles: list[tuple[Rule | None, _Handle]] = []  # None: an implicit parent
        self.start_ns = 0

    # --- evaluation ------------------------------------------------------------------------
    def value(self, rule: Rule, name: str, value: Value, kind: str) -> Any:
        """A field's value for this call, or None (reported once) when it fails."""
        if value.expr is None:
            return value.literal
        if (id(rule), name) in self.binding.disabled:
            return None
        try:
            return _coerce(kind, value.expr.evaluate(self.scope))
        except ExprError as exc:
            problem(
                f"{rule.describe()}: field {name!r}: {value.expr.source!r} failed: {exc}; left unset (reported once)",
                key=f"{id(rule)}:{name}",
            )
            return None

    def fields(self, rule: Rule, when: str) -> dict[str, Any]:
        """The event fields read at ``when`` (start or end), evaluated; unset ones left out."""
        out: dict[str, Any] = {}
        for name, value, kind in self.binding.plan[id(rule)][when]:
            v = self.value(rule, name, value, kind)
            if v is not None:
                out[name] = v
        return out

    def _when(self, rule: Rule) -> bool:
        cond = rule.fields.get("when")
        if cond is None:
            return True
        return bool(self.value(rule, "when", cond, "bool"))

    # --- opening -----------------------------------------------------------------------------
    def enter(self, start_ns: int | None = None) -> None:
        """Open one handle per span rule (outermost first), each inside the previous one."""
        self.start_ns = start_ns or time.time_ns()
        try:
            for rule in self.binding.span_rules:
                if not self._when(rule):
                    continue
                if self.handles:
                    with _Activated(self):
                        handle = self._open(rule)
                else:
                    handle = self._open(rule)
                self.handles.append((rule, handle))
        except Exception as exc:  # noqa: BLE001
            report(f"instrument {self.binding.target.spec}", exc)

    def _implicit(self, handle: _H) -> _H:
        """A parent the mapping does not provide (a tool call outside any step): ends with the call."""
        handle.start()
        self.handles.append((None, handle))
        return handle

    def _open(self, rule: Rule) -> _Handle:
        from otel_agents.api import Step, Workflow, _find_parent, _orphan, _StepParent, new_workflow

        kw = self.fields(rule, START)
        kw["start_time"] = self.start_ns
        name = kw.pop("name", None) or self.binding.default_name
        event = rule.event
        if event == "workflow":
            return new_workflow(name, **kw).start()
        parent = _find_parent(_LEVEL[event] - 1)
        if parent is None:  # no workflow mapped around it, or several open and none current here
            parent = self._implicit(_orphan(event, self.start_ns, warn_outside=False))
        if event == "phase":
            assert isinstance(parent, Workflow)
            return parent.phase(name, **kw).start()
        if event == "step":
            assert isinstance(parent, _StepParent)
            step = parent.step(name, **kw)
            tool = _calling_tool(parent)
            if tool is not None:  # an agent run from a tool: its span nests under the tool call
                step.event.parent_key = tool.event.key
            return step.start()
        if not isinstance(parent, Step):
            assert isinstance(parent, _StepParent)
            parent = self._implicit(parent.step(name, start_time=self.start_ns))
        return parent.tool_call(name, **kw).start()

    def activated(self) -> _Activated:
        return _Activated(self)

    # --- closing -----------------------------------------------------------------------------
    def finish(self, result: Any, exc: BaseException | None) -> None:
        """Record usage (on success), then end the handles innermost first."""
        try:
            self.scope["result"] = result
            if exc is None:
                for rule in self.binding.usage_rules:
                    self._usage(rule)
            for opened_by, handle in reversed(self.handles):
                if opened_by is None:
                    _end_as(handle, exc)
                else:
                    self._end(opened_by, handle, exc)
        except Exception as err:  # noqa: BLE001
            report(f"instrument {self.binding.target.spec}", err)

    def _usage(self, rule: Rule) -> None:
        if not self._when(rule):
            return
        kw = self.fields(rule, END)
        model = kw.pop("model", None)
        if not model:
            problem(
                f"{rule.describe()}: 'model' evaluated to nothing; usage not recorded (reported once)",
                key=f"{id(rule)}:model-empty",
            )
            return
        attrs = self._attributes(rule, None)
        if attrs:
            kw["attributes"] = attrs
        kw["start_time"] = self.start_ns
        kw["end_time"] = time.time_ns()  # the call's end, not the end of pricing it
        parent: Any = self.handles[-1][1] if self.handles else None
        implicit = None
        if parent is None:
            from otel_agents.api import _find_parent, _orphan

            parent = _find_parent(_LEVEL["step"])
            if parent is None:  # a model call outside any workflow: a trace of its own
                parent = implicit = _orphan("model call", self.start_ns, warn_outside=False).start()
        parent.record_usage(model, **kw)
        if implicit is not None:
            implicit.stop()

    def _attributes(self, rule: Rule, exc: BaseException | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in rule.attributes.items():
            if exc is not None and value.reads_result:
                continue
            v = self.value(rule, f"attributes.{name}", value, "any")
            if v is not None:
                out[name] = _attribute_value(v)
        return out

    def _end(self, rule: Rule, handle: _Handle, exc: BaseException | None) -> None:
        for key, v in self._attributes(rule, exc).items():
            handle.set_attribute(key, v)
        if exc is not None:
            _end_as(handle, exc)  # a clean sys.exit succeeds; KeyboardInterrupt, cancellation abandon
            return
        end = self.fields(rule, END)
        if "result" in end:
            handle.set_result(end["result"])  # type: ignore[attr-defined]
        if "attempts" in end:
            handle.event.attempts = end["attempts"]  # type: ignore[attr-defined]
        outcome_value = rule.fields.get("outcome")
        outcome = self.value(rule, "outcome", outcome_value, "outcome") if outcome_value else None
        if outcome == "failure":
            error_value = rule.fields.get("error")
            error = self.value(rule, "error", error_value, "any") if error_value else None
            if not isinstance(error, BaseException):
                error = str(error) if error is not None else f"{rule.event} reported failure"
            handle.fail(error)
        elif outcome == "abandoned":
            handle.abandon()
        else:
            handle.stop()

    # --- running the four kinds of callables --------------------------------------------
    def run(self, wrapped: Any, args: tuple[Any, ...], kwargs: dict[str, Any], caller: Any = None) -> Any:
        self.enter()
        try:
            with _Activated(self):
                result = call_as(caller, wrapped, args, kwargs)
        except BaseException as exc:
            self.finish(None, exc)
            raise
        self.finish(result, None)
        return result

    async def run_coroutine(self, coro: Any, caller: Any = None) -> Any:
        self.enter()
        try:
            with _Activated(self):
                result = await await_as(caller, coro)
        except BaseException as exc:
            self.finish(None, exc)
            raise
        self.finish(result, None)
        return result

    def run_generator(self, gen: Any) -> Any:
        """Trace a generator; ``result`` is its return value, else the last item it yielded."""
        self.enter()
        send: Any = gen.send
        value: Any = None
        last: Any = None
        while True:
            try:
                with _Activated(self):
                    item = send(value)
            except StopIteration as stop:
                self.finish(stop.value if stop.value is not None else last, None)
                return stop.value
            except BaseException as exc:
                self.finish(None, exc)
                raise
            last = item
            try:
                value = yield item
            except GeneratorExit as exc:
                try:
                    gen.close()
                finally:
                    self.finish(last, exc)  # closed early by the consumer: abandoned
                raise
            except BaseException as exc:  # noqa: BLE001  thrown in by the consumer: forward it
                send, value = gen.throw, exc
            else:
                send = gen.send

    async def run_async_generator(self, agen: Any) -> Any:
        """Trace an async generator; ``result`` is the last item it yielded."""
        self.enter()
        send: Any = agen.asend
        value: Any = None
        last: Any = None
        while True:
            try:
                with _Activated(self):
                    item = await send(value)
            except StopAsyncIteration:
                self.finish(last, None)
                return
            except BaseException as exc:
                self.finish(None, exc)
                raise
            last = item
            try:
                value = yield item
            except GeneratorExit as exc:
                try:
                    await agen.aclose()
                finally:
                    self.finish(last, exc)  # closed early by the consumer: abandoned
                raise
            except BaseException as exc:  # noqa: BLE001  thrown in by the consumer: forward it
                send, value = agen.athrow, exc
            else:
                send = agen.asend


class _Manager:
    """A ``@contextmanager`` target's manager: the call's spans last over the managed block."""

    __slots__ = ("_call", "_manager", "_active", "_value")

    def __init__(self, call: Call, manager: Any) -> None:
        self._call = call
        self._manager = manager
        self._active: _Activated | None = None
        self._value: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)

    def __call__(self, func: Any) -> Any:
        """Used as a decorator (``ContextDecorator``): the manager's own, untraced."""
        return self._manager(func)

    def _open(self, start_ns: int) -> None:
        """Open the spans, from ``start_ns``: after the manager's own ``__enter__``, so that the
        fields read what it set up (pydantic-ai names its agent there)."""
        self._call.enter(start_ns)
        self._active = _Activated(self._call)
        self._active.__enter__()

    def _close(self, result: Any, exc: BaseException | None) -> None:
        active, self._active = self._active, None
        if active is not None:
            active.__exit__(None, None, None)
        self._call.finish(result, exc)

    def __enter__(self) -> Any:
        start = time.time_ns()
        try:
            self._value = call_as(sys._getframe(1), self._manager.__enter__, (), {})
        except BaseException as exc:
            self._open(start)
            self._close(None, exc)
            raise
        self._open(start)
        return self._value

    def __exit__(self, typ: Any, exc: Any, tb: Any) -> Any:
        try:
            suppressed = self._manager.__exit__(typ, exc, tb)
        except BaseException as err:
            self._close(None, err)
            raise
        self._close(self._value, None if suppressed else exc)
        return suppressed


class _AsyncManager(_Manager):
    """An ``@asynccontextmanager`` target's manager: spans last over the ``async with`` block."""

    __slots__ = ()

    async def __aenter__(self) -> Any:
        start = time.time_ns()
        try:
            self._value = await await_as(sys._getframe(1), self._manager.__aenter__())
        except BaseException as exc:
            self._open(start)
            self._close(None, exc)
            raise
        self._open(start)
        return self._value

    async def __aexit__(self, typ: Any, exc: Any, tb: Any) -> Any:
        try:
            suppressed = await self._manager.__aexit__(typ, exc, tb)
        except BaseException as err:
            self._close(None, err)
            raise
        self._close(self._value, None if suppressed else exc)
        return suppressed
