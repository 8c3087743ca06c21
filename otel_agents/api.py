"""The executor API: context managers, decorators and start/stop/fail objects.

Everything goes through the hooks; nothing here builds a span itself.

    with otel_agents.workflow("feature-build", template="sdlc") as wf:
        with wf.phase("build", number=2) as ph:
            with ph.step("coder", agent="coder", attempt=1) as st:
                st.record_usage("claude-sonnet-4-5", provider="anthropic",
                                input_tokens=3100, output_tokens=500, cache_read_tokens=2000)
                with st.tool_call("Bash", call_id="t1", arguments={"command": "pytest"}) as tc:
                    tc.set_result({"exit_code": 0})

The same objects work without ``with``: ``h = wf.phase("build").start()``, then
``h.stop()`` or ``h.fail(exc)``. ``otel_agents.phase(...)``, ``step(...)``, ``tool_call(...)``
and ``record_usage(...)`` find their parent in the current context, and are decorators too
(sync, async and generator functions). Threads of a ``ThreadPoolExecutor`` do not inherit
the context: carry it with ``otel_agents.bind`` / ``ContextExecutor`` (``otel_agents.context``);
without it, see ``_find_parent`` for the fallback, which never guesses between workflows.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import itertools
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar, overload

from opentelemetry import context as otel_context, trace

from otel_agents.events import (
    LifecycleEvent,
    ModelUsage,
    Outcome,
    PhaseEvent,
    StepEvent,
    ToolCallEvent,
    WorkflowEvent,
    outcome_of,
)
from otel_agents.foreign import CURRENT_CALL as _foreign_current_call
from otel_agents.plugins import call_hook
from otel_agents.pricing import loaded as _prices_loaded, ready as _prices_ready
from otel_agents.safety import report
from otel_agents.telemetry import Runtime, get_runtime

F = TypeVar("F", bound=Callable[..., Any])
_H = TypeVar("_H", bound="_Handle")

_current: contextvars.ContextVar[_Handle | None] = contextvars.ContextVar("otel_agents_current", default=None)
_open_handles: dict[int, _Handle] = {}  # process-wide, in start order, for threads that lost the context

_LEVEL = {"workflow": 0, "phase": 1, "step": 2, "tool_call": 3}

# The events built on every step, model call and tool call. These give exactly what the
# dataclass gives for the same values (tests/test_api.py checks every field), without its
# keyword arguments: CPython 3.11 binds keywords on a slow, unspecialised path, about a
# microsecond for an event's 16. Every field is set, the ones the API has no say in to
# their defaults.
_new = object.__new__


def _lifecycle_event(
    cls: type,
    workflow_id: str,
    key: str,
    derive_ids: bool,
    parent_key: str,
    start_time: int | None,
    attributes: dict[str, Any],
) -> Any:
    """A ``cls`` with the fields every ``LifecycleEvent`` has set; the caller sets its own."""
    ev: Any = _new(cls)
    ev.workflow_id = workflow_id
    ev.key = key
    ev.parent_key = parent_key
    ev.start_time = start_time
    ev.end_time = ev.parent = ev.outcome = ev.error = ev.error_type = ev.conversation_id = None
    ev.attributes = attributes
    ev.derive_ids = derive_ids
    return ev


def _step_event(
    workflow_id: str,
    key: str,
    derive_ids: bool,
    parent_key: str,
    name: str,
    agent: str | None,
    skill: str | None,
    command: str | None,
    attempt: int,
    model: str | None,
    task_id: str | None,
    phase_name: str | None,
    workflow_name: str | None,
    start_time: int | None,
    attributes: dict[str, Any],
) -> StepEvent:
    ev: StepEvent = _lifecycle_event(StepEvent, workflow_id, key, derive_ids, parent_key, start_time, attributes)
    ev.name = name
    ev.agent = agent
    ev.skill = skill
    ev.command = command
    ev.attempt = attempt
    ev.model = model
    ev.task_id = task_id
    ev.phase_name = phase_name
    ev.workflow_name = workflow_name
    return ev


def _usage_event(
    workflow_id: str,
    model: str,
    provider: str | None,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int,
    cache_write_tokens: int,
    cache_write_1h_tokens: int,
    reasoning_tokens: int,
    cost: float | None,
    response_model: str | None,
    response_id: str | None,
    key: str,
    parent_key: str,
    derive_ids: bool,
    start_time: int | None,
    end_time: int,
    attributes: dict[str, Any],
) -> ModelUsage:
    ev = _new(ModelUsage)
    ev.workflow_id = workflow_id
    ev.model = model
    ev.provider = provider
    ev.input_tokens = input_tokens
    ev.output_tokens = output_tokens
    ev.cache_read_tokens = cache_read_tokens
    ev.cache_write_tokens = cache_write_tokens
    ev.cache_write_1h_tokens = cache_write_1h_tokens
    ev.reasoning_tokens = reasoning_tokens
    ev.cost = cost
    ev.response_model = response_model
    ev.response_id = response_id
    ev.key = key
    ev.parent_key = parent_key
    ev.start_time = start_time
    ev.end_time = end_time
    ev.parent = None
    ev.attributes = attributes
    ev.derive_ids = derive_ids
    ev.outcome = ev.error = ev.error_type = ev.conversation_id = ev.finish_reasons = None
    ev.server_address = ev.server_port = ev.input_messages = ev.output_messages = ev.system_instructions = None
    return ev


def _tool_event(
    workflow_id: str,
    key: str,
    derive_ids: bool,
    parent_key: str,
    tool_name: str,
    call_id: str | None,
    arguments: Any,
    tool_type: str | None,
    step_name: str | None,
    agent: str | None,
    phase_name: str | None,
    start_time: int | None,
    attributes: dict[str, Any],
) -> ToolCallEvent:
    ev: ToolCallEvent = _lifecycle_event(
        ToolCallEvent, workflow_id, key, derive_ids, parent_key, start_time, attributes
    )
    ev.tool_name = tool_name
    ev.call_id = call_id
    ev.tool_type = tool_type
    ev.arguments = arguments
    ev.result = None
    ev.step_name = step_name
    ev.agent = agent
    ev.phase_name = phase_name
    ev.skill = ev.executable = None
    return ev


def _restore(otel_token: Any, ctx_token: Any, parent: _Handle | None) -> None:
    """Undo a handle's activation: detach its OpenTelemetry context, then make ``parent`` current again."""
    if otel_token is not None:
        try:
            otel_context.detach(otel_token)
        except Exception:  # noqa: BLE001
            pass
    if ctx_token is not None:
        try:
            _current.reset(ctx_token)
        except ValueError:  # exited in another context
            _current.set(parent)


