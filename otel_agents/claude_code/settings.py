"""Merge otel-agents' hook entries into Claude Code settings files, and take them out again.

Claude Code reads hooks from ``.claude/settings.json`` (project, shared),
``.claude/settings.local.json`` (project, personal) and ``~/.claude/settings.json`` (user):

    {"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "...", "timeout": 3}]}]}}

``install`` adds one command hook per event, keeps every other key and hook as it is, and is
idempotent (a second install changes nothing; an install with a new command or timeout
updates ours in place). ``uninstall`` removes exactly the hooks whose command runs
``otel-agents hook`` (or the project's launcher, ``otel_agents.claude_code.launcher``), and
the groups and event lists that leaves empty. ``set_env``/``unset_env`` keep one variable of
a file's ``env`` object (the launcher's record of this machine's executable).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from otel_agents.claude_code.eventset import INSTALLED, TOOL_EVENTS

#: Every Claude Code hook event ``install-hooks`` installs (``eventset``: the one list).
EVENTS: tuple[str, ...] = INSTALLED
#: Seconds Claude Code waits for our hook at most; it returns in milliseconds.
DEFAULT_TIMEOUT = 3

SCOPES = ("project", "local", "user")


class SettingsError(Exception):
    """The settings file cannot be read or is not a JSON object; it is left untouched."""


def settings_path(scope: str, project_dir: str | os.PathLike[str] | None = None) -> Path:
    """The settings file of a scope: project, local or user."""
    if scope == "user":
        return Path(os.path.expanduser("~")) / ".claude" / "settings.json"
    base = Path(project_dir or os.getcwd()) / ".claude"
    return base / ("settings.local.json" if scope == "local" else "settings.json")


def default_command() -> str:
    """The command line that runs this installation's ``otel-agents hook``."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if os.path.basename(argv0) == "otel-agents" and os.path.exists(argv0):
        return f"{shlex.quote(os.path.abspath(argv0))} hook"
    script = Path(sys.executable).parent / "otel-agents"
    if script.exists():
        return f"{shlex.quote(str(script))} hook"
    return f"{shlex.quote(sys.executable)} -m otel_agents hook"


def is_ours(command: Any) -> bool:
    """Whether a hook command runs ``otel-agents hook`` (any path, any extra arguments) or the
    project's launcher (``.../otel-agents-hook``)."""
    if not isinstance(command, str):
        return False
    try:
        argv = shlex.split(command)
    except ValueError:
        return False
    if argv and os.path.basename(argv[0]) == "otel-agents-hook":
        return True
    for i, tok in enumerate(argv[:-1]):
        name = os.path.basename(tok)
        if name == "otel-agents" and argv[i + 1] == "hook":
            return True
        if tok == "-m" and argv[i + 1] == "otel_agents" and i + 2 < len(argv) and argv[i + 2] == "hook":
            return True
    return False


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SettingsError(f"{path} is not valid JSON ({exc}); not changed") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path} is not a JSON object; not changed")
    hooks = data.get("hooks")
    if hooks is not None and not isinstance(hooks, dict):
        raise SettingsError(f'{path}: "hooks" is not an object; not changed')
    return data


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _our_entry(command: str, timeout: int) -> dict[str, Any]:
    return {"type": "command", "command": command, "timeout": timeout}


def install(path: Path, command: str | None = None, timeout: int = DEFAULT_TIMEOUT) -> bool:
    """Merge our hooks into ``path``; returns whether the file changed."""
    command = command or default_command()
    data = _load(path)
    before = json.dumps(data, sort_keys=True)
    hooks = data.setdefault("hooks", {})
    for event in EVENTS:
        groups = hooks.get(event)
        if not isinstance(groups, list):
            groups = hooks[event] = []
        found = False
        emptied: list[Any] = []
        for group in groups:
            if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
                continue
            entries = group["hooks"]
            for i, h in enumerate(entries):
                if isinstance(h, dict) and is_ours(h.get("command")):
                    if found:  # a duplicate of ours: drop it
                        entries[i] = None
                        continue
                    found = True
                    h.update(_our_entry(command, timeout))
            if None in entries:
                group["hooks"] = [h for h in entries if h is not None]
                if not group["hooks"]:
                    emptied.append(group)
        hooks[event] = [g for g in groups if not any(g is e for e in emptied)]
        if not found:
            group = {"hooks": [_our_entry(command, timeout)]}
            if event in TOOL_EVENTS:
                group = {"matcher": "*", **group}
            hooks[event].append(group)
    if json.dumps(data, sort_keys=True) == before:
        return False
    _save(path, data)
    return True


def has_ours(path: Path) -> bool:
    """Whether ``path`` has one of our hooks (False when it cannot be read)."""
    try:
        hooks = _load(path).get("hooks") or {}
    except SettingsError:
        return False
    return any(
        isinstance(h, dict) and is_ours(h.get("command"))
        for groups in hooks.values()
        if isinstance(groups, list)
        for group in groups
        if isinstance(group, dict) and isinstance(group.get("hooks"), list)
        for h in group["hooks"]
    )


def set_env(path: Path, key: str, value: str) -> bool:
    """Set ``env[key]`` in the settings file ``path``; returns whether the file changed."""
    data = _load(path)
    env = data.setdefault("env", {})
    if not isinstance(env, dict):
        raise SettingsError(f'{path}: "env" is not an object; not changed')
    if env.get(key) == value:
        return False
    env[key] = value
    _save(path, data)
    return True


def unset_env(path: Path, key: str) -> bool:
    """Remove ``env[key]`` from ``path`` (and ``env`` if that empties it); whether it changed."""
    if not path.exists():
        return False
    data = _load(path)
    env = data.get("env")
    if not isinstance(env, dict) or key not in env:
        return False
    del env[key]
    if not env:
        del data["env"]
    _save(path, data)
    return True


def uninstall(path: Path) -> int:
    """Remove our hooks from ``path``; returns how many were removed."""
    if not path.exists():
        return 0
    data = _load(path)
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return 0
    removed = 0
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept_groups = []
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                kept = [h for h in group["hooks"] if not (isinstance(h, dict) and is_ours(h.get("command")))]
                removed += len(group["hooks"]) - len(kept)
                if not kept and group["hooks"]:
                    continue  # the group held only ours
                group["hooks"] = kept
            kept_groups.append(group)
        if kept_groups:
            hooks[event] = kept_groups
        else:
            del hooks[event]
    if not hooks:
        del data["hooks"]
    if removed:
        _save(path, data)
    return removed
