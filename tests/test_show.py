"""``otel-agents show``: one run's span tree from the spool written by real runs (a workflow
through the API with the real sinks, a Claude Code session through the real hook and
``flush``), found by workflow id, trace id, session id or a unique prefix."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from otel_agents.ids import trace_id_for

CLI = str(Path(sys.executable).parent / "otel-agents")
FIXTURE = Path(__file__).parent / "fixtures" / "claude-code" / "basic-session"
FIXTURE_SID = "3f2a9c1e-7b44-4d2a-9a51-0c6f1d2e8b77"

WORKFLOW = """
import sys
import otel_agents as oa

with oa.workflow("checkout-fix", workflow_id=sys.argv[1]) as wf:
    with wf.phase("build", number=1) as phase:
        with phase.step("coder", agent="coder") as step:
            step.record_usage("claude-sonnet-4-5", provider="anthropic", input_tokens=3100, output_tokens=500,
                              cache_read_tokens=2000, cache_write_tokens=100)
            step.record_usage("house-model-x", provider="acme", input_tokens=1000, output_tokens=10)
            try:
                with step.tool_call("Bash", call_id="toolu_1"):
                    raise ValueError("exit status 2")
            except ValueError:
                pass
"""


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PYTEST_CURRENT_TEST"}
    env.update(
        OTEL_AGENTS_HOME=str(home),
        OTEL_AGENTS_REPLAY_ON_START="false",
        OTEL_AGENTS_OTLP_ENABLED="false",
        OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="false",
        **extra,
    )
    return env


def _cli(args: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120, **kw)


def _run_workflow(env: dict[str, str], workflow_id: str) -> None:
    p = subprocess.run(
        [sys.executable, "-c", WORKFLOW, workflow_id], env=env, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr


def _shape(text: str) -> list[str]:
    """The tree's lines with durations (the one figure a run does not fix) replaced by ``<t>``."""
    return [re.sub(r"  \d+(\.\d+)? (µs|ms|s)(?=  |$)", "  <t>", line) for line in text.splitlines()]


def _strip(node: dict) -> dict:
    """A JSON node without its times and span ids (the rest is exact)."""
    out = {k: v for k, v in node.items() if k not in ("start_time", "duration_ms", "span_id", "parent_id")}
    out["children"] = [_strip(c) for c in node["children"]]
    return out


def test_show_a_workflow_run_by_id_trace_id_and_prefix(tmp_path: Path) -> None:
    home = tmp_path / "h"
    env = _env(home)
    _run_workflow(env, "wf-show-1")
    trace = f"{trace_id_for('wf-show-1'):032x}"

    p = _cli(["show", "wf-show-1"], env)
    assert (p.returncode, p.stderr) == (0, ""), p.stderr
    lines = _shape(p.stdout)
    assert lines[0] == f"trace {trace}  (paste it into Jaeger or Phoenix to see this run there)"
    assert re.fullmatch(r"  workflow wf-show-1; service \S+; started \S+Z; 6 spans", lines[1]), lines[1]
    # Sonnet 4.5 with input 3100 (2000 cache read, 100 cache write), output 500 = $0.011475;
    # the unknown model's cost is unknown: never $0, and the roll-ups say one call is unpriced.
    assert lines[2:] == [
        "",
        "invoke_workflow checkout-fix  <t>  $0.0115 + 1 unpriced call  4,100 in / 510 out tokens, 2 model calls",
        "└─ phase build  <t>  $0.0115 + 1 unpriced call  4,100 in / 510 out tokens, 2 model calls",
        "   └─ invoke_agent coder  <t>  $0.0115 + 1 unpriced call  4,100 in / 510 out tokens, 2 model calls",
        "      ├─ chat claude-sonnet-4-5  <t>  $0.0115  3,100 in / 500 out tokens",
        "      ├─ chat house-model-x  <t>  unpriced (unknown model)  1,000 in / 10 out tokens",
        "      └─ execute_tool Bash  <t>  FAILED (ValueError: exit status 2)",
    ]

    # The same run by its trace id (upper case too) and by unique prefixes of both ids.
    for query in (trace, trace.upper(), trace[:8], "wf-show"):
        again = _cli(["show", query], env)
        assert (again.returncode, again.stdout) == (0, p.stdout), query

    out = _cli(["show", "--json", "wf-show-1"], env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["trace_id"], doc["spans"], doc["home"]) == (trace, 6, str(home))
    (root,) = doc["tree"]
    chat, unpriced, tool = root["children"][0]["children"][0]["children"]
    assert _strip(unpriced) == {
        "name": "chat house-model-x",
        "kind": "model_call",
        "outcome": "success",
        "error_type": None,
        "error_message": None,
        "model": "house-model-x",
        "model_calls": 1,
        "unpriced_model_calls": 1,
        "cost_usd": None,
        "cost_unavailable_reason": "unknown_model",
        "input_tokens": 1000,
        "output_tokens": 10,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "children": [],
    }
    assert (chat["cost_usd"], chat["unpriced_model_calls"]) == (pytest.approx(0.011475, rel=1e-9), 0)
    assert (root["cost_usd"], root["model_calls"], root["unpriced_model_calls"]) == (
        pytest.approx(0.011475, rel=1e-9),
        2,
        1,
    )
    assert (tool["outcome"], tool["error_type"], tool["error_message"]) == (
        "failure",
        "ValueError",
        "ValueError: exit status 2",
    )
    assert tool["cost_usd"] is None and tool["model_calls"] is None


