"""Codex CLI and Gemini CLI capture: adapters beside Claude Code's on one capture core.

The hook path, the per-session spool, the detached drain and deterministic ids are Claude
Code's (``otel_agents.claude_code``); an adapter says how to read one CLI's session file:

- ``session``: the trace model an adapter reads (session, turns, tool calls, model calls);
- ``codex``: Codex CLI rollout files (``~/.codex/sessions/**/rollout-*.jsonl``);
- ``gemini``: Gemini CLI chat files (``~/.gemini/tmp/<project>/chats/session-*.json[l]``);
- ``capture``: ``otel-agents hook codex|gemini`` (standard library only);
- ``export``: the drain and ``otel-agents import``: session file + hook events -> spans;
- ``install``: ``install-hooks codex|gemini`` for each CLI's configuration file.

Nothing is imported here: the hook must stay at bare-Python start-up cost.
"""
