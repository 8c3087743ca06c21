"""``otel-agents install-hooks claude-code`` / ``uninstall-hooks``: merge, idempotence, exact removal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from otel_agents.claude_code import launcher, settings

OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")
OURS = f"{OTEL_AGENTS} hook"
LAUNCHER = '"$CLAUDE_PROJECT_DIR"/.claude/hooks/otel-agents-hook'

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
    return {
        event: [h for g in groups for h in g["hooks"] if settings.is_ours(h.get("command"))]
        for event, groups in data["hooks"].items()
    }


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
        assert ours[event] == [{"type": "command", "command": LAUNCHER, "timeout": settings.DEFAULT_TIMEOUT}], event
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
    cli("install-hooks", "claude-code", "--local", "--python", "--timeout", "2", cwd=tmp_path)
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


@pytest.mark.parametrize(
    ("command", "ours"),
    [
        ("/x/.venv/bin/otel-agents hook", True),
        ("otel-agents hook --verbose", True),
        ("'/path with space/otel-agents' hook", True),
        ("python -m otel_agents hook", True),
        ("otel-agents flush", False),
        ("my-otel-agents-wrapper hook", False),
        ("echo otel-agents", False),
        (None, False),
    ],
)
def test_is_ours(command: str | None, ours: bool) -> None:
    assert settings.is_ours(command) is ours


def test_installed_command_runs_the_hook(tmp_path: Path) -> None:
    cli("install-hooks", "claude-code", cwd=tmp_path)
    data = json.loads((tmp_path / ".claude" / "settings.json").read_text())
    command = our_hooks(data)["PreToolUse"][0]["command"]
    payload = json.dumps({"session_id": "s-inst", "hook_event_name": "PreToolUse", "tool_use_id": "t"})
    env = dict(os.environ, OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="0", CLAUDE_PROJECT_DIR=str(tmp_path))
    p = subprocess.run(command, shell=True, input=payload, capture_output=True, text=True, env=env, timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    assert (Path(os.environ["OTEL_AGENTS_HOME"]) / "claude-code" / "sessions" / "s-inst.jsonl").exists()


# --- the committed settings name no machine's paths ---------------------------------------------

PAYLOAD = {"session_id": "s-team", "hook_event_name": "PreToolUse", "tool_use_id": "toolu_1", "tool_name": "Bash"}


def _minimal_path() -> str:
    """A PATH with sh, sed, head and cat, and no otel-agents."""
    dirs = sorted({str(Path(shutil.which(tool)).parent) for tool in ("sh", "sed", "head", "cat")})
    assert not any((Path(d) / "otel-agents").exists() for d in dirs)
    return os.pathsep.join(dirs)


def run_hook_command(command: str, project: Path, path: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run a settings entry's command as Claude Code does: through a shell, the event on stdin,
    CLAUDE_PROJECT_DIR set, no OTEL_* variables."""
    env = {
        "PATH": path,
        "HOME": str(project),
        "CLAUDE_PROJECT_DIR": str(project),
        "OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN": "0",
        **extra,
    }
    return subprocess.run(
        ["/bin/sh", "-c", command],
        input=json.dumps(PAYLOAD),
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=60,
    )


def _clone(project: Path, to: Path) -> Path:
    """What a teammate gets from git: the committed files only."""
    (to / ".claude").mkdir(parents=True)
    shutil.copy2(project / ".claude" / "settings.json", to / ".claude" / "settings.json")
    shutil.copytree(project / ".claude" / "hooks", to / ".claude" / "hooks")
    return to


def _spooled(project: Path) -> list[dict]:
    spool = project / ".otel-agents" / "claude-code" / "sessions" / "s-team.jsonl"
    return [json.loads(line) for line in spool.read_text().splitlines()] if spool.exists() else []


