"""The plugin manager: default plugins, entry-point plugins, validation, isolated dispatch.

``OTEL_AGENTS_PLUGINS`` (comma-separated names) allow-lists entry-point plugins: when set,
only those load (``none`` loads none). ``OTEL_AGENTS_DISABLE_PLUGINS`` block-lists plugins
by name, default plugins included (``spans``, ``sinks``).

After loading, and at every later registration, pluggy's ``check_pending`` finds hook
implementations no hook specification knows (a misspelt ``workflow_strat``): that plugin is
unregistered, and the problem logged, counted and kept in ``PluginManager.problems``
(``otel-agents doctor`` shows it); strict mode raises it.

Hooks are called through ``call_hook``: each implementation is isolated (a failure is
reported, the others still run), in pluggy's order, with pluggy's wrapper and
``firstresult`` semantics. Its dispatch plans are built from pluggy's public
``get_hookimpls()`` and dropped whenever a plugin is registered or unregistered.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import pluggy

from otel_agents import hookspecs
from otel_agents.safety import report

ENTRY_POINT_GROUP = "otel_agents"

#: Plugins that ship with otel-agents: (name, module).
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("spans", "otel_agents.spans"),
    ("sinks", "otel_agents.default_plugins.sinks"),
)

_lock = threading.Lock()
_pm: PluginManager | None = None


def _names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None or not raw.strip():
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


# --- dispatch ------------------------------------------------------------------------------------------
_PLAIN, _OLD_WRAPPER, _WRAPPER = 0, 1, 2

#: One implementation, ready to call: (function of the hook's one argument, where a failure
#: is reported, kind).
_Step = tuple[Callable[[Any], Any], str, int]
#: A hook's plan: its steps in call order (pluggy's: last registered first, wrappers around
#: the rest), and whether the simple loop may run them (no wrapper, not ``firstresult``).
_Plan = tuple[tuple[_Step, ...], bool, bool]

#: hook caller -> plan. Replaced by an empty dict (never mutated in place) when a plugin is
#: registered or unregistered, so a plan built concurrently from older implementations is
#: stored in a dict nobody reads any more.
_plans: dict[Any, _Plan] = {}


def _invalidate() -> None:
    global _plans
    _plans = {}


def _adapt(impl: pluggy.HookImpl, argname: str | None) -> Callable[[Any], Any]:
    """``impl``'s function as a function of the hook's argument (an implementation may take
    its parameter, by name, or none)."""
    fn = impl.function
    if impl.argnames:
        return fn
    if argname is not None and argname in impl.kwargnames:
        return lambda arg: fn(**{argname: arg})
    return lambda arg: fn()


def _plan(caller: pluggy.HookCaller) -> _Plan:
    plans = _plans  # the generation this plan belongs to (see _plans)
    spec = caller.spec
    argname = spec.argnames[0] if spec is not None and spec.argnames else None
    firstresult = bool(spec is not None and spec.opts.get("firstresult"))
    steps: list[_Step] = []
    for impl in reversed(caller.get_hookimpls()):
        kind = _OLD_WRAPPER if impl.hookwrapper else _WRAPPER if impl.wrapper else _PLAIN
        steps.append((_adapt(impl, argname), f"plugin {impl.plugin_name}: {caller.name}", kind))
    simple = not firstresult and all(kind == _PLAIN for _, _, kind in steps)
    plan = (tuple(steps), simple, firstresult)
    plans[caller] = plan
    return plan


def call_hook(caller: pluggy.HookCaller, arg: Any) -> Any:
    """Call a hook of an otel-agents ``PluginManager`` with its one argument.

    What pluggy's ``caller(name=arg)`` returns (a list of the non-``None`` results, or the
    first one for a ``firstresult`` hook), honouring ``tryfirst``/``trylast`` and old- and
    new-style wrappers, but with every implementation isolated: an exception is reported
    (logged once a minute, counted) and the other implementations still run. Never raises,
    except in strict mode (and for ``BaseException``\\ s such as ``KeyboardInterrupt``).
    """
    plan = _plans.get(caller) or _plan(caller)
    steps, simple, firstresult = plan
    if not simple:
        return _call_wrapped(steps, arg, firstresult)
    results = []
    for fn, where, _ in steps:
        try:
            res = fn(arg)
        except Exception as exc:  # noqa: BLE001 - isolation is the point
            report(where, exc)
            continue
        if res is not None:
            results.append(res)
    return results


def has_impls(caller: pluggy.HookCaller) -> bool:
    """Whether ``caller`` has any implementation (cheap: from the cached plan)."""
    return bool((_plans.get(caller) or _plan(caller))[0])


def _call_wrapped(steps: tuple[_Step, ...], arg: Any, firstresult: bool) -> Any:
    """pluggy's call loop (wrappers set up on the way in, torn down on the way out), with
    every implementation and wrapper isolated. Only the public ``pluggy.Result`` is used."""
    results: list[Any] = []
    teardowns: list[tuple[Any, str, int]] = []
    exception: BaseException | None = None
    try:
        for fn, where, kind in steps:
            try:
                if kind == _PLAIN:
                    res = fn(arg)
                    if res is not None:
                        results.append(res)
                        if firstresult:
                            break
                else:
                    gen = fn(arg)
                    try:
                        next(gen)
                    except StopIteration:
                        raise RuntimeError("hook wrapper did not yield") from None
                    teardowns.append((gen, where, kind))
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                report(where, exc)
    except BaseException as exc:  # noqa: BLE001 - strict mode, or KeyboardInterrupt: the wrappers see it
        exception = exc
    result: Any = (results[0] if results else None) if firstresult else results
    for gen, where, kind in reversed(teardowns):
        try:
            if kind == _OLD_WRAPPER:
                outcome = pluggy.Result(None if exception else result, exception)
                try:
                    gen.send(outcome)
                except StopIteration:
                    pass
                else:
                    raise RuntimeError("hook wrapper yielded twice")
                exception = outcome.exception
                if exception is None:
                    result = outcome.get_result()
            else:
                try:
                    if exception is not None:
                        gen.throw(exception)
                    else:
                        gen.send(result)
                except StopIteration as stop:
                    result, exception = stop.value, None
                else:
                    raise RuntimeError("hook wrapper yielded twice")
        except Exception as exc:  # noqa: BLE001 - a wrapper's own failure: reported, result kept
            if exc is exception:
                continue  # the wrapper let the exception through
            try:
                report(where, exc)
            except BaseException as strict:  # noqa: BLE001 - strict mode: it propagates
                exception = strict
        except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt and the like propagate
            exception = exc
        finally:
            gen.close()
    if exception is not None:
        raise exception
    return result


# --- the manager -----------------------------------------------------------------------------------------
class PluginManager(pluggy.PluginManager):
    """A pluggy manager whose registrations refresh ``call_hook``'s plans and, once the
    hook specifications are in, are checked for unknown hooks."""

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        #: Problems with plugins (unknown hooks, failed loads), for ``otel-agents doctor``.
        self.problems: list[str] = []
        self._checking = False

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        """The ``hookimpl`` options of ``plugin.<name>``, looked up without running
        properties or other descriptors (pluggy before 1.7 calls ``getattr``: a plugin's
        property would run, and the spans plugin's would set telemetry up, re-entrantly)."""
        try:
            attr = inspect.getattr_static(plugin, name)
        except AttributeError:
            return None
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if not inspect.isroutine(attr):
            return None
        opts = getattr(attr, self.project_name + "_impl", None)
        return opts if isinstance(opts, dict) else None  # type: ignore[return-value]

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """pluggy's ``register``; once ``check`` has run, a plugin with an unknown hook is
        unregistered at once (``None`` is returned) and reported."""
        try:
            plugin_name = super().register(plugin, name)
        finally:
            _invalidate()
        if plugin_name is not None and self._checking:
            self._check()
            if not self.is_registered(plugin):
                return None
        return plugin_name

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        try:
            return super().unregister(plugin, name)
        finally:
            _invalidate()

    def add_hookspecs(self, module_or_class: Any) -> None:
        try:
            super().add_hookspecs(module_or_class)
        finally:
            _invalidate()

    def check(self) -> list[str]:
        """Check the plugins now (pluggy's ``check_pending``), and every later registration
        as it happens: each plugin implementing a hook no specification knows is
        unregistered; the problem is logged and counted once, kept in ``problems`` and
        returned. In strict mode the first one is raised."""
        self._checking = True
        return self._check()

    def _check(self) -> list[str]:
        found: list[str] = []
        while True:
            try:
                self.check_pending()
                return found
            except pluggy.PluginValidationError as exc:
                found.append(self._disable(exc.plugin))

    def _disable(self, plugin: Any) -> str:
        name = self.get_name(plugin) or repr(plugin)
        unknown = sorted(c.name for c in self.get_hookcallers(plugin) or () if not c.has_spec())
        self.unregister(plugin)
        hints = []
        for hook in unknown:
            close = difflib.get_close_matches(hook, hookspecs.HOOK_NAMES, n=1)
            hints.append(repr(hook) + (f" (did you mean {close[0]!r}?)" if close else ""))
        problem = (
            f"plugin {name} is disabled: it implements unknown hook(s) {', '.join(hints)}; "
            f"the hooks are {', '.join(hookspecs.HOOK_NAMES)}"
        )
        self.problems.append(problem)
        report(f"plugin {name}: unknown hook", pluggy.PluginValidationError(plugin, problem))
        return problem


def new_plugin_manager(*, load_defaults: bool = True, load_entry_points: bool = True) -> PluginManager:
    """A fresh manager with the hookspecs, the default plugins and the entry-point plugins,
    checked (``PluginManager.check``): a plugin with an unknown hook is disabled."""
    pm = PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    blocked = _names("OTEL_AGENTS_DISABLE_PLUGINS") or set()
    if load_defaults:
        for name, module in DEFAULT_PLUGINS:
            if name in blocked:
                continue
            pm.register(importlib.import_module(module).plugin(), name=name)
    if load_entry_points:
        allowed = _names("OTEL_AGENTS_PLUGINS")
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in blocked or (allowed is not None and ep.name not in allowed):
                continue
            if pm.has_plugin(ep.name):
                continue
            try:
                obj = ep.load()
                pm.register(obj() if isinstance(obj, type) else obj, name=ep.name)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the host
                pm.problems.append(f"plugin {ep.name} failed to load: {type(exc).__name__}: {exc}")
                report(f"loading plugin {ep.name}", exc)
    pm.check()
    return pm


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, built on first use."""
    global _pm
    pm = _pm
    if pm is not None:
        return pm
    with _lock:
        if _pm is None:
            _pm = new_plugin_manager()
        return _pm


def set_plugin_manager(pm: PluginManager | None) -> None:
    """Replace the process-wide manager (tests; ``None`` rebuilds lazily)."""
    global _pm
    with _lock:
        _pm = pm