class _Handle:
    """One workflow, phase, step or tool call: ``start()``, then ``stop()`` or ``fail()``."""

    kind = ""
    _start_hook = ""
    _end_hook = ""

    __slots__ = ("event", "parent", "_rt", "_seq", "_state", "_ctx_token", "_otel_token", "_implicit", "_handed")

    def __init__(self, event: LifecycleEvent, parent: _Handle | None, rt: Runtime | None = None) -> None:
        self.event = event
        self.parent = parent
        self._rt: Runtime = rt or (parent._rt if parent is not None else get_runtime())
        self._seq = itertools.count(1)  # numbers this handle's children
        self._state = 0  # 0 new, 1 started, 2 ended
        self._ctx_token: Any = None
        self._otel_token: Any = None
        self._implicit: tuple[_Handle, ...] = ()  # implicit parents that end with this handle
        self._handed = False  # subprocess_env handed this span to a child process

    # --- identity ------------------------------------------------------------------------
    @property
    def workflow_id(self) -> str:
        return self.event.workflow_id

    @property
    def key(self) -> str:
        return self.event.key

    def _child_key(self, kind: str, name: str) -> str:
        return f"{self.event.key}/{kind}:{name}#{next(self._seq)}"

    # --- lifecycle -----------------------------------------------------------------------
    def start(self: _H) -> _H:
        """Fire the start hook (once). Returns ``self``."""
        if self._state:
            return self
        self._state = 1
        rt = self._rt
        if rt.enabled:
            _open_handles[id(self)] = self
            call_hook(getattr(rt.pm.hook, self._start_hook), self.event)  # never raises
        return self

    def stop(self, outcome: Outcome | str | None = None) -> None:
        """End with ``outcome`` (default: success, or failure if ``fail`` recorded an error)."""
        if self._state != 1:
            if self._state == 0:
                self.start()
            else:
                return
        self._state = 2
        ev = self.event
        if outcome is not None:
            ev.outcome = Outcome(outcome)
        elif ev.outcome is None:
            ev.outcome = Outcome.FAILURE if ev.error is not None else Outcome.SUCCESS
        rt = self._rt
        if rt.enabled:
            _open_handles.pop(id(self), None)
            if self._handed:
                self._include_nested()
            call_hook(getattr(rt.pm.hook, self._end_hook), ev)
        if self._implicit:
            for implicit in self._implicit:
                implicit.stop(ev.outcome)

    def fail(self, error: BaseException | str, *, error_type: str | None = None, end: bool = True) -> None:
        """Record a failure; ends the span unless ``end=False``."""
        ev = self.event
        ev.error = error
        ev.error_type = error_type
        ev.outcome = Outcome.FAILURE
        if end:
            self.stop(Outcome.FAILURE)

    def abandon(self) -> None:
        """End as abandoned (interrupted, never finished)."""
        self.stop(Outcome.ABANDONED)

    def finish(self, exc: BaseException | None = None) -> None:
        """End as ``exc`` means (``events.outcome_of``): none or a clean ``sys.exit``,
        success; ``KeyboardInterrupt`` or cancellation, abandoned; anything else, failure."""
        if exc is None:
            self.stop()
            return
        outcome = outcome_of(exc)
        if outcome is Outcome.FAILURE:
            self.fail(exc)
        elif outcome is Outcome.ABANDONED:
            self.event.error = exc  # what interrupted it, for the end hooks; not a failure
            self.abandon()
        else:
            self.stop(outcome)

    def set_attribute(self, key: str, value: Any) -> None:
        """An extra attribute for this span (recorded at its end)."""
        self.event.attributes[key] = value

    # --- usage ---------------------------------------------------------------------------
    def record_usage(
        self,
        model: str,
        *,
        provider: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        reasoning_tokens: int = 0,
        cost: float | None = None,
        response_model: str | None = None,
        response_id: str | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        attributes: dict[str, Any] | None = None,
        outcome: Outcome | str | None = None,
        error: BaseException | str | None = None,
        error_type: str | None = None,
        finish_reasons: tuple[str, ...] | list[str] | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
        input_messages: Any = None,
        output_messages: Any = None,
        system_instructions: Any = None,
    ) -> ModelUsage:
        """Record one model call beneath this handle, after the fact. ``input_tokens``
        includes cache; ``cache_write_1h_tokens`` are the part of ``cache_write_tokens``
        written for an hour (from an Anthropic response:
        ``**ModelUsage.anthropic_tokens(response.usage)``). ``start_time``/``end_time`` (ns
        since the epoch, ``time.time_ns()``) are the call's; without ``start_time`` the span
        has no duration, without ``end_time`` it ends now. To time a call as it runs, use
        ``model_call``. ``error`` records a failed call (its usage still counts); ``outcome``
        defaults to none (after the fact), or failure with an error. ``finish_reasons``,
        ``server_address`` and ``server_port`` are recorded as the conventions name them;
        ``input_messages``, ``output_messages`` and ``system_instructions`` (a string, or
        ``{"role", "content"}`` dicts) only with content capture on (see docs/attributes.md)."""
        ev = self.event
        usage = _usage_event(
            ev.workflow_id,
            model,
            provider,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            cache_write_1h_tokens,
            reasoning_tokens,
            cost,
            response_model,
            response_id,
            f"{ev.key}/chat:{model}#{next(self._seq)}",
            ev.key,
            ev.derive_ids,
            start_time,
            # Stamp the end now, so the span's duration never includes our own pricing.
            end_time if end_time is not None else time.time_ns(),
            attributes or {},
        )
        if outcome is not None or error is not None:
            usage.outcome = Outcome(outcome) if outcome is not None else Outcome.FAILURE
            usage.error = error
            usage.error_type = error_type
        if finish_reasons is not None:
            usage.finish_reasons = tuple(finish_reasons)
        if server_address is not None or server_port is not None:
            usage.server_address, usage.server_port = server_address, server_port
        if input_messages is not None or output_messages is not None or system_instructions is not None:
            usage.input_messages, usage.output_messages = input_messages, output_messages
            usage.system_instructions = system_instructions
        rt = self._rt
        if rt.enabled:
            call_hook(rt.pm.hook.model_usage, usage)
        return usage

    def model_call(self, model: str, **kwargs: Any) -> ModelCall:
        """A model call beneath this handle, timed from ``start()`` (or ``with``) to its end.
        ``kwargs``: any keyword of ``record_usage`` known up front (``provider=``, ...)."""
        return ModelCall(self, model, kwargs)

    # --- context manager -----------------------------------------------------------------
    def __enter__(self) -> Any:
        if not self._state:
            self.start()
        self._ctx_token = _current.set(self)
        rt = self._rt
        if rt.enabled:
            spans = rt.spans
            ctx = spans.context_for(self.event.workflow_id, self.event.key) if spans is not None else None
            if ctx is not None:
                self._otel_token = otel_context.attach(ctx)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        _restore(self._otel_token, self._ctx_token, self.parent)
        self._otel_token = self._ctx_token = None
        if exc is not None:
            self.finish(exc)
        else:
            self.stop()

    def subprocess_env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """The environment for a child process that should trace under this span: a copy of
        ``env`` (default ``os.environ``) with ``AGENTS_OTEL_PARENT`` and ``TRACEPARENT`` set
        (``otel_agents.handoff``). A Claude Code session started with it nests under this
        span, in this trace: ``subprocess.run(["claude", "-p", ...], env=step.subprocess_env())``.
        Without a span to hand over (tracing off, random ids and no span), a plain copy."""
        import os

        from otel_agents import handoff
        from otel_agents.ids import span_id_for, trace_id_for

        out = dict(os.environ if env is None else env)
        ev = self.event
        span = self._span() if self._rt.enabled else None
        ctx = span.get_span_context() if span is not None else None
        if ctx is not None and ctx.is_valid:
            ids = (ctx.trace_id, ctx.span_id)
        elif ev.derive_ids and self._rt.enabled:
            ids = (trace_id_for(ev.workflow_id), span_id_for(ev.workflow_id, ev.key))
        else:
            return out
        cfg = getattr(self._rt, "config", None)
        home = os.path.abspath(cfg.home) if cfg is not None else None
        out[handoff.PARENT_ENV] = handoff.encode(ids[0], ids[1], ev.workflow_id, ev.key, home)
        out[handoff.TRACEPARENT_ENV] = handoff.traceparent(*ids)
        self._handed = home is not None
        return out

    def _include_nested(self) -> None:
        """At the end of a span handed to child processes: the Claude Code sessions started
        under it that were drained already join its roll-up (and its ancestors'), listed in
        ``otel_agents.nested.sessions``. Later ones reach the analytics store only."""
        import os

        from otel_agents import attributes as A, handoff
        from otel_agents.rollup import UsageTotals

        ev, spans = self.event, self._rt.spans
        if spans is None or spans.span_for(ev.workflow_id, ev.key) is None:
            return
        try:
            taken = handoff.take_nested(os.path.abspath(self._rt.config.home), ev.workflow_id, ev.key)
        except Exception as exc:  # noqa: BLE001 - telemetry never raises into the workflow
            report("nested sessions", exc)
            return
        for _sid, totals in taken:
            spans.add_totals(ev.workflow_id, ev.key, UsageTotals.from_json(totals))
        if taken:
            ev.attributes[A.NESTED_SESSIONS] = [sid for sid, _t in taken]

    def _span(self) -> Any:
        spans = self._rt.spans
        return spans.span_for(self.event.workflow_id, self.event.key) if spans is not None else None


