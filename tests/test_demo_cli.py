"""`otel-agents demo` as a user runs it: the installed console script, a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_prints_the_span_tree(tmp_path):
    exe = Path(sys.executable).with_name("otel-agents")
    env = {
        **os.environ,
        "OTEL_AGENTS_HOME": str(tmp_path / "home"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    out = subprocess.run([str(exe), "demo", "--pace", "0"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("workflow ")
    assert lines[2].startswith("invoke_workflow fix-cart-total ")
    assert lines[2].endswith("$0.133700")  # the demo's exact total cost
    tree = [
        line.split("  ")[0] if not line.startswith(" ") else line.rstrip().split(" ms")[0].rsplit("  ", 1)[0]
        for line in lines[2:]
    ]
    assert tree[:5] == [
        "invoke_workflow fix-cart-total",
        "  phase plan",
        "    invoke_agent planner",
        "      chat claude-sonnet-4-5",
        "      execute_tool Read",
    ]
    assert tree.count("    invoke_agent tester") == 2  # the failed attempt and its retry
    assert sum(1 for line in lines if " ERROR" in line) == 2
