"""Every span and event attribute name otel-agents emits, as typed constants.

The GenAI semantic conventions are still at Development stability and move often, so no
other module spells an attribute name: they import it from here. ``docs/attributes.md``
documents each one; ``tests/test_docs.py`` fails when a constant here is not documented.
"""

from __future__ import annotations

from typing import Final

# --- OpenTelemetry GenAI semantic conventions -------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
#: ``True`` on a model call made after the conversation's history was compacted (never ``False``).
GEN_AI_CONVERSATION_COMPACTED: Final = "gen_ai.conversation.compacted"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_SKILL_NAME: Final = "gen_ai.skill.name"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
PROCESS_EXECUTABLE_NAME: Final = "process.executable.name"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
# Content (opt-in): JSON in the conventions' schemas, on the model-call span and/or the event.
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"

GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"

# Cost: the open proposal's names (gen_ai.usage.cost.*, not merged yet): a rename is one line here.
GEN_AI_USAGE_COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
GEN_AI_USAGE_COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
GEN_AI_USAGE_COST_SOURCE: Final = "gen_ai.usage.cost.source"
#: Read only: the total that spans recorded before the cost proposal carried (older spools).
LEGACY_GEN_AI_USAGE_COST: Final = "gen_ai.usage.cost"
#: The value of ``gen_ai.provider.name`` when the caller gave none and the price table knows
#: no provider for the model (the conventions' fallback value).
PROVIDER_OTHER: Final = "_OTHER"

ERROR_TYPE: Final = "error.type"

# Operation names (values of gen_ai.operation.name).
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_CHAT: Final = "chat"

#: The opt-in event carrying a model call's content (a log record with this event name).
EVENT_INFERENCE_DETAILS: Final = "gen_ai.client.inference.operation.details"
#: The tracer's schema: the semantic-conventions release our core attribute names follow.
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.44.0"

# --- otel-agents' own attributes ---------------------------------------------------------
#: Which lifecycle level a span stands for: workflow, phase, step, tool_call, model_call.
KIND: Final = "otel_agents.kind"
WORKFLOW_ID: Final = "otel_agents.workflow.id"
WORKFLOW_TEMPLATE: Final = "otel_agents.workflow.template"
#: The enclosing workflow's name on phase and step spans (``gen_ai.workflow.name`` is the
#: workflow span's own).
WORKFLOW_NAME: Final = "otel_agents.workflow.name"
#: A Claude Code subagent's transient id (not a ``gen_ai.agent.id``: it lives one run).
AGENT_ID: Final = "otel_agents.agent.id"
ISSUE_ID: Final = "otel_agents.issue.id"
TASK_ID: Final = "otel_agents.task.id"
SESSION_ID: Final = "otel_agents.session.id"
PHASE_NAME: Final = "otel_agents.phase.name"
PHASE_NUMBER: Final = "otel_agents.phase.number"
STEP_NAME: Final = "otel_agents.step.name"
SKILL: Final = "otel_agents.skill"
COMMAND: Final = "otel_agents.command"
MODEL: Final = "otel_agents.model"
ATTEMPT: Final = "otel_agents.attempt"
RETRY_COUNT: Final = "otel_agents.retry_count"
OUTCOME: Final = "otel_agents.outcome"
ERROR_MESSAGE: Final = "otel_agents.error.message"
COMPLEXITY: Final = "otel_agents.complexity"
TOOL_ARGUMENTS_LENGTH: Final = "otel_agents.tool.arguments.length"
TOOL_ARGUMENTS_SHA256: Final = "otel_agents.tool.arguments.sha256"
TOOL_RESULT_LENGTH: Final = "otel_agents.tool.result.length"
TOOL_RESULT_SHA256: Final = "otel_agents.tool.result.sha256"
COST_UNAVAILABLE_REASON: Final = "otel_agents.cost.unavailable_reason"
#: Of a model call's cache writes, those written for an hour (priced at the 1-hour rate).
USAGE_CACHE_WRITE_1H_INPUT_TOKENS: Final = "otel_agents.usage.cache_write_1h.input_tokens"

