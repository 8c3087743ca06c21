"""The import graph of a package, read from its import statements with ``ast``.

Every ``import`` / ``from ... import`` statement counts, wherever it is: at module level,
inside functions and methods, under ``if TYPE_CHECKING:`` and in ``try:`` blocks. Rules:

- ``import a.b.c`` is an edge to ``a.b.c`` (not to the parent packages it also runs: those
  would put every module in one cycle through ``a/__init__``);
- ``from pkg import name`` is an edge to ``pkg.name`` when that is a module; else, when
  ``pkg/__init__`` only re-exports ``name`` from a submodule, to that submodule (followed
  through further re-exports); else to ``pkg`` itself;
- relative imports are resolved against the importing module;
- a package's ``__init__`` counts only for the names it defines itself: its re-exports
  (imports whose names all appear in ``__all__``, or in a lazy ``_EXPORTS = {name: module}``
  table) are not edges of the ``__init__``.

Edges leaving the package keep only the top-level name (``opentelemetry``, ``json``).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    line: int
    in_function: bool

    def where(self, root: Path) -> str:
        return f"{self.src} -> {self.dst} ({_module_file(self.src, root).relative_to(root)}:{self.line})"


@dataclass
class Graph:
    package: str
    root: Path  # the directory that contains the package directory
    modules: dict[str, Path] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def internal(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {m: set() for m in self.modules}
        for e in self.edges:
            if e.dst in self.modules and e.dst != e.src:
                out[e.src].add(e.dst)
        return out

    def external(self, module: str) -> set[str]:
        return {e.dst for e in self.edges if e.src == module and e.dst not in self.modules}

    def edges_between(self, src: str, dst: str) -> list[Edge]:
        return [e for e in self.edges if e.src == src and e.dst == dst]

    def cycles(self) -> list[frozenset[str]]:
        """The strongly connected components of more than one module (and self-imports)."""
        return [c for c in _scc(self.internal()) if len(c) > 1]

    def closure(self, roots: set[str]) -> set[str]:
        """Every module of the package reachable from ``roots`` (roots included)."""
        adj, seen, todo = self.internal(), set(), list(roots)
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(adj[m])
        return seen


def _module_file(module: str, root: Path) -> Path:
    base = root.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def is_stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names or name == "__future__"


def build(root: Path, package: str) -> Graph:
    """The graph of ``package``, whose directory is ``root / package``."""
    g = Graph(package, root)
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        g.modules[".".join(parts)] = path
    trees = {m: ast.parse(p.read_text(encoding="utf-8"), str(p)) for m, p in g.modules.items()}
    reexports: dict[str, dict[str, tuple[str, str | None]]] = {}
    skip: set[int] = set()  # the re-exporting import statements: not edges of their __init__
    for m, t in trees.items():
        if g.modules[m].name == "__init__.py":
            reexports[m], nodes = _reexports(m, t, g)
            skip |= {id(n) for n in nodes}

    def target(pkg: str, name: str, seen: frozenset[tuple[str, str]] = frozenset()) -> str:
        if f"{pkg}.{name}" in g.modules:
            return f"{pkg}.{name}"
        src = reexports.get(pkg, {}).get(name)
        if src is None or (pkg, name) in seen:
            return pkg
        mod, orig = src
        if orig is not None and mod in reexports:  # re-exported again from a sub-package
            return target(mod, orig, seen | {(pkg, name)})
        return mod

    for mod, tree in trees.items():
        for node, in_fn in _imports(tree):
            if id(node) in skip:
                continue
            for dst in _destinations(mod, node, g, target):
                g.edges.append(Edge(mod, dst, node.lineno, in_fn))
    return g


def _imports(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    out: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def walk(node: ast.AST, in_fn: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child, in_fn))
            walk(child, in_fn or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    walk(tree, False)
    return out


def _absolute(mod: str, node: ast.ImportFrom, g: Graph) -> str:
    if not node.level:
        return node.module or ""
    is_pkg = g.modules[mod].name == "__init__.py"
    parts = mod.split(".")
    base = parts if is_pkg else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _destinations(
    mod: str, node: ast.Import | ast.ImportFrom, g: Graph, target: Callable[[str, str], str]
) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        return [n if n in g.modules else n.split(".")[0] for n in names]
    base = _absolute(mod, node, g)
    if base != g.package and not base.startswith(g.package + "."):
        return [base.split(".")[0]]
    if base not in g.modules:
        raise ValueError(f"{mod}: line {node.lineno} imports {base}, which is not a module of {g.package}")
    if g.modules[base].name != "__init__.py":
        return [base]
    return sorted({target(base, a.name) for a in node.names})


def _reexports(mod: str, tree: ast.Module, g: Graph) -> tuple[dict[str, tuple[str, str | None]], list[ast.ImportFrom]]:
    """What the ``__init__`` of ``mod`` re-exports, ``{name: (module, its name there or None
    when that module is the submodule itself)}``, and the import statements that only do that."""
    public: set[str] = set()
    lazy: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name == "__all__" and isinstance(node.value, (ast.List, ast.Tuple)):
                public |= {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
            if name == "_EXPORTS" and isinstance(node.value, ast.Dict):
                lazy = {
                    k.value: v.value
                    for k, v in zip(node.value.keys, node.value.values, strict=True)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
                }
    public |= set(lazy)
    out: dict[str, tuple[str, str | None]] = {name: (m, None) for name, m in lazy.items()}
    nodes: list[ast.ImportFrom] = []
    for node, _ in _imports(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        bound = [a.asname or a.name for a in node.names]
        if not bound or not set(bound) <= public:
            continue
        base = _absolute(mod, node, g)
        if not base.startswith(g.package):
            continue
        nodes.append(node)
        for a in node.names:
            sub = f"{base}.{a.name}"
            out[a.asname or a.name] = (sub, None) if sub in g.modules else (base, a.name)
    return out, nodes


def _scc(adj: dict[str, set[str]]) -> list[frozenset[str]]:
    """Tarjan's strongly connected components, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[frozenset[str]] = []
    counter = 0
    for start in sorted(adj):
        if start in index:
            continue
        work = [(start, iter(sorted(adj[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(adj[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = set()
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.add(w)
                        if w == v:
                            break
                    out.append(frozenset(comp))
    return out
