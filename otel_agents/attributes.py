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
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"

GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"

# Cost: the open proposal's names, plus the total Langfuse reads.
GEN_AI_USAGE_COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
GEN_AI_USAGE_COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
GEN_AI_USAGE_COST_SOURCE: Final = "gen_ai.usage.cost.source"
GEN_AI_USAGE_COST: Final = "gen_ai.usage.cost"

ERROR_TYPE: Final = "error.type"

# Operation names (values of gen_ai.operation.name).
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_CHAT: Final = "chat"

# --- otel-agents' own attributes ---------------------------------------------------------
#: Which lifecycle level a span stands for: workflow, phase, step, tool_call, model_call.
KIND: Final = "otel_agents.kind"
WORKFLOW_ID: Final = "otel_agents.workflow.id"
WORKFLOW_TEMPLATE: Final = "otel_agents.workflow.template"
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

# Lifecycle kinds (values of otel_agents.kind).
KIND_WORKFLOW: Final = "workflow"
KIND_PHASE: Final = "phase"
KIND_STEP: Final = "step"
KIND_TOOL_CALL: Final = "tool_call"
KIND_MODEL_CALL: Final = "model_call"

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
