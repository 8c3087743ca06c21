"""Reading the mapping, ``otel-agents run`` (real subprocesses) and the OpenTelemetry instrumentor."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from otel_agents import attributes as A
from otel_agents.instrument import load_mapping, problems
from otel_agents.instrument.mapping import FILE_ENV, find_pyproject
from otel_agents.instrument.problems import reset as reset_problems
from otel_agents.instrument.spans_file import SPANS_FILE_ENV, read_records

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sdlc_executor"
OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")


@pytest.fixture(autouse=True)
def _fresh_problems():
    reset_problems()
    yield
    reset_problems()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# --- reading the mapping --------------------------------------------------------------------


def test_mapping_merges_file_config_and_pyproject(tmp_path, monkeypatch):
    project = tmp_path / "project"
    _write(
        project / "pyproject.toml",
        """
        [tool.otel-agents.instrument]
        [[tool.otel-agents.instrument.step]]
        target = "pkg.agents:Agent.run"
        name = "self.name"

        [[tool.otel-agents.instrument.tool_call]]
        target = "pkg.tools:run"
        name = "tool"
    """,
    )
    (project / "sub").mkdir()
    _write(
        Path(os.environ["OTEL_AGENTS_HOME"]) / "config.toml",
        """
        [instrument]
        [[instrument.step]]
        target = "pkg.agents:Agent.run"
        name = "'from-config'"
    """,
    )
    extra = _write(
        tmp_path / "extra.toml",
        """
        [[instrument.workflow]]
        target = "pkg.main:main"
        name = "'nightly'"
        template = "'sdlc'"
        attempts = 2
    """,
    )
    monkeypatch.chdir(project / "sub")
    assert find_pyproject() == project / "pyproject.toml"
    mapping = load_mapping(environ={**os.environ, FILE_ENV: str(extra)})
    assert [(r.event, r.target.spec, r.fields["name"].source) for r in mapping.rules] == [
        ("workflow", "pkg.main:main", "'nightly'"),
        ("step", "pkg.agents:Agent.run", "'from-config'"),  # config.toml wins over pyproject
        ("tool_call", "pkg.tools:run", "tool"),
    ]
    assert mapping.rules[0].fields["attempts"].literal == 2
    assert mapping.sources == [
        str(extra),
        str(Path(os.environ["OTEL_AGENTS_HOME"]) / "config.toml") + " [instrument]",
        f"{project / 'pyproject.toml'} [tool.otel-agents.instrument]",
    ]
    assert problems() == [
        f"step rule for pkg.agents:Agent.run ({project / 'pyproject.toml'} [tool.otel-agents.instrument] step #1): "
        "pkg.agents:Agent.run is already mapped to step; this entry is ignored"
    ]


def test_mapping_problems_are_reported_and_skipped(tmp_path, monkeypatch):
    _write(
        tmp_path / "pyproject.toml",
        """
        [tool.otel-agents.instrument]
        bogus = 1
        [[tool.otel-agents.instrument.phase]]
        target = "not a target"
        [[tool.otel-agents.instrument.phase]]
        target = "pkg:run_phase"
        name = "result.name"
        number = "args.n"
        colour = "'red'"
        attributes = { "team.name" = "self.team", "bad" = "open('x')" }
        [[tool.otel-agents.instrument.model_usage]]
        target = "pkg:call"
        input_tokens = "result.usage"
    """,
    )
    monkeypatch.chdir(tmp_path)
    mapping = load_mapping()
    (rule,) = mapping.rules
    assert sorted(rule.fields) == ["number"]
    assert sorted(rule.attributes) == ["team.name"]
    origin = f"{tmp_path / 'pyproject.toml'} [tool.otel-agents.instrument]"
    where = f"phase rule for pkg:run_phase ({origin} phase #2)"
    assert problems() == [
        f"{origin}: unknown key 'bogus' ignored (events: workflow, phase, step, tool_call, model_usage)",
        f"{origin} phase #1: phase entry: target must look like 'package.module:Class.method' or "
        "'package.module:function', got 'not a target'; entry ignored",
        f"{where}: field 'name': is read when the call starts, so it cannot use 'result' ('result.name'); "
        "field ignored",
        f"{where}: unknown field 'colour' ignored (known: error, name, number, outcome, when, attributes)",
        f"{where}: field 'attributes.bad': expression \"open('x')\" rejected (function calls are not allowed "
        "in expressions); field ignored",
        f"model_usage rule for pkg:call ({origin} model_usage #1): needs a 'model' field; rule ignored",
    ]


def test_enabled_false_turns_the_mapping_off(tmp_path, monkeypatch):
    _write(
        tmp_path / "pyproject.toml",
        """
        [tool.otel-agents.instrument]
        enabled = false
        [[tool.otel-agents.instrument.step]]
        target = "pkg:run"
    """,
    )
    monkeypatch.chdir(tmp_path)
    mapping = load_mapping()
    assert len(mapping.rules) == 1 and not mapping


# --- otel-agents run, in real subprocesses ---------------------------------------------------


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_EXPORTER_OTLP", "OTEL_AGENTS_"))}
    env.pop("PYTHONPATH", None)
    env.update({"OTEL_AGENTS_HOME": str(tmp_path / "home"), "OTEL_AGENTS_OTLP_ENABLED": "false", **extra})
    return env


def test_check_lists_the_example_targets():
    proc = subprocess.run(
        [OTEL_AGENTS, "run", "--check"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(Path("/nonexistent")),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"sources: {EXAMPLE / 'pyproject.toml'} [tool.otel-agents.instrument]"
    assert [line.split()[:3] for line in lines[1:]] == [
        ["sdlc_executor.executor:SDLCExecutor.run", "workflow", "ok"],
        ["sdlc_executor.executor:SDLCExecutor.run_phase", "phase", "ok"],
        ["sdlc_executor.agents:Agent.work", "step", "ok"],
        ["sdlc_executor.tools:Toolbox.run", "tool_call", "ok"],
        ["sdlc_executor.llm:ModelClient.complete", "model_usage", "ok"],
        ["sdlc_executor.llm:ModelClient.stream", "model_usage", "ok"],
    ]


EXECUTOR = """
    import sys

    class Crash(ValueError):
        pass

    class Agent:
        def __init__(self, name):
            self.name = name

        def work(self, task):
            if task == "crash":
                raise Crash("agent crashed on " + task)
            return {"done": task}

    def main(tasks):
        return [Agent("coder").work(t) for t in tasks]
