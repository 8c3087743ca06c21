"""The layers of ``otel_agents`` and its import cycles, read from the import statements.

Every import statement counts (module level, inside functions, under ``TYPE_CHECKING``);
the rules are in ``tests/_import_graph.py``. Three checks, one list of exceptions:

- no module takes part in an import cycle;
- a module imports only its own layer and lower-ranked layers (same-rank layers not at all);
- the Claude Code hook path (``claude_code.capture`` and everything it imports, transitively)
  imports only the standard library.

``KNOWN_VIOLATIONS`` holds what is wrong today, exactly: the test fails on a new violation
AND on a listed one that has gone, so the list only shrinks. Remove an entry when you fix it.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import _import_graph as ig
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "otel_agents"

# name: (rank, module patterns). A module may import modules of its own layer and of layers
# with a LOWER rank; layers of the same rank may not import each other.
LAYERS: dict[str, tuple[int, tuple[str, ...]]] = {
    # core: the public API, events, lifecycle hooks, plugin manager, runtime, span engine
    # (spans, rollup), configuration, pricing and small foundations. Knows no sink, plugin,
    # agent or command.
    # The last lines: the sink contract, fork-safe locks, process lifecycle, on/off flags, the
    # settings file reader, text helpers and the foundations the sinks and commands share.
    "core": (
        0,
        (
            "otel_agents",
            "otel_agents.api",
            "otel_agents.attributes",
            "otel_agents.config",
            "otel_agents.context",
            "otel_agents.errors",
            "otel_agents.events",
            "otel_agents.hookspecs",
            "otel_agents.ids",
            "otel_agents.handoff",
            "otel_agents.plugins",
            "otel_agents.pricing",
            "otel_agents.redact",
            "otel_agents.safety",
            "otel_agents.telemetry",
            "otel_agents.genai_metrics",
            "otel_agents.threads",
            "otel_agents.spans",
            "otel_agents.genai_content",
            "otel_agents.rollup",
            "otel_agents.foreign",
            "otel_agents.sink_contract",
            "otel_agents.forksafe",
            "otel_agents.lifecycle",
            "otel_agents.flags",
            "otel_agents.configfile",
            "otel_agents.text",
            "otel_agents.livestate",
            "otel_agents.foundation",
            "otel_agents.foundation.*",
        ),
    ),
    # sinks: the sink processor and contract, every sink, the durable files they write, the
    # SQLite analytics store.
    "sinks": (
        1,
        (
            "otel_agents.sink",
            "otel_agents.sinks",
            "otel_agents.sinks.*",
            "otel_agents.analytics",
            "otel_agents.analytics.*",
        ),
    ),
    # default plugins: sink registration, switched on by entry points.
    "default_plugins": (2, ("otel_agents.default_plugins", "otel_agents.default_plugins.*")),
    # agent adapters: Claude Code capture, transcripts, drain, settings (the hook path inside
    # it has its own, stricter rule below).
    "claude_code": (
        2,
        ("otel_agents.claude_code", "otel_agents.claude_code.*", "otel_agents.agent_cli", "otel_agents.agent_cli.*"),
    ),
    # commands: the CLI and everything only it uses: reports, the demo, zero-code
    # instrumentation (`otel-agents run`).
    "commands": (
        3,
        (
            "otel_agents.__main__",
            "otel_agents.cli",
            "otel_agents.commands",
            "otel_agents.commands.*",
            "otel_agents.report",
            "otel_agents.report.*",
            "otel_agents.demo",
            "otel_agents.instrument",
            "otel_agents.instrument.*",
        ),
    ),
}

# The hook path starts here; Python also runs the parent packages' __init__ when importing it.
HOOK_ROOTS = {"otel_agents.claude_code.capture", "otel_agents.claude_code", "otel_agents"}

# Non-stdlib names the hook path may import, each only as a fallback of a standard module.
STDLIB_FALLBACKS = {
    "_sha2": "the name of the standard _sha256 module from Python 3.12",
    "tomli": "tomllib's backport, imported only on Python 3.10 (`except ImportError`)",
}

KNOWN_VIOLATIONS: dict[str, str] = {}


def layer_of(module: str) -> list[str]:
    return [name for name, (_, pats) in LAYERS.items() if any(fnmatch.fnmatchcase(module, p) for p in pats)]


def violations(g: ig.Graph) -> dict[str, list[ig.Edge | str]]:
    """Every violation found, with the import statements behind it."""
    found: dict[str, list[ig.Edge | str]] = {}
    for cycle in g.cycles():
        found["cycle: " + " ".join(sorted(cycle))] = [e for e in g.edges if e.src in cycle and e.dst in cycle]
    for e in g.edges:
        if e.dst not in g.modules or e.src == e.dst:
            continue
        la, lb = layer_of(e.src), layer_of(e.dst)
        if len(la) != 1 or len(lb) != 1:
            continue  # test_every_module_is_in_exactly_one_layer says so
        (a,), (b,) = la, lb
        if a != b and LAYERS[b][0] >= LAYERS[a][0]:
            found.setdefault(f"layer: {e.src} ({a}) -> {e.dst} ({b})", []).append(e)
    for a, b, edges in hook_path_exits(g):
        found[f"hook path: {a} -> {b}"] = edges + [why_not_stdlib(g, b)]
    return found


def why_not_stdlib(g: ig.Graph, module: str) -> str:
    """A chain of imports from ``module`` to a package outside the standard library."""
    if module not in g.modules:
        return f"{module} is not in the standard library"
    prev: dict[str, str] = {module: ""}
    todo, adj = [module], g.internal()
    while todo:
        m = todo.pop(0)
        bad = sorted(x for x in g.external(m) if not ig.is_stdlib(x) and x not in STDLIB_FALLBACKS)
        if bad:
            chain = [bad[0], m]
            while prev[chain[-1]]:
                chain.append(prev[chain[-1]])
            return "reaches " + " -> ".join(reversed(chain))
        for x in sorted(adj[m] - set(prev)):
            prev[x] = m
            todo.append(x)
    return "standard library only"


def hook_path_exits(g: ig.Graph) -> list[tuple[str, str, list[ig.Edge]]]:
    """The imports by which the hook path leaves the standard library: ``(module, target,
    statements)``, target being a third-party package or a module of ours that reaches one."""
    adj = g.internal()

    def third_party(m: str) -> set[str]:
        return {x for x in g.external(m) if not ig.is_stdlib(x) and x not in STDLIB_FALLBACKS}

    impure = {m for m in g.modules if any(third_party(x) for x in g.closure({m}))}
    seen, todo, out = set(), [r for r in HOOK_ROOTS if r in g.modules], []
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        for x in sorted(third_party(m)):
            out.append((m, x, g.edges_between(m, x)))
        for x in sorted(adj[m]):
            if x in impure:
                out.append((m, x, g.edges_between(m, x)))
            else:
                todo.append(x)
    return out


def explain(g: ig.Graph, key: str, edges: list[ig.Edge | str]) -> str:
    lines = [key] + [
        f"    {e}" if isinstance(e, str) else f"    {e.where(g.root)}{' (in a function)' if e.in_function else ''}"
        for e in edges
    ]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def graph() -> ig.Graph:
    return ig.build(ROOT, PACKAGE)


def test_every_module_is_in_exactly_one_layer(graph: ig.Graph) -> None:
    wrong = {m: layer_of(m) for m in graph.modules if len(layer_of(m)) != 1}
    assert wrong == {}, f"assign each module to one layer in LAYERS: {wrong}"


def test_no_new_cycles_or_layer_violations_and_known_ones_are_exact(graph: ig.Graph) -> None:
    found = violations(graph)
    new = sorted(set(found) - set(KNOWN_VIOLATIONS))
    gone = sorted(set(KNOWN_VIOLATIONS) - set(found))
    msg = []
    if new:
        msg.append("NEW import cycles / layer violations:\n" + "\n".join(explain(graph, k, found[k]) for k in new))
    if gone:
        msg.append(
            "fixed (remove them from KNOWN_VIOLATIONS in tests/test_layers.py):\n" + "\n".join(f"    {k}" for k in gone)
        )
    assert not msg, "\n\n".join(msg)


# The analysis itself, on small packages written for the purpose: each rule, and a cycle.


def _package(tmp_path: Path, files: dict[str, str]) -> ig.Graph:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return ig.build(tmp_path, "pkg")


def _edges(g: ig.Graph) -> set[tuple[str, str]]:
    return {(e.src, e.dst) for e in g.edges}


def test_graph_rules(tmp_path: Path) -> None:
    g = _package(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.core import api_fn\n__all__ = ['api_fn', 'VERSION']\nVERSION = '1'\n",
            "pkg/core.py": "import json\ndef api_fn():\n    from pkg import sub\n",
            "pkg/sub/__init__.py": "from .leaf import thing\n__all__ = ['thing']\n",
            "pkg/sub/leaf.py": "from .. import VERSION\nfrom . import other\n",
            "pkg/sub/other.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import api_fn\n",
            "pkg/user.py": "from pkg.sub import thing\nimport pkg.sub.other\nfrom pkg.sub import other as o\n",
        },
    )
    assert _edges(g) == {
        ("pkg.core", "json"),
        ("pkg.core", "pkg.sub"),  # in a function; `from pkg import sub`: the package
        ("pkg.sub.leaf", "pkg"),  # relative; VERSION is defined by pkg/__init__ itself
        ("pkg.sub.leaf", "pkg.sub.other"),  # `from . import other`: the module
        ("pkg.sub.other", "typing"),
        ("pkg.sub.other", "pkg.core"),  # under TYPE_CHECKING; api_fn re-exported from core
        ("pkg.user", "pkg.sub.leaf"),  # thing re-exported by pkg.sub from leaf
        ("pkg.user", "pkg.sub.other"),
    }
    assert g.cycles() == []  # pkg/__init__ re-exports core, but that is not an edge of pkg


def test_graph_finds_a_cycle_made_only_of_imports_inside_functions(tmp_path: Path) -> None:
    g = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def f():\n    from pkg.b import g\n",
            "pkg/b.py": "def g():\n    from . import a\n",
            "pkg/c.py": "import pkg.a\n",
        },
    )
    assert g.cycles() == [frozenset({"pkg.a", "pkg.b"})]
