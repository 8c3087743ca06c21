"""Claude Code capture: hook events in, one trace per session out.

- ``capture``: the ``otel-agents hook`` path. Standard library only; appends one event to
  a per-session spool and returns.
- ``layout``: where the files are, how they are written, the problem log (standard library
  only; capture, store and drain share it).
- ``transcript``: incremental, deduplicating reader of Claude Code transcripts (usage).
- ``model``: the session model a drain keeps between runs (turns, subagents, tool calls).
- ``store``: a session's drain state and lock, and the spool reader.
- ``drain``: builds spans from the spool through the core's lifecycle hooks.
- ``settings``: ``install-hooks`` / ``uninstall-hooks`` for ``.claude/settings*.json``.
- ``status``: backlog, last drain and recent hook errors, for ``otel-agents doctor``.

Nothing is imported here: ``otel-agents hook`` must stay at bare-Python start-up cost.
"""
