"""The workflow executor: runs the plan's phases in order, retrying a failed attempt once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sdlc_executor.agents import Agent, StepReport
from sdlc_executor.llm import ModelClient
from sdlc_executor.plan import FLAKY_COMMANDS, PLAN, Task
from sdlc_executor.tools import DemoTimeout, Toolbox


@dataclass
class RunReport:
    """The outcome of a run."""

    issue_id: str
    ok: bool = True
    steps: list[StepReport] = field(default_factory=list)
    retries: int = 0


class SDLCExecutor:
    """Plan, build, test, review one issue."""

    workflow_name = "fix-cart-total"
    template = "sdlc"
    max_attempts = 2

    def __init__(self, pace: float = 1.0) -> None:
        client = ModelClient(pace)
        tools = Toolbox(pace, flaky=FLAKY_COMMANDS)
        self.agents = {t.agent: Agent(t.agent, t.model, client, tools) for t in PLAN}

    def run(self, issue_id: str, run_id: str | None = None, complexity: str = "medium") -> RunReport:
        """Run every phase of the plan for ``issue_id``."""
        report = RunReport(issue_id)
        for number, task in enumerate(PLAN, start=1):
            self.run_phase(task, number, report)
        return report

    def run_phase(self, task: Task, number: int, report: RunReport) -> None:
        """Run one phase; a timed-out attempt is retried."""
        agent = self.agents[task.agent]
        for attempt in range(1, self.max_attempts + 1):
            try:
                report.steps.append(asyncio.run(agent.work(task, attempt)))
                return
            except DemoTimeout:
                if attempt == self.max_attempts:
                    report.ok = False
                    raise
                report.retries += 1
