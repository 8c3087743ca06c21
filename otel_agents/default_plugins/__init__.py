"""Plugins that ship with otel-agents; ``otel_agents.plugins.DEFAULT_PLUGINS`` lists them."""
