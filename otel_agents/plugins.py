"""The plugin manager: default plugins, entry-point plugins, isolation. Loaded lazily, once.

``OTEL_AGENTS_PLUGINS`` (comma-separated names) allow-lists entry-point plugins: when set,
only those load (``none`` loads none). ``OTEL_AGENTS_DISABLE_PLUGINS`` block-lists plugins
by name, default plugins included (``spans``, ``sinks``).
"""

from __future__ import annotations

import importlib
import os
import threading
from importlib.metadata import entry_points
from typing import Any

import pluggy
import pluggy._callers

from otel_agents import hookspecs
from otel_agents.safety import report

ENTRY_POINT_GROUP = "otel_agents"

#: Plugins that ship with otel-agents: (name, module).
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("spans", "otel_agents.default_plugins.spans"),
    ("sinks", "otel_agents.default_plugins.sinks"),
)

_lock = threading.Lock()
_pm: PluginManager | None = None


def _names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None or not raw.strip():
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


class _Isolated:
    """A hook implementation that reports its exceptions instead of raising them."""

    __slots__ = ("where", "__wrapped__")

    def __init__(self, where: str, fn: Any) -> None:
        self.where = where
        self.__wrapped__ = fn

    def __call__(self, *args: Any) -> Any:
        try:
            return self.__wrapped__(*args)
        except Exception as exc:  # noqa: BLE001 - isolation is the point
            report(self.where, exc)
            return None


def _lean_multicall(hook_name: str, impls: Any, kwargs: Any, firstresult: bool) -> Any:
    """pluggy's call loop without the wrapper machinery, for the common case of no wrappers.

    Implementations are already isolated (wrapped at registration), so nothing raises here.
    """
    for impl in impls:
        if impl.hookwrapper or impl.wrapper:
            return pluggy._callers._multicall(hook_name, impls, kwargs, firstresult)
    results: list[Any] = []
    for impl in reversed(impls):
        res = impl.function(*[kwargs[name] for name in impl.argnames])
        if res is not None:
            if firstresult:
                return res
            results.append(res)
    return None if firstresult else results


#: id(hook caller) -> (caller, number of implementations, plan): what ``call_hook`` calls,
#: in order; ``None`` when pluggy must call (a wrapper, or other arguments). Cleared when a
#: plugin is registered or unregistered.
_plans: dict[int, tuple[Any, int, tuple[tuple[Any, str | None], ...] | None]] = {}


def _plan(caller: Any) -> tuple[Any, int, tuple[tuple[Any, str | None], ...] | None]:
    impls = caller._hookimpls
    fns: tuple[tuple[Any, str | None], ...] | None
    if any(impl.hookwrapper or impl.wrapper or len(impl.argnames) != 1 for impl in impls):
        fns = None
    else:
        steps: list[tuple[Any, str | None]] = []
        for impl in reversed(impls):
            fn = impl.function
            if fn.__class__ is _Isolated:
                steps.append((fn.__wrapped__, fn.where))
            else:
                steps.append((fn, None))
        fns = tuple(steps)
    plan = (caller, len(impls), fns)
    _plans[id(caller)] = plan
    return plan


def call_hook(caller: Any, event: Any) -> None:
    """Call a one-argument lifecycle hook: ``caller(event=...)`` without pluggy's generic
    argument checks, for the hot path. Same implementations, same order (last registered
    first), same isolation (inline here, instead of through the registration wrapper);
    falls back to pluggy when an implementation is a wrapper or takes other arguments.
    Never raises, except in strict mode."""
    plan = _plans.get(id(caller))
    if plan is None or plan[0] is not caller or plan[1] != len(caller._hookimpls):
        plan = _plan(caller)
    fns = plan[2]
    if fns is None:
        try:
            caller(**{caller.spec.argnames[0]: event})
        except Exception as exc:  # noqa: BLE001 - a wrapper's failure, say: the caller never sees it
            report(f"hook {caller.name}", exc)
        return
    for fn, where in fns:
        try:
            fn(event)
        except Exception as exc:  # noqa: BLE001 - isolation is the point
            report(where or f"hook {caller.name}", exc)


class PluginManager(pluggy.PluginManager):
    """A pluggy manager whose hook implementations never raise into the caller."""

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        if getattr(self, "_inner_hookexec", None) is pluggy._callers._multicall:
            self._inner_hookexec = _lean_multicall  # type: ignore[assignment]

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        plugin_name = super().register(plugin, name)
        if plugin_name is None:
            return None
        for caller in self.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.hookwrapper or impl.wrapper):
                    if impl.function.__class__ is not _Isolated:
                        impl.function = _Isolated(f"plugin {plugin_name}: {caller.name}", impl.function)  # type: ignore[misc]
        _plans.clear()
        return plugin_name

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        try:
            return super().unregister(plugin, name)
        finally:
            _plans.clear()


def new_plugin_manager(*, load_defaults: bool = True, load_entry_points: bool = True) -> PluginManager:
    """A fresh manager with the hookspecs, the default plugins and the entry-point plugins."""
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
                report(f"loading plugin {ep.name}", exc)
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
