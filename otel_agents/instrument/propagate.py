"""Zero-code only: thread pools carry the submitter's context, as ``otel_agents.bind`` would.

A program traced by ``otel-agents run`` or ``opentelemetry-instrument`` has no telemetry code,
so it cannot wrap its pools in ``otel_agents.ContextExecutor``. While a mapping is installed,
``concurrent.futures.ThreadPoolExecutor.submit`` runs each task in a copy of the submitting
thread's context (``contextvars.copy_context``): the current workflow, phase or step and the
current OpenTelemetry span. ``map`` goes through ``submit``, and so does
``loop.run_in_executor`` with a thread pool (asyncio's default executor included).

``patch`` is applied by ``otel_agents.instrument.install`` and undone by ``uninstall`` (the
instrumentor's ``uninstrument``). The library API never patches anything.
"""

from __future__ import annotations

import contextvars
import functools
import sys
from typing import Any

_MODULE = "concurrent.futures.thread"
_active = False
_original: Any = None
_wrapper: Any = None


def patch() -> None:
    """Make ``ThreadPoolExecutor.submit`` carry the caller's context (idempotent); if
    ``concurrent.futures`` is not imported yet, when it is (start-up stays as fast)."""
    global _active
    _active = True
    module = sys.modules.get(_MODULE)
    if module is not None:
        _apply(module)
    else:
        import wrapt

        wrapt.register_post_import_hook(_apply, _MODULE)


def _apply(module: Any) -> None:
    global _original, _wrapper
    if not _active or _wrapper is not None:
        return
    cls = module.ThreadPoolExecutor
    original = cls.__dict__["submit"]

    @functools.wraps(original)
    def submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return original(self, contextvars.copy_context().run, fn, *args, **kwargs)

    cls.submit = submit
    _original, _wrapper = original, submit


def unpatch() -> None:
    """Put the original ``submit`` back (unless something else replaced ours since)."""
    global _active, _original, _wrapper
    original, wrapper = _original, _wrapper
    _active = False
    _original = _wrapper = None
    module = sys.modules.get(_MODULE)
    if original is not None and module is not None and module.ThreadPoolExecutor.__dict__.get("submit") is wrapper:
        module.ThreadPoolExecutor.submit = original


def patched() -> bool:
    """True while ``ThreadPoolExecutor.submit`` carries the context."""
    module = sys.modules.get(_MODULE)
    return _wrapper is not None and module is not None and module.ThreadPoolExecutor.__dict__.get("submit") is _wrapper
