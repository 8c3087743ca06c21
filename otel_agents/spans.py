"""The span engine: lifecycle hooks become OpenTelemetry spans (GenAI conventions).

- workflow: INTERNAL ``invoke_workflow {name}``
- phase: INTERNAL ``phase {name}``
- step: INTERNAL ``invoke_agent {agent}`` (or ``step {name}`` without an agent)
- tool call: INTERNAL ``execute_tool {tool}``
- model call: CLIENT ``chat {model}``, with ``gen_ai.usage.*``, cost and a provider (inferred
  from the price table when the caller gives none)

Every span beneath a workflow given a session id carries its ``gen_ai.conversation.id``
(inherited from the open parent, or the event's ``conversation_id``). Opt-in content goes
where ``genai_content.capture_mode`` says.

Every workflow, phase and step span carries ``otel_agents.rollup.*``: the tokens and cost
of every model call beneath it. Span ids derive from ``(workflow_id, key)``, so a span
whose end is replayed from another process keeps its identity.

The engine is core: the plugin manager registers it as the ``spans`` plugin (its hook
implementations; ``OTEL_AGENTS_DISABLE_PLUGINS=spans`` switches span building off), and
``telemetry.setup`` attaches it to the runtime (``Runtime.spans``), which the API and the
Claude Code drain use. ``span_ending`` fires for every span it ends.
"""

from __future__ import annotations

import operator
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_agents import attributes as A, genai_content
from otel_agents.attributes import (
    ATTEMPT,
    GEN_AI_AGENT_NAME,
    GEN_AI_CONVERSATION_ID,
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    KIND,
    KIND_MODEL_CALL,
    KIND_STEP,
    KIND_TOOL_CALL,
    KIND_WORKFLOW,
    OP_CHAT,
    OP_INVOKE_AGENT,
    OUTCOME,
    PHASE_NAME,
    ROLLUP_CACHE_READ_INPUT_TOKENS,
    ROLLUP_CACHE_WRITE_INPUT_TOKENS,
    ROLLUP_COST_AMOUNT,
    ROLLUP_COST_CURRENCY,
    ROLLUP_INPUT_TOKENS,
    ROLLUP_MODEL_CALLS,
    ROLLUP_OUTPUT_TOKENS,
    ROLLUP_REASONING_OUTPUT_TOKENS,
    ROLLUP_UNPRICED_MODEL_CALLS,
    STEP_NAME,
    WORKFLOW_ID,
    WORKFLOW_NAME,
)
from otel_agents.events import (
    LifecycleEvent,
    ModelUsage,
    Outcome,
    PhaseEvent,
    StepEvent,
    ToolCallEvent,
    WorkflowEvent,
    exception_type,
)
from otel_agents.hookspecs import hookimpl
from otel_agents.ids import span_id_for, trace_id_for
from otel_agents.plugins import call_hook, has_impls
from otel_agents.pricing import UnknownModel, cost_usd, loaded as _prices_loaded, provider_of, warn_invalid_usage
from otel_agents.redact import fingerprint, redact, to_text, valid_text
from otel_agents.rollup import SpanView, UsageTotals

if TYPE_CHECKING:
    from otel_agents.config import Config
    from otel_agents.plugins import PluginManager

_INTERNAL = SpanKind.INTERNAL
_CLIENT = SpanKind.CLIENT
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_FAILURE = Outcome.FAILURE
_totals_lock = threading.Lock()
_exit_wait_registered = False


class Host(Protocol):
    """What the engine uses of the runtime (``telemetry.Runtime``)."""

    config: Config
    pm: PluginManager
    tracer: Any
    ids: Any  # telemetry.KeyedIdGenerator: ``next_ids(trace_id, span_id)``


class _State(UsageTotals):
    """An open span, and the usage rolled up beneath it: it is its own ``totals``, so a
    model call adds to its ancestors without one more object per span."""

    __slots__ = ("span", "parent", "kind", "event", "retries", "conversation", "tool_calls", "_ctx")
    __eq__ = object.__eq__  # one open span is not another with the same totals
    __hash__ = object.__hash__

    def __init__(self, span: Any, parent: _State | None, kind: str, event: Any, conversation: str | None) -> None:
        self.span = span
        self.parent = parent
        self.kind = kind
        self.event = event
        self.conversation = conversation  # gen_ai.conversation.id, inherited by the spans beneath
        self.input_tokens = self.output_tokens = self.cache_read_tokens = self.cache_write_tokens = 0
        self.reasoning_tokens = self.model_calls = self.unpriced_model_calls = 0
        self.cost = 0.0
        self.retries = self.tool_calls = 0  # tool_calls: counted beneath, with metrics on only
        self._ctx: Any = None

    @property
    def totals(self) -> UsageTotals:
        """Tokens and cost rolled up beneath this span (this object)."""
        return self

    @property
    def context(self) -> Any:
        """An OpenTelemetry context holding this span (built once, for its children)."""
        ctx = self._ctx
        if ctx is None:
            ctx = self._ctx = trace.set_span_in_context(self.span)
        return ctx


