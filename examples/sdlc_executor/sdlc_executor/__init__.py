"""An example SDLC workflow executor with no telemetry code at all.

It does what ``otel_agents/demo.py`` does (plan, build, test, review; several agents, tool
calls, a test run that times out and is retried, token usage on two models, the same
deterministic numbers) but knows nothing about OpenTelemetry or otel-agents. The
``[tool.otel-agents.instrument]`` table in ``pyproject.toml`` maps its methods to lifecycle
events; ``otel-agents run -- python -m sdlc_executor`` traces it.

The model client and the tools are stand-ins: the model returns canned, Anthropic-style
usage (its ``input_tokens`` exclude cache reads and writes), the tools sleep briefly.
"""

from sdlc_executor.executor import RunReport, SDLCExecutor

__all__ = ["RunReport", "SDLCExecutor"]
