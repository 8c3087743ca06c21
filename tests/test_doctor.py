"""``otel-agents doctor`` as a real subprocess: configuration with sources, per-sink
counters from other processes, the spool backlog, problems, and no secret in the output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from _otlp_receiver import HttpReceiver, free_port

CLI = str(Path(sys.executable).parent / "otel-agents")
SECRET = "tok-9f8e7d"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PYTEST_CURRENT_TEST"}
    env.update(OTEL_AGENTS_HOME=str(home), OTEL_AGENTS_REPLAY_ON_START="false", **extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def test_doctor_after_an_offline_demo_then_a_replay(tmp_path):
    home = tmp_path / "h"
    env = _env(
        home,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{free_port()}/v1/traces",
        OTEL_EXPORTER_OTLP_HEADERS=f"authorization=Bearer%20{SECRET}",
        OTEL_AGENTS_METRICS_ENABLED="false",
        OTEL_AGENTS_ANALYTICS_ENABLED="false",
    )
    assert _run(["demo", "--pace", "0", "--quiet"], env).returncode == 0
    out = _run(["doctor", "--json"], env)
    assert out.returncode == 0, out.stdout
    info = json.loads(out.stdout)
    assert SECRET not in out.stdout
    cfg = {c["name"]: c for c in info["config"]}
    assert cfg["otlp.headers"]["value"] == "1 header(s): authorization (values hidden)"
    assert cfg["otlp.headers"]["source"] == "OTEL_EXPORTER_OTLP_HEADERS"
    assert cfg["otlp.endpoint"]["source"] == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    assert cfg["exit_deadline"] == {
        "name": "exit_deadline",
        "value": 0.5,
        "source": "default",
        "doc": cfg["exit_deadline"]["doc"],
    }
    sinks = {s["name"]: s for s in info["sinks"]}
    assert [s["name"] for s in info["sinks"]][:2] == ["spool", "otlp"]
    assert sinks["spool"]["spans"] == 26 and sinks["spool"]["failures"] == 0
    assert sinks["otlp"]["spans"] == 0 and sinks["otlp"]["failed_spans"] == 26
    # "... connection refused", or, for a later batch in the backoff that follows,
    # "not sent, receiver unavailable (... connection refused); next try in 0.9 s"
    assert "connection refused" in sinks["otlp"]["last_error"]
    assert info["spool"]["files"] == 1 and info["spool"]["undelivered"] == 26
    assert (sinks["otlp"]["backlog"], sinks["otlp"]["backlog_of"], sinks["otlp"]["replayed"]) == (26, "spool", 0)
    assert info["problems"] == []
    endpoint = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    (warning,) = info["warnings"]
    assert warning.startswith(f"OTLP has never delivered a span to {endpoint}; last error: ")
    assert warning.endswith(
        ". 26 spans wait in the spool: start a collector there and run `otel-agents replay`, "
        "or, to keep telemetry local only, set otlp.enabled = false (the spool, metrics and "
        "analytics keep everything)."
    )

    text = _run(["doctor"], env).stdout
    otlp = text.split("\n  otlp\n", 1)[1].split("\n  metrics", 1)[0]
    assert otlp.splitlines()[:3] == [
        "    delivered 0 spans: 0 live in 0 batches, 0 by replay; last success never",
        "    failures 1 batches (26 spans); dropped 0 spans",
        "    backlog: 26 spans in the spool not yet delivered (`otel-agents replay` sends them)",
    ]
    assert "  otlp.headers" in text and SECRET not in text
    assert "last error" in text and "Problems\n  none" in text
    assert f"Warnings\n  - {warning}\n" in text

    with HttpReceiver() as rec:
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = rec.endpoint
        assert _run(["replay", "--quiet"], env).returncode == 0
        assert len(rec.counts()) == 26
        info = json.loads(_run(["doctor", "--json"], env).stdout)
        text = _run(["doctor"], env).stdout
    assert info["spool"]["undelivered"] == 0
    assert info["last_replay"]["sent"] == 26
    otlp = {s["name"]: s for s in info["sinks"]}["otlp"]
    assert (otlp["spans"], otlp["replayed"], otlp["backlog"]) == (0, 26, 0)
    assert info["warnings"] == []  # replay delivered: OTLP works
    assert "    delivered 26 spans: 0 live in 0 batches, 26 by replay; last success " in text
    assert "backlog: none, every spooled span was delivered" in text and "Warnings\n  none" in text


def test_one_backlog_figure_per_sink(tmp_path):
    env = _env(tmp_path / "h", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{free_port()}/v1/traces")
    assert _run(["demo", "--pace", "0", "--quiet"], env).returncode == 0
    text = _run(["doctor"], env).stdout
    sinks = re.split(r"\n  (?=\S)", text.split("\nSinks ", 1)[1].split("\n\n", 1)[0])[1:]
    assert [s.splitlines()[0] for s in sinks] == ["spool", "otlp", "metrics", "analytics"]
    for block in sinks:
        assert block.count("backlog") == 1, block
    rest = text.split("\nSpool (", 1)[1].split("\nClaude Code capture", 1)[0].split("\n", 1)[1]
    assert "backlog" not in rest and "undelivered" not in rest


def test_local_only_setup_is_not_called_broken(tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "config.toml").write_text("[otlp]\nenabled = false\n")
    env = _env(home)
    assert _run(["demo", "--pace", "0", "--quiet"], env).returncode == 0
    out = _run(["doctor", "--json"], env)
    info = json.loads(out.stdout)
    assert (out.returncode, info["warnings"], info["problems"]) == (0, [], [])
    assert [s["name"] for s in info["sinks"]] == ["spool", "metrics", "analytics"]
    text = _run(["doctor"], env).stdout
    assert "  OTLP: off (otlp.enabled = false): local only, nothing is sent\n" in text
    assert text.endswith("Warnings\n  none\n\nProblems\n  none\n")


def test_doctor_reports_claude_code_capture(tmp_path):
    home = tmp_path / "h"
    env = _env(home, OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="false", OTEL_AGENTS_OTLP_ENABLED="false")
    fixture = Path(__file__).parent / "fixtures" / "claude-code" / "basic-session"
    events = (fixture / "events.jsonl").read_text().replace("{FIXTURE_DIR}", str(fixture)).splitlines()
    for line in events[:4] + ["{oops"]:
        assert subprocess.run([CLI, "hook"], input=line, env=env, text=True, timeout=60).returncode == 0
    info = json.loads(_run(["doctor", "--json"], env).stdout)
    cc = info["claude_code"]
    spooled = (home / "claude-code" / "sessions" / "3f2a9c1e-7b44-4d2a-9a51-0c6f1d2e8b77.jsonl").stat().st_size
    assert (cc["sessions"], cc["open_sessions"], cc["backlog_bytes"], cc["backlog_sessions"]) == (1, 1, spooled, 1)
    assert (cc["last_drain_ns"], cc["hook_problems"]) == (None, {"malformed": 1})
    text = _run(["doctor"], env).stdout
    section = text.split("\nClaude Code capture\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert section[:4] == [
        "  sessions: 1 (1 open)",
        f"  backlog: {spooled} bytes in 1 session(s) not yet drained",
        "  last drain: never",
        "  hook problems: malformed 1",
    ]
    for line in events[4:]:
        assert subprocess.run([CLI, "hook"], input=line, env=env, text=True, timeout=60).returncode == 0
    assert _run(["flush"], env).returncode == 0
    text = _run(["doctor"], env).stdout
    section = text.split("\nClaude Code capture\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert section[:2] == ["  sessions: 1 (0 open)", "  backlog: 0 bytes in 0 session(s) not yet drained"]
    assert section[2].startswith("  last drain: ")
    assert section[2].endswith(" (otel-agents flush): 1 session drained, 12 spans exported")


def test_doctor_reports_config_problems_with_exit_status_1(tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "config.toml").write_text(
        'exit_deadline = "soon"\n[otlp]\nprotocol = "carrier-pigeon"\n[spool]\nenabled = false\n'
    )
    out = _run(["doctor"], _env(home))
    assert out.returncode == 1
    problems = out.stdout.split("Problems\n", 1)[1]
    assert "exit_deadline must be float, got 'soon'; using default 0.5" in problems
    assert "otlp.protocol 'carrier-pigeon' is not supported (grpc, http/protobuf); using http/protobuf" in problems
    assert "spool.enabled = false with OTLP on: spans the collector misses are lost (no replay)" in problems


def test_doctor_never_shows_credentials_in_the_endpoint(tmp_path):
    env = _env(
        tmp_path / "h", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"https://user:{SECRET}@c.example/v1/traces?key={SECRET}"
    )
    out = _run(["doctor"], env)
    assert SECRET not in out.stdout and SECRET not in out.stderr
    assert "otlp.endpoint" in out.stdout and "https://c.example/v1/traces (credentials/query hidden)" in out.stdout