def _cost_attrs(usage: ModelUsage, attrs: dict[str, Any]) -> tuple[float | None, str | None]:
    """Set cost attributes; returns (cost, unavailable reason)."""
    if usage.cost is not None:
        cost, source = float(usage.cost), "provider"
    elif not (usage.input_tokens or usage.output_tokens):
        # no usage reported (a timed call that never got one): the tokens and the cost are
        # unknown, not 0
        for key in (
            GEN_AI_USAGE_INPUT_TOKENS,
            GEN_AI_USAGE_OUTPUT_TOKENS,
            GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
            GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
        ):
            attrs.pop(key, None)
        attrs[A.COST_UNAVAILABLE_REASON] = "no_usage"
        return None, "no_usage"
    else:
        try:
            cost = cost_usd(
                usage.model,
                usage.provider,
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.cache_write_tokens,
                usage.cache_write_1h_tokens,
            )
            source = "local"
        except UnknownModel as exc:
            reason = exc.reason
            attrs[A.COST_UNAVAILABLE_REASON] = reason
            return None, reason
        except ValueError as exc:
            reason = "invalid_usage"
            attrs[A.COST_UNAVAILABLE_REASON] = reason
            warn_invalid_usage(exc)
            return None, reason
    attrs[A.GEN_AI_USAGE_COST_AMOUNT] = cost
    attrs[A.GEN_AI_USAGE_COST_CURRENCY] = "USD"
    attrs[A.GEN_AI_USAGE_COST_SOURCE] = source
    return cost, None


def _failure(span: Any, ev: LifecycleEvent | ModelUsage, attrs: dict[str, Any], engine: SpanEngine) -> None:
    """A failed span: ``error.type`` and the message into ``attrs``, the exception (a span
    event, and/or a log record per ``OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN``) and status
    ERROR on ``span``, described by the error's own text (never a repeat of ``error.type``)."""
    # ModelUsage reuses LifecycleEvent's properties, which mypy reads as LifecycleEvent-only
    etype = ev.resolved_error_type or "_OTHER"  # type: ignore[misc]
    attrs[A.ERROR_TYPE] = etype
    msg = ev.error_message  # type: ignore[misc]
    if msg:
        msg = valid_text(redact(msg))  # error text can quote commands, URLs and keys
        attrs[A.ERROR_MESSAGE] = msg[:1000]
    err = ev.error
    if isinstance(err, BaseException):
        # not the SDK's record_exception: it adds the deprecated exception.escaped.
        # The stack trace ends with the message: redacted like it.
        description = valid_text(redact(str(err)))
        exc_attrs = {
            A.EXCEPTION_TYPE: exception_type(err),
            A.EXCEPTION_MESSAGE: description,
            A.EXCEPTION_STACKTRACE: _stacktrace(err),
        }
    else:
        description = msg or ""
        exc_attrs = {A.EXCEPTION_TYPE: etype, A.EXCEPTION_MESSAGE: description}
    as_event, as_log = engine.exception_signal
    if as_event:
        span.add_event(A.EVENT_EXCEPTION, exc_attrs)
    if as_log:
        logger = engine.logger
        if logger is not None:
            genai_content.emit_exception(logger, span, exc_attrs)
    if description == etype or description == _short_type_name(err):
        description = ""
    span.set_status(Status(StatusCode.ERROR, description[:200] or None))


def _short_type_name(err: Any) -> str | None:
    """The short class name of an exception (what ``str()`` of an argument-less one can be)."""
    return type(err).__name__ if isinstance(err, BaseException) else None


