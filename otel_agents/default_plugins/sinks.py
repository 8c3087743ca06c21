"""Default plugin: registers the built-in sinks (spool, OTLP, metrics JSONL, analytics)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_agents.hookspecs import hookimpl

if TYPE_CHECKING:
    from otel_agents.config import Config


class SinksPlugin:
    @hookimpl
    def register_sinks(self, config: Config) -> list[Any]:
        return []


def plugin() -> SinksPlugin:
    return SinksPlugin()
