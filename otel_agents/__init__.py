"""otel-agents: trace AI-agent workflows with OpenTelemetry.

The public API, imported lazily so that ``import otel_agents`` stays cheap (the Claude
Code hook path imports the standard library only):

- ``workflow``, ``phase``, ``step``, ``tool_call``, ``model_call``: context managers and
  decorators; ``record_usage`` for a model call after the fact; ``new_workflow`` for
  start/stop/fail objects; ``current_model_call`` inside a timed model call.
- ``bind``, ``ContextExecutor``: carry the current workflow into thread pools and callbacks.
- ``setup``, ``shutdown``: configure tracing once; flush sinks within the exit deadline.
- ``GenAIMetrics`` (``setup()``'s ``.metrics``: ``record_model_call`` for calls recorded
  elsewhere), ``metrics_not_live``: no metrics for spans rebuilt from the past.
- ``record_estimates``, ``record_outcome``: a run's estimates and outcomes, by workflow id,
  into the analytics store (an outcome known later: a pull request merged the next day).
- ``hookimpl``: mark plugin hook implementations; events in ``otel_agents.events``;
  ``SpanView`` (what ``span_ending`` sees) and ``UsageTotals`` (a span's roll-up).
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing costs ~4 ms, a tenth of `otel-agents hook`.
TYPE_CHECKING = False

__version__ = "0.1.0"

_EXPORTS = {
    "workflow": "otel_agents.api",
    "phase": "otel_agents.api",
    "step": "otel_agents.api",
    "tool_call": "otel_agents.api",
    "record_usage": "otel_agents.api",
    "model_call": "otel_agents.api",
    "current_model_call": "otel_agents.api",
    "ModelCall": "otel_agents.api",
    "new_workflow": "otel_agents.api",
    "current": "otel_agents.api",
    "activate": "otel_agents.api",
    "Workflow": "otel_agents.api",
    "Phase": "otel_agents.api",
    "Step": "otel_agents.api",
    "ToolCall": "otel_agents.api",
    "bind": "otel_agents.context",
    "ContextExecutor": "otel_agents.context",
    "setup": "otel_agents.telemetry",
    "shutdown": "otel_agents.telemetry",
    "metrics_not_live": "otel_agents.telemetry",
    "GenAIMetrics": "otel_agents.genai_metrics",
    "hookimpl": "otel_agents.hookspecs",
    "Outcome": "otel_agents.events",
    "ModelUsage": "otel_agents.events",
    "WorkflowEvent": "otel_agents.events",
    "PhaseEvent": "otel_agents.events",
    "StepEvent": "otel_agents.events",
    "ToolCallEvent": "otel_agents.events",
    "SpanParent": "otel_agents.events",
    "SpanView": "otel_agents.rollup",
    "UsageTotals": "otel_agents.rollup",
    "load_config": "otel_agents.config",
    "record_estimates": "otel_agents.analytics.outcomes",
    "record_outcome": "otel_agents.analytics.outcomes",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from typing import Any

    from otel_agents.analytics.outcomes import record_estimates as record_estimates, record_outcome as record_outcome
    from otel_agents.api import (
        ModelCall as ModelCall,
        Phase as Phase,
        Step as Step,
        ToolCall as ToolCall,
        Workflow as Workflow,
        activate as activate,
        current as current,
        current_model_call as current_model_call,
        model_call as model_call,
        new_workflow as new_workflow,
        phase as phase,
        record_usage as record_usage,
        step as step,
        tool_call as tool_call,
        workflow as workflow,
    )
    from otel_agents.config import load_config as load_config
    from otel_agents.context import ContextExecutor as ContextExecutor, bind as bind
    from otel_agents.events import (
        ModelUsage as ModelUsage,
        Outcome as Outcome,
        PhaseEvent as PhaseEvent,
        SpanParent as SpanParent,
        StepEvent as StepEvent,
        ToolCallEvent as ToolCallEvent,
        WorkflowEvent as WorkflowEvent,
    )
    from otel_agents.genai_metrics import GenAIMetrics as GenAIMetrics
    from otel_agents.hookspecs import hookimpl as hookimpl
    from otel_agents.rollup import SpanView as SpanView, UsageTotals as UsageTotals
    from otel_agents.telemetry import metrics_not_live as metrics_not_live, setup as setup, shutdown as shutdown


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_agents' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
