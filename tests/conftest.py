"""Shared fixtures: an isolated data home and a runtime exporting to memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agents import pricing, safety, telemetry
from otel_agents.config import load_config
from otel_agents.plugins import PluginManager, new_plugin_manager, set_plugin_manager


def pytest_configure(config: pytest.Config) -> None:
    """Strict mode for otel-agents' own suite and the processes its tests start: a plugin or
    sink bug raises instead of being logged (running under pytest alone never turns it on)."""
    os.environ.setdefault("OTEL_AGENTS_STRICT", "1")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own data home and no leftover runtime or plugin manager."""
    monkeypatch.setenv("OTEL_AGENTS_HOME", str(tmp_path / ".otel-agents"))
    for var in [v for v in os.environ if v.startswith("OTEL_EXPORTER_OTLP")]:
        monkeypatch.delenv(var)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    monkeypatch.delenv("OTEL_AGENTS_ANALYTICS_URL", raising=False)
    telemetry.reset()
    set_plugin_manager(None)
    safety.reset()
    yield
    telemetry.reset()
    set_plugin_manager(None)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def make_runtime(exporter: InMemorySpanExporter):
    """Build a runtime on a fresh provider exporting to ``exporter``; no sinks by default."""

    def make(
        pm: PluginManager | None = None, *, with_sinks: bool = False, config=None, meter_provider=None
    ) -> telemetry.Runtime:
        pricing.load()  # as an executor's start-up would: no model call waits for the price data
        pm = pm or new_plugin_manager(load_entry_points=False)
        set_plugin_manager(pm)
        return telemetry.setup(
            provider=TracerProvider(),
            config=config or load_config(),
            plugin_manager=pm,
            span_processors=[SimpleSpanProcessor(exporter)],
            with_sinks=with_sinks,
            set_global=False,
            meter_provider=meter_provider,
        )

    return make


@pytest.fixture
def runtime(make_runtime) -> telemetry.Runtime:
    return make_runtime()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A private PostgreSQL server for the session (``tests/_pgserver.py``). Skipped where the
    server binaries are missing, except under CI (``CI=true``), where it fails."""
    from _pgserver import PgServer, bin_dir

    if bin_dir() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PostgreSQL server binaries are missing (make postgresql installs them)")
        pytest.skip("PostgreSQL server binaries are missing (make postgresql installs them)")
    server = PgServer()
    yield server
    server.destroy()


_pg_databases = iter(range(1, 1_000_000))


@pytest.fixture
def pg_url(pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty database on the session's server: its URL (with the password)."""
    return str(pg_server.create_database(f"t{os.getpid()}_{next(_pg_databases)}"))
