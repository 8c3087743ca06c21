"""Every example in docs/instrumenting.md runs as shown and gives the trace the doc shows.

Code blocks tagged ``example=NAME file=PATH`` are written to a directory per example;
``console example=NAME`` blocks hold ``$ command`` lines followed by the expected output.
Each command runs in a real subprocess with its own data home; the spans it produced are
read back from the metrics JSONL (``<home>/metrics/``) and drawn as the doc's ``text tree``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "instrumenting.md"
BIN = Path(sys.executable).parent

_BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, dict[str, str], str]]:
    out = []
    for lang, info, body in _BLOCK.findall(DOC.read_text()):
        tags = dict(t.split("=", 1) for t in info.split() if "=" in t)
        out.append((lang, tags, body))
    return out


def _examples() -> dict[str, dict]:
    examples: dict[str, dict] = {}
    for lang, tags, body in _blocks():
        name = tags.get("example")
        if name is None:
            continue
        ex = examples.setdefault(name, {"files": {}, "commands": []})
        if "file" in tags:
            ex["files"][tags["file"]] = body
        elif lang == "console":
            for chunk in re.split(r"^\$ ", body, flags=re.M)[1:]:
                command, _, output = chunk.partition("\n")
                ex["commands"].append((command, output))
    return examples


def _tree_in_doc() -> str:
    (tree,) = [body for lang, info, body in _BLOCK.findall(DOC.read_text()) if lang == "text" and "tree" in info]
    return tree


def _tree(home: Path) -> str:
    records = []
    for path in (home / "metrics").glob("*.jsonl"):
        records += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    records = [r for r in records if r["kind"] != "hook_event"]
    ids = {r["record_id"] for r in records}
    children: dict[str | None, list[dict]] = {}
    for r in records:
        children.setdefault(r["parent_id"] if r["parent_id"] in ids else None, []).append(r)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in sorted(children.get(parent, []), key=lambda r: (r["start_unix_nano"], r["name"])):
            lines.append("  " * depth + r["name"])
            walk(r["record_id"], depth + 1)

    walk(None, 0)
    return "\n".join(lines) + "\n"


EXAMPLES = _examples()


def test_the_doc_has_all_three_ways():
    assert list(EXAMPLES) == ["zero-code", "decorators", "context-managers", "start-stop", "raw-hooks"]
    assert all(ex["commands"] for ex in EXAMPLES.values())


@pytest.mark.parametrize(
    ("example", "index"),
    [(name, i) for name, ex in EXAMPLES.items() for i in range(len(ex["commands"]))],
)
def test_example_runs_and_gives_the_documented_trace(example, index, tmp_path):
    ex = EXAMPLES[example]
    workdir = tmp_path / example
    for name, body in ex["files"].items():
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_text(body)
    command, expected = ex["commands"][index]
    argv = shlex.split(command)
    tools = {
        "python": sys.executable,
        "otel-agents": str(BIN / "otel-agents"),
        "opentelemetry-instrument": str(BIN / "opentelemetry-instrument"),
    }
    argv = [tools.get(a, a) for a in argv]
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_EXPORTER_OTLP", "OTEL_AGENTS_"))}
    env.pop("PYTHONPATH", None)
    env.update(
        {
            "OTEL_AGENTS_HOME": str(home),
            "OTEL_AGENTS_OTLP_ENABLED": "false",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    proc = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected
    assert proc.stderr == ""
    assert _tree(home) == _tree_in_doc()
