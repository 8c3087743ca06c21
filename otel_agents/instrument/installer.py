"""Apply a mapping at import time: a wrapt post-import hook per target module.

When a mapped module is imported (or at once, if it already is), each mapped callable in it
is wrapped: a plain Python function (a module's function, a method, a class or static
method, the function a decorator object such as langchain's ``@tool`` was built from) is
wrapped in place (``inplace``), so references that decorators and builders kept at import
time are traced too; any other callable is replaced by a ``wrapt.FunctionWrapper`` where its
module or class keeps it. ``uninstall`` puts the originals back. While a mapping is
installed, thread pools carry the submitter's context (``propagate``).

A target that does not exist is reported once and skipped; a hook never raises into the
import (wrapt would fail the import otherwise). A rule that was installed but never fired is
reported at exit with the likely reason (``diagnose``); ``otel-agents run --check`` applies
the same checks.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import sys
import threading
from typing import Any

from otel_agents.instrument import propagate
from otel_agents.instrument.calls import Binding
from otel_agents.instrument.inplace import Patched, underlying_function
from otel_agents.instrument.mapping import Mapping, Target
from otel_agents.instrument.problems import problem

_lock = threading.Lock()


class Installer:
    """Wraps the targets of one mapping as their modules are imported."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.bindings: dict[Target, Binding] = {
            target: Binding(target, rules) for target, rules in mapping.by_target().items()
        }
        self.active = False
        self._patched: list[tuple[Any, str, Any, Any]] = []  # (owner, attribute, original, wrapper)
        self._in_place: list[Patched] = []
        #: target -> the callable that was wrapped with wrapt (not in place): for ``diagnose``
        self._wrapped: dict[Target, Any] = {}
        #: report never-fired rules at exit (the program itself; not ``--check``, not quiet children)
        self.report_at_exit = True

    def install(self) -> Installer:
        """Register a post-import hook for every target module."""
        import wrapt

        self.active = True
        for binding in self.bindings.values():
            wrapt.register_post_import_hook(functools.partial(self._on_import, binding), binding.target.module)
        atexit.register(self.report_unused)
        return self

    def _on_import(self, binding: Binding, module: Any) -> None:
        try:
            self.patch(binding, module)
        except Exception as exc:  # noqa: BLE001 - never fail the executor's import
            problem(f"{binding.describe()}: could not wrap {binding.target.spec}: {type(exc).__name__}: {exc}")

    def patch(self, binding: Binding, module: Any) -> bool:
        """Wrap ``binding``'s target in ``module``; False (reported once) if it is missing."""
        import wrapt

        with _lock:
            if not self.active or binding.patched:
                return binding.patched
            target = binding.target
            missing = _missing_part(module, target.qualname)
            if missing is not None:
                problem(
                    f"{binding.describe()}: {target.qualname!r} not found in module {target.module!r} "
                    f"({missing}); the executor runs without this rule"
                )
                return False
            try:
                owner, attribute, original = wrapt.resolve_path(module, target.qualname)
            except Exception as exc:  # noqa: BLE001 - AttributeError or wrapt's PathResolutionError
                problem(
                    f"{binding.describe()}: {target.qualname!r} not found in module {target.module!r} "
                    f"({type(exc).__name__}: {exc}); the executor runs without this rule"
                )
                return False
            func = underlying_function(original, target.module, target.qualname)
            if func is not None and not _code_is_ours(func):
                if func is original or isinstance(original, (classmethod, staticmethod)):
                    binding.prepare(original, owner, in_place=True)
                else:  # the function a decorator object was made from: a plain function
                    binding.prepare(func, None, in_place=True)
                kind = binding.kind if binding.kind in ("sync", "coroutine", "generator", "asyncgen") else "sync"
                self._in_place.append(Patched(func, kind, binding.dispatcher))
                binding.patched = True
                binding.active = True
                return True
            if not (callable(original) or isinstance(original, (classmethod, staticmethod))):
                problem(f"{binding.describe()}: {target.spec} is a {type(original).__name__}, not a callable; ignored")
                return False
            binding.prepare(original, owner)
            self._wrapped[target] = original
            wrapper = wrapt.FunctionWrapper(original, binding)
            setattr(owner, attribute, wrapper)
            binding.patched = True
            binding.active = True
            self._patched.append((owner, attribute, original, wrapper))
            return True

    def uninstall(self) -> None:
        """Put every original back; wrappers still referenced elsewhere call straight through."""
        with _lock:
            self.active = False
            for binding in self.bindings.values():
                binding.active = False
            for owner, attribute, original, wrapper in reversed(self._patched):
                try:
                    current = vars(owner).get(attribute) if hasattr(owner, "__dict__") else None
                    if current is wrapper:
                        setattr(owner, attribute, original)
                except Exception as exc:  # noqa: BLE001
                    problem(f"could not restore {owner!r}.{attribute}: {exc}")
            self._patched.clear()
            for patched in reversed(self._in_place):
                patched.restore()
            self._in_place.clear()
            self._wrapped.clear()
            for binding in self.bindings.values():
                binding.patched = False
        try:
            atexit.unregister(self.report_unused)
        except Exception:  # noqa: BLE001
            pass

    def diagnose(self, binding: Binding) -> str | None:
        """Why a wrapped rule cannot fire (or did not), and the fix; None if nothing is known."""
        original = self._wrapped.get(binding.target)
        if original is None:
            return None
        wrappers = [entry[3] for entry in self._patched]
        holders = _holders(original, exclude=(self._patched, self._wrapped, *self._patched, *wrappers))
        if not holders:
            return None
        return (
            f"{binding.target.spec} is a {type(original).__name__}, wrapped where module {binding.target.module!r} "
            f"keeps it, but {' and '.join(holders)} kept the original at import time, and calls it directly: "
            "map the plain function it was made from, or the method that calls it"
        )

    def report_unused(self) -> None:
        """At exit: report rules that never fired (why, and the fix), and targets whose module
        cannot be found (a typo, most likely)."""
        for binding in self.bindings.values():
            if binding.patched:
                if binding.fired or not self.report_at_exit or binding.from_recipes:
                    continue  # a recipe maps more entry points than one program uses
                reason = self.diagnose(binding) or (
                    "the program did not call it in this run; if it should have, check that the program "
                    f"calls {binding.target.spec} itself and not another function of the same name"
                )
                problem(f"{binding.describe()}: installed but never fired: {reason}")
                continue
            module = binding.target.module
            if module in sys.modules:
                continue  # imported, and the missing attribute was reported then
            top = module.split(".", 1)[0]
            try:
                found = importlib.util.find_spec(module) if top in sys.modules else importlib.util.find_spec(top)
            except Exception:  # noqa: BLE001
                found = None
            if found is None:
                problem(
                    f"{binding.describe()}: module {module!r} was never imported and cannot be found; "
                    "the rule did nothing"
                )


