"""Set-up: one call configures tracing from the environment and config; later calls reuse it.

``setup()`` reuses a TracerProvider the application already installed (it only adds our
span processor to it), otherwise builds one with the configured resource and sinks and
installs it globally. ``OTEL_SDK_DISABLED=true`` makes the whole API a cheap no-op.
"""

from __future__ import annotations

import atexit
import contextlib
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator

from otel_agents.attributes import SCHEMA_URL
from otel_agents.config import Config, load_config, sdk_disabled
from otel_agents.foreign import ForeignSpans
from otel_agents.genai_metrics import GenAIMetrics, build as build_metrics
from otel_agents.plugins import PluginManager, call_hook, get_plugin_manager
from otel_agents.safety import report
from otel_agents.sink_contract import SinkSet
from otel_agents.spans import SpanEngine

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

INSTRUMENTATION_NAME = "otel_agents"

_lock = threading.RLock()
_runtime: Runtime | None = None


class _NextIds(threading.local):
    """Per thread: the ids the next span takes (0: none). Class defaults, so reading them in
    a thread that never set any costs no AttributeError."""

    trace_id = 0
    span_id = 0


class KeyedIdGenerator(IdGenerator):
    """Random ids, unless the caller set the next ids for this thread (``next_ids``)."""

    def __init__(self) -> None:
        self._local = _NextIds()
        self._rand = random.getrandbits

    def next_ids(self, trace_id: int, span_id: int) -> None:
        local = self._local
        local.trace_id = trace_id
        local.span_id = span_id

    def generate_span_id(self) -> int:
        local = self._local
        v = local.span_id
        if v:
            # The SDK asks for a trace id (roots only) before the span id: whatever trace id
            # was set and not used belongs to this span, so forget it too.
            local.span_id = local.trace_id = 0
            return v
        return self._rand(64) or 1

    def generate_trace_id(self) -> int:
        local = self._local
        v = local.trace_id
        if v:
            local.trace_id = 0
            return v
        return self._rand(128) or 1


@dataclass(slots=True)
class Runtime:
    """Everything the API and the default plugins share."""

    config: Config
    pm: PluginManager
    provider: Any
    tracer: Any
    ids: KeyedIdGenerator
    enabled: bool = True
    owns_provider: bool = False
    processors: list[Any] = field(default_factory=list)
    sinks: list[Any] = field(default_factory=list)
    spans: SpanEngine | None = None  # the span engine, unless switched off (plugin ``spans``)
    #: where the engine's log records go (content events, exceptions); None: the global one
    logger_provider: Any = None
    metrics: GenAIMetrics | None = None  # the GenAI metrics, unless off (``genai_metrics.build``)

    @property
    def hook(self) -> Any:
        return self.pm.hook


def _make_tracer(provider: Any, ids: KeyedIdGenerator) -> Any:
    from otel_agents import __version__

    tracer = provider.get_tracer(INSTRUMENTATION_NAME, __version__, schema_url=SCHEMA_URL)
    if hasattr(tracer, "id_generator"):
        tracer.id_generator = ids  # deterministic ids on OUR tracer only
    return tracer


def setup(
    *,
    provider: Any = None,
    config: Config | None = None,
    plugin_manager: PluginManager | None = None,
    span_processors: list[SpanProcessor] | None = None,
    with_sinks: bool = True,
    set_global: bool = True,
    handle_signals: bool = True,
    logger_provider: Any = None,
    meter_provider: Any = None,
) -> Runtime:
    """Configure otel-agents; returns the process runtime. Safe to call more than once.

    :param provider: a TracerProvider to use; default: the global one if the application
        installed an SDK provider, else a new one.
    :param config: the configuration; default ``load_config()``.
    :param plugin_manager: the plugin manager; default the process-wide one.
    :param span_processors: extra span processors to add (tests: an in-memory exporter).
    :param with_sinks: attach the registered sinks (spool, OTLP, metrics, analytics).
    :param set_global: install a new provider as the global tracer provider.
    :param handle_signals: flush the sinks on SIGTERM (``otel_agents.lifecycle``; an
        application's own SIGTERM handler is chained, never replaced). False: no handler.
    :param logger_provider: a LoggerProvider for the log records otel-agents emits (opt-in
        content events, exceptions as logs); default: the global one.
    :param meter_provider: a MeterProvider for the GenAI metrics (tests, benchmarks); default
        the application's SDK one if it installed one, else (with sinks) one of our own
        exporting over OTLP (``OTEL_METRICS_EXPORTER=none``: no metrics).
    """
    global _runtime
    with _lock:
        cfg = config or load_config()
        pm = plugin_manager or get_plugin_manager()
        ids = KeyedIdGenerator()
        if sdk_disabled():
            rt = Runtime(cfg, pm, trace.NoOpTracerProvider(), trace.NoOpTracer(), ids, enabled=False)
            _bind(rt)
            _runtime = rt
            return rt
        owns = False
        if provider is None:
            current = trace.get_tracer_provider()
            if isinstance(current, TracerProvider):
                provider = current
            else:
                resource = Resource.create({"service.name": cfg["service_name"]})
                provider = TracerProvider(resource=resource)
                owns = True
                if set_global:
                    trace.set_tracer_provider(provider)
        _warm_prices()
        rt = Runtime(cfg, pm, provider, _make_tracer(provider, ids), ids, owns_provider=owns)
        rt.logger_provider = logger_provider
        foreign = _attach_foreign(rt)
        for proc in span_processors or ():
            provider.add_span_processor(proc)
            rt.processors.append(proc)
        if with_sinks:
            atexit.register(_finish_metrics, rt)  # after the sinks' own exit (last in, first out)
            _attach_sinks(rt)
            _attach_live(rt)
            for proc in rt.processors:
                if hasattr(proc, "prepare"):  # our sinks get other instrumentations' spans as ForeignSpans says
                    proc.prepare = foreign.for_sinks
        resource = getattr(provider, "resource", None) or Resource.create({"service.name": cfg["service_name"]})
        rt.metrics = build_metrics(cfg, pm, resource, meter_provider=meter_provider, with_sinks=with_sinks)
        if rt.metrics is not None and rt.metrics.pipeline is not None:
            # before the sinks' exit: the last metrics export runs while the spans drain
            atexit.register(rt.metrics.pipeline.begin_exit)
        if rt.sinks:
            from otel_agents import lifecycle

            lifecycle.install(handle_signals=handle_signals)
        _bind(rt)
        _runtime = rt
        return rt


