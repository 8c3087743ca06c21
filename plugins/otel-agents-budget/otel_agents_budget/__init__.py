"""otel-agents-budget: warn when a workflow's cost passes a budget.

Uses only the public hook API. The budget is ``budget.usd`` in ``.otel-agents/config.toml``
or ``OTEL_AGENTS_BUDGET_USD``; 0 (the default) turns the check off. Past the budget, the
workflow span gets an ``otel_agents.budget.exceeded`` event (``otel_agents.budget.usd``,
``otel_agents.budget.cost.usd``, ``otel_agents.budget.workflow.name``) and one warning log line.
"""

from __future__ import annotations

import logging

from otel_agents import SpanView, attributes as A, hookimpl, load_config

logger = logging.getLogger("otel_agents.budget")

EVENT_NAME = A.EVENT_BUDGET_EXCEEDED

_budget: float | None = None


def budget_usd() -> float:
    """The configured budget in USD, read once."""
    global _budget
    if _budget is None:
        _budget = float(load_config().get("budget.usd") or 0.0)
    return _budget


def reset() -> None:
    """Forget the cached budget (tests)."""
    global _budget
    _budget = None


@hookimpl
def span_ending(span: SpanView) -> None:
    if span.kind != "workflow" or span.totals is None:
        return
    budget = budget_usd()
    cost = span.totals.cost
    if budget > 0 and cost > budget:
        name = getattr(span.event, "name", "?")
        span.add_event(
            EVENT_NAME, {A.BUDGET_USD: budget, A.BUDGET_COST_USD: round(cost, 6), A.BUDGET_WORKFLOW_NAME: name}
        )
        logger.warning(
            "otel-agents-budget: workflow %r (%s) cost $%.6f, over its budget of $%.6f",
            name,
            span.event.workflow_id,
            cost,
            budget,
        )
