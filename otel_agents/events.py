"""The lifecycle events passed to every hook: small, typed, documented dataclasses.

One event object describes one span-shaped thing (a workflow run, a phase, a step, a tool
call) and travels from its ``*_start`` hook to its ``*_end`` hook; the end hook sees the same
object with ``outcome``, ``error`` and ``end_time`` filled in. ``ModelUsage`` describes one
model call and is complete when its hook fires.

Identity: ``workflow_id`` names one run; ``key`` names the thing inside the run (a path
such as ``phase:build/step:coder#2``) and ``parent_key`` its parent. Trace and span ids
derive from these, so an event recorded in one process and replayed in another, with its
real ``start_time``/``end_time``, lands on the same span.

Times are integers, nanoseconds since the Unix epoch (``time.time_ns()``), as in OpenTelemetry.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Outcome(str, enum.Enum):
    """How a workflow, phase, step or tool call ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    ABANDONED = "abandoned"


def outcome_of(exc: BaseException | None) -> Outcome:
    """What an exception that ends a workflow, phase, step or call means.

    None, ``SystemExit(0)``/``SystemExit(None)`` (a clean exit) and ``GeneratorExit`` (a
    generator closed by its consumer): success. ``KeyboardInterrupt``, task cancellation
    (``asyncio.CancelledError``) and any other ``BaseException`` that is not an
    ``Exception``: abandoned. Any ``Exception``, and a non-zero ``SystemExit``: failure.
    """
    if exc is None or isinstance(exc, GeneratorExit):
        return Outcome.SUCCESS
    if isinstance(exc, SystemExit):
        return Outcome.SUCCESS if exc.code in (0, None) else Outcome.FAILURE
    return Outcome.FAILURE if isinstance(exc, Exception) else Outcome.ABANDONED


def exception_type(exc: BaseException) -> str:
    """An exception's fully qualified class name (``ValueError``, ``json.decoder.JSONDecodeError``),
    as the OpenTelemetry SDK writes ``exception.type``; ``error.type`` uses the same."""
    cls = type(exc)
    module = cls.__module__
    return f"{module}.{cls.__qualname__}" if module and module != "builtins" else cls.__qualname__


@dataclass(slots=True, kw_only=True)
class SpanParent:
    """An explicit parent: a span recorded elsewhere (another process, a log).

    :param trace_id: 128-bit trace id as an int.
    :param span_id: 64-bit span id as an int.
    """

    trace_id: int
    span_id: int


@dataclass(slots=True, kw_only=True)
class LifecycleEvent:
    """Fields every span-shaped event has.

    :param workflow_id: id of the workflow run (run id). Trace ids derive from it.
    :param key: this event's key inside the run; span ids derive from ``(workflow_id, key)``.
    :param parent_key: key of the parent event (``None`` for a workflow).
    :param start_time: explicit start, ns since the epoch; ``None`` means "now".
    :param end_time: explicit end, ns since the epoch; ``None`` means "now" at the end hook.
    :param parent: explicit parent span (cross-process); overrides the derived parent.
    :param outcome: set before the end hook: success, failure or abandoned.
    :param error: the exception or error text of a failure.
    :param error_type: low-cardinality error class; defaults to the exception's fully
        qualified class name (``exception_type``).
    :param attributes: extra span attributes the caller wants recorded.
    :param derive_ids: derive the trace and span ids from ``workflow_id`` and ``key``
        (the default for events given to the hooks directly, e.g. replayed from a log);
        the executor API sets it only for caller-given keys, so two runs that reuse a
        workflow id never share span ids.
    :param conversation_id: the conversation (session) this span belongs to
        (``gen_ai.conversation.id``); by default the open parent span's, so only a span
        whose parent is recorded elsewhere needs it.
    """

    workflow_id: str
    key: str = ""
    parent_key: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    parent: SpanParent | None = None
    outcome: Outcome | None = None
    error: BaseException | str | None = None
    error_type: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    derive_ids: bool = True
    conversation_id: str | None = None

    @property
    def error_message(self) -> str | None:
        """The error as text (``"ValueError: bad input"``), or ``None``."""
        err = self.error
        if err is None:
            return None
        if isinstance(err, BaseException):
            text = str(err)
            return f"{type(err).__name__}: {text}" if text else type(err).__name__
        return str(err)

    @property
    def resolved_error_type(self) -> str | None:
        """``error_type``, else the exception's class (``exception_type``), else ``_OTHER``."""
        if self.error_type:
            return self.error_type
        if isinstance(self.error, BaseException):
            return exception_type(self.error)
        if self.outcome is Outcome.FAILURE or self.error is not None:
            return "_OTHER"
        return None


