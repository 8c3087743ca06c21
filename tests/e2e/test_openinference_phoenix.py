"""End to end in Arize Phoenix: the example executor, traced with zero code by ``otel-agents
run``, exported over OTLP by the core's sink, decorated by the otel-agents-openinference
plugin (loaded through its entry point), comes back from Phoenix with its span kinds.

Uses the session-scoped ``phoenix`` fixture (``tests/_phoenix.py``, via ``tests/e2e/conftest.py``):
a real Phoenix server on 127.0.0.1, installed by ``make phoenix`` in ``.phoenix-venv``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sdlc_executor"
BIN = Path(sys.executable).parent


def _flat(attrs: Any, prefix: str = "") -> dict[str, Any]:
    """Phoenix may return attributes nested ({"llm": {"token_count": ...}}) or dotted: dotted."""
    out: dict[str, Any] = {}
    if isinstance(attrs, dict):
        for key, value in attrs.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                out.update(_flat(value, name + "."))
            else:
                out[name] = value
    return out


def _kind(span: dict[str, Any]) -> str | None:
    attrs = _flat(span.get("attributes") or {})
    return span.get("span_kind") or attrs.get("openinference.span.kind")


def _ours(phoenix: Any, run_id: str) -> list[dict[str, Any]]:
    return [s for s in phoenix.spans() if _flat(s.get("attributes") or {}).get("otel_agents.workflow.id") == run_id]


def test_span_kinds_visible_in_phoenix(phoenix, tmp_path):
    run_id = f"phoenix-{uuid.uuid4().hex[:12]}"
    endpoint = phoenix.http_endpoint.rstrip("/")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_EXPORTER_OTLP", "OTEL_AGENTS_"))}
    env.pop("PYTHONPATH", None)
    env.update(
        {
            "OTEL_AGENTS_HOME": str(tmp_path / "home"),
            "OTEL_AGENTS_EXIT_DEADLINE": "10",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
    )
    if endpoint.endswith("/v1/traces"):
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = endpoint
    else:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    program = [sys.executable, "-m", "sdlc_executor", "--run-id", run_id, "--pace", "0"]
    proc = subprocess.run(
        [str(BIN / "otel-agents"), "run", "--", *program],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr

    spans: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    replayed = False
    while time.monotonic() < deadline:
        spans = _ours(phoenix, run_id)
        if len(spans) >= 26:
            break
        if not replayed and time.monotonic() > deadline - 45:
            # Whatever did not make it before exit is in the spool: send it now.
            subprocess.run([str(BIN / "otel-agents"), "replay"], env=env, capture_output=True, timeout=60)
            replayed = True
        time.sleep(0.5)
    assert len(spans) == 26, f"{len(spans)} of 26 spans reached Phoenix"

    kinds: dict[str, set[str | None]] = {}
    for span in spans:
        kinds.setdefault(span["name"], set()).add(_kind(span))
    assert kinds == {
        "invoke_workflow fix-cart-total": {"CHAIN"},
        "phase plan": {"CHAIN"},
        "phase build": {"CHAIN"},
        "phase test": {"CHAIN"},
        "phase review": {"CHAIN"},
        "invoke_agent planner": {"AGENT"},
        "invoke_agent coder": {"AGENT"},
        "invoke_agent tester": {"AGENT"},
        "invoke_agent reviewer": {"AGENT"},
        "execute_tool Read": {"TOOL"},
        "execute_tool Grep": {"TOOL"},
        "execute_tool Edit": {"TOOL"},
        "execute_tool Bash": {"TOOL"},
        "chat claude-sonnet-4-5": {"LLM"},
        "chat claude-haiku-4-5": {"LLM"},
    }
    # Token counts arrived on the LLM spans (and Phoenix's own roll-ups start from them).
    prompts = sorted(_flat(s["attributes"]).get("llm.token_count.prompt") for s in spans if _kind(s) == "LLM")
    assert prompts == [9100, 9100, 12400, 15800, 18200, 21000]
