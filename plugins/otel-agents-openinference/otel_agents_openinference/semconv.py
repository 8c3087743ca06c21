"""OpenInference attribute names and values this plugin sets (openinference-semantic-conventions).

The names otel-agents also reads on other instrumentations' spans come from
``otel_agents.attributes`` (one definition each)."""

from __future__ import annotations

from typing import Final

from otel_agents import attributes as A

SPAN_KIND: Final = "openinference.span.kind"

KIND_CHAIN: Final = "CHAIN"
KIND_AGENT: Final = "AGENT"
KIND_TOOL: Final = "TOOL"
KIND_LLM: Final = "LLM"

LLM_MODEL_NAME: Final = A.OI_LLM_MODEL_NAME
LLM_PROVIDER: Final = A.OI_LLM_PROVIDER
LLM_TOKEN_COUNT_PROMPT: Final = A.OI_LLM_TOKEN_COUNT_PROMPT
LLM_TOKEN_COUNT_COMPLETION: Final = A.OI_LLM_TOKEN_COUNT_COMPLETION
LLM_TOKEN_COUNT_TOTAL: Final = A.OI_LLM_TOKEN_COUNT_TOTAL
LLM_TOKEN_COUNT_PROMPT_CACHE_READ: Final = A.OI_LLM_TOKEN_COUNT_PROMPT_CACHE_READ
LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE: Final = A.OI_LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE
LLM_TOKEN_COUNT_COMPLETION_REASONING: Final = A.OI_LLM_TOKEN_COUNT_COMPLETION_REASONING
LLM_COST_PROMPT: Final = A.OI_LLM_COST_PROMPT
LLM_COST_COMPLETION: Final = A.OI_LLM_COST_COMPLETION
LLM_COST_TOTAL: Final = A.OI_LLM_COST_TOTAL

TOOL_NAME: Final = "tool.name"

INPUT_VALUE: Final = A.OI_INPUT_VALUE
INPUT_MIME_TYPE: Final = "input.mime_type"
OUTPUT_VALUE: Final = A.OI_OUTPUT_VALUE
OUTPUT_MIME_TYPE: Final = "output.mime_type"

MIME_JSON: Final = "application/json"
MIME_TEXT: Final = "text/plain"