# Roll-ups: the totals of everything beneath a workflow, phase or step span. They are NOT
# named gen_ai.usage.*, so a viewer summing gen_ai.usage.* over a trace counts each model
# call once (on its own chat span) and never again on its ancestors.
ROLLUP_INPUT_TOKENS: Final = "otel_agents.rollup.input_tokens"
ROLLUP_OUTPUT_TOKENS: Final = "otel_agents.rollup.output_tokens"
ROLLUP_CACHE_READ_INPUT_TOKENS: Final = "otel_agents.rollup.cache_read.input_tokens"
ROLLUP_CACHE_WRITE_INPUT_TOKENS: Final = "otel_agents.rollup.cache_write.input_tokens"
ROLLUP_REASONING_OUTPUT_TOKENS: Final = "otel_agents.rollup.reasoning.output_tokens"
ROLLUP_COST_AMOUNT: Final = "otel_agents.rollup.cost.amount"
ROLLUP_COST_CURRENCY: Final = "otel_agents.rollup.cost.currency"
ROLLUP_MODEL_CALLS: Final = "otel_agents.rollup.model_calls"
ROLLUP_UNPRICED_MODEL_CALLS: Final = "otel_agents.rollup.unpriced_model_calls"

# Claude Code hook events: each captured event is a span event named EVENT_HOOK on the span
# it belongs to (tool call, turn or session); the analytics sink stores one hook_events row
# per such event, keyed by HOOK_EVENT_ID.
HOOK_EVENT_TYPE: Final = "otel_agents.hook.event_type"
HOOK_EVENT_ID: Final = "otel_agents.hook.event_id"
HOOK_TOOL_NAME: Final = "otel_agents.hook.tool_name"
HOOK_TOOL_USE_ID: Final = "otel_agents.hook.tool_use_id"
HOOK_SOURCE: Final = "otel_agents.hook.source"
#: The event's low-cardinality qualifier: SessionStart source, SessionEnd reason, compaction
#: trigger, notification type.
HOOK_DETAIL: Final = "otel_agents.hook.detail"
#: A Claude Code turn's prompt: length and sha256 by default; the redacted text on opt-in.
PROMPT_LENGTH: Final = "otel_agents.prompt.length"
PROMPT_SHA256: Final = "otel_agents.prompt.sha256"
PROMPT_TEXT: Final = "otel_agents.prompt.text"
PROMPT_ID: Final = "otel_agents.prompt.id"

# Span event names.
EVENT_HOOK: Final = "otel_agents.hook_event"
EVENT_EXCEPTION: Final = "exception"
#: The ``exception`` event's attributes (semconv; no deprecated ``exception.escaped``).
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
EVENT_BUDGET_EXCEEDED: Final = "otel_agents.budget.exceeded"
#: The ``otel_agents.budget.exceeded`` event's attributes (otel-agents-budget plugin).
BUDGET_USD: Final = "otel_agents.budget.usd"
BUDGET_COST_USD: Final = "otel_agents.budget.cost.usd"
BUDGET_WORKFLOW_NAME: Final = "otel_agents.budget.workflow.name"

# Lifecycle kinds (values of otel_agents.kind).
KIND_WORKFLOW: Final = "workflow"
KIND_PHASE: Final = "phase"
KIND_STEP: Final = "step"
KIND_TOOL_CALL: Final = "tool_call"
KIND_MODEL_CALL: Final = "model_call"