def test_ambiguous_and_unknown_ids_say_so_and_exit_1(tmp_path: Path) -> None:
    home = tmp_path / "h"
    env = _env(home)
    _run_workflow(env, "wf-a-1")
    _run_workflow(env, "wf-a-2")
    p = _cli(["show", "wf-a"], env)
    assert (p.returncode, p.stdout) == (1, "")
    t1, t2 = sorted(f"{trace_id_for(w):032x}" for w in ("wf-a-1", "wf-a-2"))
    by_trace = {f"{trace_id_for(w):032x}": w for w in ("wf-a-1", "wf-a-2")}
    assert p.stderr.splitlines() == [
        "otel-agents show: 'wf-a' matches 2 runs; give more of the id:",
        f"  trace {t1}  (workflow {by_trace[t1]})  invoke_workflow checkout-fix",
        f"  trace {t2}  (workflow {by_trace[t2]})  invoke_workflow checkout-fix",
    ]
    assert _cli(["show", "wf-a-2"], env).returncode == 0  # an exact id wins over prefixes
    p = _cli(["show", "wf-nope"], env)
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == f"otel-agents show: no run matches 'wf-nope' in {home / 'spans'}\n"


def test_show_a_claude_code_session_after_flush(tmp_path: Path) -> None:
    home = tmp_path / "h"
    env = _env(home)
    text = (FIXTURE / "events.jsonl").read_text().replace("{FIXTURE_DIR}", str(FIXTURE))
    for line in text.splitlines():
        if line.strip():
            assert _cli(["hook"], env, input=line).returncode == 0
    _run_workflow(env, "wf-other")  # the spool exists, the session is not in it yet
    p = _cli(["show", FIXTURE_SID[:8]], env)
    assert p.returncode == 1
    assert p.stderr.splitlines()[1] == (
        f"otel-agents show: Claude Code session {FIXTURE_SID} is captured but its "
        "spans are not exported yet: run `otel-agents flush`, then show it again"
    )
    assert _cli(["flush"], env).returncode == 0

    p = _cli(["show", FIXTURE_SID[:8]], env)
    assert p.returncode == 0, p.stderr
    lines = _shape(p.stdout)
    assert lines[0].startswith(f"trace {trace_id_for(FIXTURE_SID):032x}  ")
    assert lines[1].startswith(f"  workflow {FIXTURE_SID}; session {FIXTURE_SID}; ")
    assert lines[1].endswith("; 12 spans")
    assert lines[3].startswith("invoke_workflow shop-api  <t>  $")
    assert lines[3].endswith("  76,375 in / 505 out tokens, 5 model calls")
    names = [re.sub(r"^[│├└─ ]+", "", line).split("  ")[0] for line in lines[3:]]
    assert names.count("chat claude-sonnet-4-5-20250929") == 5
    assert sorted(n for n in names if n.startswith("execute_tool")) == [
        "execute_tool Bash",
        "execute_tool Edit",
        "execute_tool Edit",
        "execute_tool Read",
    ]
    assert sum("FAILED (tool_error" in line for line in lines) == 1
    doc = json.loads(_cli(["show", "--json", FIXTURE_SID], env).stdout)
    assert doc["spans"] == 12 and doc["tree"][0]["input_tokens"] == 76375


def test_show_in_an_empty_directory_creates_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path / "h")
    env.pop("OTEL_AGENTS_HOME")
    p = _cli(["show", "wf-1"], env, cwd=tmp_path)
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == (
        f"otel-agents show: no spans recorded under {tmp_path / '.otel-agents'} "
        f"(the spool {tmp_path / '.otel-agents' / 'spans'} is empty or missing)\n"
    )
    assert not (tmp_path / ".otel-agents").exists()
