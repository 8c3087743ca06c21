"""The plugin contract: every hook otel-agents calls, and what it means.

A plugin is any object or module with functions named after these hooks and marked with
``otel_agents.hookimpl``. Ship one as a distribution with an entry point in the
``otel_agents`` group; it is loaded lazily, once, on first use. A hook implementation may
take any subset of the hook's parameters, by name.

Every implementation is isolated (``otel_agents.plugins.call_hook``): an exception it raises
is logged (rate-limited) and counted, the other implementations still run, and the caller
never sees it. With ``OTEL_AGENTS_STRICT=1`` it is re-raised instead, so tests catch plugin
bugs. A plugin implementing a hook not listed here is disabled when it is loaded.

Order: for one workflow the hooks fire as ``workflow_start``, then for each phase
``phase_start`` ... ``phase_end``, with steps, tool calls and model usage nested the same
way, then ``workflow_end``. ``span_ending`` fires for every span the span engine
(``otel_agents.spans``) is about to end. ``register_sinks``, then ``sink_processor``, then
``metric_exporter`` fire once, when telemetry is set up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.sdk.trace import SpanProcessor

    from otel_agents.config import Config
    from otel_agents.events import ModelUsage, PhaseEvent, StepEvent, ToolCallEvent, WorkflowEvent
    from otel_agents.rollup import SpanView
    from otel_agents.sink_contract import Sink, SinkSet

PROJECT_NAME = "otel_agents"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def workflow_start(event: WorkflowEvent) -> None:
    """A workflow run starts.

    :param event: the run: ``workflow_id``, ``name``, ``template``, issue and task ids,
        ``start_time`` (``None`` means now). The same object reaches ``workflow_end``.
    """


@hookspec
def workflow_end(event: WorkflowEvent) -> None:
    """A workflow run ends.

    :param event: the object given to ``workflow_start``, now with ``outcome``
        (success, failure, abandoned), ``error`` on failure, ``attempts`` and ``end_time``.
    """


@hookspec
def phase_start(event: PhaseEvent) -> None:
    """A phase (plan, build, test, review, ...) of a workflow starts.

    :param event: the phase: ``name``, ``number``, ``workflow_id``, ``parent_key`` (the
        workflow's key) and ``start_time``.
    """


@hookspec
def phase_end(event: PhaseEvent) -> None:
    """A phase ends.

    :param event: the object given to ``phase_start``, now with ``outcome``, ``error`` and
        ``end_time``.
    """


@hookspec
def step_start(event: StepEvent) -> None:
    """A step starts: one attempt of an agent, skill or command.

    :param event: the step: ``name``, ``agent``, ``skill``, ``command``, ``attempt``,
        ``model``, ``parent_key`` (its phase, or the workflow) and ``start_time``.
    """


@hookspec
def step_end(event: StepEvent) -> None:
    """A step ends.

    :param event: the object given to ``step_start``, now with ``outcome``, ``error`` and
        ``end_time``. A failed attempt followed by a retry is two steps, attempts 1 and 2.
    """


@hookspec
def tool_call_start(event: ToolCallEvent) -> None:
    """A tool call is about to run (pre).

    :param event: the call: ``tool_name``, ``call_id``, ``arguments``, ``parent_key``
        (its step) and ``start_time``.
    """


@hookspec
def tool_call_end(event: ToolCallEvent) -> None:
    """A tool call finished (post), or failed.

    :param event: the object given to ``tool_call_start``, now with ``result``,
        ``outcome``, ``error`` and ``end_time``.
    """


@hookspec
def model_usage(usage: ModelUsage) -> None:
    """One model call finished, with its token usage.

    :param usage: model, provider, input (cache included), output, cache-read and
        cache-write tokens (of which 1-hour writes), an optional provider-reported ``cost`` in USD, and
        ``parent_key``: the step (or phase, or workflow) that made the call. A call
        timed with ``model_call`` has its real ``start_time`` and ``end_time``, and an
        ``outcome`` (with ``error`` when it failed); one recorded after the fact with
        ``record_usage`` has ``outcome`` ``None``.
    """


@hookspec
def span_ending(span: SpanView) -> None:
    """The span engine is about to end a span: add attributes or events to it.

    Viewer-mapping plugins (OpenInference, Langfuse) and policy plugins (budgets) use
    this hook; it is the only place a plugin touches a span.

    :param span: a view of the span (``otel_agents.SpanView``): ``kind`` (workflow, phase,
        step, tool_call, model_call), the ``event`` behind it, the ``totals`` rolled up
        beneath it (``otel_agents.UsageTotals``),
        ``attributes`` so far, and ``set_attribute`` / ``add_event`` to change it.
    """


@hookspec
def register_sinks(config: Config) -> list[Sink] | None:
    """Return the sinks (exporters) this plugin adds; every finished span reaches each.

    Called once, when telemetry is set up. Each sink runs in its own failure domain: one
    that raises, hangs or is slow never delays the workflow or another sink.

    :param config: the effective configuration (environment, ``OTEL_AGENTS_*`` and
        ``.otel-agents/config.toml``); ``config.home`` is the data directory.
    :return: a list of sinks, or ``None`` for none.
    """


@hookspec(firstresult=True)
def sink_processor(sinks: SinkSet) -> SpanProcessor | None:
    """Return the span processor that fans every finished span out to ``sinks.sinks``.

    Called once, when telemetry is set up and ``register_sinks`` returned sinks. The first
    non-``None`` answer is used; the default ``sinks`` plugin answers with otel-agents'
    isolated, durable sink processor (``otel_agents.sink.SinkProcessor``), so a plugin
    implements this only to replace that processor.

    :param sinks: a ``otel_agents.sink_contract.SinkSet``: ``sinks``, every sink
        ``register_sinks`` returned, in registration order, and ``config``, the effective
        configuration.
    :return: an OpenTelemetry ``SpanProcessor``, or ``None`` to leave the choice to others.
    """


@hookspec(firstresult=True)
def metric_exporter(config: Config) -> MetricExporter | None:
    """Return the exporter of the GenAI metrics, when otel-agents builds its own meter provider.

    Called once, when telemetry is set up with its sinks, metrics are on
    (``OTEL_METRICS_EXPORTER`` is not ``none``) and the application installed no meter
    provider of its own. The first non-``None`` answer is used; the default ``sinks`` plugin
    answers with an OTLP exporter bounded by the exit deadline (docs/metrics-otel.md).

    :param config: the effective configuration.
    :return: an OpenTelemetry ``MetricExporter``, or ``None`` to leave the choice to others.
    """


#: Every hook name, in lifecycle order. Tests and docs iterate over this.
HOOK_NAMES: tuple[str, ...] = (
    "workflow_start",
    "workflow_end",
    "phase_start",
    "phase_end",
    "step_start",
    "step_end",
    "tool_call_start",
    "tool_call_end",
    "model_usage",
    "span_ending",
    "register_sinks",
    "sink_processor",
    "metric_exporter",
)


def __getattr__(name: str) -> Any:  # pragma: no cover - helpful error only
    raise AttributeError(f"otel_agents.hookspecs has no hook {name!r}; hooks are {HOOK_NAMES}")
