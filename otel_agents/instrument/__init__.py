"""Zero-code instrumentation: map an executor's own callables to lifecycle events in config.

The executor's source stays free of telemetry code. A mapping (``[instrument]`` in
``.otel-agents/config.toml`` or ``[tool.otel-agents.instrument]`` in its ``pyproject.toml``)
names callables (``package.module:Class.method``) and says which lifecycle event each is,
with small safe expressions (``otel_agents.instrument.expr``) picking names, ids, outcomes
and token counts from the call's arguments and result. It is applied at import time with
wrapt, by ``otel-agents run -- python my_executor.py`` or by ``opentelemetry-instrument``
(``OtelAgentsInstrumentor``), or in-process with ``install()``.

Only the standard library and wrapt are imported here; OpenTelemetry is imported on the first
traced call, so an instrumented program starts as fast as before.
"""

from __future__ import annotations

import logging
import os

from otel_agents.instrument.installer import Installer, current_installer, install as _install, uninstall
from otel_agents.instrument.mapping import FILE_ENV, Mapping, load_mapping
from otel_agents.instrument.problems import problem, problems

__all__ = [
    "FILE_ENV",
    "Installer",
    "Mapping",
    "current_installer",
    "install",
    "install_from_environment",
    "load_mapping",
    "problems",
    "uninstall",
]


def install(mapping: Mapping | None = None) -> Installer | None:
    """Apply ``mapping`` (default: ``load_mapping()``) to this process; None if it is empty."""
    return _install(load_mapping() if mapping is None else mapping)


def install_from_environment(*, announce_empty: bool = True, quiet: bool = False) -> Installer | None:
    """What ``otel-agents run`` and ``opentelemetry-instrument`` do in the program's process.

    Loads the mapping, installs it, and honours ``OTEL_AGENTS_RUN_SPANS_FILE``. Never raises.
    ``quiet`` logs only errors (Python subprocesses of the program inherit the set-up: they
    are traced too, but must not add warnings to, say, a tool's output).
    """
    from otel_agents.config import sdk_disabled

    if sdk_disabled():  # telemetry is off: the program runs untouched, and nothing is said
        return None
    if quiet:
        logging.getLogger("otel_agents.instrument").setLevel(logging.ERROR)
    try:
        mapping = load_mapping()
        if not mapping:
            if announce_empty:
                where = ", ".join(mapping.sources) or "no [instrument] section found"
                problem(
                    "no callables mapped ("
                    + (where if mapping.enabled else "disabled: enabled = false")
                    + "); the program runs without zero-code instrumentation. See docs/instrumenting.md."
                )
            return None
        from otel_agents.instrument.spans_file import SPANS_FILE_ENV

        spans_file = os.environ.get(SPANS_FILE_ENV)
        if spans_file:
            from otel_agents.instrument import calls
            from otel_agents.instrument.spans_file import attach

            calls.on_runtime.append(attach(spans_file))
        return install(mapping)
    except Exception as exc:  # noqa: BLE001 - the program must run regardless
        problem(f"could not apply the mapping: {type(exc).__name__}: {exc}")
        return None
