"""Plugins through pluggy's public API: one isolated dispatch path (order, wrappers,
``firstresult``, plans refreshed on register and unregister), unknown hooks caught by
``check_pending``, strict mode only when asked for, one truth table for on/off values."""

from __future__ import annotations

import ast
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest
from helpers_plugins import install_plugin, pythonpath

import otel_agents as oa
from otel_agents import flags, hookimpl, safety
from otel_agents.claude_code import capture
from otel_agents.claude_code.drain import drain
from otel_agents.config import load_config, sdk_disabled
from otel_agents.events import WorkflowEvent
from otel_agents.hookspecs import HOOK_NAMES, hookspec
from otel_agents.plugins import PluginManager, call_hook, has_impls, new_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "otel_agents"


def plugin(name: str, log: list, *, result: object = None, raises: bool = False, **opts: bool) -> object:
    """A plugin implementing ``workflow_start`` (``opts``: tryfirst, trylast)."""

    class P:
        @hookimpl(**opts)
        def workflow_start(self, event):
            log.append(name)
            if raises:
                raise RuntimeError(f"{name} failed")
            return result

    return P()


def bare_manager() -> PluginManager:
    return new_plugin_manager(load_defaults=False, load_entry_points=False)


EVENT = WorkflowEvent(workflow_id="wf", name="ship")


# --- pluggy's public API only ---------------------------------------------------------------------------
def test_only_pluggys_public_api_is_used():
    hits = []
    for path in sorted(PKG.rglob("*.py")):
        text = path.read_text()
        for token in ("pluggy._", "._inner_hookexec", "._hookexec", "._hookimpls", "_multicall"):
            if token in text:
                hits.append(f"{path.relative_to(ROOT)}: {token}")
        for node in ast.walk(ast.parse(text)):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr == "function":
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: assigns .function")
    assert hits == []


def test_registration_leaves_pluggys_implementations_as_they_are():
    pm = new_plugin_manager(load_entry_points=False)
    mine = plugin("mine", [])
    pm.register(mine, name="mine")
    functions = {impl.plugin_name: impl.function for impl in pm.hook.workflow_start.get_hookimpls()}
    assert functions == {"spans": pm.get_plugin("spans").workflow_start, "mine": mine.workflow_start}


def test_registration_never_runs_a_plugins_properties():
    """Hook implementations are found without ``getattr`` (pluggy before 1.7 ran properties:
    the spans plugin's ``rt`` set telemetry up inside the manager's construction)."""

    class WithProperty:
        @property
        def expensive(self):
            raise AssertionError("a property ran during registration")

        @hookimpl
        def workflow_end(self, event):
            return "end"

    pm = bare_manager()
    pm.register(WithProperty(), name="p")
    assert call_hook(pm.hook.workflow_end, EVENT) == ["end"]


# --- one isolated dispatch path -----------------------------------------------------------------------------
def test_call_hook_keeps_pluggys_order_and_results(monkeypatch):
    log: list[str] = []
    pm = bare_manager()
    pm.register(plugin("a", log, result="A"), name="a")
    pm.register(plugin("c", log, result="C", tryfirst=True), name="c")
    pm.register(plugin("d", log, trylast=True), name="d")
    pm.register(plugin("e", log, result="E"), name="e")

    class NoArgument:
        @hookimpl
        def workflow_start(self):
            log.append("no-argument")
            return "N"

    pm.register(NoArgument(), name="n")
    expected = pm.hook.workflow_start(event=EVENT)  # pluggy's own call
    assert expected == ["C", "N", "E", "A"]
    log.clear()
    assert call_hook(pm.hook.workflow_start, EVENT) == expected
    assert log == ["c", "no-argument", "e", "a", "d"]


