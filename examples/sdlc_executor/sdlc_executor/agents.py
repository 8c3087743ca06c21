"""Agents: each works on a task with its model and its tools."""

from __future__ import annotations

from dataclasses import dataclass

from sdlc_executor.llm import ModelClient
from sdlc_executor.plan import Task
from sdlc_executor.tools import Toolbox


@dataclass
class StepReport:
    """What one attempt of an agent did."""

    agent: str
    attempt: int
    model_calls: int
    tool_calls: int


class Agent:
    """A named agent on one model."""

    def __init__(self, name: str, model: str, client: ModelClient, tools: Toolbox) -> None:
        self.name = name
        self.model = model
        self.client = client
        self.tools = tools

    async def work(self, task: Task, attempt: int) -> StepReport:
        """One attempt at ``task``: think (model calls), then act (tool calls)."""
        prompt = f"{task.phase}: attempt {attempt}"
        for canned in task.calls:
            if task.streaming:
                for _chunk in self.client.stream(self.model, prompt, canned):
                    pass
            else:
                await self.client.complete(self.model, prompt, canned)
        for i, (tool, arguments) in enumerate(task.tools, start=1):
            self.tools.run(tool, f"toolu_{task.phase}_{attempt}_{i}", arguments)
        return StepReport(self.name, attempt, len(task.calls), len(task.tools))