def _end_attrs(outcome: str, t: UsageTotals) -> dict[str, Any]:
    """The outcome and the roll-up: what every workflow, phase and step span gets at its end.

    The cost is the sum over the priced calls beneath (``ROLLUP_UNPRICED_MODEL_CALLS`` says how many were
    not); when no call beneath has a price, there is no cost at all, never 0."""
    attrs = {
        OUTCOME: outcome,
        ROLLUP_INPUT_TOKENS: t.input_tokens,
        ROLLUP_OUTPUT_TOKENS: t.output_tokens,
        ROLLUP_CACHE_READ_INPUT_TOKENS: t.cache_read_tokens,
        ROLLUP_CACHE_WRITE_INPUT_TOKENS: t.cache_write_tokens,
        ROLLUP_REASONING_OUTPUT_TOKENS: t.reasoning_tokens,
        ROLLUP_COST_AMOUNT: round(t.cost, 12),
        ROLLUP_COST_CURRENCY: "USD",
        ROLLUP_MODEL_CALLS: t.model_calls,
        ROLLUP_UNPRICED_MODEL_CALLS: t.unpriced_model_calls,
    }
    unpriced = t.unpriced_model_calls
    if unpriced and unpriced == t.model_calls:
        del attrs[ROLLUP_COST_AMOUNT], attrs[ROLLUP_COST_CURRENCY]
    return attrs


def _ending(hook: Any, view: SpanView) -> None:
    """Fire ``span_ending`` (the caller checked it has implementations)."""
    call_hook(hook, view)
    _valid_strings(view.span)  # what a plugin set; ours were made valid before they were set