"""

SCRIPT = """
    import sys
    from {module} import main
    print(main(sys.argv[1:]))
    sys.exit(3)
"""

MAPPING = """
    [[tool.otel-agents.instrument.workflow]]
    target = "{module}:main"
    name = "'batch'"

    [[tool.otel-agents.instrument.step]]
    target = "{module}:Agent.work"
    name = "self.name"
    agent = "self.name"
    task_id = "args.task_name"          # no such argument: reported once, step still recorded

    [[tool.otel-agents.instrument.tool_call]]
    target = "{module}:Agent.plan"      # no such method: reported once
    name = "'plan'"

    [[tool.otel-agents.instrument.tool_call]]
    target = "{module}_typo:helper"     # no such module: reported once, at exit
    name = "'x'"
"""


def _project(tmp_path: Path) -> tuple[Path, str]:
    module = f"exec_{uuid.uuid4().hex[:8]}"
    _write(tmp_path / f"{module}.py", EXECUTOR)
    _write(tmp_path / "main.py", SCRIPT.format(module=module))
    _write(tmp_path / "pyproject.toml", MAPPING.format(module=module))
    return tmp_path, module


def test_run_reports_each_problem_once_and_the_program_runs(tmp_path):
    project, module = _project(tmp_path)
    spans_file = tmp_path / "spans.jsonl"
    proc = subprocess.run(
        [OTEL_AGENTS, "run", "--spans-file", str(spans_file), "--", sys.executable, "main.py", "a", "b", "c"],
        cwd=project,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3  # the program's own exit code
    assert proc.stdout == "[{'done': 'a'}, {'done': 'b'}, {'done': 'c'}]\n"
    lines = proc.stderr.splitlines()
    origin = f"{project / 'pyproject.toml'} [tool.otel-agents.instrument]"
    assert lines == [
        f"otel-agents instrument: step rule for {module}:Agent.work ({origin} step #1): field 'task_id': "
        f"'args.task_name' uses 'args.task_name', but {module}:Agent.work takes (self, task); the field will be unset",
        f"otel-agents instrument: tool_call rule for {module}:Agent.plan ({origin} tool_call #1): 'Agent.plan' "
        f"not found in module '{module}' (Agent has no attribute 'plan'); "
        "the executor runs without this rule",
        f"otel-agents instrument: tool_call rule for {module}_typo:helper ({origin} tool_call #2): module "
        f"'{module}_typo' was never imported and cannot be found; the rule did nothing",
    ], proc.stderr
    records = read_records(spans_file)
    assert sorted(r["name"] for r in records) == ["invoke_agent coder"] * 3 + ["invoke_workflow batch"]


def test_run_keeps_the_exception_and_records_it(tmp_path):
    project, module = _project(tmp_path)
    spans_file = tmp_path / "spans.jsonl"
    proc = subprocess.run(
        [OTEL_AGENTS, "run", "--spans-file", str(spans_file), "--", sys.executable, "main.py", "a", "crash"],
        cwd=project,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    # The program's own traceback: its frames, its exception type and message, last.
    lines = proc.stderr.rstrip().splitlines()
    # The at-exit line about the typo'd module follows the traceback.
    assert lines[-1].startswith(f"otel-agents instrument: tool_call rule for {module}_typo:helper")
    assert lines[-2] == f"{module}.Crash: agent crashed on crash"
    assert 'raise Crash("agent crashed on " + task)' in proc.stderr
    by_name = {}
    for r in read_records(spans_file):
        by_name.setdefault(r["name"], []).append(r)
    wf = by_name["invoke_workflow batch"][0]
    failed = [s for s in by_name["invoke_agent coder"] if s["status"] == "ERROR"]
    assert wf["status"] == "ERROR" and len(failed) == 1
    assert failed[0]["attributes"][A.ERROR_TYPE] == f"{module}.Crash"
    assert failed[0]["attributes"][A.ERROR_MESSAGE] == "Crash: agent crashed on crash"
    assert failed[0]["events"][0]["attributes"]["exception.type"] == f"{module}.Crash"


def test_run_without_mapping_says_so_once_and_runs(tmp_path):
    _write(
        tmp_path / "hello.py",
        """
        import subprocess, sys
        print('hello', flush=True)
        # A Python subprocess (a tool, a worker) inherits the set-up, but stays quiet.
        subprocess.run([sys.executable, "-c", "print('grandchild')"], check=True)
    """,
    )
    proc = subprocess.run(
        [OTEL_AGENTS, "run", "--", sys.executable, "hello.py"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout == "hello\ngrandchild\n"
    (line,) = proc.stderr.splitlines()
    assert line.startswith("otel-agents instrument: no callables mapped (no [instrument] section found)")


def test_run_chains_an_existing_sitecustomize(tmp_path):
    _write(tmp_path / "custom" / "sitecustomize.py", "import builtins\nbuiltins.CUSTOMIZED = True\n")
    _write(tmp_path / "app" / "check.py", "import builtins\nprint(getattr(builtins, 'CUSTOMIZED', False))\n")
    env = _env(tmp_path, PYTHONPATH=str(tmp_path / "custom"))
    proc = subprocess.run(
        [OTEL_AGENTS, "run", "--", sys.executable, "check.py"],
        cwd=tmp_path / "app",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout == "True\n", proc.stderr


def test_run_usage_errors(tmp_path):
    proc = subprocess.run(
        [OTEL_AGENTS, "run", "--", "no-such-program-xyz"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 127
    assert proc.stderr == "otel-agents run: command not found: no-such-program-xyz\n"
    proc = subprocess.run([OTEL_AGENTS, "run"], env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2


def test_check_fails_on_a_broken_mapping(tmp_path):
    project, module = _project(tmp_path)
    proc = subprocess.run(
        [OTEL_AGENTS, "run", "--check"], cwd=project, env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert f"  {module}:Agent.plan" in proc.stdout and "NOT FOUND (" in proc.stdout
    assert "problem: " in proc.stdout


# --- the OpenTelemetry instrumentor, in-process ------------------------------------------------


def test_instrumentor_instrument_and_uninstrument(tmp_path, monkeypatch, runtime, exporter):
    from otel_agents.instrument.instrumentor import OtelAgentsInstrumentor

    project, module = _project(tmp_path)
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.chdir(project)
    instrumentor = OtelAgentsInstrumentor()
    instrumentor.instrument()
    try:
        mod = importlib.import_module(module)
        assert mod.main(["x"]) == [{"done": "x"}]
        assert sorted(s.name for s in exporter.get_finished_spans()) == ["invoke_agent coder", "invoke_workflow batch"]
    finally:
        instrumentor.uninstrument()
    exporter.clear()
    assert mod.main(["y"]) == [{"done": "y"}]
    assert exporter.get_finished_spans() == ()
    assert not hasattr(mod.Agent.__dict__["work"], "__wrapped__")


def test_spans_file_env_is_honoured_by_opentelemetry_instrument(tmp_path):
    project, _module = _project(tmp_path)
    spans_file = tmp_path / "spans.jsonl"
    env = _env(
        tmp_path,
        **{
            SPANS_FILE_ENV: str(spans_file),
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        },
    )
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, "main.py", "q"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert sorted(r["name"] for r in read_records(spans_file)) == ["invoke_agent coder", "invoke_workflow batch"]


KEPT = """
    REGISTRY = {}

    def register(fn):
        REGISTRY[fn.__name__] = fn
        return fn

    class Greeter:
        def __call__(self, name):
            return "hi " + name

    greet = Greeter()
    HANDLERS = {"greet": greet}   # kept before the mapping applies: a callable object

    @register
    def search(query):            # kept too, but a plain function: wrapped in place
        return [query]

    def main():
        return HANDLERS["greet"]("bob"), REGISTRY["search"]("q")