def test_each_implementation_is_isolated_and_the_plans_follow_registrations(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    log: list[str] = []
    pm = bare_manager()
    pm.register(plugin("a", log, result="A"), name="a")
    pm.register(plugin("b", log, raises=True), name="b")
    with caplog.at_level(logging.WARNING, logger="otel_agents"):
        assert call_hook(pm.hook.workflow_start, EVENT) == ["A"]
        assert call_hook(pm.hook.workflow_start, EVENT) == ["A"]
    assert log == ["b", "a", "b", "a"]
    assert safety.failure_counts() == {"plugin b: workflow_start": 2}
    assert [r.getMessage() for r in caplog.records] == [
        "otel-agents: plugin b: workflow_start failed (1 so far; further failures logged at most once a minute): "
        "RuntimeError: b failed"
    ]
    # the cached plan is dropped when a plugin comes or goes
    pm.register(plugin("z", log, result="Z"), name="z")
    log.clear()
    assert call_hook(pm.hook.workflow_start, EVENT) == ["Z", "A"]
    assert log == ["z", "b", "a"]
    pm.unregister(name="b")
    log.clear()
    assert call_hook(pm.hook.workflow_start, EVENT) == ["Z", "A"]
    assert log == ["z", "a"]
    assert has_impls(pm.hook.workflow_start) and not has_impls(pm.hook.workflow_end)


def test_strict_mode_raises_the_plugins_exception():
    pm = bare_manager()
    pm.register(plugin("b", [], raises=True), name="b")
    with pytest.raises(RuntimeError, match="b failed"):
        call_hook(pm.hook.workflow_start, EVENT)


class OldWrapper:
    def __init__(self, log: list) -> None:
        self.log = log

    @hookimpl(hookwrapper=True)
    def workflow_start(self, event):
        self.log.append("old in")
        outcome = yield
        self.log.append(f"old out {outcome.get_result()}")
        outcome.force_result([*outcome.get_result(), "old"])


class NewWrapper:
    def __init__(self, log: list) -> None:
        self.log = log

    @hookimpl(wrapper=True)
    def workflow_start(self, event):
        self.log.append("new in")
        result = yield
        self.log.append(f"new out {result}")
        return [*result, "new"]


def test_wrappers_of_both_styles_wrap_isolated_implementations(monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    log: list[str] = []
    pm = bare_manager()
    pm.register(plugin("a", log, result="A"), name="a")
    pm.register(OldWrapper(log), name="old")
    pm.register(NewWrapper(log), name="new")
    pm.register(plugin("b", log, raises=True), name="b")
    assert call_hook(pm.hook.workflow_start, EVENT) == ["A", "old", "new"]
    assert log == ["new in", "old in", "b", "a", "old out ['A']", "new out ['A', 'old']"]
    assert safety.failure_counts() == {"plugin b: workflow_start": 1}


def test_a_failing_wrapper_is_isolated_too(monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    log: list[str] = []

    class BrokenNew:
        @hookimpl(wrapper=True)
        def workflow_start(self, event):
            raise RuntimeError("before yield")
            yield  # pragma: no cover

    class BrokenOld:
        @hookimpl(hookwrapper=True)
        def workflow_start(self, event):
            yield
            raise RuntimeError("after yield")

    class NoYield:
        @hookimpl(wrapper=True)
        def workflow_start(self, event):
            return
            yield  # pragma: no cover

    pm = bare_manager()
    pm.register(plugin("a", log, result="A"), name="a")
    pm.register(NewWrapper(log), name="new")
    pm.register(BrokenOld(), name="broken-old")
    pm.register(BrokenNew(), name="broken-new")
    pm.register(NoYield(), name="no-yield")
    assert call_hook(pm.hook.workflow_start, EVENT) == ["A", "new"]
    assert log == ["new in", "a", "new out ['A']"]
    assert safety.failure_counts() == {
        "plugin broken-new: workflow_start": 1,
        "plugin broken-old: workflow_start": 1,
        "plugin no-yield: workflow_start": 1,
    }
    assert safety.last_errors()["plugin no-yield: workflow_start"] == "RuntimeError: hook wrapper did not yield"


class FirstResultSpecs:
    @hookspec(firstresult=True)
    def pick(self, arg):
        """The first non-None answer wins."""


def test_firstresult_stops_at_the_first_answer(monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    log: list[str] = []

    def picker(name: str, answer: object = None, raises: bool = False) -> object:
        class P:
            @hookimpl
            def pick(self, arg):
                log.append(name)
                if raises:
                    raise RuntimeError(name)
                return answer

        return P()

    pm = PluginManager("otel_agents")
    pm.add_hookspecs(FirstResultSpecs)
    for name, answer, raises in (("w", "W", False), ("z", "Z", False), ("y", None, True), ("x", None, False)):
        pm.register(picker(name, answer, raises), name=name)
    assert call_hook(pm.hook.pick, 1) == "Z"
    assert log == ["x", "y", "z"]
    assert safety.failure_counts() == {"plugin y: pick": 1}
    pm.unregister(name="z")
    assert call_hook(pm.hook.pick, 1) == "W"


def test_the_claude_code_drain_dispatches_through_call_hook(make_runtime, exporter, tmp_path, monkeypatch):
    """A plugin wrapping ``tool_call_start`` that fails costs the drain nothing: the spans
    plugin still runs, the failure is the plugin's, counted."""
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")

    class BrokenWrapper:
        @hookimpl(wrapper=True)
        def tool_call_start(self, event):
            raise RuntimeError("wrapper bug")
            yield  # pragma: no cover

    pm = new_plugin_manager(load_entry_points=False)
    pm.register(BrokenWrapper(), name="broken")
    rt = make_runtime(pm)
    home = str(tmp_path / "home")
    events = [
        {"hook_event_name": "SessionStart", "source": "startup"},
        {"hook_event_name": "UserPromptSubmit", "prompt": "hi"},
        {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": "toolu_1", "tool_input": {"c": 1}},
        {"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "toolu_1", "tool_response": "ok"},
        {"hook_event_name": "Stop"},
        {"hook_event_name": "SessionEnd", "reason": "exit"},
    ]
    for i, e in enumerate(events):
        payload = {"session_id": "s-1", "transcript_path": "/none.jsonl", "cwd": "/p", **e}
        capture.handle(json.dumps(payload).encode(), 1_000_000_000_000 + i * 1_000_000, home, spawn=False)
    assert drain(home, rt=rt).spans == 4
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert sorted(spans) == [
        "execute_tool Bash",
        "invoke_agent claude-code",
        "invoke_workflow p",
        "phase turn",
    ]
    assert dict(spans["execute_tool Bash"].attributes) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "Bash",
        "otel_agents.kind": "tool_call",
        "otel_agents.workflow.id": "s-1",
        "gen_ai.conversation.id": "s-1",
        "gen_ai.tool.call.id": "toolu_1",
        "gen_ai.tool.type": "function",
        "otel_agents.step.name": "claude-code",
        "gen_ai.agent.name": "claude-code",
        "otel_agents.phase.name": "turn",
        "otel_agents.outcome": "success",
        "otel_agents.tool.arguments.length": 7,
        "otel_agents.tool.arguments.sha256": "a1dd48c657971696c2087f2a6beb489ee65b25320b763222f10718dd93e9149e",
        "otel_agents.tool.result.length": 2,
        "otel_agents.tool.result.sha256": "2689367b205c16ce32ed4200942b8b8b1e262dfc70d9bc9fbc77c49699a4f1df",
    }
    assert safety.failure_counts() == {"plugin broken: tool_call_start": 1}


# --- unknown hooks: check_pending ------------------------------------------------------------------------------
class Misspelt:
    def __init__(self, log: list) -> None:
        self.log = log

    @hookimpl
    def workflow_strat(self, event):
        self.log.append("strat")

    @hookimpl
    def workflow_end(self, event):
        self.log.append("end")


MISSPELT_PROBLEM = (
    "plugin misspelt is disabled: it implements unknown hook(s) 'workflow_strat' "
    "(did you mean 'workflow_start'?); the hooks are " + ", ".join(HOOK_NAMES)
)


def test_a_misspelt_hook_disables_its_plugin_and_is_reported(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    log: list[str] = []
    pm = new_plugin_manager(load_entry_points=False)
    with caplog.at_level(logging.WARNING, logger="otel_agents"):
        assert pm.register(Misspelt(log), name="misspelt") is None
    assert not pm.has_plugin("misspelt")
    assert pm.problems == [MISSPELT_PROBLEM]
    assert safety.failure_counts() == {"plugin misspelt: unknown hook": 1}
    assert [r.getMessage() for r in caplog.records] == [
        "otel-agents: plugin misspelt: unknown hook failed (1 so far; further failures logged at most once a "
        f"minute): PluginValidationError: {MISSPELT_PROBLEM}"
    ]
    call_hook(pm.hook.workflow_end, EVENT)
    assert log == []  # none of its hooks run


def test_a_misspelt_hook_raises_in_strict_mode():
    pm = new_plugin_manager(load_entry_points=False)
    with pytest.raises(pluggy.PluginValidationError, match="'workflow_strat' \\(did you mean 'workflow_start'"):
        pm.register(Misspelt([]), name="misspelt")
    assert not pm.has_plugin("misspelt")


MISSPELT_MODULE = """
from otel_agents import hookimpl


class Misspelt:
    @hookimpl
    def workflow_strat(self, event):
        pass
"""


def test_a_misspelt_entry_point_plugin_is_disabled_and_shown_by_doctor(tmp_path):
    path = install_plugin(
        tmp_path / "site", "misspelt_plugin", MISSPELT_MODULE, {"misspelt": "misspelt_plugin:Misspelt"}
    )
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath(path),
        "OTEL_AGENTS_HOME": str(tmp_path / "home"),
        "OTEL_AGENTS_STRICT": "0",
    }
    out = subprocess.run(
        [sys.executable, "-m", "otel_agents", "doctor", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout)["problems"] == [MISSPELT_PROBLEM]
    assert f"PluginValidationError: {MISSPELT_PROBLEM}" in out.stderr  # logged once
    code = "from otel_agents.plugins import new_plugin_manager; print(new_plugin_manager().has_plugin('misspelt'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout) == (0, "False\n")
    strict = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "OTEL_AGENTS_STRICT": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert strict.returncode == 1
    assert strict.stderr.splitlines()[-1] == f"pluggy._manager.PluginValidationError: {MISSPELT_PROBLEM}"


# --- strict mode: only when asked ---------------------------------------------------------------------------------
RAISING_MODULE = """
from otel_agents import hookimpl


class Raising:
    @hookimpl
    def workflow_start(self, event):
        raise RuntimeError("bug in a third-party plugin")
"""

USER_TEST = """
import otel_agents as oa


def test_nightly():
    with oa.workflow("nightly") as wf:
        with wf.step("fetch"):
            pass
"""


def test_an_applications_own_test_suite_gets_production_behaviour(tmp_path):
    """Under pytest a plugin's exception stays isolated; ``OTEL_AGENTS_STRICT=1`` raises it."""
    path = install_plugin(tmp_path / "site", "raising_plugin", RAISING_MODULE, {"raising": "raising_plugin:Raising"})
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_app.py").write_text(USER_TEST)
    env = {k: v for k, v in os.environ.items() if k not in ("OTEL_AGENTS_STRICT", "PYTEST_ADDOPTS")}
    env.update(PYTHONPATH=pythonpath(path), OTEL_AGENTS_HOME=str(tmp_path / "home"), OTEL_AGENTS_OTLP_ENABLED="false")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_app.py"]
    run = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    strict = subprocess.run(
        cmd, cwd=project, env={**env, "OTEL_AGENTS_STRICT": "1"}, capture_output=True, text=True, timeout=120
    )
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "RuntimeError: bug in a third-party plugin" in strict.stdout


# --- one truth table ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "on"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" On ", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("OFF", False),
    ],
)
def test_every_on_off_variable_reads_the_same_table(raw, on, monkeypatch, tmp_path):
    assert flags.parse_bool(raw) is on
    monkeypatch.setenv("OTEL_AGENTS_STRICT", raw)
    assert safety.strict_mode() is on
    monkeypatch.setenv("OTEL_AGENTS_SPOOL_ENABLED", raw)
    assert load_config()["spool.enabled"] is on
    monkeypatch.setenv("OTEL_AGENTS_CLAUDE_CODE_FSYNC", raw)
    assert capture.hook_settings(str(tmp_path))["claude_code.fsync"] is on
    (tmp_path / "config.toml").write_text(f'[claude_code]\nauto_drain = "{raw}"\n')
    assert load_config(tmp_path)["claude_code.auto_drain"] is on
    monkeypatch.delenv("OTEL_AGENTS_CLAUDE_CODE_FSYNC")
    assert capture.hook_settings(str(tmp_path))["claude_code.auto_drain"] is on
    monkeypatch.setenv("OTEL_SDK_DISABLED", raw)
    assert sdk_disabled() is on


def test_empty_or_unknown_values_take_the_default(monkeypatch, caplog, tmp_path):
    for var in (
        "OTEL_AGENTS_STRICT",
        "OTEL_SDK_DISABLED",
        "OTEL_AGENTS_SPOOL_ENABLED",
        "OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN",
    ):
        monkeypatch.setenv(var, " ")
    assert (safety.strict_mode(), sdk_disabled()) == (False, False)
    assert load_config().problems == [] and load_config()["spool.enabled"] is True
    assert capture.hook_settings(str(tmp_path))["claude_code.auto_drain"] is True
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "maybe")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "perhaps")
    monkeypatch.setenv("OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN", "sometimes")
    with caplog.at_level(logging.WARNING, logger="otel_agents.config"):
        for _ in range(2):
            assert (safety.strict_mode(), sdk_disabled()) == (False, False)
            assert capture.hook_settings(str(tmp_path))["claude_code.auto_drain"] is True
    assert [r.getMessage() for r in caplog.records] == [
        f"otel-agents: {var}={value!r} is not an on/off value (1/0, true/false, yes/no, on/off); using {default}"
        for var, value, default in (("OTEL_AGENTS_STRICT", "maybe", "off"), ("OTEL_SDK_DISABLED", "perhaps", "off"))
    ]
    # the Claude Code hook logs nothing through logging (it prints nothing at all): its value
    # took the default above, read by the same truth table


@pytest.mark.parametrize(("raw", "installed"), [(None, True), ("yes", True), ("no", False), ("Off", False)])
def test_otel_agents_sigterm_reads_the_table(raw, installed, tmp_path):
    code = "import signal, otel_agents as oa; oa.setup(); print(signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL)"
    env = {k: v for k, v in os.environ.items() if k != "OTEL_AGENTS_SIGTERM"}
    env.update(OTEL_AGENTS_HOME=str(tmp_path / "home"), OTEL_AGENTS_OTLP_ENABLED="false")
    if raw is not None:
        env["OTEL_AGENTS_SIGTERM"] = raw
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout) == (0, f"{installed}\n"), out.stderr


def test_no_module_but_flags_spells_out_on_off_words():
    """Every on/off reader goes through ``otel_agents.flags``: nobody else lists the words."""
    words = flags.TRUE | flags.FALSE
    hits = []
    for path in sorted(PKG.rglob("*.py")):
        if path.name == "flags.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                found = {e.value.lower() for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                if len(found & words) >= 2:
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: {sorted(found & words)}")
            elif isinstance(node, ast.Compare):
                for c in node.comparators:
                    if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value in {"true", "false"}:
                        hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: == {c.value!r}")
    assert hits == []


def test_the_api_runs_with_a_plugin_manager_built_by_hand(make_runtime, exporter):
    """``call_hook`` also serves managers built without ``new_plugin_manager``'s loading."""
    log: list[str] = []
    pm = new_plugin_manager(load_entry_points=False)
    pm.register(plugin("mine", log), name="mine")
    make_runtime(pm)
    with oa.workflow("ship"):
        pass
    assert log == ["mine"]
    assert [s.name for s in exporter.get_finished_spans()] == ["invoke_workflow ship"]