@dataclass(slots=True, kw_only=True)
class WorkflowEvent(LifecycleEvent):
    """One workflow run (seed 001's ``workflow_history`` row).

    :param name: workflow name, e.g. ``"feature-build"``.
    :param template: workflow template or type, e.g. ``"sdlc"``.
    :param issue_id: the issue or ticket the run works on.
    :param task_id: the task id, where the executor has one.
    :param session_id: conversation or session id (``gen_ai.conversation.id``).
    :param model: the model, when the run uses exactly one.
    :param attempts: attempts the run took so far; retries = attempts - 1 (seed 002).
    :param complexity: task complexity where recorded (low, medium, high).
    """

    name: str
    template: str | None = None
    issue_id: str | None = None
    task_id: str | None = None
    session_id: str | None = None
    model: str | None = None
    attempts: int = 1
    complexity: str | None = None


@dataclass(slots=True, kw_only=True)
class PhaseEvent(LifecycleEvent):
    """One phase of a workflow (plan, build, test, review; seed 001's ``task_logs``).

    :param name: phase name.
    :param number: 1-based phase number.
    :param workflow_name: the enclosing workflow's name.
    :param template: the enclosing workflow's template.
    """

    name: str
    number: int | None = None
    workflow_name: str | None = None
    template: str | None = None


@dataclass(slots=True, kw_only=True)
class StepEvent(LifecycleEvent):
    """One step: one attempt of an agent, skill or command inside a phase.

    :param name: step name.
    :param agent: the agent that runs the step; the span becomes ``invoke_agent {agent}``.
    :param skill: the skill invoked, where the executor has skills.
    :param command: the command run, where the executor has commands.
    :param attempt: 1-based attempt number of this step.
    :param model: the model the step uses, where known up front.
    :param task_id: task id, when a step works on its own task.
    :param phase_name: the enclosing phase's name.
    :param workflow_name: the enclosing workflow's name.
    """

    name: str
    agent: str | None = None
    skill: str | None = None
    command: str | None = None
    attempt: int = 1
    model: str | None = None
    task_id: str | None = None
    phase_name: str | None = None
    workflow_name: str | None = None


@dataclass(slots=True, kw_only=True)
class ToolCallEvent(LifecycleEvent):
    """One tool call (pre at the start hook, post at the end hook).

    :param tool_name: the tool, e.g. ``"Read"`` or ``"Bash"``.
    :param call_id: the call's id (``toolu_...``), pairing pre and post.
    :param tool_type: ``function``, ``extension`` or ``datastore``.
    :param arguments: the call's arguments. Recorded only as length and hash unless
        content capture is on.
    :param result: the call's result, recorded like ``arguments``.
    :param step_name: the enclosing step's name.
    :param agent: the enclosing step's agent.
    :param phase_name: the enclosing phase's name.
    :param skill: the skill the call loads or runs (``gen_ai.skill.name``).
    :param executable: the program a shell tool runs (``process.executable.name``); the
        span becomes ``execute_tool {tool} {executable}``.
    """

    tool_name: str
    call_id: str | None = None
    tool_type: str | None = None
    arguments: Any = None
    result: Any = None
    step_name: str | None = None
    agent: str | None = None
    phase_name: str | None = None
    skill: str | None = None
    executable: str | None = None


