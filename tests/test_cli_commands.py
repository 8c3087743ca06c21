"""The commands a user reaches for, as real subprocesses of the installed CLI: ``flush --status``
after an automatic drain, ``hook --help``, ``--home`` on every command that reads data, and
read-only commands that never create a data home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from _waiting import wait_until

CLI = str(Path(sys.executable).parent / "otel-agents")
FIXTURE = Path(__file__).parent / "fixtures" / "claude-code" / "basic-session"
FIXTURE_SID = "3f2a9c1e-7b44-4d2a-9a51-0c6f1d2e8b77"


def _env(home: Path | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CLAUDE_")) and k != "PYTEST_CURRENT_TEST"}
    if home is not None:
        env["OTEL_AGENTS_HOME"] = str(home)
    env.update({"OTEL_AGENTS_REPLAY_ON_START": "false", "OTEL_AGENTS_OTLP_ENABLED": "false", **extra})
    return env


def _cli(args: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120, **kw)


def _fixture_events() -> list[str]:
    text = (FIXTURE / "events.jsonl").read_text().replace("{FIXTURE_DIR}", str(FIXTURE))
    return [line for line in text.splitlines() if line.strip()]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# --- flush --status ------------------------------------------------------------------------------
def test_flush_status_shows_the_automatic_drain_started_by_the_hook(tmp_path: Path) -> None:
    home = tmp_path / "h"
    events = _fixture_events()
    quiet = _env(home, OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="false")
    for line in events[:-1]:
        assert _cli(["hook"], quiet, input=line).returncode == 0
    t0 = time.time()
    assert json.loads(events[-1])["hook_event_name"] == "SessionEnd"
    p = _cli(["hook"], _env(home), input=events[-1])  # the hook starts a detached drain
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")

    def drained() -> subprocess.CompletedProcess | None:
        status = _cli(["flush", "--status"], quiet)
        assert status.returncode == 0
        return status if "last drain: never" not in status.stdout else None

    status = wait_until(drained, 60, "the detached drain's record in `flush --status`", interval=0.1)
    lines = status.stdout.splitlines()
    assert lines[0] == f"claude-code capture under {home}"
    assert lines[1:3] == ["  sessions: 1 (0 open)", "  backlog: 0 bytes in 0 session(s) not yet drained"]
    when, _, what = lines[3].removeprefix("  last drain: ").partition(" (")
    assert what == "automatic, after Stop or SessionEnd): 1 session drained, 12 spans exported"
    assert t0 - 1 <= datetime.strptime(when, "%Y-%m-%d %H:%M:%S").timestamp() <= time.time()
    assert lines[4] == "  hook problems: none"


# --- hook --help ------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_hook_help_prints_usage_and_logs_nothing(tmp_path: Path, flag: str) -> None:
    env = _env(None)
    p = _cli(["hook", flag], env, cwd=tmp_path, input="")
    assert (p.returncode, p.stderr) == (0, "")
    assert p.stdout.startswith("usage: otel-agents hook\n")
    assert "Claude Code" in p.stdout and "install-hooks claude-code" in p.stdout
    assert _files(tmp_path) == []  # no hook.log, no data home


# --- --home and read-only commands -----------------------------------------------------------------
READ_ONLY = [
    (["doctor"], 0, "otel-agents doctor: data home {home}"),
    (["doctor", "--json"], 0, '"home": "{home}"'),
    (["show", "wf-1"], 1, ""),
    (["flush", "--status"], 0, "claude-code capture under {home}"),
    (["flush"], 0, "otel-agents flush: no captured Claude Code events under {home}"),
    (["replay"], 0, "otel-agents replay: nothing to replay: no spool at {home}/spans"),
    (["replay", "--dry-run"], 0, "otel-agents replay: nothing to replay: no spool at {home}/spans"),
    (["reconcile"], 0, "reconcile: nothing to do: {home}/metrics does not exist"),
    (["report"], 1, ""),
]


@pytest.mark.parametrize(("args", "code", "says"), READ_ONLY, ids=[" ".join(a) for a, _c, _s in READ_ONLY])
def test_read_only_commands_never_create_a_data_home(tmp_path: Path, args: list[str], code: int, says: str) -> None:
    work = tmp_path / "project"
    work.mkdir()
    p = _cli(args, _env(None), cwd=work)
    assert p.returncode == code, p.stdout + p.stderr
    assert says.format(home=work / ".otel-agents") in p.stdout
    if code:
        assert str(work / ".otel-agents") in p.stderr  # says where it looked
    assert _files(work) == []


@pytest.mark.parametrize(("args", "code", "says"), READ_ONLY, ids=[" ".join(a) for a, _c, _s in READ_ONLY])
def test_every_reading_command_takes_home(tmp_path: Path, args: list[str], code: int, says: str) -> None:
    """``--home`` wins over ``$OTEL_AGENTS_HOME``, and nothing is created there either."""
    elsewhere = tmp_path / "elsewhere"
    home = tmp_path / "given"
    p = _cli([*args, "--home", str(home)], _env(elsewhere), cwd=tmp_path)
    assert p.returncode == code, p.stdout + p.stderr
    assert says.format(home=home) in p.stdout
    assert str(elsewhere) not in p.stdout + p.stderr
    assert _files(tmp_path) == []


def test_home_option_reads_that_home(tmp_path: Path) -> None:
    """A demo run into one home; doctor, show and replay pointed at it from elsewhere with --home."""
    home = tmp_path / "data"
    assert _cli(["demo", "--pace", "0", "--quiet", "--workflow-id", "wf-home"], _env(home)).returncode == 0
    other = _env(tmp_path / "empty")
    info = json.loads(_cli(["doctor", "--json", "--home", str(home)], other).stdout)
    sinks = {s["name"]: s for s in info["sinks"]}
    assert info["home"] == str(home) and sinks["spool"]["spans"] == 26
    assert _cli(["show", "wf-home", "--home", str(home)], other).returncode == 0
    p = _cli(["replay", "--dry-run", "--home", str(home)], _env(tmp_path / "empty", OTEL_AGENTS_OTLP_ENABLED="true"))
    assert p.returncode == 0 and p.stdout.startswith("26 undelivered spans would be sent to ")
    assert not (tmp_path / "empty").exists()
