"""Live monitoring: the live-state file a workflow's process keeps, read from ANOTHER process
(collector up, down or hung), the terminal view in a pseudo-terminal and without one, Claude
Code sessions from the hook's spool, and ended runs ageing out."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _live_driver import Driver
from _otlp_receiver import HttpReceiver, HungSocket, free_port
from _waiting import wait_until
from opentelemetry.sdk.trace import TracerProvider

import otel_agents
from otel_agents.commands.live_view import snapshot
from otel_agents.livestate import KEEP_ENDED, LiveState, live_dir

#: within this many seconds of the workflow doing it, the live view shows it (the issue's bound)
VISIBLE_S = 1.0


def _running(home: Path) -> dict | None:
    runs = [r for r in snapshot(home)["running"] if r["workflow_id"] == "wf-live-1"]
    return runs[0] if runs else None


def _shows(home: Path, **want: object):
    def check() -> dict | None:
        run = _running(home)
        return run if run is not None and all(run.get(k) == v for k, v in want.items()) else None

    return check


@pytest.fixture(params=["up", "down", "hung"])
def collector(request):
    if request.param == "up":
        with HttpReceiver() as rec:
            yield f"http://127.0.0.1:{rec.port}"
    elif request.param == "down":
        yield f"http://127.0.0.1:{free_port()}"
    else:
        hung = HungSocket()
        try:
            yield f"http://127.0.0.1:{hung.port}"
        finally:
            hung.close()


def test_running_workflow_visible_across_processes_within_a_second(tmp_path, collector):
    home = tmp_path / "home"
    wf = Driver(home, collector)
    try:
        t0 = time.monotonic()
        wait_until(_shows(home, phase=None, step=None, tool=None), VISIBLE_S, "the workflow's start")
        for command, want in (
            ("phase plan", {"phase": "plan"}),
            ("step coder", {"phase": "plan", "step": "coder"}),
            ("tool bash", {"step": "coder", "tool": "bash"}),
            ("usage 1000 200", {"input_tokens": 1000, "output_tokens": 200, "cost_usd": 0.006}),
            ("end tool", {"step": "coder", "tool": None}),
            ("end step", {"phase": "plan", "step": None}),
            ("end phase", {"phase": None}),
            ("phase build", {"phase": "build"}),
            ("end phase", {"phase": None}),
        ):
            wf.send(command)
            wait_until(_shows(home, **want), VISIBLE_S, f"{want} after {command!r}")
        run = _running(home)
        assert run is not None
        assert run["name"] == "live-demo" and run["kind"] == "workflow" and run["pid"] == wf.proc.pid
        assert run["model_calls"] == 1 and run["unpriced_model_calls"] == 0
        wf.send("done")

        def ended():
            done = [r for r in snapshot(home)["ended"] if r["workflow_id"] == "wf-live-1"]
            return done[0] if done else None

        row = wait_until(ended, VISIBLE_S, "the workflow's end")
        assert (row["outcome"], row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (
            "success",
            1000,
            200,
            0.006,
        )
        assert _running(home) is None
        assert time.monotonic() - t0 < 30
    finally:
        wf.close()


def test_killed_process_shows_as_lost(tmp_path):
    home = tmp_path / "home"
    wf = Driver(home, f"http://127.0.0.1:{free_port()}")
    wf.send("phase plan")
    wait_until(_shows(home, phase="plan"), VISIBLE_S, "the phase")
    wf.close()  # SIGKILL: no exit handler runs
    row = wait_until(lambda: snapshot(home)["ended"], 5, "the run among the ended")[0]
    assert (row["workflow_id"], row["outcome"]) == ("wf-live-1", "lost (process exited)")


def test_ended_runs_age_out(tmp_path):
    provider = TracerProvider()
    live = LiveState(tmp_path, interval=3600)  # ticks by hand
    provider.add_span_processor(live)
    otel_agents.setup(provider=provider, with_sinks=False, set_global=False)
    for i in range(KEEP_ENDED + 5):
        otel_agents.new_workflow(f"wf{i}").start().stop()
    running = otel_agents.new_workflow("still-running").start()
    live.tick()
    doc = json.loads(live.path.read_text())
    names = [r["name"] for r in doc["runs"]]
    assert len(names) == KEEP_ENDED + 1 and "still-running" in names and "wf0" not in names
    live.ended_ttl = 0.0
    time.sleep(0.01)
    live.tick()
    assert [r["name"] for r in json.loads(live.path.read_text())["runs"]] == ["still-running"]
    running.stop()
    live.shutdown()
    # once the process is gone and its last update is old, the reader removes the file
    doc = json.loads(live.path.read_text())
    doc["updated"] -= 3600
    live.path.write_text(json.dumps(doc))
    assert snapshot(tmp_path)["ended"] == [] and list(live_dir(tmp_path).glob("*.json")) == []


def _session_spool(home: Path, session: str, events: list[dict]) -> None:
    d = home / "claude-code" / "sessions"
    d.mkdir(parents=True, exist_ok=True)
    now = time.time_ns()
    with (d / f"{session}.jsonl").open("w") as f:
        for i, ev in enumerate(events):
            f.write(
                json.dumps({"t": now - (len(events) - i) * 1_000_000_000, "e": dict(ev, session_id=session)}) + "\n"
            )


def test_claude_code_session_running_with_tool_in_flight(tmp_path):
    _session_spool(
        tmp_path,
        "s-run",
        [
            {"hook_event_name": "SessionStart"},
            {"hook_event_name": "UserPromptSubmit"},
            {"hook_event_name": "PreToolUse", "tool_name": "Read", "tool_use_id": "t1"},
            {"hook_event_name": "PostToolUse", "tool_name": "Read", "tool_use_id": "t1"},
            {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "t2"},
        ],
    )
    _session_spool(
        tmp_path, "s-done", [{"hook_event_name": "SessionStart"}, {"hook_event_name": "SessionEnd", "reason": "logout"}]
    )
    snap = snapshot(tmp_path)
    (run,) = snap["running"]
    assert (run["kind"], run["workflow_id"], run["step"], run["tool"]) == ("claude-code", "s-run", "prompt 1", "Bash")
    assert run["cost_usd"] is None and run["input_tokens"] is None  # unknown, never 0
    (done,) = snap["ended"]
    assert (done["workflow_id"], done["outcome"]) == ("s-done", "logout")


def _read_pty(fd: int, until: str, timeout: float = 10.0) -> str:
    out = b""
    deadline = time.monotonic() + timeout
    while until.encode() not in out:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for {until!r}; got {out[-2000:]!r}"
        if select.select([fd], [], [], left)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out.decode(errors="replace")


def test_terminal_view_refreshes_in_place_in_a_pty(tmp_path):
    home = tmp_path / "home"
    wf = Driver(home, f"http://127.0.0.1:{free_port()}")
    master, slave = pty.openpty()
    view = subprocess.Popen(
        [sys.executable, "-m", "otel_agents", "live", "--home", str(home), "--interval", "0.2"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    try:
        wf.send("phase plan")
        wf.send("step coder")
        wf.send("tool pytest")
        screen = _read_pty(master, "tool pytest")
        assert "\x1b[H\x1b[2J" in screen  # redrawn in place, not scrolled
        assert "live-demo [wf-live-1]  phase plan > step coder > tool pytest" in screen
        wf.send("end tool")
        wf.send("end step")
        wf.send("end phase")
        wf.send("done")
        screen = _read_pty(master, "SUCCESS")
        assert "live-demo [wf-live-1]  SUCCESS" in screen.split("ENDED")[-1]
    finally:
        view.terminate()
        view.wait(10)
        os.close(master)
        wf.close()


def test_without_a_terminal_prints_lines(tmp_path):
    home = tmp_path / "home"
    wf = Driver(home, f"http://127.0.0.1:{free_port()}")
    view = subprocess.Popen(
        [sys.executable, "-m", "otel_agents", "live", "--home", str(home), "--interval", "0.1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wf.send("phase plan")
        lines = []
        while not any("phase plan" in x for x in lines):
            lines.append(view.stdout.readline())
        wf.send("end phase")
        wf.send("done")
        while not any(" ended " in x for x in lines):
            lines.append(view.stdout.readline())
        text = "".join(lines)
        assert "\x1b" not in text
        assert any(x.split(" ", 1)[1].startswith("ended live-demo [wf-live-1]  SUCCESS") for x in lines)
    finally:
        view.terminate()
        view.wait(10)
        wf.close()


def test_a_live_state_that_cannot_be_written_is_counted_never_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    from otel_agents import safety

    (tmp_path / "live").write_text("a file where the directory should be")
    provider = TracerProvider()
    live = LiveState(tmp_path, interval=3600)
    provider.add_span_processor(live)
    otel_agents.setup(provider=provider, with_sinks=False, set_global=False)
    otel_agents.new_workflow("wf").start().stop()  # the workflow never sees it
    live.tick()
    live.shutdown()
    assert safety.failure_counts()["live state"] == 2
