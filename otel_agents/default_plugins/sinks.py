"""Default plugin: registers the built-in sinks (spool, OTLP, metrics JSONL, analytics).

Order matters at exit: the spool comes first (and is drained first), so everything
accepted is on disk before anything waits on the network. Each sink is built separately:
one that fails to build is reported and the others still register. The metrics and
analytics sinks are imported lazily and skipped if their module is not installed.

With a spool registered, the local sinks that can be written from it (metrics, analytics)
are given its recovery (``attach_recovery``): what they miss is listed and written later.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from otel_agents.hookspecs import hookimpl
from otel_agents.safety import report

if TYPE_CHECKING:
    from otel_agents.config import Config
    from otel_agents.sink_contract import SinkSet

#: (setting that enables it, module, class), in registration order.
BUILTIN_SINKS: tuple[tuple[str, str, str], ...] = (
    ("spool.enabled", "otel_agents.sinks.spool", "SpoolSink"),
    ("otlp.enabled", "otel_agents.sinks.otlp", "OtlpSink"),
    ("metrics.enabled", "otel_agents.sinks.metrics", "MetricsSink"),
    ("analytics.enabled", "otel_agents.sinks.analytics", "AnalyticsSink"),
)


def build_sinks(config: Config) -> list[Any]:
    """The enabled built-in sinks for ``config``."""
    sinks: list[Any] = []
    for setting, module_name, class_name in BUILTIN_SINKS:
        if not config.get(setting, True):
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if exc.name == module_name:  # not installed (yet): skip quietly
                continue
            report(f"sink {class_name}", exc)
            continue
        try:
            sinks.append(getattr(module, class_name)(config))
        except Exception as exc:  # noqa: BLE001 - one broken sink must not cost the others
            report(f"sink {class_name}", exc)
    return attach_recovery(sinks, config)


def attach_recovery(sinks: list[Any], config: Config) -> list[Any]:
    """Give each sink that declares ``spool_recoverable`` the spool's recovery, when a spool
    is among ``sinks`` (and the data home is known); returns ``sinks``."""
    from otel_agents.sinks.recover import SpoolRecovery
    from otel_agents.sinks.spool import SpoolSink

    if config.home is None or not any(isinstance(s, SpoolSink) for s in sinks):
        return sinks
    recovery = SpoolRecovery(config)
    for sink in sinks:
        if getattr(sink, "spool_recoverable", False) and recovery.covers(str(getattr(sink, "name", ""))):
            sink.recovery = recovery
    return sinks


class SinksPlugin:
    @hookimpl
    def register_sinks(self, config: Config) -> list[Any]:
        return build_sinks(config)

    @hookimpl
    def sink_processor(self, sinks: SinkSet) -> Any:
        from otel_agents.sink import SinkProcessor

        return SinkProcessor(sinks.sinks, config=sinks.config)

    @hookimpl
    def metric_exporter(self, config: Config) -> Any:
        from otel_agents.sinks.otlp_metrics import OtlpMetricExporter

        return OtlpMetricExporter(config)


def plugin() -> SinksPlugin:
    return SinksPlugin()