class ToolCall(_Handle):
    """A tool call; ``set_result`` before it ends."""

    kind = "tool_call"
    _start_hook = "tool_call_start"
    _end_hook = "tool_call_end"
    __slots__ = ()

    def set_result(self, result: Any) -> None:
        self.event.result = result  # type: ignore[attr-defined]


# shared with otel_agents.foreign: a framework's span started inside a timed call is that call
_current_call: contextvars.ContextVar[ModelCall | None] = _foreign_current_call
_usage_keywords: frozenset[str] = frozenset()


def _check_usage(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` if ``record_usage`` takes them all, else ``TypeError`` (at once, not at the end)."""
    global _usage_keywords
    names = _usage_keywords
    if not names:
        names = _usage_keywords = frozenset(
            p.name for p in inspect.signature(_Handle.record_usage).parameters.values() if p.kind is p.KEYWORD_ONLY
        )
    unknown = kwargs.keys() - names
    if unknown:
        raise TypeError(f"record_usage() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    return kwargs


class ModelCall:
    """One model call, timed: ``start()`` (or ``with``), ``set_usage(...)``, then ``stop()``
    or ``fail(exc)``. It is recorded when it ends, through ``record_usage`` with the call's
    own start and end times, so its span, tokens, cost and roll-ups are exactly
    ``record_usage``'s. A failed call records its error and still counts any usage set; a
    call that ends with no usage set is recorded without token counts or cost (unknown,
    never $0)."""

    __slots__ = (
        "parent",
        "model",
        "usage",
        "_kwargs",
        "_start_time",
        "_state",
        "_token",
        "_implicit",
        "_outcome",
        "_error",
        "_error_type",
    )

    def __init__(self, parent: _Handle, model: str, kwargs: dict[str, Any]) -> None:
        self.parent = parent
        self.model = model
        #: the recorded ``ModelUsage``, once the call has ended
        self.usage: ModelUsage | None = None
        self._kwargs = _check_usage(kwargs)
        self._start_time: int | None = None
        self._state = 0  # 0 new, 1 started, 2 ended
        self._token: Any = None
        self._implicit: tuple[_Handle, ...] = ()
        self._outcome: Outcome | None = None
        self._error: BaseException | str | None = None
        self._error_type: str | None = None

    def start(self) -> ModelCall:
        """The call starts now (once). Returns ``self``."""
        if not self._state:
            self._state = 1
            self._start_time = time.time_ns()
        return self

    def set_usage(self, **kwargs: Any) -> None:
        """The call's usage: exactly ``record_usage``'s keywords (``input_tokens=``, ...)."""
        self._kwargs.update(_check_usage(kwargs))

    def stop(self, outcome: Outcome | str | None = None) -> None:
        """The call ends now; record it (default outcome: success, or failure after ``fail``)."""
        end = time.time_ns()
        if self._state == 2:
            return
        if self._state == 0:
            self._start_time = end
        self._state = 2
        kw = self._kwargs
        kw.setdefault("start_time", self._start_time)
        kw.setdefault("end_time", end)
        kw["outcome"] = (
            Outcome(outcome)
            if outcome is not None
            else (self._outcome or (Outcome.FAILURE if self._error is not None else Outcome.SUCCESS))
        )
        if self._error is not None:
            kw["error"], kw["error_type"] = self._error, self._error_type
        self.usage = self.parent.record_usage(self.model, **kw)
        for implicit in self._implicit:
            implicit.stop(kw["outcome"])

    def fail(self, error: BaseException | str, *, error_type: str | None = None, end: bool = True) -> None:
        """Record a failure (the usage set so far still counts); ends the call unless ``end=False``."""
        self._error, self._error_type, self._outcome = error, error_type, Outcome.FAILURE
        if end:
            self.stop(Outcome.FAILURE)

    def finish(self, exc: BaseException | None = None) -> None:
        """End as ``exc`` means (see ``_Handle.finish``)."""
        if exc is None:
            self.stop()
            return
        outcome = outcome_of(exc)
        if outcome is Outcome.FAILURE:
            self.fail(exc)
        else:
            self.stop(outcome)

    def __enter__(self) -> ModelCall:
        self.start()
        self._token = _current_call.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self._token is not None:
            try:
                _current_call.reset(self._token)
            except ValueError:  # exited in another context
                _current_call.set(None)
            self._token = None
        self.finish(exc)


class Step(_Handle):
    """One step (one attempt of an agent, skill or command)."""

    kind = "step"
    _start_hook = "step_start"
    _end_hook = "step_end"
    __slots__ = ()

    def tool_call(
        self,
        tool_name: str,
        *,
        call_id: str | None = None,
        arguments: Any = None,
        tool_type: str | None = None,
        key: str | None = None,
        start_time: int | None = None,
        attributes: dict[str, Any] | None = None,
        skill: str | None = None,
        executable: str | None = None,
    ) -> ToolCall:
        """A tool call made by this step. ``skill``: the skill it loads or runs
        (``gen_ai.skill.name``); ``executable``: the program a shell tool runs (the span
        becomes ``execute_tool {tool} {executable}``)."""
        ev: StepEvent = self.event  # type: ignore[assignment]
        tool = ToolCall(
            _tool_event(
                ev.workflow_id,
                key or (f"{ev.key}/tool:{call_id}" if call_id else self._child_key("tool", tool_name)),
                ev.derive_ids or key is not None,
                ev.key,
                tool_name,
                call_id,
                arguments,
                tool_type,
                ev.name,
                ev.agent,
                ev.phase_name,
                start_time,
                attributes or {},
            ),
            self,
        )
        if skill is not None or executable is not None:
            tev: ToolCallEvent = tool.event  # type: ignore[assignment]
            tev.skill, tev.executable = skill, executable
        return tool


class _StepParent(_Handle):
    __slots__ = ()

    def step(
        self,
        name: str,
        *,
        agent: str | None = None,
        skill: str | None = None,
        command: str | None = None,
        attempt: int = 1,
        model: str | None = None,
        task_id: str | None = None,
        key: str | None = None,
        start_time: int | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Step:
        """A step inside this phase (or directly inside the workflow)."""
        ev = self.event
        if isinstance(ev, PhaseEvent):
            phase_name, wf_name = ev.name, ev.workflow_name
        else:
            phase_name, wf_name = None, getattr(ev, "name", None)
        if key is None:
            key = f"{ev.key}/step:{name}@{attempt}#{next(self._seq)}"
            derive_ids = ev.derive_ids
        else:
            derive_ids = True
        return Step(
            _step_event(
                ev.workflow_id,
                key,
                derive_ids,
                ev.key,
                name,
                agent,
                skill,
                command,
                attempt,
                model,
                task_id,
                phase_name,
                wf_name,
                start_time,
                attributes or {},
            ),
            self,
        )


class Phase(_StepParent):
    """A phase of a workflow."""

    kind = "phase"
    _start_hook = "phase_start"
    _end_hook = "phase_end"
    __slots__ = ()


class Workflow(_StepParent):
    """A workflow run. ``attempts`` can be raised before it ends (whole-run retries)."""

    kind = "workflow"
    _start_hook = "workflow_start"
    _end_hook = "workflow_end"
    __slots__ = ()

    def start(self: _H) -> _H:
        """Fire the start hook (once). Returns ``self``. The first workflow of a process
        waits (at most 2 s) for the price data loading since set-up, before its span
        starts: no span runs beside the load (see ``otel_agents.pricing``)."""
        if not self._state and not _prices_loaded() and self._rt.enabled:
            _prices_ready(2.0)
        return super().start()

    def phase(
        self,
        name: str,
        *,
        number: int | None = None,
        key: str | None = None,
        start_time: int | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Phase:
        """A phase of this workflow."""
        ev: WorkflowEvent = self.event  # type: ignore[assignment]
        return Phase(
            PhaseEvent(
                workflow_id=ev.workflow_id,
                key=key or self._child_key("phase", name),
                derive_ids=ev.derive_ids or key is not None,
                parent_key=ev.key,
                name=name,
                number=number,
                workflow_name=ev.name,
                template=ev.template,
                start_time=start_time,
                attributes=attributes or {},
            ),
            self,
        )


def new_workflow(
    name: str,
    *,
    workflow_id: str | None = None,
    template: str | None = None,
    issue_id: str | None = None,
    task_id: str | None = None,
    session_id: str | None = None,
    model: str | None = None,
    complexity: str | None = None,
    start_time: int | None = None,
    attributes: dict[str, Any] | None = None,
    runtime: Runtime | None = None,
    deterministic_ids: bool | None = None,
) -> Workflow:
    """A workflow handle (not started). ``workflow_id`` defaults to a new UUID.

    ``workflow_id`` names ONE run. When the caller gives it, the trace id derives from it
    and every span id from the span's key (see ``otel_agents.ids``), so a span started here
    can be ended by an event replayed in another process, and exporting twice never
    duplicates a span. Without one (or with ``deterministic_ids=False``) ids are random,
    which also skips the hashing; children given an explicit ``key=`` derive theirs anyway.
    """
    return Workflow(
        WorkflowEvent(
            workflow_id=workflow_id or uuid.uuid4().hex,
            key="workflow",
            derive_ids=workflow_id is not None if deterministic_ids is None else deterministic_ids,
            name=name,
            template=template,
            issue_id=issue_id,
            task_id=task_id,
            session_id=session_id,
            model=model,
            complexity=complexity,
            start_time=start_time,
            attributes=attributes or {},
        ),
        None,
        runtime,
    )


# --- implicit-parent forms: context managers and decorators ---------------------------------


def current() -> _Handle | None:
    """The innermost open handle in this context, if any."""
    return _current.get()


class activate:
    """Make a started handle current (and its span the current span) for a block, without ending it.

    For code that suspends and resumes while a handle stays open (a generator traced across
    its ``next()`` calls, zero-code instrumentation): ``h = step("x").start()``, then
    ``with activate(h): ...`` around each resume, and ``h.stop()`` at the end.
    """

    __slots__ = ("handle", "_token", "_otel_token")

    def __init__(self, handle: _Handle) -> None:
        self.handle = handle
        self._token: Any = None
        self._otel_token: Any = None

    def __enter__(self) -> _Handle:
        h = self.handle
        self._token = _current.set(h)
        if h._rt.enabled:
            span = h._span()
            if span is not None:
                self._otel_token = otel_context.attach(trace.set_span_in_context(span))
        return h

    def __exit__(self, *exc: Any) -> None:
        _restore(self._otel_token, self._token, self.handle.parent)
        self._otel_token = self._token = None


@overload
def _find_parent(max_level: Literal[0]) -> Workflow | None: ...
@overload
def _find_parent(max_level: Literal[1]) -> _StepParent | None: ...
@overload
def _find_parent(max_level: int) -> _Handle | None: ...
def _find_parent(max_level: int) -> _Handle | None:
    """Nearest handle with level <= ``max_level``: this context first, then the process.

    A thread without context (a pool's worker, a library's callback) never guesses: the
    process is searched only when exactly one workflow is open in it. Then, going down from
    that workflow, a level is taken only if exactly one of its handles is open there: two
    phases open in parallel give the workflow, one phase with two open steps gives the phase.
    Otherwise ``None``: the caller records under an implicit workflow (``_orphan``).
    """
    h = _current.get()
    while h is not None:
        if _LEVEL[h.kind] <= max_level:
            return h
        h = h.parent
    handles = [h for h in _open_handles.copy().values() if h._state == 1]
    roots = [h for h in handles if h.parent is None]
    if len(roots) != 1:
        return None
    parent = roots[0]
    while True:
        below = [h for h in handles if h.parent is parent and _LEVEL[h.kind] <= max_level]
        if len(below) != 1:
            return parent
        parent = below[0]


class _Spec:
    """What ``otel_agents.workflow(...)`` and friends return: a context manager and a decorator."""

    __slots__ = ("_factory", "_handle")

    def __init__(self, factory: Callable[[], _Handle]) -> None:
        self._factory = factory
        self._handle: _Handle | None = None

    def __enter__(self) -> Any:
        self._handle = self._factory()
        return self._handle.__enter__()

    def __exit__(self, *exc: Any) -> None:
        h, self._handle = self._handle, None
        if h is not None:
            h.__exit__(*exc)

    def start(self) -> Any:
        """A started handle (start/stop/fail style)."""
        return self._factory().start()

    def __call__(self, fn: F) -> F:
        factory = self._factory
        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with factory():
                    async for item in fn(*args, **kwargs):
                        yield item

            return agen_wrapper  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with factory():
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with factory():
                    return (yield from fn(*args, **kwargs))

            return gen_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with factory():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def workflow(name: str, **kwargs: Any) -> _Spec:
    """A workflow run: ``with workflow(...) as wf`` or ``@workflow(...)``. See ``new_workflow``."""
    return _Spec(lambda: new_workflow(name, **kwargs))


def _orphan(kind: str, start_time: int | None = None, *, warn_outside: bool = True) -> Workflow:
    """An implicit workflow (not started) for a ``kind`` that found no parent, and a warning why.

    Several workflows open: this thread has no context to tell which (warned, rate-limited,
    naming the fix). None open: ``kind`` ran outside any workflow (warned if ``warn_outside``).
    """
    open_workflows = sum(1 for h in _open_handles.copy().values() if h.parent is None)
    if open_workflows > 1:
        report(
            "parent lookup",
            RuntimeError(
                f"{kind} ran on a thread with no current workflow (a thread pool or callback) while "
                f"{open_workflows} workflows are open; recorded under an implicit workflow rather than "
                "guessing which. Carry the context: otel_agents.bind(fn) or otel_agents.ContextExecutor(pool)"
            ),
        )
    elif warn_outside:
        report("api", RuntimeError(f"{kind} started outside a workflow; recording it under an implicit workflow"))
    return new_workflow("implicit", start_time=start_time)


def _implicit_child(child: _Handle, *parents: _Handle) -> _Handle:
    """``child`` ends its implicit ``parents`` (innermost first) when it ends."""
    child._implicit = parents
    return child


def _child_spec(kind: str, depth: int, name: str, kwargs: dict[str, Any]) -> _Spec:
    """A ``kind`` ("phase" or "step") of the innermost parent ``_find_parent(depth)`` finds;
    outside a workflow, of an implicit one that ends with it."""

    def make() -> _Handle:
        parent = _find_parent(depth)
        if parent is None:
            wf = _orphan(kind).start()
            return _implicit_child(getattr(wf, kind)(name, **kwargs), wf)
        child: _Handle = getattr(parent, kind)(name, **kwargs)
        return child

    return _Spec(make)


def phase(name: str, **kwargs: Any) -> _Spec:
    """A phase of the current workflow."""
    return _child_spec("phase", 0, name, kwargs)


def step(name: str, **kwargs: Any) -> _Spec:
    """A step of the current phase (or workflow)."""
    return _child_spec("step", 1, name, kwargs)


def tool_call(tool_name: str, **kwargs: Any) -> _Spec:
    """A tool call of the current step (outside a step: under an implicit one)."""

    def make() -> _Handle:
        parent = _find_parent(2)
        if isinstance(parent, Step):
            return parent.tool_call(tool_name, **kwargs)
        implicit: list[_Handle] = []
        if parent is None:
            parent = _orphan("tool call").start()
            implicit.append(parent)
        st = parent.step(tool_name).start()  # type: ignore[attr-defined]
        return _implicit_child(st.tool_call(tool_name, **kwargs), st, *reversed(implicit))

    return _Spec(make)


class _CallSpec(_Spec):
    """What ``otel_agents.model_call(...)`` returns: a context manager and a decorator."""

    __slots__ = ("_usage",)

    def __init__(self, factory: Callable[[], Any], usage: Callable[[Any], dict[str, Any]] | None) -> None:
        super().__init__(factory)
        self._usage = usage

    def __call__(self, fn: F) -> F:
        extract = self._usage
        if extract is None or inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            return super().__call__(fn)  # usage through current_model_call()
        factory = self._factory

        def report_usage(call: ModelCall, result: Any) -> None:
            try:
                usage = extract(result)
                if usage:
                    call.set_usage(**usage)
            except Exception as exc:  # noqa: BLE001 - the call succeeded; only its usage is unknown
                report("model_call usage", exc)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with factory() as call:
                    result = await fn(*args, **kwargs)
                    report_usage(call, result)
                    return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with factory() as call:
                result = fn(*args, **kwargs)
                report_usage(call, result)
                return result

        return wrapper  # type: ignore[return-value]


def model_call(model: str, *, usage: Callable[[Any], dict[str, Any]] | None = None, **kwargs: Any) -> _CallSpec:
    """A timed model call under the current step (or phase, or workflow): ``with
    model_call("gpt-4o", provider="openai") as call: ...; call.set_usage(...)``, or a
    decorator. A decorated function reports its usage through ``current_model_call()``, or
    ``usage`` maps its return value to ``record_usage`` keywords. ``kwargs``: any keyword
    of ``record_usage`` known up front. Outside any workflow: under an implicit one."""
    _check_usage(kwargs)

    def make() -> ModelCall:
        parent = _find_parent(2)
        if parent is None:
            wf = _orphan("model call").start()
            call = wf.model_call(model, **kwargs)
            call._implicit = (wf,)
            return call
        return parent.model_call(model, **kwargs)

    return _CallSpec(make, usage)


def current_model_call() -> ModelCall | None:
    """The model call open in this context (``with model_call(...)``, a decorated function), if any."""
    return _current_call.get()


def record_usage(model: str, **kwargs: Any) -> ModelUsage:
    """Record a model call under the current handle (step, phase or workflow); outside any
    workflow, under an implicit one of its own."""
    parent = _find_parent(2)
    if parent is None:
        wf = _orphan("model call", kwargs.get("start_time")).start()
        try:
            return wf.record_usage(model, **kwargs)
        finally:
            wf.stop()
    return parent.record_usage(model, **kwargs)


def now_ns() -> int:
    """The current time as OpenTelemetry timestamps are: ns since the epoch."""
    return time.time_ns()
