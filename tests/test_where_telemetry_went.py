"""``otel-agents demo`` and ``make example`` end by saying where the telemetry went: the real
files, the workflow's trace id, how to view the report. Real subprocesses, as a user runs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from otel_agents.sinks.spool import iter_records, iter_spans

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VENV = BIN.parent


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
    env.update(OTEL_AGENTS_HOME=str(home), OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", **extra)
    return env


def _metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _spool_trace_ids(path: Path) -> set[str]:
    return {span["traceId"] for _o, _e, request in iter_records(path) for span in iter_spans(request or {})}


def _named_file(text: str, pattern: str) -> Path:
    (match,) = re.findall(pattern, text)
    return Path(match)


def test_demo_prints_its_trace_id_and_the_real_file_names(tmp_path):
    home = tmp_path / "home"
    out = subprocess.run(
        [str(BIN / "otel-agents"), "demo", "--pace", "0"],
        cwd=tmp_path,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    workflow_id, trace_id = re.fullmatch(r"workflow ([0-9a-f]{32})  trace ([0-9a-f]{32})", first).groups()
    assert "YYYY" not in out.stdout
    assert f"workflow fix-cart-total ({workflow_id}): trace {trace_id}\n" in out.stdout
    assert f"`otel-agents show {trace_id}`" in out.stdout

    metrics = _named_file(out.stdout, r"metrics: 26 execution records appended to (\S+\.jsonl)\n")
    assert re.fullmatch(r"executions_\d{4}-\d{2}-\d{2}\.jsonl", metrics.name)
    assert metrics.parent == home / "metrics"
    records = _metrics(metrics)
    assert len(records) == 26 and {r["trace_id"] for r in records} == {trace_id}

    spool = _named_file(out.stdout, r"spool: 26 spans appended as OTLP-JSON lines to (\S+\.jsonl) ")
    assert spool.parent == home / "spans"
    assert _spool_trace_ids(spool) == {trace_id}


def _check_summary(text: str, home: Path) -> str:
    """The summary's trace id, after checking each file it names holds that trace."""
    (trace_id,) = re.findall(r"\n  workflow fix-cart-total \(\S+\): trace ([0-9a-f]{32})\n", text)
    assert f"`otel-agents show {trace_id}`" in text
    spool = _named_file(text, r"\n  spool: (\S+) \(OTLP-JSON lines")
    assert spool.parent == home / "spans" and _spool_trace_ids(spool) == {trace_id}
    metrics = _named_file(text, r"\n  metrics: (\S+)\n")
    assert re.fullmatch(r"executions_\d{4}-\d{2}-\d{2}\.jsonl", metrics.name) and metrics.parent == home / "metrics"
    assert {r["trace_id"] for r in _metrics(metrics)} == {trace_id}
    assert f"\n  analytics: {home / 'analytics' / 'history.db'}\n" in text
    assert "`otel-agents report`" in text and str(home / "report.html") in text
    return trace_id


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_example_ends_by_saying_where_its_telemetry_went(tmp_path):
    home = tmp_path / "home"
    # -o: this test's venv counts as installed (make must not reinstall it from here)
    command = [
        "make",
        "-s",
        "-C",
        str(ROOT),
        f"VENV={VENV}",
        f"PY={sys.executable}",
        "-o",
        f"{VENV}/.installed",
        "example",
    ]
    out = subprocess.run(command, env=_env(home), capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "issue 42: done, 4 steps, 1 retries\n"
    # the last thing it prints (the lines before are the OTLP sink's: nothing listens on port 9)
    summary = out.stderr[out.stderr.index("\notel-agents run: where the telemetry went") :]
    assert summary.startswith("\notel-agents run: where the telemetry went (26 spans, 1 workflow)\n")
    assert summary.splitlines()[-1].startswith("  view it: `otel-agents report`")
    _check_summary(summary, home)


def test_run_summary_keeps_the_programs_exit_code(tmp_path):
    program = tmp_path / "failing.py"
    program.write_text(
        textwrap.dedent("""
        import sys
        print("working")
        sys.exit(3)
    """)
    )
    home = tmp_path / "home"
    out = subprocess.run(
        [str(BIN / "otel-agents"), "run", "--summary", "--", sys.executable, str(program)],
        cwd=tmp_path,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (out.returncode, out.stdout) == (3, "working\n")
    assert "otel-agents run: where the telemetry went (0 spans, 0 workflows)" in out.stderr
    assert not home.exists()  # nothing recorded, nothing written
