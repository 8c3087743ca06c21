"""``otel-agents install-hooks claude-code`` / ``uninstall-hooks``: merge, idempotence, exact removal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_agents.claude_code import settings

OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")
OURS = f"{OTEL_AGENTS} hook"

THEIRS = {
    "model": "claude-sonnet-4-5",
    "permissions": {"allow": ["Bash(npm test:*)"]},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./guard.sh", "timeout": 10}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
        "CustomEvent": [{"hooks": []}],
    },
}


def cli(*args: str, cwd: Path, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run([OTEL_AGENTS, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60)


def our_hooks(data: dict) -> dict[str, list[dict]]:
    return {event: [h for g in groups for h in g["hooks"] if settings.is_ours(h.get("command"))]
            for event, groups in data["hooks"].items()}


def test_install_merges_into_project_settings_keeping_everything_else(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(THEIRS))
    p = cli("install-hooks", "claude-code", cwd=tmp_path)
    assert p.returncode == 0 and "installed" in p.stdout
    data = json.loads(path.read_text())
    assert data["model"] == THEIRS["model"] and data["permissions"] == THEIRS["permissions"]
    assert data["hooks"]["PreToolUse"][0] == THEIRS["hooks"]["PreToolUse"][0]
    assert data["hooks"]["Stop"][0] == THEIRS["hooks"]["Stop"][0]
    assert data["hooks"]["CustomEvent"] == [{"hooks": []}]
    ours = our_hooks(data)
    for event in settings.EVENTS:
        assert ours[event] == [{"type": "command", "command": OURS, "timeout": settings.DEFAULT_TIMEOUT}], event
    assert data["hooks"]["PreToolUse"][1]["matcher"] == "*"
    assert "matcher" not in data["hooks"]["SessionStart"][0]


def test_install_is_idempotent_and_uninstall_removes_exactly_ours(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(THEIRS))
    cli("install-hooks", "claude-code", "--project", cwd=tmp_path)
    once = path.read_text()
    p = cli("install-hooks", "claude-code", cwd=tmp_path)
    assert "already installed" in p.stdout and path.read_text() == once
    p = cli("uninstall-hooks", "claude-code", cwd=tmp_path)
    assert p.returncode == 0 and f"removed {len(settings.EVENTS)}" in p.stdout
    assert json.loads(path.read_text()) == THEIRS
    p = cli("uninstall-hooks", "claude-code", cwd=tmp_path)
    assert "no otel-agents hooks" in p.stdout


def test_reinstall_updates_our_entry_in_place_and_drops_duplicates(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.local.json"
    path.parent.mkdir()
    dup = {"type": "command", "command": "/old/venv/bin/otel-agents hook", "timeout": 60}
    path.write_text(json.dumps({"hooks": {"Stop": [{"hooks": [dup]}, {"hooks": [dict(dup)]}]}}))
    cli("install-hooks", "claude-code", "--local", "--timeout", "2", cwd=tmp_path)
    data = json.loads(path.read_text())
    assert data["hooks"]["Stop"] == [{"hooks": [{"type": "command", "command": OURS, "timeout": 2}]}]


def test_user_scope_writes_home_settings(tmp_path: Path) -> None:
    fake_home = tmp_path / "home"
    fake_home.mkdir()
    p = cli("install-hooks", "claude-code", "--user", cwd=tmp_path, home=fake_home)
    assert p.returncode == 0
    data = json.loads((fake_home / ".claude" / "settings.json").read_text())
    assert set(our_hooks(data)) == set(settings.EVENTS)
    assert not (tmp_path / ".claude").exists()
    cli("uninstall-hooks", "claude-code", "--user", cwd=tmp_path, home=fake_home)
    assert json.loads((fake_home / ".claude" / "settings.json").read_text()) == {}


def test_invalid_settings_file_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text("{ not json")
    p = cli("install-hooks", "claude-code", cwd=tmp_path)
    assert p.returncode == 1 and "not valid JSON" in p.stderr
    assert path.read_text() == "{ not json"


@pytest.mark.parametrize(("command", "ours"), [
    ("/x/.venv/bin/otel-agents hook", True),
    ("otel-agents hook --verbose", True),
    ("'/path with space/otel-agents' hook", True),
    ("python -m otel_agents hook", True),
    ("otel-agents flush", False),
    ("my-otel-agents-wrapper hook", False),
    ("echo otel-agents", False),
    (None, False),
])
def test_is_ours(command: str | None, ours: bool) -> None:
    assert settings.is_ours(command) is ours


def test_installed_command_runs_the_hook(tmp_path: Path) -> None:
    cli("install-hooks", "claude-code", cwd=tmp_path)
    data = json.loads((tmp_path / ".claude" / "settings.json").read_text())
    command = our_hooks(data)["PreToolUse"][0]["command"]
    payload = json.dumps({"session_id": "s-inst", "hook_event_name": "PreToolUse", "tool_use_id": "t"})
    env = dict(os.environ, OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="0")
    p = subprocess.run(command, shell=True, input=payload, capture_output=True, text=True, env=env, timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    assert (Path(os.environ["OTEL_AGENTS_HOME"]) / "claude-code" / "sessions" / "s-inst.jsonl").exists()
