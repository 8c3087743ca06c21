"""``opentelemetry-instrument python my_executor.py``: the mapping as an OpenTelemetry instrumentor.

Registered as the ``otel_agents`` entry point of the ``opentelemetry_instrumentor`` group,
so ``opentelemetry-instrument`` loads it and calls ``instrument()`` before the program runs.
``instrument(mapping=...)`` takes an explicit mapping (tests); ``uninstrument()`` restores
every wrapped callable. With no mapping configured it does nothing (one DEBUG line).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_agents.instrument import install, install_from_environment, uninstall

logger = logging.getLogger("otel_agents.instrument")


class OtelAgentsInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Applies the otel-agents zero-code mapping (see ``otel_agents.instrument``)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        mapping = kwargs.get("mapping")
        installer = install(mapping) if mapping is not None else install_from_environment(announce_empty=False)
        if installer is None:
            logger.debug("otel-agents instrumentor: no [instrument] mapping found; nothing to do")

    def _uninstrument(self, **kwargs: Any) -> None:
        uninstall()