# --- other instrumentations' spans (read, never written on our own spans) ----------------
# Model calls recorded by a framework's own instrumentation count as model calls of the
# nearest otel-agents span above them (``otel_agents.foreign``). Their usage is read from
# the GenAI conventions above, from OpenInference's names, or from pydantic-ai's cost.
OI_LLM_MODEL_NAME: Final = "llm.model_name"
OI_LLM_PROVIDER: Final = "llm.provider"
OI_LLM_SYSTEM: Final = "llm.system"
OI_LLM_TOKEN_COUNT_PROMPT: Final = "llm.token_count.prompt"
OI_LLM_TOKEN_COUNT_COMPLETION: Final = "llm.token_count.completion"
OI_LLM_TOKEN_COUNT_TOTAL: Final = "llm.token_count.total"
OI_LLM_TOKEN_COUNT_PROMPT_CACHE_READ: Final = "llm.token_count.prompt_details.cache_read"
OI_LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE: Final = "llm.token_count.prompt_details.cache_write"
OI_LLM_TOKEN_COUNT_COMPLETION_REASONING: Final = "llm.token_count.completion_details.reasoning"
OI_LLM_COST_PROMPT: Final = "llm.cost.prompt"
OI_LLM_COST_COMPLETION: Final = "llm.cost.completion"
OI_LLM_COST_TOTAL: Final = "llm.cost.total"
OI_INPUT_VALUE: Final = "input.value"
OI_OUTPUT_VALUE: Final = "output.value"
#: Deprecated name of gen_ai.provider.name, still set by some instrumentations.
GEN_AI_SYSTEM: Final = "gen_ai.system"
#: pydantic-ai: a model call's cost in USD (from genai-prices), and message content.
PYDANTIC_AI_OPERATION_COST: Final = "operation.cost"
PYDANTIC_AI_ALL_MESSAGES: Final = "pydantic_ai.all_messages"
#: Content attributes of other instrumentations (with the prefixes below): dropped from what
#: our sinks write unless content capture is on, then redacted.
FOREIGN_CONTENT_KEYS: Final = frozenset(
    {
        GEN_AI_INPUT_MESSAGES,
        GEN_AI_OUTPUT_MESSAGES,
        GEN_AI_SYSTEM_INSTRUCTIONS,
        GEN_AI_TOOL_CALL_ARGUMENTS,
        GEN_AI_TOOL_CALL_RESULT,
        "gen_ai.prompt",
        "gen_ai.completion",
        OI_INPUT_VALUE,
        OI_OUTPUT_VALUE,
        "llm.prompts",
        PYDANTIC_AI_ALL_MESSAGES,
        "all_messages_events",
        "final_result",
        "tool_arguments",
        "tool_response",
    }
)
FOREIGN_CONTENT_PREFIXES: Final = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.prompt_template.",
    "llm.prompts.",
    "retrieval.documents.",
    "embedding.embeddings.",
    "reranker.",
)

#: On a span of another instrumentation, as our sinks write it: ``model_call`` (it counts as
#: one model call), ``duplicate`` (the same call as a span that counts) or ``aggregate``
#: (usage totals of model calls that count beneath it).
FOREIGN_ROLE: Final = "otel_agents.foreign.role"
#: On a span recording a model call that another span (this span id, hex) already counts.
DUPLICATE_OF: Final = "otel_agents.duplicate_of"
FOREIGN_ROLE_MODEL_CALL: Final = "model_call"
FOREIGN_ROLE_DUPLICATE: Final = "duplicate"
FOREIGN_ROLE_AGGREGATE: Final = "aggregate"

# Metric attributes (docs/metrics-otel.md): with the gen_ai.* names above, the dimensions of
# the GenAI metrics. No ids: every value is low-cardinality.
#: True when an invocation (workflow or agent step) runs inside another invocation.
GEN_AI_INVOCATION_IS_NESTED: Final = "gen_ai.invocation.is_nested"
#: The token counters' modality; ``unknown`` unless the provider reports a breakdown.
GEN_AI_TOKEN_MODALITY: Final = "gen_ai.token.modality"
TOKEN_MODALITY_UNKNOWN: Final = "unknown"

# Claude Code permissions, agent teams and sessions started under an executor's step.
#: A tool call's wait for a permission decision, in ms (PermissionRequest to the tool's own start).
PERMISSION_WAIT_MS: Final = "otel_agents.permission.wait_ms"
#: ``denied`` on a tool call a permission rule, mode or user denied (it never ran).
PERMISSION_DECISION: Final = "otel_agents.permission.decision"
#: Span event at the PermissionRequest, on the tool call, when the wait is known.
EVENT_PERMISSION_WAIT: Final = "otel_agents.permission_wait"
#: The agent team of an agent-team task step.
TEAM_NAME: Final = "otel_agents.team.name"
#: On a Claude Code session started under an executor's step: the executor's workflow id and
#: the step's key (the session's span is a child of that step).
PARENT_WORKFLOW_ID: Final = "otel_agents.parent.workflow_id"
PARENT_KEY: Final = "otel_agents.parent.key"
#: On a span that handed its context to child processes (``subprocess_env``): the ids of the
#: Claude Code sessions its roll-up includes (they finished before it ended).
NESTED_SESSIONS: Final = "otel_agents.nested.sessions"
