"""The default ``service.name`` is the application's; ``OTEL_SERVICE_NAME`` and config still win.

Each case is a real Python process, started the way users start their programs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sdlc_executor"

PROGRAM = """
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import otel_agents

memory = InMemorySpanExporter()
otel_agents.setup(span_processors=[SimpleSpanProcessor(memory)], with_sinks=False)
with otel_agents.workflow("w"):
    pass
print(memory.get_finished_spans()[0].resource.attributes["service.name"])
"""


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
    env.update(OTEL_AGENTS_HOME=str(home), OTEL_AGENTS_OTLP_ENABLED="false", **extra)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the program three ways: a script, a package run with -m, a package dir."""
    (tmp_path / "fix_cart.py").write_text(PROGRAM)
    (tmp_path / "triage").mkdir()
    (tmp_path / "triage" / "__init__.py").write_text("")
    (tmp_path / "triage" / "__main__.py").write_text(PROGRAM)
    return tmp_path


def _service_name(project: Path, args: list[str], **env: str) -> str:
    out = subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=_env(project / "home", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (out.returncode, out.stderr) == (0, "")
    return out.stdout.strip()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fix_cart.py"], "fix_cart"),
        (["-m", "triage"], "triage"),
        (["-u", "-X", "dev", "-m", "triage"], "triage"),
        (["triage"], "triage"),
        (["triage/__main__.py"], "triage"),
        (["-c", PROGRAM], "unknown_service:" + Path(sys.executable).stem),
    ],
)
def test_the_default_is_the_applications_name(project, args, expected):
    assert _service_name(project, args) == expected


def test_otel_service_name_wins(project):
    assert _service_name(project, ["-m", "triage"], OTEL_SERVICE_NAME="checkout-agents") == "checkout-agents"


def test_the_config_file_wins(project):
    (project / "home").mkdir()
    (project / "home" / "config.toml").write_text('service_name = "from-config"\n')
    assert _service_name(project, ["fix_cart.py"]) == "from-config"
    assert _service_name(project, ["fix_cart.py"], OTEL_SERVICE_NAME="from-env") == "from-env"


def test_otel_resource_attributes_service_name_beats_the_default(project):
    env = {"OTEL_RESOURCE_ATTRIBUTES": "team=web,service.name=cart%20bot"}
    assert _service_name(project, ["fix_cart.py"], **env) == "cart bot"
    assert _service_name(project, ["fix_cart.py"], OTEL_SERVICE_NAME="x", **env) == "x"


def test_under_otel_agents_run_it_is_the_programs_name(tmp_path):
    work = tmp_path / "example"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("__pycache__", ".otel-agents"))
    home = tmp_path / "home"
    command = [str(BIN / "otel-agents"), "run", "--", sys.executable, "-m", "sdlc_executor", "--pace", "0"]
    out = subprocess.run(command, cwd=work, env=_env(home), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    records = [
        json.loads(line) for path in (home / "metrics").glob("*.jsonl") for line in path.read_text().splitlines()
    ]
    assert len(records) == 26
    assert {r["service_name"] for r in records} == {"sdlc_executor"}