@dataclass(slots=True, kw_only=True)
class ModelUsage:
    """One model call: tokens, and optionally the cost the provider reported.

    Token counts have the semantic-convention meaning: ``input_tokens`` INCLUDES cached
    tokens (Anthropic's own ``input_tokens`` excludes them; see ``from_anthropic``).

    :param workflow_id: the run this call belongs to.
    :param model: the requested model.
    :param provider: ``gen_ai.provider.name``: anthropic, openai, ...
    :param input_tokens: all input tokens, cache reads and writes included.
    :param output_tokens: output tokens.
    :param cache_read_tokens: input tokens served from the cache.
    :param cache_write_tokens: input tokens written to the cache.
    :param cache_write_1h_tokens: of ``cache_write_tokens``, those written for an hour
        (Anthropic's ``ephemeral_1h_input_tokens``), priced at the 1-hour rate.
    :param reasoning_tokens: output tokens spent on reasoning, where reported.
    :param cost: the cost the provider reported, USD; wins over the local price.
    :param response_model: the model that answered, if it differs.
    :param response_id: the provider's response id.
    :param key: this call's key; ``parent_key`` its step (or phase, or workflow).
    :param start_time: call start, ns since the epoch.
    :param end_time: call end, ns since the epoch.
    :param parent: explicit parent span (cross-process).
    :param attributes: extra span attributes.
    :param derive_ids: derive the span id from ``workflow_id`` and ``key`` (see
        ``LifecycleEvent``).
    :param outcome: how the call ended, when it was timed (``otel_agents.model_call``):
        success, failure or abandoned; ``None`` for a call recorded after the fact.
    :param error: the exception or error text of a failed call (its usage still counts).
    :param error_type: low-cardinality error class, as for ``LifecycleEvent``.
    :param conversation_id: as for ``LifecycleEvent``.
    :param finish_reasons: why the model stopped (``gen_ai.response.finish_reasons``):
        ``("end_turn",)``, ``("stop", "length")``.
    :param server_address: the host the call went to (``server.address``).
    :param server_port: its port (``server.port``).
    :param input_messages: the messages sent (content; recorded only with content capture
        on): a string, or a list of ``{"role", "content"}`` / ``{"role", "parts"}`` dicts.
    :param output_messages: the model's answer, in the same forms.
    :param system_instructions: the system prompt given apart from the messages: a string,
        or a list of strings or ``{"type", "content"}`` parts.
    """

    workflow_id: str
    model: str
    provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float | None = None
    response_model: str | None = None
    response_id: str | None = None
    key: str = ""
    parent_key: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    parent: SpanParent | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    derive_ids: bool = True
    outcome: Outcome | None = None
    error: BaseException | str | None = None
    error_type: str | None = None
    conversation_id: str | None = None
    finish_reasons: tuple[str, ...] | None = None
    server_address: str | None = None
    server_port: int | None = None
    input_messages: Any = None
    output_messages: Any = None
    system_instructions: Any = None

    error_message = LifecycleEvent.error_message
    resolved_error_type = LifecycleEvent.resolved_error_type

    @staticmethod
    def anthropic_tokens(usage: Any) -> dict[str, int]:
        """The token counts of an Anthropic ``usage`` (``response.usage``, an object or a
        dict), with the semantic-convention meaning: the keyword arguments of ``record_usage``.

        Anthropic's ``input_tokens`` excludes cache tokens: input becomes input + cache reads
        + cache writes, and ``cache_creation.ephemeral_1h_input_tokens`` the 1-hour cache
        writes. The mapping is genai-prices' own Anthropic usage extraction.
        """
        from otel_agents.pricing import anthropic_usage

        return anthropic_usage(usage)

    @classmethod
    def from_anthropic(cls, usage: Any, **kwargs: Any) -> ModelUsage:
        """A ``ModelUsage`` from an Anthropic ``usage`` (see ``anthropic_tokens``) and the
        other fields (``workflow_id``, ``model``, ...) as keyword arguments."""
        tokens: dict[str, Any] = cls.anthropic_tokens(usage)
        return cls(**tokens, **kwargs)


#: Every span-shaped event type, by lifecycle kind.
EVENT_TYPES: dict[str, type[LifecycleEvent]] = {
    "workflow": WorkflowEvent,
    "phase": PhaseEvent,
    "step": StepEvent,
    "tool_call": ToolCallEvent,
}