"""


def _kept_project(tmp_path: Path) -> str:
    module = f"kept_{uuid.uuid4().hex[:8]}"
    _write(tmp_path / f"{module}.py", KEPT)
    _write(tmp_path / "main.py", f"from {module} import main\nprint(main())\n")
    _write(
        tmp_path / "pyproject.toml",
        f"""
        [[tool.otel-agents.instrument.tool_call]]
        target = "{module}:greet"

        [[tool.otel-agents.instrument.tool_call]]
        target = "{module}:search"
        """,
    )
    return module


def test_check_applies_the_checks_of_a_real_run(tmp_path):
    """A target kept by a registry before the mapping applied would never fire: ``--check`` says
    so (exit 1), and a real run reports it at exit, with the same reason."""
    module = _kept_project(tmp_path)
    proc = subprocess.run(
        [OTEL_AGENTS, "run", "--check"], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[1:] if line.startswith("  ")}
    assert lines[f"{module}:search"].split()[1:] == ["tool_call", "ok", "(wrapped", "in", "place)"]
    greet = lines[f"{module}:greet"]
    assert "WILL NOT FIRE" in greet and "a dict kept the original at import time" in greet, greet

    spans_file = tmp_path / "spans.jsonl"
    proc = subprocess.run(
        [OTEL_AGENTS, "run", "--spans-file", str(spans_file), "--", sys.executable, "main.py"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "('hi bob', ['q'])\n"
    unfired = [line for line in proc.stderr.splitlines() if "never fired" in line]
    assert len(unfired) == 1 and f"{module}:greet" in unfired[0], proc.stderr
    assert "a dict kept the original at import time" in unfired[0]
    assert sorted(r["name"] for r in read_records(spans_file)) == [
        "execute_tool search",
        "invoke_workflow implicit",
        "step search",
    ]


def test_recipes_are_selected_by_name_and_checked(tmp_path):
    proc = subprocess.run(
        [OTEL_AGENTS, "run", "--recipe", "doit", "--recipe", "no-such", "--check"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1  # the unknown recipe
    assert "problem: no recipe named 'no-such' (recipes: doit, langgraph, pydantic-ai); ignored" in proc.stdout
    rows = [line.split()[:3] for line in proc.stdout.splitlines() if line.startswith("  ")]
    assert rows == [
        ["doit.doit_cmd:DoitMain.run", "workflow", "ok"],
        ["doit.runner:Runner.execute_task", "step", "ok"],
        ["doit.action:CmdAction.execute", "tool_call", "ok"],
        ["doit.action:PythonAction.execute", "tool_call", "ok"],
    ]
