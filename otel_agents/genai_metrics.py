"""GenAI metrics: what the span engine ends live, on OpenTelemetry instruments.

The span engine calls :class:`GenAIMetrics` as it ends a span that happens now: a workflow,
an agent step, a tool call or a model call recorded through the API or captured live by the
Claude Code hooks (the drain turns those events into spans). Code that rebuilds spans of
the past (an import, a re-export) wraps that work in :meth:`GenAIMetrics.not_live`
(``otel_agents.metrics_not_live()`` for the process runtime's), so dashboards never count a
call twice; replaying the spool sends spans only, never metrics.

Instruments (docs/metrics-otel.md): ``gen_ai.invocation.duration``,
``gen_ai.execute_tool.duration``, ``gen_ai.client.operation.duration`` (timed model calls),
``gen_ai.invoke_agent.inference_calls`` / ``.tool_calls``, the
``gen_ai.client.inference.usage.*`` token counters, and ``otel_agents.client.inference.cost``
(USD) with ``otel_agents.client.inference.unpriced_calls``. Attribute sets are
low-cardinality: names, never ids.

The meter provider: the application's, when it installed an SDK one; else, with the sinks,
one of our own exporting through the ``metric_exporter`` hook (OTLP by default), never set
as the global one; ``OTEL_METRICS_EXPORTER=none`` switches metrics off. Its last export at
exit shares the spans' exit deadline (:class:`MetricsPipeline`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from otel_agents import attributes as A, lifecycle, threads
from otel_agents.plugins import call_hook
from otel_agents.safety import isolated

logger = logging.getLogger("otel_agents")

METER_NAME = "otel_agents"

INVOCATION_DURATION = "gen_ai.invocation.duration"
EXECUTE_TOOL_DURATION = "gen_ai.execute_tool.duration"
CLIENT_OPERATION_DURATION = "gen_ai.client.operation.duration"
INVOKE_AGENT_INFERENCE_CALLS = "gen_ai.invoke_agent.inference_calls"
INVOKE_AGENT_TOOL_CALLS = "gen_ai.invoke_agent.tool_calls"
USAGE_INPUT_TOKENS = "gen_ai.client.inference.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.client.inference.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.client.inference.usage.cache_read.input_tokens"
USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.client.inference.usage.cache_write.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.client.inference.usage.reasoning.output_tokens"
INFERENCE_COST = "otel_agents.client.inference.cost"
INFERENCE_UNPRICED_CALLS = "otel_agents.client.inference.unpriced_calls"

#: Seconds, doubling: invocations and tool calls (the conventions' advice).
DURATION_BUCKETS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6)
#: Seconds: one model call (``gen_ai.client.operation.duration``'s advice).
CLIENT_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
#: Calls per agent invocation.
CALL_COUNT_BUCKETS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

_EXPORTERS = ("otlp", "none")


class _Local(threading.local):
    paused = 0  # class default: a thread that never paused reads it without an AttributeError


class GenAIMetrics:
    """The GenAI instruments of one meter provider, and what records on them.

    The span engine calls :meth:`span_ended` and :meth:`model_call_ended`; anything else that
    knows of a model call made now (another instrumentation's GenAI span, say) calls
    :meth:`record_model_call` once per call, with the tokens and the cost it counted.
    """

    def __init__(self, meter_provider: Any, pipeline: MetricsPipeline | None = None) -> None:
        from otel_agents import __version__

        self.meter_provider = meter_provider
        self.pipeline = pipeline
        self._local = _Local()
        m = meter_provider.get_meter(METER_NAME, __version__)

        def hist(name: str, unit: str, description: str, buckets: tuple[float, ...]) -> Any:
            return m.create_histogram(name, unit, description, explicit_bucket_boundaries_advisory=buckets)

        counter = m.create_counter
        self.invocation_duration = hist(
            INVOCATION_DURATION, "s", "GenAI workflow and agent invocation duration.", DURATION_BUCKETS
        )
        self.tool_duration = hist(EXECUTE_TOOL_DURATION, "s", "GenAI tool execution duration.", DURATION_BUCKETS)
        self.client_duration = hist(
            CLIENT_OPERATION_DURATION, "s", "GenAI operation duration.", CLIENT_DURATION_BUCKETS
        )
        self.inference_calls = hist(
            INVOKE_AGENT_INFERENCE_CALLS,
            "{inference_call}",
            "Model calls made during one agent invocation.",
            CALL_COUNT_BUCKETS,
        )
        self.tool_calls = hist(
            INVOKE_AGENT_TOOL_CALLS, "{tool_call}", "Tool calls made during one agent invocation.", CALL_COUNT_BUCKETS
        )
        tok = "{token}"
        self.input_tokens = counter(USAGE_INPUT_TOKENS, tok, "Input tokens used, including cached tokens.")
        self.output_tokens = counter(USAGE_OUTPUT_TOKENS, tok, "Output tokens used, including reasoning tokens.")
        self.cache_read_tokens = counter(USAGE_CACHE_READ_INPUT_TOKENS, tok, "Input tokens served from a cache.")
        self.cache_write_tokens = counter(USAGE_CACHE_WRITE_INPUT_TOKENS, tok, "Input tokens written to a cache.")
        self.reasoning_tokens = counter(USAGE_REASONING_OUTPUT_TOKENS, tok, "Output tokens used for reasoning.")
        self.cost = counter(INFERENCE_COST, "{USD}", "Cost of the priced model calls, in US dollars.")
        self.unpriced_calls = counter(
            INFERENCE_UNPRICED_CALLS, "{call}", "Model calls with no known cost (not in the cost counter)."
        )

    # --- live or not ---------------------------------------------------------------------
    @property
    def live(self) -> bool:
        """False inside :meth:`not_live` on this thread."""
        return not self._local.paused

    @contextlib.contextmanager
    def not_live(self) -> Iterator[None]:
        """Record nothing on this thread meanwhile: for spans rebuilt from the past (an
        import, a re-export), which the metrics counted when they happened, or never will."""
        local = self._local
        local.paused += 1
        try:
            yield
        finally:
            local.paused -= 1

    # --- from the span engine ------------------------------------------------------------
    def span_ended(self, kind: str, state: Any, error_type: str | None) -> None:
        """The engine ended the workflow, step or tool-call span of ``state`` (an open span of
        ``otel_agents.spans``: ``span``, ``event``, ``parent``, ``model_calls``, ``tool_calls``).
        Phases and steps without an agent are not GenAI invocations: nothing is recorded."""
        if self._local.paused:
            return
        span = state.span
        start, end = getattr(span, "start_time", None), getattr(span, "end_time", None)
        if start is None or end is None:  # not recording (sampled out)
            return
        seconds = (end - start) / 1e9
        ev = state.event
        if kind == A.KIND_TOOL_CALL:
            attrs: dict[str, Any] = {A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL, A.GEN_AI_TOOL_NAME: ev.tool_name}
            if ev.tool_type:
                attrs[A.GEN_AI_TOOL_TYPE] = ev.tool_type
            if ev.agent:
                attrs[A.GEN_AI_AGENT_NAME] = ev.agent
            if error_type:
                attrs[A.ERROR_TYPE] = error_type
            self.tool_duration.record(seconds, attrs)
            return
        nested = state.parent is not None or ev.parent_key is not None or ev.parent is not None
        if kind == A.KIND_WORKFLOW:
            attrs = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_WORKFLOW}
            if ev.name:
                attrs[A.GEN_AI_WORKFLOW_NAME] = ev.name
        elif kind == A.KIND_STEP and ev.agent:
            attrs = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT, A.GEN_AI_AGENT_NAME: ev.agent}
            calls = {A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_AGENT, A.GEN_AI_AGENT_NAME: ev.agent}
            self.inference_calls.record(state.model_calls, calls)
            self.tool_calls.record(state.tool_calls, calls)
        else:
            return
        attrs[A.GEN_AI_INVOCATION_IS_NESTED] = nested
        if error_type:
            attrs[A.ERROR_TYPE] = error_type
        self.invocation_duration.record(seconds, attrs)

    def model_call_ended(self, usage: Any, cost: float | None, span: Any) -> None:
        """The engine ended the model-call span of ``usage`` (an ``otel_agents.ModelUsage``),
        priced at ``cost`` (``None``: unpriced; its span says why)."""
        if self._local.paused:
            return
        seconds = None
        if usage.outcome is not None:  # a timed call (model_call): its span's duration
            start, end = getattr(span, "start_time", None), getattr(span, "end_time", None)
            if start is not None and end is not None:
                seconds = (end - start) / 1e9
        attrs = getattr(span, "attributes", None) or {}
        reason = None
        if cost is None:
            reason = attrs.get(A.COST_UNAVAILABLE_REASON, "unknown")
        self.record_model_call(
            model=usage.model,
            provider=usage.provider or attrs.get(A.GEN_AI_PROVIDER_NAME),
            response_model=usage.response_model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost=cost,
            unpriced_reason=reason,
            duration_s=seconds,
            error_type=usage.resolved_error_type if usage.outcome is not None else None,
        )

    # --- the entry point for any model call ----------------------------------------------
    def record_model_call(
        self,
        *,
        model: str,
        provider: str | None = None,
        response_model: str | None = None,
        operation: str = A.OP_CHAT,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        cost: float | None = None,
        unpriced_reason: str | None = None,
        duration_s: float | None = None,
        error_type: str | None = None,
    ) -> None:
        """Record one model call made now: the token counters, the cost counter (or the
        unpriced-calls counter when ``cost`` is ``None``), and its duration when it was timed.

        This is the one entry point for model calls otel-agents did not build itself, such as
        another instrumentation's GenAI span (pydantic-ai, OpenInference) counted as a call of
        one of our steps: call it once per accepted call, live only (never for an import or
        a replay), with tokens in the conventions' meaning (``input_tokens`` includes cached
        tokens) and ``cost`` in USD. Within :meth:`not_live` it records nothing.

        :param unpriced_reason: why ``cost`` is unknown (``otel_agents.cost.unavailable_reason``
            values: ``unknown_model``, ``no_usage``, ...).
        :param duration_s: the call's duration, when it was timed
            (``gen_ai.client.operation.duration``).
        :param error_type: the failed call's ``error.type``, on its duration only.
        """
        if self._local.paused:
            return
        attrs: dict[str, Any] = {A.GEN_AI_OPERATION_NAME: operation, A.GEN_AI_REQUEST_MODEL: model}
        if provider:
            attrs[A.GEN_AI_PROVIDER_NAME] = provider
        if response_model:
            attrs[A.GEN_AI_RESPONSE_MODEL] = response_model
        if duration_s is not None:
            timed = dict(attrs)
            if error_type:
                timed[A.ERROR_TYPE] = error_type
            self.client_duration.record(duration_s, timed)
        if cost is not None:
            self.cost.add(cost, attrs)
        else:
            self.unpriced_calls.add(1, {**attrs, A.COST_UNAVAILABLE_REASON: unpriced_reason or "unknown"})
        attrs[A.GEN_AI_TOKEN_MODALITY] = A.TOKEN_MODALITY_UNKNOWN
        self.input_tokens.add(input_tokens, attrs)
        self.output_tokens.add(output_tokens, attrs)
        if cache_read_tokens:
            self.cache_read_tokens.add(cache_read_tokens, attrs)
        if cache_write_tokens:
            self.cache_write_tokens.add(cache_write_tokens, attrs)
        if reasoning_tokens:
            self.reasoning_tokens.add(reasoning_tokens, attrs)

    # a bug here is reported and counted, never raised into the workflow
    span_ended = isolated("GenAI metrics", span_ended)
    model_call_ended = isolated("GenAI metrics", model_call_ended)
    record_model_call = isolated("GenAI metrics", record_model_call)


class MetricsPipeline:
    """Our own meter provider's lifecycle: its last export at exit within the exit deadline.

    At exit, :meth:`begin_exit` runs first (registered after the sinks): it tells the exporter
    the deadline and starts the final collection on a helper thread, so the spans' sinks and
    the metrics share one deadline; :meth:`finish_exit` (registered before the sinks) waits
    for it, at most until that deadline. SIGTERM and multiprocessing workers reach it through
    ``otel_agents.lifecycle``.
    """

    def __init__(self, provider: Any, exporter: Any, exit_deadline: float) -> None:
        self.provider = provider
        self.exporter = exporter
        self.exit_deadline = max(0.0, float(exit_deadline))
        self._deadline: float | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        lifecycle.track(self)

    def begin_exit(self, deadline: float | None = None) -> None:
        """Start the last export (once), to end by ``exit_deadline`` from now, or ``deadline``."""
        with self._lock:
            if self._deadline is not None:
                return
            own = time.monotonic() + self.exit_deadline
            self._deadline = d = own if deadline is None else min(own, deadline)
        begin = getattr(self.exporter, "begin_shutdown", None)
        if callable(begin):
            begin(d)
        t = threading.Thread(target=self._shutdown, name="otel-agents-metrics-exit", daemon=True)
        try:
            threads.start(t)
        except RuntimeError:  # no new thread at this point of the interpreter's exit
            self._shutdown()
            return
        self._thread = t

    def _shutdown(self) -> None:
        d = self._deadline or time.monotonic()
        try:
            self.provider.shutdown(timeout_millis=max(1.0, (d - time.monotonic()) * 1000))
        except Exception as exc:  # noqa: BLE001 - never into the exit path
            logger.debug("otel-agents: metrics shutdown: %s", exc)

    def finish_exit(self) -> None:
        """Wait for the last export, until the deadline at most."""
        t, d = self._thread, self._deadline
        if t is not None and d is not None:
            t.join(max(0.0, d - time.monotonic()))
        lifecycle.untrack(self)

    # --- lifecycle participant (SIGTERM, multiprocessing workers, fork) ---------------------
    def shutdown(self, deadline: float | None = None) -> None:
        self.begin_exit(deadline)
        self.finish_exit()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        if self._deadline is not None:
            return True
        begin = getattr(self.exporter, "begin_shutdown", None)
        if callable(begin):
            begin(time.monotonic() + timeout_millis / 1000.0)
        try:
            return bool(self.provider.force_flush(timeout_millis))
        finally:
            if callable(begin):
                begin(None)

    def before_fork(self, deadline: float) -> None:
        return None

    def after_fork_child(self) -> None:
        return None  # the SDK restarts its reader's thread in the child


def build(
    config: Any,
    pm: Any,
    resource: Any,
    *,
    meter_provider: Any = None,
    with_sinks: bool = True,
) -> GenAIMetrics | None:
    """The GenAI metrics of a runtime being set up, or ``None`` when they are off.

    ``meter_provider`` (tests, benchmarks) is used as given. Otherwise: the application's SDK
    meter provider if it installed one; else, with ``with_sinks``, our own, exporting through
    the ``metric_exporter`` hook (never installed globally).
    """
    name = str(config.get("otel_metrics.exporter", "otlp") or "otlp").strip().lower()
    if name == "none":
        return None
    if meter_provider is not None:
        return GenAIMetrics(meter_provider)
    from opentelemetry import metrics as metrics_api
    from opentelemetry.sdk.metrics import MeterProvider

    current = metrics_api.get_meter_provider()
    if isinstance(current, MeterProvider):
        return GenAIMetrics(current)
    if not with_sinks:
        return None
    if name not in _EXPORTERS:
        logger.warning("otel-agents: OTEL_METRICS_EXPORTER=%s is not supported (otlp, none); using otlp", name)
    exporter = call_hook(pm.hook.metric_exporter, config)
    if exporter is None:
        return None
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    interval_ms = max(1.0, float(config.get("otel_metrics.interval", 60.0)) * 1000.0)
    # its thread starts in the constructor: with the application's signals blocked in it
    reader = threads.run_masked(lambda: PeriodicExportingMetricReader(exporter, export_interval_millis=interval_ms))
    provider = MeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)
    pipeline = MetricsPipeline(provider, exporter, float(config.get("exit_deadline", 0.5)))
    return GenAIMetrics(provider, pipeline)