def _code_is_ours(func: Any) -> bool:
    """True if ``func`` is already patched in place (by another rule's target)."""
    return any(
        isinstance(c, type(_code_is_ours)) and c.__qualname__.endswith("dispatch") for c in func.__code__.co_consts
    )


def _holders(obj: Any, exclude: tuple[Any, ...]) -> list[str]:
    """Types of the objects (other than modules, classes and ours) that hold ``obj``."""
    import gc
    import types

    found: list[str] = []
    skip = {id(e) for e in exclude}
    for ref in gc.get_referrers(obj):
        if id(ref) in skip or isinstance(ref, (types.FrameType, types.ModuleType, type)):
            continue
        if isinstance(ref, dict):
            owners = [o for o in gc.get_referrers(ref) if not isinstance(o, (types.FrameType, dict, list))]
            if any(isinstance(o, (types.ModuleType, type)) for o in owners) or any(id(o) in skip for o in owners):
                continue
            ref = owners[0] if owners else ref
        module = type(ref).__module__
        name = f"a {type(ref).__qualname__}" if module == "builtins" else f"a {module}.{type(ref).__qualname__}"
        if module.startswith("otel_agents.") or name in found:
            continue
        found.append(name)
    return found[:3]


def _missing_part(module: Any, qualname: str) -> str | None:
    """Why ``qualname`` does not resolve in ``module`` (``None``: it does)."""
    obj = module
    path: list[str] = []
    for part in qualname.split("."):
        if not hasattr(obj, part):
            where = ".".join(path) or f"module {module.__name__!r}"
            return f"{where} has no attribute {part!r}"
        obj = getattr(obj, part)
        path.append(part)
    return None


_installer: Installer | None = None


def install(mapping: Mapping) -> Installer | None:
    """Install ``mapping`` process-wide (replacing a previous one). None if it is empty.

    Thread pools then carry the submitter's context (``otel_agents.instrument.propagate``).
    """
    global _installer
    uninstall()
    if not mapping:
        return None
    _installer = Installer(mapping).install()
    propagate.patch()
    return _installer


def uninstall() -> None:
    """Remove the process-wide mapping, if any, and the thread-pool context patch."""
    global _installer
    installer, _installer = _installer, None
    if installer is not None:
        installer.uninstall()
        propagate.unpatch()


def current_installer() -> Installer | None:
    """The process-wide installer, if a mapping is installed."""
    return _installer
