"""End to end in Arize Phoenix: the shared Claude Code fixture, run through real
``otel-agents hook`` processes and ``otel-agents flush``, comes back from Phoenix as the trace
its README describes (one root, one turn, one span per tool_use_id, five chat spans with the
exact token totals), and the same spans are in the local spool.

Uses the session-scoped ``phoenix`` fixture from ``tests/_phoenix.py`` (``http_endpoint``,
``spans(project=...)``); skipped until it exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

try:
    from _phoenix import phoenix  # noqa: F401 - the fixture
except ImportError:  # pragma: no cover - until tests/_phoenix.py exists
    pytest.skip("tests/_phoenix.py (the phoenix fixture) is not available", allow_module_level=True)

pytestmark = pytest.mark.e2e

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "claude-code" / "basic-session"
OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")


def _flat(attrs: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(attrs, dict):
        for key, value in attrs.items():
            if isinstance(value, dict):
                out.update(_flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
    return out


def test_fixture_trace_in_phoenix_and_in_the_spool(phoenix, tmp_path):
    sid = f"cc-{uuid.uuid4()}"  # a fresh trace per run; the README's expectations do not depend on it
    text = (FIXTURE / "events.jsonl").read_text().replace("{FIXTURE_DIR}", str(FIXTURE))
    events = [dict(json.loads(line), session_id=sid) for line in text.splitlines() if line.strip()]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_EXPORTER_OTLP", "OTEL_AGENTS_"))}
    env.update(
        {
            "OTEL_AGENTS_HOME": str(tmp_path / "home"),
            "OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN": "0",
            "OTEL_AGENTS_EXIT_DEADLINE": "10",
            "OTEL_AGENTS_OTLP_PROTOCOL": "http/protobuf",
            # Claude Code strips OTEL_* from hooks: the endpoint comes from our own variable.
            "OTEL_AGENTS_OTLP_ENDPOINT": phoenix.http_endpoint,
        }
    )
    for ev in events:
        p = subprocess.run(
            [OTEL_AGENTS, "hook"], input=json.dumps(ev).encode(), capture_output=True, env=env, timeout=60
        )
        assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    p = subprocess.run([OTEL_AGENTS, "flush"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr

    spans: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        spans = [s for s in phoenix.spans() if _flat(s.get("attributes") or {}).get("otel_agents.workflow.id") == sid]
        if len(spans) >= 12:
            break
        time.sleep(1)
    names = sorted(s["name"] for s in spans)
    assert len(spans) == 12, names
    assert (
        names.count("invoke_workflow shop-api") == 1
    )  # the project names the session and names.count("phase turn") == 1
    assert sorted(
        _flat(s["attributes"]).get("gen_ai.tool.call.id") for s in spans if s["name"].startswith("execute_tool")
    ) == ["toolu_01A", "toolu_01B", "toolu_01C", "toolu_01D"]
    chats = [_flat(s["attributes"]) for s in spans if s["name"].startswith("chat ")]
    assert len(chats) == 5
    assert sum(int(c["gen_ai.usage.input_tokens"]) for c in chats) == 76375
    assert sum(int(c["gen_ai.usage.output_tokens"]) for c in chats) == 505
    assert sum(int(c["gen_ai.usage.cache_read.input_tokens"]) for c in chats) == 71320
    assert sum(int(c["gen_ai.usage.cache_write.input_tokens"]) for c in chats) == 5020

    spooled = []
    for path in (tmp_path / "home" / "spans").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            for rs in json.loads(line)["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    spooled.extend(ss["spans"])
    assert sorted(s["name"] for s in spooled) == names