def _attach_foreign(rt: Runtime) -> ForeignSpans:
    """Count the model calls other instrumentations record in ``rt``'s traces (first
    processor: its verdict on a span is ready before any sink sees the span)."""
    engine = rt.pm.get_plugin("spans")
    engine = engine if isinstance(engine, SpanEngine) else None
    foreign: ForeignSpans | None = getattr(rt.provider, "_otel_agents_foreign", None)
    if foreign is None:  # once per provider: a second set-up on it must not count calls twice
        foreign = ForeignSpans(engine, rt.config, INSTRUMENTATION_NAME)
        rt.provider.add_span_processor(foreign)
        rt.provider._otel_agents_foreign = foreign
    else:
        foreign.engine, foreign.config = engine, rt.config
    if engine is not None:
        engine.foreign = foreign
    return foreign


def _warm_prices() -> None:
    """Load the price data (~0.2 s) on a background thread (once), not in a span."""
    from otel_agents.pricing import start_loading

    start_loading()


def _attach_sinks(rt: Runtime) -> None:
    """Collect sinks from ``register_sinks`` and fan finished spans out to them."""
    sinks: list[Any] = []
    for result in call_hook(rt.pm.hook.register_sinks, rt.config):
        if result:
            sinks.extend(result)
    if not sinks:
        return
    proc = call_hook(rt.pm.hook.sink_processor, SinkSet(sinks, rt.config))
    if proc is None:
        report(
            "setup",
            RuntimeError(
                f"{len(sinks)} sinks registered but no plugin provides a sink processor (is the 'sinks' plugin "
                "disabled?): no span reaches them"
            ),
        )
        return
    rt.provider.add_span_processor(proc)
    rt.processors.append(proc)
    rt.sinks = sinks
    atexit.register(proc.shutdown)


def _attach_live(rt: Runtime) -> None:
    """Keep this process's live-state file (``otel_agents.livestate``) unless ``live.enabled``
    is off."""
    if not rt.config.get("live.enabled", True) or rt.config.home is None:
        return
    from otel_agents.livestate import LiveState

    proc = LiveState(rt.config.home)
    rt.provider.add_span_processor(proc)
    rt.processors.append(proc)
    atexit.register(proc.shutdown)


def _finish_metrics(rt: Runtime) -> None:
    """At exit: wait (within the exit deadline) for the metrics' last export, started before
    the sinks drained."""
    m = rt.metrics
    if m is not None and m.pipeline is not None:
        m.pipeline.finish_exit()


def _bind(rt: Runtime) -> None:
    """Attach the span engine registered as ``spans`` (if any) to ``rt``."""
    engine = rt.pm.get_plugin("spans")
    if isinstance(engine, SpanEngine):
        engine.attach(rt)
        rt.spans = engine


def get_runtime() -> Runtime:
    """The process runtime, set up with defaults on first use."""
    rt = _runtime
    if rt is not None:
        return rt
    with _lock:
        return _runtime or setup()


def metrics_not_live() -> contextlib.AbstractContextManager[None]:
    """Record no GenAI metrics on this thread meanwhile, while spans are still built: for
    spans rebuilt from the past (an import of old sessions, a re-export), which the metrics
    counted when they happened (``GenAIMetrics.not_live`` of the process runtime)."""
    m = get_runtime().metrics
    return m.not_live() if m is not None else contextlib.nullcontext()


def reset() -> None:
    """Forget the runtime (tests). Does not shut processors down."""
    global _runtime
    with _lock:
        _runtime = None


def flush(timeout_s: float = 60.0) -> None:
    """Wait (at most ``timeout_s``) until every sink has written what it was given: for batch
    commands (imports) whose user waits for the result anyway, before :func:`shutdown`."""
    rt = _runtime
    if rt is None:
        return
    from otel_agents.pricing import wait_loaded

    deadline = time.monotonic() + timeout_s
    # model calls still waiting for the price data end first (as at shutdown): otherwise they
    # reach the sinks only in shutdown's short exit deadline, and a loaded machine leaves them
    # to the next start's recovery
    wait_loaded(timeout_s)
    for proc in rt.processors:
        try:
            proc.force_flush(max(1, int((deadline - time.monotonic()) * 1000)))
        except Exception as exc:  # noqa: BLE001
            report("flush", exc)


def shutdown() -> None:
    """Flush and stop the sinks within the configured exit deadline."""
    rt = _runtime
    if rt is None:
        return
    from otel_agents.pricing import wait_loaded

    wait_loaded()  # model calls still waiting for the price data end first (see pricing.when_loaded)
    pipeline = rt.metrics.pipeline if rt.metrics is not None else None
    if pipeline is not None:
        pipeline.begin_exit()  # the metrics' last export, while the sinks drain
    for proc in rt.processors:
        try:
            proc.shutdown()
        except Exception:  # noqa: BLE001
            pass
    if pipeline is not None:
        pipeline.finish_exit()
