"""Claude Code capture's layers: what each module imports, read from the source with ``ast``.

Imports inside functions count (the hook must not load the drain even lazily), and
``from pkg import sub`` is an import of the module ``pkg.sub``. The hook and the core share
one definition of content-as-text, one on/off truth table and one home.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import otel_agents
from otel_agents import config, configfile, flags, redact, text
from otel_agents.claude_code import capture, layout

PACKAGE = Path(otel_agents.__file__).parent
OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")
#: What the hook may load: its own modules and the core's standard-library-only foundations
#: (``redact`` only when content capture is on).
HOOK_CLOSURE = {
    "otel_agents.claude_code.capture",
    "otel_agents.claude_code.layout",
    "otel_agents.claude_code.payload",
    "otel_agents.configfile",
    "otel_agents.flags",
    "otel_agents.handoff",
    "otel_agents.text",
    "otel_agents.redact",
}
#: Standard-library modules of other Python versions: 3.10's tomllib (``tomli``), 3.12's builtin
#: sha256 (``_sha2``), imported only there.
STDLIB_BACKPORTS = {"tomli", "_sha2", "_sha256"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports(module: str) -> set[str]:
    """Every module ``module`` imports, anywhere in it (functions too; not ``if TYPE_CHECKING:``)."""
    path = MODULES[module]
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _is_type_checking(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = module.split(".")[: len(module.split(".")) - node.level + (1 if is_pkg else 0)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def ours(names: set[str]) -> set[str]:
    return {n for n in names if n == "otel_agents" or n.startswith("otel_agents.")}


def closure(start: str) -> set[str]:
    """``start`` and every module of ours it imports, transitively."""
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(ours(imports(m)) - seen)
    return seen


def graph() -> dict[str, set[str]]:
    return {m: ours(imports(m)) & set(MODULES) for m in MODULES}


def cycles(g: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in g:
        if v not in index:
            strong(v)
    return out


# --- the standard-library boundary ------------------------------------------------------------------
def test_the_hook_module_reaches_only_its_standard_library_modules() -> None:
    """From ``capture``, every import (inside functions too) stays within the hook's modules
    and the standard library: the hook never loads the drain, the SDK or pluggy."""
    reached = closure("otel_agents.claude_code.capture")
    assert reached <= HOOK_CLOSURE, reached - HOOK_CLOSURE
    assert "otel_agents.claude_code.drain" not in reached
    others = {n.split(".")[0] for m in reached for n in imports(m) - ours(imports(m))}
    assert others <= set(sys.stdlib_module_names) | STDLIB_BACKPORTS, others - set(sys.stdlib_module_names)


@pytest.mark.parametrize(
    "module",
    sorted(m for m in MODULES if m.startswith("otel_agents.claude_code.") and m != "otel_agents.claude_code.drain"),
)
def test_claude_code_modules_but_the_drain_are_standard_library_only(module: str) -> None:
    """Only the drain builds spans (OpenTelemetry, the core runtime); the layout, the store,
    the model, the transcript reader, status and the installer need the standard library."""
    reached = closure(module)
    assert "otel_agents.claude_code.drain" not in reached
    others = {n.split(".")[0] for m in reached for n in imports(m) - ours(imports(m))}
    assert others <= set(sys.stdlib_module_names) | STDLIB_BACKPORTS, others - set(sys.stdlib_module_names)


def test_layout_imports_none_of_capture_store_or_drain() -> None:
    assert closure("otel_agents.claude_code.layout") == {
        "otel_agents.claude_code.layout",
        "otel_agents.configfile",
        "otel_agents.text",
    }
    for module in ("otel_agents.claude_code.store", "otel_agents.claude_code.drain", "otel_agents.claude_code.status"):
        reached = ours(imports(module))
        assert "otel_agents.claude_code.layout" in reached and "otel_agents.claude_code.capture" not in reached


def test_no_import_cycle_touches_claude_code_or_its_foundations() -> None:
    """Counting imports inside functions, no cycle runs through Claude Code capture
    (capture, layout, store, drain, ...) or the modules it shares with the core."""
    mine = {m for m in MODULES if m.startswith("otel_agents.claude_code")} | {
        "otel_agents.text",
        "otel_agents.flags",
        "otel_agents.configfile",
        "otel_agents.redact",
        "otel_agents.config",
    }
    bad = [sorted(c) for c in cycles(graph()) if c & mine]
    assert bad == []


def test_the_graph_sees_imports_inside_functions() -> None:
    """The drain imports the runtime (telemetry) only inside functions: the reader must see it."""
    assert "otel_agents.telemetry" in imports("otel_agents.claude_code.drain")
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


# --- one definition -----------------------------------------------------------------------------------------
def _definitions(name: str) -> list[str]:
    return [
        m
        for m, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name == name and node.col_offset == 0
    ]


def test_content_as_text_is_defined_once_for_the_core_and_the_hook() -> None:
    assert redact.to_text is text.to_text and capture.to_text is text.to_text
    assert redact.valid_text is text.clean_text and capture.clean_text is text.clean_text
    assert redact.fingerprint is text.fingerprint
    for name in ("to_text", "_to_json", "clean_text", "valid_text", "fingerprint"):
        assert _definitions(name) in ([], ["otel_agents.text"]), name
    value = {"b": [1, 2.5, None], "a": "h\u00e9llo \ud800"}
    as_text = '{"a":"h\u00e9llo \ud800","b":[1,2.5,null]}'
    rec = capture.content_record(value, capture=False)
    assert (
        (rec["len"], rec["sha256"])
        == text.fingerprint(value)
        == (len(as_text), hashlib.sha256(as_text.encode("utf-8", "surrogatepass")).hexdigest())
    )


def test_one_truth_table_for_on_off_values() -> None:
    """``flags`` is the only module of the settings and of Claude Code capture that spells out
    on/off words; config and the hook use it."""
    assert _definitions("parse_bool") == ["otel_agents.flags"]
    spelled = []
    for module, path in MODULES.items():
        if not (
            module.startswith("otel_agents.claude_code")
            or module in ("otel_agents.config", "otel_agents.configfile", "otel_agents.flags")
        ):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Set, ast.Tuple, ast.List)):
                words = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if {"yes", "on"} <= words or {"no", "off"} <= words:
                    spelled.append(module)
    assert spelled == ["otel_agents.flags", "otel_agents.flags"]


TRUTH = [
    ("1", True),
    ("true", True),
    ("Yes", True),
    (" ON ", True),
    ("TRUE", True),
    ("0", False),
    ("false", False),
    ("NO", False),
    ("off", False),
]


@pytest.mark.parametrize(("raw", "expected"), TRUTH)
def test_config_and_hook_read_on_off_values_alike(
    raw: str, expected: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert flags.parse_bool(raw, not expected) is expected
    monkeypatch.setenv("OTEL_AGENTS_CAPTURE_CONTENT", raw)
    assert config.load_config(tmp_path).values["capture_content"] is expected
    assert capture.hook_settings(str(tmp_path))["capture_content"] is expected
    monkeypatch.delenv("OTEL_AGENTS_CAPTURE_CONTENT")
    (tmp_path / "config.toml").write_text(f"capture_content = {json.dumps(raw)}\n")
    assert config.load_config(tmp_path).values["capture_content"] is expected
    assert capture.hook_settings(str(tmp_path))["capture_content"] is expected


@pytest.mark.parametrize("raw", ["2", "maybe", "", "  ", None])
def test_not_an_on_off_value_means_the_default(raw: str | None) -> None:
    assert flags.parse_bool(raw, True) is True and flags.parse_bool(raw, False) is False
    assert flags.to_bool(raw) is None


def test_one_home_for_the_library_and_the_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OTEL_AGENTS_HOME", raising=False)
    monkeypatch.delenv("CLAUDE_PROJECT_DIR", raising=False)
    here = str(tmp_path / ".otel-agents")
    assert (str(config.resolve_home()), layout.hook_home(), configfile.resolve_home()) == (here, here, here)
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", "/proj")
    assert (str(config.resolve_home("/proj")), layout.hook_home()) == ("/proj/.otel-agents", "/proj/.otel-agents")
    monkeypatch.setenv("OTEL_AGENTS_HOME", "/h")
    assert (str(config.resolve_home("/proj")), layout.hook_home()) == ("/h", "/h")
    assert _definitions("resolve_home") == ["otel_agents.config", "otel_agents.configfile"]


def test_hook_without_otel_variables_uses_the_project_home_and_its_config(tmp_path: Path) -> None:
    """As Claude Code runs it: no ``OTEL_*`` in the environment, ``CLAUDE_PROJECT_DIR`` set, the
    working directory elsewhere. The home is the project's, its ``config.toml`` applies."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / ".otel-agents").mkdir(parents=True)
    elsewhere.mkdir()
    (project / ".otel-agents" / "config.toml").write_text(
        'capture_content = "Yes"\n[claude_code]\nauto_drain = "off"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["CLAUDE_PROJECT_DIR"] = str(project)
    data = json.dumps({"session_id": "s1", "hook_event_name": "Stop", "prompt": "say hi"}).encode()
    p = subprocess.run(
        [OTEL_AGENTS, "hook"], input=data, capture_output=True, env=env, cwd=elsewhere, timeout=60, check=False
    )
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    home = project / ".otel-agents"
    (line,) = Path(layout.session_spool(home, "s1")).read_bytes().splitlines()
    assert json.loads(line)["e"] == {
        "session_id": "s1",
        "hook_event_name": "Stop",
        "prompt": {"len": 6, "sha256": text.digest("say hi"), "text": "say hi"},
    }
    assert not (elsewhere / ".otel-agents").exists()
    assert json.loads((home / "claude-code" / "config-cache.json").read_text())["values"] == {
        "capture_content": True,
        "claude_code.auto_drain": False,
    }
    assert not (home / "claude-code" / "hook.log").exists()


def test_one_sha256_with_or_without_openssl(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook hashes with the builtin module (no OpenSSL load), the core with ``hashlib``
    (faster on large content): the same digests."""
    data = "h\u00e9llo \ud800".encode("utf-8", "surrogatepass") * 1000
    expected = hashlib.sha256(data).hexdigest()
    assert text.sha256_hex(data) == expected
    monkeypatch.delitem(sys.modules, "hashlib")
    assert text.sha256_hex(data) == expected