def _put(attrs: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        attrs[key] = value


class SpanEngine:
    """Turns lifecycle hooks into spans: the open spans, their parents' contexts, the
    roll-ups and the cost attributes. One instance per plugin manager, attached to the
    runtime by ``telemetry.setup``."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], _State] = {}
        self._rt: Host | None = None
        self._span_ending: Any = None  # the span_ending hook caller, once bound
        self._metrics: Any = None  # the runtime's GenAIMetrics, if metrics are on
        # Only until the price data has loaded (see ``_hold``): the open spans above model
        # calls waiting for it (with how many), those calls, and the ends of those spans.
        self._held: dict[_State, int] | None = None
        self._waiting: list[tuple[ModelUsage, Any, _State | None]] = []
        self._deferred: list[tuple[str, LifecycleEvent, _State]] = []
        self._hold_lock = threading.Lock()
        self._held_pid = 0
        #: content on the span, content on the details event (``genai_content.capture_mode``)
        self.capture: tuple[bool, bool] = (False, False)
        #: an exception as a span event, as a log record (``genai_content.exception_signal``)
        self.exception_signal: tuple[bool, bool] = (True, False)
        self._logger: Any = None
        #: other instrumentations' spans (``otel_agents.foreign.ForeignSpans``), once attached
        self.foreign: Any = None

    def attach(self, rt: Host) -> None:
        """Build spans for ``rt`` (its tracer, id generator, configuration and hooks)."""
        self._rt = rt
        self._span_ending = rt.pm.hook.span_ending
        self._metrics = getattr(rt, "metrics", None)
        self.capture = genai_content.capture_mode(bool(rt.config.values.get("capture_content")))
        self.exception_signal = genai_content.exception_signal()
        self._logger = None

    @property
    def logger(self) -> Any:
        """The OpenTelemetry logger for the log records the engine emits (the runtime's
        logger provider, else the global one: the application's, or a no-op)."""
        logger = self._logger
        if logger is None:
            from opentelemetry import _logs

            from otel_agents import __version__

            provider = getattr(self._rt, "logger_provider", None) or _logs.get_logger_provider()
            logger = self._logger = provider.get_logger("otel_agents", __version__, A.SCHEMA_URL)
        return logger

    def context_for(self, workflow_id: str, key: str) -> Any:
        """An OpenTelemetry context holding the open span for ``(workflow_id, key)``, or ``None``."""
        state = self._open.get((workflow_id, key))
        return state.context if state is not None else None

    def span_for(self, workflow_id: str, key: str) -> Any:
        """The open span for ``(workflow_id, key)``, or ``None``."""
        state = self._open.get((workflow_id, key))
        return state.span if state is not None else None

    def add_totals(self, workflow_id: str, key: str, totals: UsageTotals) -> bool:
        """Add usage exported by another process to the roll-up of the open span ``key``
        and of its open ancestors.

        For replays that export a parent after its children (the Claude Code drain exports
        each turn when it ends, the session span when the session ends). Returns ``False``
        when the span is not open here.
        """
        node = self._open.get((workflow_id, key))
        if node is None:
            return False
        with _totals_lock:
            while node is not None:
                node.merge(totals)
                node = node.parent
        return True

    def totals_for(self, workflow_id: str, key: str) -> UsageTotals | None:
        """A copy of the roll-up of the open span ``key`` so far, or ``None``."""
        state = self._open.get((workflow_id, key))
        return UsageTotals.from_json(state.to_json()) if state is not None else None

    def state_for_span(self, span_id: int) -> _State | None:
        """The open span (its state) whose span id is ``span_id``, or ``None``."""
        for state in list(self._open.values()):
            if state.span.get_span_context().span_id == span_id:
                return state
        return None

    def add_call(self, state: _State, usage: ModelUsage, cost: float | None) -> None:
        """Add one model call recorded elsewhere (another instrumentation's span) to the
        roll-up of the open span ``state`` and of its open ancestors."""
        node: _State | None = state
        with _totals_lock:
            while node is not None:
                node.add(usage, cost)
                node = node.parent

    @property
    def rt(self) -> Host:
        """The runtime the engine is attached to."""
        rt = self._rt
        if rt is None:
            raise RuntimeError("the span engine is not attached to a runtime (otel_agents.setup())")
        return rt

    # --- helpers -----------------------------------------------------------------------
    def _parent_context(self, ev: Any, parent: _State | None) -> Any:
        if parent is not None:
            return parent.context
        if ev.parent is not None:
            sc = SpanContext(ev.parent.trace_id, ev.parent.span_id, is_remote=True, trace_flags=_SAMPLED)
            return trace.set_span_in_context(NonRecordingSpan(sc))
        if ev.parent_key is not None:
            # Parent recorded elsewhere: derive its identity from the keys.
            sc = SpanContext(
                trace_id_for(ev.workflow_id),
                span_id_for(ev.workflow_id, ev.parent_key),
                is_remote=True,
                trace_flags=_SAMPLED,
            )
            return trace.set_span_in_context(NonRecordingSpan(sc))
        return None  # a workflow: the current context (the application's span, if any)

    def _open_span(self, ev: Any, name: str, attrs: dict[str, Any], span_kind: SpanKind) -> tuple[Any, _State | None]:
        """Start the span for ``ev`` under its parent; returns (span, parent state)."""
        rt = self._rt or self.rt
        cls = ev.__class__
        # every string of a step's or model call's attributes comes from these fields (or
        # is a constant): when they are ASCII, nothing needs a closer look
        if not (
            (cls is StepEvent and _all_ascii(_step_text(ev)))
            or (cls is ModelUsage and not ev.attributes and _all_ascii(_usage_text(ev)))
        ):
            if not name.isascii():
                name = valid_text(name)
            _valid_attrs(attrs)
        parent_key = ev.parent_key
        parent = self._open.get((ev.workflow_id, parent_key)) if parent_key is not None else None
        conv = ev.conversation_id
        if parent is not None:
            ctx = parent._ctx or parent.context
            if conv is None:
                conv = parent.conversation
        else:
            ctx = self._parent_context(ev, None)
        if conv is not None:
            attrs[GEN_AI_CONVERSATION_ID] = conv if conv.isascii() else valid_text(conv)
        if ev.derive_ids:
            wid = ev.workflow_id
            if parent is not None:
                trace_id = parent.span.get_span_context().trace_id
            else:
                trace_id = ev.parent.trace_id if ev.parent is not None else trace_id_for(wid)
            # the SDK takes these for the span it starts next on this thread (a root under
            # the application's current span keeps the application's trace id)
            rt.ids.next_ids(trace_id, span_id_for(wid, ev.key))
        # positional, in the API's order (keyword binding costs more than the call)
        span = rt.tracer.start_span(name, ctx, span_kind, attrs, None, ev.start_time)
        return span, parent

    def _start(self, kind: str, ev: Any, name: str, attrs: dict[str, Any]) -> _State:
        span, parent = self._open_span(ev, name, attrs, _INTERNAL)
        return _State(span, parent, kind, ev, attrs.get(GEN_AI_CONVERSATION_ID))

    def _begin(self, kind: str, ev: LifecycleEvent, name: str, attrs: dict[str, Any]) -> _State:
        state = self._open[(ev.workflow_id, ev.key)] = self._start(kind, ev, name, attrs)
        return state

    def _finish(self, kind: str, ev: LifecycleEvent, rebuild: Any, state: _State | None = None) -> None:
        if state is None:
            state = self._open.pop((ev.workflow_id, ev.key), None)
            if state is None:
                # The start was seen in another process (or never): build the span now, with
                # the event's own start time, under its derived parent.
                name, attrs = rebuild(ev)
                state = self._start(kind, ev, name, attrs)
            elif self._held is not None and self._defer(kind, ev, state):
                return
        span = state.span
        outcome = ev.outcome or (Outcome.FAILURE if ev.error is not None else Outcome.SUCCESS)
        if kind == KIND_TOOL_CALL:
            totals = None
            end_attrs: dict[str, Any] = {OUTCOME: outcome._value_}
        else:
            totals = state
            end_attrs = _end_attrs(outcome._value_, state)
            if kind == KIND_WORKFLOW:
                end_attrs[A.RETRY_COUNT] = max(0, getattr(ev, "attempts", 1) - 1) + state.retries
        if outcome is Outcome.FAILURE:
            _failure(span, ev, end_attrs, self)
        if ev.attributes:
            end_attrs.update(ev.attributes)
        if totals is None and ev.result is not None:  # type: ignore[attr-defined]  # only a ToolCallEvent has one
            self._content(end_attrs, ev.result, A.GEN_AI_TOOL_CALL_RESULT, A.TOOL_RESULT_LENGTH, A.TOOL_RESULT_SHA256)  # type: ignore[attr-defined]
        if ev.attributes or totals is None or outcome is Outcome.FAILURE:
            _valid_attrs(end_attrs)  # otherwise: constants and numbers only
        span.set_attributes(end_attrs)
        hook = self._span_ending or self.rt.pm.hook.span_ending
        if has_impls(hook):
            _ending(hook, SpanView(kind, ev, span, totals))
        span.end(ev.end_time)
        m = self._metrics
        if m is not None and kind != A.KIND_PHASE:
            _measure(m, kind, state, ev.resolved_error_type if outcome is _FAILURE else None)

    def _content(self, attrs: dict[str, Any], value: Any, content_key: str, len_key: str, hash_key: str) -> None:
        if self.capture[0]:
            attrs[content_key] = redact(to_text(value))
        else:
            attrs[len_key], attrs[hash_key] = fingerprint(value)

    # --- names and start attributes, per kind --------------------------------------------
    @staticmethod
    def _workflow(ev: WorkflowEvent) -> tuple[str, dict[str, Any]]:
        attrs: dict[str, Any] = {
            A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_WORKFLOW,
            A.GEN_AI_WORKFLOW_NAME: ev.name,
            A.KIND: A.KIND_WORKFLOW,
            A.WORKFLOW_ID: ev.workflow_id,
        }
        _put(attrs, A.WORKFLOW_TEMPLATE, ev.template)
        _put(attrs, A.ISSUE_ID, ev.issue_id)
        _put(attrs, A.TASK_ID, ev.task_id)
        _put(attrs, A.GEN_AI_CONVERSATION_ID, ev.conversation_id or ev.session_id)
        _put(attrs, A.SESSION_ID, ev.session_id)
        _put(attrs, A.MODEL, ev.model)  # not gen_ai.request.model: no request is made at this level
        _put(attrs, A.COMPLEXITY, ev.complexity)
        if not ev.name:  # no meaningful name (the conventions: none rather than a constant)
            del attrs[A.GEN_AI_WORKFLOW_NAME]
            return A.OP_INVOKE_WORKFLOW, attrs
        return f"{A.OP_INVOKE_WORKFLOW} {ev.name}", attrs

    @staticmethod
    def _phase(ev: PhaseEvent) -> tuple[str, dict[str, Any]]:
        attrs: dict[str, Any] = {A.KIND: A.KIND_PHASE, A.WORKFLOW_ID: ev.workflow_id, A.PHASE_NAME: ev.name}
        _put(attrs, A.PHASE_NUMBER, ev.number)
        _put(attrs, A.WORKFLOW_NAME, ev.workflow_name)
        _put(attrs, A.WORKFLOW_TEMPLATE, ev.template)
        return f"phase {ev.name}", attrs

    @staticmethod
    def _step(ev: StepEvent) -> tuple[str, dict[str, Any]]:
        attrs: dict[str, Any] = {
            KIND: KIND_STEP,
            WORKFLOW_ID: ev.workflow_id,
            STEP_NAME: ev.name,
            ATTEMPT: ev.attempt,
        }
        agent = ev.agent
        if agent:
            attrs[GEN_AI_OPERATION_NAME] = OP_INVOKE_AGENT
            attrs[GEN_AI_AGENT_NAME] = agent
            name = f"{OP_INVOKE_AGENT} {agent}"
        else:
            name = f"step {ev.name}"
        if ev.skill is not None:
            attrs[A.SKILL] = ev.skill
        if ev.command is not None:
            attrs[A.COMMAND] = ev.command
        if ev.model is not None:
            # an agent's requested model (conventions); a step without an agent is no GenAI operation
            attrs[A.GEN_AI_REQUEST_MODEL if agent else A.MODEL] = ev.model
        if ev.task_id is not None:
            attrs[A.TASK_ID] = ev.task_id
        if ev.phase_name is not None:
            attrs[PHASE_NAME] = ev.phase_name
        if ev.workflow_name:
            attrs[WORKFLOW_NAME] = ev.workflow_name
        return name, attrs

    def _tool(self, ev: ToolCallEvent) -> tuple[str, dict[str, Any]]:
        attrs: dict[str, Any] = {
            A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL,
            A.GEN_AI_TOOL_NAME: ev.tool_name,
            A.KIND: A.KIND_TOOL_CALL,
            A.WORKFLOW_ID: ev.workflow_id,
        }
        _put(attrs, A.GEN_AI_TOOL_CALL_ID, ev.call_id)
        _put(attrs, A.GEN_AI_TOOL_TYPE, ev.tool_type)
        _put(attrs, A.STEP_NAME, ev.step_name)
        _put(attrs, A.GEN_AI_AGENT_NAME, ev.agent)
        _put(attrs, A.PHASE_NAME, ev.phase_name)
        _put(attrs, A.GEN_AI_SKILL_NAME, ev.skill)
        if ev.arguments is not None:
            self._content(
                attrs, ev.arguments, A.GEN_AI_TOOL_CALL_ARGUMENTS, A.TOOL_ARGUMENTS_LENGTH, A.TOOL_ARGUMENTS_SHA256
            )
        exe = ev.executable
        if exe:  # the shell-tool refinement: execute_tool {tool} {process.executable.name}
            attrs[A.PROCESS_EXECUTABLE_NAME] = exe
            return f"{A.OP_EXECUTE_TOOL} {ev.tool_name} {exe}", attrs
        return f"{A.OP_EXECUTE_TOOL} {ev.tool_name}", attrs

    # --- hooks -------------------------------------------------------------------------------
    @hookimpl
    def workflow_start(self, event: WorkflowEvent) -> None:
        name, attrs = self._workflow(event)
        self._begin(A.KIND_WORKFLOW, event, name, attrs)

    @hookimpl
    def workflow_end(self, event: WorkflowEvent) -> None:
        self._finish(A.KIND_WORKFLOW, event, self._workflow)

    @hookimpl
    def phase_start(self, event: PhaseEvent) -> None:
        name, attrs = self._phase(event)
        self._begin(A.KIND_PHASE, event, name, attrs)

    @hookimpl
    def phase_end(self, event: PhaseEvent) -> None:
        self._finish(A.KIND_PHASE, event, self._phase)

    @hookimpl
    def step_start(self, event: StepEvent) -> None:
        name, attrs = self._step(event)
        state: _State | None = self._begin(KIND_STEP, event, name, attrs)
        if event.attempt > 1:
            # A retry: count it on the enclosing workflow.
            while state is not None and state.kind != KIND_WORKFLOW:
                state = state.parent
            if state is not None:
                state.retries += 1

    @hookimpl
    def step_end(self, event: StepEvent) -> None:
        self._finish(KIND_STEP, event, self._step)

    @hookimpl
    def tool_call_start(self, event: ToolCallEvent) -> None:
        name, attrs = self._tool(event)
        self._begin(A.KIND_TOOL_CALL, event, name, attrs)

    @hookimpl
    def tool_call_end(self, event: ToolCallEvent) -> None:
        self._finish(A.KIND_TOOL_CALL, event, self._tool)

    @hookimpl
    def model_usage(self, usage: ModelUsage) -> None:
        attrs: dict[str, Any] = {
            GEN_AI_OPERATION_NAME: OP_CHAT,
            GEN_AI_REQUEST_MODEL: usage.model,
            KIND: KIND_MODEL_CALL,
            WORKFLOW_ID: usage.workflow_id,
            GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
            GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
            GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.cache_read_tokens,
            GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: usage.cache_write_tokens,
        }
        provider = usage.provider
        if provider is not None:
            attrs[GEN_AI_PROVIDER_NAME] = provider
        if usage.response_model is not None:
            attrs[A.GEN_AI_RESPONSE_MODEL] = usage.response_model
        if usage.response_id is not None:
            attrs[A.GEN_AI_RESPONSE_ID] = usage.response_id
        reasoning = usage.reasoning_tokens
        if reasoning:
            attrs[A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
        if usage.cache_write_1h_tokens:
            attrs[A.USAGE_CACHE_WRITE_1H_INPUT_TOKENS] = usage.cache_write_1h_tokens
        if usage.finish_reasons is not None or usage.server_address is not None or usage.server_port is not None:
            _put(attrs, A.GEN_AI_RESPONSE_FINISH_REASONS, usage.finish_reasons)
            _put(attrs, A.SERVER_ADDRESS, usage.server_address)
            _put(attrs, A.SERVER_PORT, usage.server_port)
        loaded = _prices_loaded()
        wait = usage.cost is None and not loaded and (usage.input_tokens or usage.output_tokens)
        if provider is None and loaded:
            attrs[GEN_AI_PROVIDER_NAME] = _provider_name(usage.model)
        if not wait:
            cost, _reason = _cost_attrs(usage, attrs)
        outcome = usage.outcome
        if outcome is not None:  # a timed call (model_call)
            attrs[OUTCOME] = outcome._value_
        if usage.attributes:
            attrs.update(usage.attributes)
        if usage.start_time is None and usage.end_time is not None:
            usage.start_time = usage.end_time  # recorded after the fact: no known duration
        content = None
        if self.capture != (False, False) and (
            usage.input_messages is not None
            or usage.output_messages is not None
            or usage.system_instructions is not None
        ):
            content = genai_content.content_of(usage)
            if self.capture[0]:
                attrs.update(genai_content.as_span_attributes(content))
        span, node = self._open_span(usage, f"{OP_CHAT} {usage.model}", attrs, _CLIENT)
        if content is not None and self.capture[1]:
            logger = self.logger
            if logger is not None:
                genai_content.emit_details(logger, span, attrs, content, usage.end_time)
        foreign = self.foreign
        duplicate = False
        if foreign is not None and (foreign.open or usage.response_id is not None):
            first = foreign.our_call(usage, span)
            if first is not None:  # another span counts this call already
                span.set_attribute(A.DUPLICATE_OF, first)
                node, duplicate = None, True
        if outcome is _FAILURE:
            failed: dict[str, Any] = {}
            _failure(span, usage, failed, self)
            span.set_attributes(failed)
        if wait:
            if self._hold(usage, span, node):
                return
            cost = _price_later(usage, span)  # loaded meanwhile
        # Roll the call up into every open ancestor.
        if node is not None:
            with _totals_lock:
                while node is not None:
                    node.add(usage, cost)
                    node = node.parent
        hook = self._span_ending or self.rt.pm.hook.span_ending
        if has_impls(hook):
            _ending(hook, SpanView(KIND_MODEL_CALL, usage, span, None))
        span.end(usage.end_time)
        m = self._metrics
        if m is not None and not duplicate:  # a duplicate's call is measured where it counts
            m.model_call_ended(usage, cost, span)

    # --- model calls that arrive before the price data ---------------------------------------
    def _hold(self, usage: ModelUsage, span: Any, node: _State | None) -> bool:
        """Price ``usage`` once the price data has loaded, on the loading thread: roll its
        tokens up now, and end its span, and the spans above it, then. Their timestamps are
        taken as they end here, so loading is never part of the caller's spans or time.
        False when the data loaded meanwhile (the caller prices it now)."""
        global _exit_wait_registered
        with self._hold_lock:
            held = self._held
            if held is not None and self._held_pid != os.getpid():  # forked: the parent's, not ours
                held = self._held = None
                self._waiting, self._deferred = [], []
            if held is None:
                from otel_agents import pricing

                if not pricing.when_loaded(self._release):
                    return False
                held = self._held = {}
                self._held_pid = os.getpid()
                if not _exit_wait_registered:  # after the sinks' own: runs before them at exit
                    _exit_wait_registered = True
                    import atexit

                    atexit.register(pricing.wait_loaded)
            self._waiting.append((usage, span, node))
            with _totals_lock:
                while node is not None:
                    held[node] = held.get(node, 0) + 1
                    node.add(usage, 0.0)  # priced by add_cost in _release
                    node = node.parent
        return True

    def _defer(self, kind: str, ev: LifecycleEvent, state: _State) -> bool:
        """Hold the end of a span above a call waiting for its price; False if none waits."""
        with self._hold_lock:
            held = self._held
            if held is None or not held.get(state):
                return False
            if ev.end_time is None:
                ev.end_time = time.time_ns()  # it ends now, whenever its span is ended
            self._deferred.append((kind, ev, state))
            return True

    def _release(self) -> None:
        """The price data has loaded: price the waiting calls, end their spans, then the
        spans whose end was held, in the order they ended."""
        with self._hold_lock:
            held = self._held or {}
            waiting, self._waiting = self._waiting, []
            hook = self._span_ending or self.rt.pm.hook.span_ending
            for usage, span, node in waiting:
                cost = _price_later(usage, span)
                with _totals_lock:
                    while node is not None:
                        held[node] -= 1
                        node.add_cost(cost)
                        node = node.parent
                if has_impls(hook):
                    _ending(hook, SpanView(KIND_MODEL_CALL, usage, span, None))
                span.end(usage.end_time)
                if self._metrics is not None and A.DUPLICATE_OF not in (span.attributes or {}):
                    self._metrics.model_call_ended(usage, cost, span)
            deferred, self._deferred = self._deferred, []
            for kind, ev, state in deferred:
                self._finish(kind, ev, None, state)
            self._held = None


def _provider_name(model: str) -> str:
    """``gen_ai.provider.name`` for a call the caller gave no provider: the provider whose
    price table has the model, else ``_OTHER``."""
    return provider_of(model) or A.PROVIDER_OTHER


def _measure(m: Any, kind: str, state: _State, error_type: str | None) -> None:
    """Record an ended workflow, step or tool-call span on the GenAI metrics ``m``; a tool
    call first counts on every open span above it (``gen_ai.invoke_agent.tool_calls``)."""
    if kind == KIND_TOOL_CALL:
        node = state.parent
        with _totals_lock:
            while node is not None:
                node.tool_calls += 1
                node = node.parent
    m.span_ended(kind, state, error_type)


def _price_later(usage: ModelUsage, span: Any) -> float | None:
    """Price a call whose span is already started; its own ``attributes`` still win."""
    attrs: dict[str, Any] = {}
    if usage.provider is None:
        attrs[GEN_AI_PROVIDER_NAME] = _provider_name(usage.model)
    cost, _reason = _cost_attrs(usage, attrs)
    for key in usage.attributes:
        attrs.pop(key, None)
    span.set_attributes(attrs)
    return cost


def cost_attributes(usage: ModelUsage, attrs: dict[str, Any]) -> float | None:
    """A model call's cost (``None``: no price), its cost attributes set into ``attrs``."""
    return _cost_attrs(usage, attrs)[0]


def call_cost(usage: ModelUsage) -> float | None:
    """The cost the engine gives a model call (provider-reported, else the local price), or
    ``None`` when it has none."""
    return _cost_attrs(usage, {})[0]


def plugin() -> SpanEngine:
    """The engine the plugin manager registers as ``spans``."""
    return SpanEngine()


#: ``time`` is re-exported for callers that stamp events the way this engine does.
now_ns = time.time_ns


#: The text fields of a step event that ``SpanEngine._step`` puts in the span's name and
#: start attributes (keep in step: tests/test_spans.py checks each one).
STEP_TEXT_FIELDS = (
    "name",
    "agent",
    "skill",
    "command",
    "model",
    "task_id",
    "phase_name",
    "workflow_name",
    "workflow_id",
)
#: The same for a model call (``SpanEngine.model_usage``; its ``attributes`` are checked apart).
USAGE_TEXT_FIELDS = (
    "model",
    "provider",
    "response_model",
    "response_id",
    "workflow_id",
    "server_address",
    "finish_reasons",
)
_step_text = operator.attrgetter(*STEP_TEXT_FIELDS)
_usage_text = operator.attrgetter(*USAGE_TEXT_FIELDS)


def _all_ascii(values: tuple[Any, ...]) -> bool:
    for v in values:
        if v.__class__ is str:
            if not v.isascii():
                return False
        elif v is not None:  # not text at all: let the full check look at it
            return False
    return True


def _valid_attrs(attrs: dict[str, Any]) -> None:
    """Make the strings of ``attrs`` valid Unicode in place (see ``_valid_strings``); a
    plain-dict pass, before the SDK copies them, costs far less than reading the span's."""
    for key, value in attrs.items():
        if value.__class__ is str:
            if not value.isascii():
                good = valid_text(value)
                if good is not value:
                    attrs[key] = good  # same key: no resize while iterating
        elif value.__class__ is tuple and value and value[0].__class__ is str:
            good_t = tuple(valid_text(v) for v in value)
            if any(a is not b for a, b in zip(good_t, value, strict=True)):
                attrs[key] = good_t


def _valid_strings(span: Any) -> None:
    """The span's name and string attributes as valid Unicode: one lone surrogate (a file
    name decoded with ``surrogateescape``, say) would make every sink's encoder fail the
    whole batch it is in, and replay stop at that spool line."""
    name = span.name
    if not name.isascii():
        span.update_name(valid_text(name))
    fixed: dict[str, Any] = {}
    for key, value in (span.attributes or {}).items():
        if value.__class__ is str:
            if not value.isascii():
                good = valid_text(value)
                if good is not value:
                    fixed[key] = good
        elif value.__class__ is tuple and value and value[0].__class__ is str:
            good_t = tuple(valid_text(v) for v in value)
            if any(a is not b for a, b in zip(good_t, value, strict=True)):
                fixed[key] = good_t
    if fixed:
        span.set_attributes(fixed)


def _stacktrace(exc: BaseException) -> str:
    """The exception's formatted traceback, as the SDK records it, with secrets redacted."""
    import traceback

    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:  # noqa: BLE001 - a broken __str__ must not cost the span
        text = type(exc).__name__
    return valid_text(redact(text))
