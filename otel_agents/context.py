"""Carry the current workflow, phase or step into thread pools and callbacks.

A thread of a ``ThreadPoolExecutor`` (or of a framework's own pool, or a callback a library
runs on its thread) starts with an empty context: ``otel_agents.step()``, ``tool_call()`` and
``record_usage()`` called there cannot see which workflow submitted the work. These helpers
run the work in a copy of the submitter's context (``contextvars.copy_context`` semantics),
which holds both the current otel-agents handle and the current OpenTelemetry span:

    pool = otel_agents.ContextExecutor(shared_pool)  # submit/map carry the caller's context
    pool.submit(run_agent, task)
    loop.run_in_executor(pool, run_agent, task)
    client.on_done(otel_agents.bind(callback))        # callback runs in this context

Each call runs in its own copy, so what the work sets in its context stays there. Neither
helper patches anything: ``otel-agents run`` does that for ``ThreadPoolExecutor`` itself.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["ContextExecutor", "bind"]


def bind(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn``, to run in a copy of the context current now (at ``bind`` time), wherever it is called.

    Safe to call from several threads at once: every call gets a fresh copy. For synchronous
    callables: a coroutine runs in the context of the task that awaits it (asyncio tasks and
    ``asyncio.to_thread`` copy the context by themselves).
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def bound(*args: Any, **kwargs: Any) -> T:
        return ctx.copy().run(fn, *args, **kwargs)

    return bound


class ContextExecutor(Executor):
    """Wraps an executor so that ``submit`` (and ``map``, and ``loop.run_in_executor``) run each
    task in a copy of the submitter's context. The wrapped executor stays the caller's: share one
    pool between workflows by wrapping it where the work is submitted. ``shutdown`` (and leaving
    a ``with`` block) shuts the wrapped executor down.
    """

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return self.executor.submit(contextvars.copy_context().run, fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.executor.shutdown(wait=wait, cancel_futures=cancel_futures)

    def __repr__(self) -> str:
        return f"ContextExecutor({self.executor!r})"
