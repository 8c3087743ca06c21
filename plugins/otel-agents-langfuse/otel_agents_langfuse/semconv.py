"""Langfuse's OpenTelemetry attribute names and values this plugin sets."""

from __future__ import annotations

from typing import Final

OBSERVATION_TYPE: Final = "langfuse.observation.type"
OBSERVATION_MODEL_NAME: Final = "langfuse.observation.model.name"
OBSERVATION_USAGE_DETAILS: Final = "langfuse.observation.usage_details"
OBSERVATION_COST_DETAILS: Final = "langfuse.observation.cost_details"

TYPE_SPAN: Final = "span"
TYPE_CHAIN: Final = "chain"
TYPE_AGENT: Final = "agent"
TYPE_TOOL: Final = "tool"
TYPE_GENERATION: Final = "generation"

# Keys of usage_details and cost_details (Langfuse usage types).
USAGE_INPUT: Final = "input"
USAGE_INPUT_CACHE_READ: Final = "input_cache_read"
USAGE_INPUT_CACHE_CREATION: Final = "input_cache_creation"
USAGE_OUTPUT: Final = "output"
USAGE_TOTAL: Final = "total"