def test_project_settings_hold_no_machine_path(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    p = cli("install-hooks", "claude-code", "--python", cwd=project)
    assert p.returncode == 0, p.stderr
    committed = (project / ".claude" / "settings.json").read_text()
    script = (project / ".claude" / "hooks" / "otel-agents-hook").read_text()
    for text in (committed, script):
        assert str(tmp_path) not in text and str(Path(sys.executable).parent) not in text
        assert sys.executable not in text
    assert {h["command"] for hooks in our_hooks(json.loads(committed)).values() for h in hooks} == {LAUNCHER}
    assert script.startswith("#!/bin/sh\n")
    assert os.stat(project / ".claude" / "hooks" / "otel-agents-hook").st_mode & 0o777 == 0o755
    # This machine's executable: only in the personal file.
    local = json.loads((project / ".claude" / "settings.local.json").read_text())
    assert local == {"env": {"OTEL_AGENTS_HOOK_PATH": OTEL_AGENTS}}


def test_launcher_where_otel_agents_is_not_installed_exits_0_silently(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    cli("install-hooks", "claude-code", cwd=project)
    teammate = _clone(project, tmp_path / "teammate")
    before = sorted(p.relative_to(teammate) for p in teammate.rglob("*"))
    p = run_hook_command(LAUNCHER, teammate, _minimal_path())
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    assert sorted(p.relative_to(teammate) for p in teammate.rglob("*")) == before
    # a recorded executable that is gone (uninstalled since) is the same as none
    (teammate / ".claude" / "settings.local.json").write_text(
        json.dumps({"env": {"OTEL_AGENTS_HOOK_PATH": str(tmp_path / "gone" / "otel-agents")}})
    )
    p = run_hook_command(LAUNCHER, teammate, _minimal_path())
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    assert _spooled(teammate) == []


def test_launcher_runs_the_otel_agents_on_path(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    cli("install-hooks", "claude-code", cwd=project)
    teammate = _clone(project, tmp_path / "teammate")
    p = run_hook_command(LAUNCHER, teammate, str(Path(OTEL_AGENTS).parent) + os.pathsep + _minimal_path())
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    (event,) = _spooled(teammate)
    assert event["e"] == PAYLOAD


def test_launcher_runs_the_executable_recorded_in_local_settings(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    cli("install-hooks", "claude-code", cwd=project)
    p = run_hook_command(LAUNCHER, project, _minimal_path())  # no otel-agents on PATH
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    (event,) = _spooled(project)
    assert event["e"] == PAYLOAD
    # Claude Code applies the local settings' env to hooks too: the variable alone works as well
    (project / ".claude" / "settings.local.json").unlink()
    p = run_hook_command(LAUNCHER, project, _minimal_path(), OTEL_AGENTS_HOOK_PATH=OTEL_AGENTS)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    assert len(_spooled(project)) == 2


def test_old_absolute_project_entries_are_replaced_and_uninstall_cleans_up(tmp_path: Path) -> None:
    project = tmp_path / "project"
    path = project / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    old = json.loads(json.dumps(THEIRS))
    old["hooks"]["Stop"].append({"hooks": [{"type": "command", "command": OURS, "timeout": 3}]})
    path.write_text(json.dumps(old))
    (project / ".claude" / "settings.local.json").write_text(json.dumps({"env": {"MINE": "1"}}))
    cli("install-hooks", "claude-code", cwd=project)
    data = json.loads(path.read_text())
    assert data["hooks"]["Stop"] == [
        *THEIRS["hooks"]["Stop"],
        {"hooks": [{"type": "command", "command": LAUNCHER, "timeout": 3}]},
    ]
    assert OURS not in path.read_text()
    p = cli("uninstall-hooks", "claude-code", cwd=project)
    assert p.returncode == 0
    assert json.loads(path.read_text()) == THEIRS
    assert json.loads((project / ".claude" / "settings.local.json").read_text()) == {"env": {"MINE": "1"}}
    assert not (project / ".claude" / "hooks").exists()


def test_a_launcher_name_taken_by_another_file_is_left_alone(tmp_path: Path) -> None:
    script = tmp_path / ".claude" / "hooks" / "otel-agents-hook"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\necho mine\n")
    p = cli("install-hooks", "claude-code", cwd=tmp_path)
    assert p.returncode == 1 and "not written by otel-agents" in p.stderr
    assert script.read_text() == "#!/bin/sh\necho mine\n"
    assert not (tmp_path / ".claude" / "settings.json").exists()


def test_gitignore_hint(tmp_path: Path) -> None:
    p = cli("install-hooks", "claude-code", cwd=tmp_path)
    (hint,) = [line for line in p.stdout.splitlines() if line.startswith("hint:")]
    assert ".otel-agents/ and .claude/settings.local.json" in hint and ".gitignore" in hint
    (tmp_path / ".gitignore").write_text("node_modules\n/.otel-agents\n")
    p = cli("install-hooks", "claude-code", cwd=tmp_path)
    (hint,) = [line for line in p.stdout.splitlines() if line.startswith("hint:")]
    assert "add .claude/settings.local.json to" in hint
    (tmp_path / ".gitignore").write_text("node_modules\n.otel-agents/\n.claude/settings.local.json\n")
    p = cli("install-hooks", "claude-code", cwd=tmp_path)
    assert "hint:" not in p.stdout
    assert launcher.missing_ignores(tmp_path) == []
