"""``install-hooks codex|gemini``: merge our hook into each CLI's configuration, and take it out.

- Codex CLI: ``${CODEX_HOME:-~/.codex}/hooks.json`` (``--project``: ``.codex/hooks.json``),
  Claude Code's shape, ``timeout`` in seconds. Codex runs a non-managed hook only after the
  user trusts it (``/hooks``); the trust covers event, matcher, command and timeout, so a
  changed entry stops running until trusted again.
- Gemini CLI: ``~/.gemini/settings.json`` (``--project``: ``.gemini/settings.json``), the same
  shape under ``hooks``, ``timeout`` in MILLISECONDS.

Other keys and hooks are kept as they are; a second install changes nothing; uninstall
removes exactly the entries whose command runs ``otel-agents hook`` (``settings.is_ours``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from otel_agents.claude_code.settings import SettingsError, _load, _save, default_command, is_ours

__all__ = ["EVENTS", "SettingsError", "config_path", "install", "uninstall"]

#: agent -> (hook events, events that take a tool matcher, timeout unit per second)
EVENTS: dict[str, tuple[tuple[str, ...], frozenset[str], int]] = {
    "codex": (
        (
            "SessionStart",
            "UserPromptSubmit",
            "PreToolUse",
            "PostToolUse",
            "PermissionRequest",
            "PreCompact",
            "PostCompact",
            "SubagentStart",
            "SubagentStop",
            "Stop",
            "SessionEnd",
        ),
        frozenset({"PreToolUse", "PostToolUse", "PermissionRequest"}),
        1,
    ),
    "gemini": (
        (
            "SessionStart",
            "BeforeAgent",
            "BeforeTool",
            "AfterTool",
            "AfterAgent",
            "PreCompress",
            "Notification",
            "SessionEnd",
        ),
        frozenset({"BeforeTool", "AfterTool"}),
        1000,
    ),
}
DEFAULT_TIMEOUT_S = 5


def config_path(agent: str, project_dir: str | None = None) -> Path:
    """Where the hooks go: the user's file, or the project's with ``project_dir``."""
    if agent == "codex":
        base = (
            Path(project_dir) / ".codex"
            if project_dir
            else Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
        )
        return base / "hooks.json"
    base = Path(project_dir) / ".gemini" if project_dir else Path.home() / ".gemini"
    return base / "settings.json"


def install(agent: str, path: Path, command: str | None = None, timeout_s: int = DEFAULT_TIMEOUT_S) -> bool:
    """Merge ``<command> <agent>`` for every event into ``path``; returns whether it changed."""
    events, tool_events, unit = EVENTS[agent]
    entry = {"type": "command", "command": f"{command or default_command()} {agent}", "timeout": timeout_s * unit}
    data = _load(path)
    before = json.dumps(data, sort_keys=True)
    hooks = data.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise SettingsError(f"{path}: hooks is not an object")
    for event in events:
        groups = hooks.get(event)
        if not isinstance(groups, list):
            groups = hooks[event] = []
        found = False
        for group in groups:
            entries = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(entries, list):
                continue
            keep: list[Any] = []
            for h in entries:
                if isinstance(h, dict) and is_ours(h.get("command")):
                    if found:
                        continue  # a duplicate of ours
                    found = True
                    h.update(entry)
                keep.append(h)
            group["hooks"] = keep
        hooks[event] = [g for g in groups if not (isinstance(g, dict) and g.get("hooks") == [])]
        if not found:
            new: dict[str, Any] = {"hooks": [dict(entry)]}
            if event in tool_events:
                new = {"matcher": "*", **new}
            hooks[event].append(new)
    if json.dumps(data, sort_keys=True) == before:
        return False
    _save(path, data)
    return True


def uninstall(path: Path) -> int:
    """Remove our entries (and the groups and events left empty); returns how many."""
    if not path.exists():
        return 0
    data = _load(path)
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return 0
    n = 0
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        for group in groups:
            entries = group.get("hooks") if isinstance(group, dict) else None
            if isinstance(entries, list):
                kept = [h for h in entries if not (isinstance(h, dict) and is_ours(h.get("command")))]
                n += len(entries) - len(kept)
                group["hooks"] = kept
        hooks[event] = [g for g in groups if not (isinstance(g, dict) and g.get("hooks") == [])]
        if not hooks[event]:
            del hooks[event]
    if not hooks:
        del data["hooks"]
    if n:
        _save(path, data)
    return n
