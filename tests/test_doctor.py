"""``otel-agents doctor`` as a real subprocess: configuration with sources, per-sink
counters from other processes, the spool backlog, problems, and no secret in the output."""

from __future__ import annotations

import json
import os
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
    env = _env(home, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{free_port()}/v1/traces",
               OTEL_EXPORTER_OTLP_HEADERS=f"authorization=Bearer%20{SECRET}",
               OTEL_AGENTS_METRICS_ENABLED="false", OTEL_AGENTS_ANALYTICS_ENABLED="false")
    assert _run(["demo", "--pace", "0", "--quiet"], env).returncode == 0
    out = _run(["doctor", "--json"], env)
    assert out.returncode == 0, out.stdout
    info = json.loads(out.stdout)
    assert SECRET not in out.stdout
    cfg = {c["name"]: c for c in info["config"]}
    assert cfg["otlp.headers"]["value"] == "1 header(s): authorization (values hidden)"
    assert cfg["otlp.headers"]["source"] == "OTEL_EXPORTER_OTLP_HEADERS"
    assert cfg["otlp.endpoint"]["source"] == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    assert cfg["exit_deadline"] == {"name": "exit_deadline", "value": 0.5, "source": "default",
                                    "doc": cfg["exit_deadline"]["doc"]}
    sinks = {s["name"]: s for s in info["sinks"]}
    assert [s["name"] for s in info["sinks"]][:2] == ["spool", "otlp"]
    assert sinks["spool"]["spans"] == 26 and sinks["spool"]["failures"] == 0
    assert sinks["otlp"]["spans"] == 0 and sinks["otlp"]["failed_spans"] == 26
    # "... connection refused", or, for a later batch in the backoff that follows,
    # "not sent, receiver unavailable (... connection refused); next try in 0.9 s"
    assert "connection refused" in sinks["otlp"]["last_error"]
    assert info["spool"]["files"] == 1 and info["spool"]["undelivered"] == 26
    assert info["problems"] == []

    text = _run(["doctor"], env).stdout
    assert "backlog: 26 spans not yet delivered to OTLP (`otel-agents replay` sends them)" in text
    assert "  otlp.headers" in text and SECRET not in text
    assert "last error" in text and "Problems\n  none" in text

    with HttpReceiver() as rec:
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = rec.endpoint
        assert _run(["replay", "--quiet"], env).returncode == 0
        assert len(rec.counts()) == 26
    info = json.loads(_run(["doctor", "--json"], env).stdout)
    assert info["spool"]["undelivered"] == 0
    assert info["last_replay"]["sent"] == 26
    assert "backlog: none, every spooled span reached OTLP" in _run(["doctor"], env).stdout


def test_doctor_reports_config_problems_with_exit_status_1(tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "config.toml").write_text('exit_deadline = "soon"\n[otlp]\nprotocol = "carrier-pigeon"\n'
                                      "[spool]\nenabled = false\n")
    out = _run(["doctor"], _env(home))
    assert out.returncode == 1
    problems = out.stdout.split("Problems\n", 1)[1]
    assert "exit_deadline must be float, got 'soon'; using default 0.5" in problems
    assert "otlp.protocol 'carrier-pigeon' is not supported (grpc, http/protobuf); using http/protobuf" in problems
    assert "spool.enabled = false with OTLP on: spans the collector misses are lost (no replay)" in problems


def test_doctor_never_shows_credentials_in_the_endpoint(tmp_path):
    env = _env(tmp_path / "h", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"https://user:{SECRET}@c.example/v1/traces?key={SECRET}")
    out = _run(["doctor"], env)
    assert SECRET not in out.stdout and SECRET not in out.stderr
    assert "otlp.endpoint" in out.stdout and "https://c.example/v1/traces (credentials/query hidden)" in out.stdout
