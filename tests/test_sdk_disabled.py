"""``OTEL_SDK_DISABLED=true``: the library prints nothing and writes nothing; the CLI says so.

Real subprocesses, as a user runs them: a program using the whole API, a program under
``otel-agents run``, and ``otel-agents demo``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sdlc_executor"

PROGRAM = r"""
import asyncio, logging, warnings
from concurrent.futures import ThreadPoolExecutor

logging.basicConfig(level=logging.WARNING)
for name in ("otel_agents", "opentelemetry"):   # every log line of ours (and the SDK's) would show
    logging.getLogger(name).setLevel(logging.DEBUG)
warnings.simplefilter("always")
import otel_agents as oa

oa.setup()


@oa.step("decorated")
def decorated():
    oa.record_usage("claude-sonnet-4-5", provider="anthropic", input_tokens=100, output_tokens=5)
    oa.record_usage("no-such-model", provider="nobody", input_tokens=100, output_tokens=5)


@oa.tool_call("Read")
async def read():
    await asyncio.sleep(0)


async def both():
    await asyncio.gather(read(), read())


def in_pool(i):
    with oa.step(f"pooled-{i}"):
        oa.record_usage("claude-haiku-4-5", provider="anthropic", input_tokens=10, output_tokens=1)
        with oa.tool_call("Bash"):
            pass


def run(name, pool):
    with oa.workflow(name) as wf:
        with wf.phase("p") as ph:
            with ph.step("s") as st:
                # cache tokens above input: a warning when enabled
                st.record_usage("claude-sonnet-4-5", provider="anthropic", input_tokens=30, output_tokens=5,
                                cache_read_tokens=5000, cache_write_tokens=100)
                with st.tool_call("Bash", arguments={"command": "ls"}) as tc:
                    tc.set_result({"ok": 1})
        decorated()
        list(pool.map(in_pool, range(4)))   # workers with no current handle
        asyncio.run(both())
        try:
            with wf.phase("boom"):
                raise ValueError("x")
        except ValueError:
            pass


with ThreadPoolExecutor(4) as pool:
    list(pool.map(lambda n: run(n, pool), ["a", "b"]))   # two workflows at once
oa.record_usage("claude-sonnet-4-5", provider="anthropic", input_tokens=1, output_tokens=1)
with oa.step("orphan"):
    with oa.tool_call("Write"):
        pass
oa.shutdown()
print("done")
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_")) and k not in ("PYTHONPATH",)}
    env.update(OTEL_SDK_DISABLED="true", **extra)
    return env


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>" for p in root.rglob("*")}


def test_the_library_prints_nothing_and_writes_nothing(tmp_path):
    work = tmp_path / "work"
    (work / ".otel-agents").mkdir(parents=True)
    # A bad config file: its problems are logged when enabled, never when disabled.
    (work / ".otel-agents" / "config.toml").write_text('exit_deadline = "soon"\nno_such_key = 1\n')
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    before = _tree(work)
    out = subprocess.run(
        [sys.executable, "-X", "dev", str(program)], cwd=work, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "done\n", "")
    assert _tree(work) == before


def test_the_same_program_enabled_does_log(tmp_path):
    """The control: the program above is noisy when telemetry is on, so silence means something."""
    work = tmp_path / "work"
    (work / ".otel-agents").mkdir(parents=True)
    (work / ".otel-agents" / "config.toml").write_text('exit_deadline = "soon"\notlp.enabled = false\n')
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    env = _env()
    del env["OTEL_SDK_DISABLED"]
    out = subprocess.run([sys.executable, str(program)], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout) == (0, "done\n")
    assert "exit_deadline must be float" in out.stderr
    assert "outside a workflow" in out.stderr
    assert (work / ".otel-agents" / "spans").is_dir()


def test_a_program_under_otel_agents_run_prints_only_its_own_output(tmp_path):
    work = tmp_path / "example"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("__pycache__", ".otel-agents"))
    with open(work / "pyproject.toml", "a") as f:  # a mapping problem: logged when enabled
        f.write('\n[[tool.otel-agents.instrument.step]]\ntarget = "sdlc_executor.agents:Nobody.work"\nname = "x"\n')
    before = _tree(work)
    command = [str(BIN / "otel-agents"), "run", "--", sys.executable, "-B", "-m", "sdlc_executor", "--pace", "0"]
    out = subprocess.run(command, cwd=work, env=_env(), capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout, out.stderr) == (0, "issue 42: done, 4 steps, 1 retries\n", "")
    assert _tree(work) == before


def test_demo_says_telemetry_is_disabled_and_exits_0(tmp_path):
    out = subprocess.run(
        [str(BIN / "otel-agents"), "demo", "--pace", "0"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout.count("\n") == 1
    assert out.stdout.startswith("otel-agents demo: telemetry is disabled (OTEL_SDK_DISABLED=true)")
    assert list(tmp_path.iterdir()) == []
