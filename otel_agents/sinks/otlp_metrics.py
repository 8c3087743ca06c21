"""The OTLP metric exporter: the GenAI metrics to a collector, with a hard deadline.

Used by the meter provider otel-agents builds when the application has none
(``otel_agents.genai_metrics``; docs/metrics-otel.md). It sends with the span sink's own
transports (``transport``), so every export returns by its deadline: the export timeout
normally, the exit deadline once the process is exiting (``begin_shutdown``). After a
failure it stops trying for a while (1 s doubling to 60 s); a dead collector never extends
exit. Metrics are not spooled: what a collector misses is lost (the spans keep the same
figures durably).

Settings: ``otel_metrics.endpoint`` / ``protocol`` / ``headers``
(``OTEL_EXPORTER_OTLP_METRICS_*``), else the spans' (``otlp.*``); a base
``OTEL_EXPORTER_OTLP_ENDPOINT`` gets ``/v1/metrics``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter, ObservableUpDownCounter, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExporter, MetricExportResult

from otel_agents.sinks.transport import SendError, Target, make_sender, resolve_target

logger = logging.getLogger("otel_agents")

MIN_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
_LOG_INTERVAL_S = 60.0
_TRACES_SUFFIX = "/v1/traces"


class MetricsSettings:
    """``otel_metrics.*`` presented as the ``otlp.*`` settings ``resolve_target`` reads."""

    def __init__(self, config: Any) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        src = getattr(config, "sources", {})
        endpoint, source = str(config.get("otel_metrics.endpoint", "") or ""), src.get("otel_metrics.endpoint", "")
        if not endpoint:
            endpoint, source = str(config.get("otlp.endpoint", "") or ""), src.get("otlp.endpoint", "default")
            if source == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
                endpoint = ""  # the spans' own endpoint, not the metrics'
            elif source != "OTEL_EXPORTER_OTLP_ENDPOINT" and endpoint.rstrip("/").endswith(_TRACES_SUFFIX):
                endpoint = endpoint.rstrip("/")[: -len(_TRACES_SUFFIX)] + "/v1/metrics"
        self.values["otlp.endpoint"], self.sources["otlp.endpoint"] = endpoint, source
        self.values["otlp.protocol"] = config.get("otel_metrics.protocol", "") or config["otlp.protocol"]
        self.values["otlp.headers"] = config.get("otel_metrics.headers", "") or config["otlp.headers"]
        self.values["otlp.timeout"] = config["otlp.timeout"]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def temporality(config: Any) -> dict[type, AggregationTemporality]:
    """The temporality per instrument for ``otel_metrics.temporality`` (the OTLP exporter spec's
    ``cumulative``, ``delta`` or ``lowmemory``)."""
    pref = str(config.get("otel_metrics.temporality", "cumulative")).strip().lower()
    cumulative, delta = AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA
    sums = delta if pref in ("delta", "lowmemory") else cumulative
    return {
        Counter: sums,
        UpDownCounter: cumulative,
        Histogram: sums,
        ObservableCounter: cumulative if pref == "lowmemory" else sums,
        ObservableUpDownCounter: cumulative,
    }


class OtlpMetricExporter(MetricExporter):
    """Export metrics over OTLP (gRPC or HTTP/protobuf), each request bounded by a deadline."""

    def __init__(self, config: Any) -> None:
        super().__init__(preferred_temporality=temporality(config))
        self.target: Target = resolve_target(MetricsSettings(config), "metrics")
        self._quiet = not self.target.explicit  # nobody asked for a collector: a missing one is normal
        self._sender: Any = None
        self._pid = os.getpid()
        self._cap: float | None = None
        self._retry_at = 0.0
        self._backoff = 0.0
        self._last_log = 0.0
        self.exports = 0
        self.failures = 0
        self.last_failure = ""

    def begin_shutdown(self, deadline: float) -> None:
        """The process is exiting: no export may last past ``deadline`` (``time.monotonic()``)."""
        self._cap = deadline

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        now = time.monotonic()
        if now < self._retry_at:
            self.failures += 1
            return MetricExportResult.FAILURE
        deadline = now + min(self.target.timeout, max(0.0, timeout_millis) / 1000.0)
        if self._cap is not None:
            deadline = min(deadline, self._cap)
        if self._sender is None or self._pid != os.getpid():  # no socket crosses a fork
            self._sender, self._pid = make_sender(self.target), os.getpid()
        from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics

        try:
            self._sender.send(encode_metrics(metrics_data).SerializeToString(), deadline)
        except SendError as exc:
            self._failed(exc)
            return MetricExportResult.FAILURE
        self._backoff = self._retry_at = 0.0
        self.exports += 1
        return MetricExportResult.SUCCESS

    def _failed(self, exc: SendError) -> None:
        self.failures += 1
        self.last_failure = str(exc)
        if not exc.permanent:
            self._backoff = min(MAX_BACKOFF_S, max(MIN_BACKOFF_S, self._backoff * 2))
            self._retry_at = time.monotonic() + (exc.retry_after if exc.retry_after is not None else self._backoff)
        now = time.monotonic()
        if self._quiet:
            logger.debug("otel-agents: metrics not delivered: %s", exc)
        elif not self._last_log or now - self._last_log >= _LOG_INTERVAL_S:
            self._last_log = now
            logger.warning(
                "otel-agents: metrics not delivered to %s (%d failures so far; logged at most once a minute): %s",
                self.target.describe(),
                self.failures,
                exc,
            )

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.close()
