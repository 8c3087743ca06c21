"""The instrumentation mapping: which callables are which lifecycle events, read from config.

Sources, all merged (a target mapped twice to the same event keeps the first):

1. the TOML file named by ``OTEL_AGENTS_INSTRUMENT_FILE`` (``otel-agents run --config``);
2. ``[instrument]`` in ``.otel-agents/config.toml`` (the data home's config);
3. ``[tool.otel-agents.instrument]`` in the nearest ``pyproject.toml`` from the current
   directory up.

Shape (in ``pyproject.toml``; in ``config.toml`` drop the ``tool.otel-agents.`` prefix)::

    [[tool.otel-agents.instrument.step]]
    target = "my_executor.agents:Agent.run"     # package.module:Class.method or :function
    name = "self.name"                          # expressions: see otel_agents.instrument.expr
    agent = "self.name"
    attempt = "args.attempt"
    outcome = "'success' if result.ok else 'failure'"   # end-of-call: may read ``result``

String values are expressions (a literal string is quoted inside: ``template = "'sdlc'"``);
numbers and booleans are literals. The file is data: nothing in it is ever executed.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_agents.instrument.expr import Expr, ExprError, compile_expr
from otel_agents.instrument.problems import problem

FILE_ENV = "OTEL_AGENTS_INSTRUMENT_FILE"
#: Comma-separated recipe names (``otel-agents run --recipe NAME``), besides ``recipes = [...]``.
RECIPES_ENV = "OTEL_AGENTS_INSTRUMENT_RECIPES"
RECIPES_DIR = Path(__file__).parent / "recipes"

#: Lifecycle events a callable can be mapped to, outermost first.
EVENTS: tuple[str, ...] = ("workflow", "phase", "step", "tool_call", "model_usage")

START, END = "start", "end"

#: event -> field -> (type, when it is evaluated). ``end`` fields may read ``result``.
FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    "workflow": {
        "name": ("str", START),
        "workflow_id": ("str", START),
        "template": ("str", START),
        "issue_id": ("str", START),
        "task_id": ("str", START),
        "session_id": ("str", START),
        "model": ("str", START),
        "complexity": ("str", START),
        "attempts": ("int", END),
    },
    "phase": {"name": ("str", START), "number": ("int", START)},
    "step": {
        "name": ("str", START),
        "agent": ("str", START),
        "skill": ("str", START),
        "command": ("str", START),
        "attempt": ("int", START),
        "model": ("str", START),
        "task_id": ("str", START),
    },
    "tool_call": {
        "name": ("str", START),
        "call_id": ("str", START),
        "arguments": ("any", START),
        "tool_type": ("str", START),
        "result": ("any", END),
    },
    "model_usage": {
        "model": ("str", END),
        "provider": ("str", END),
        "input_tokens": ("int", END),
        "output_tokens": ("int", END),
        "cache_read_tokens": ("int", END),
        "cache_write_tokens": ("int", END),
        "cache_write_1h_tokens": ("int", END),
        "reasoning_tokens": ("int", END),
        "cost": ("float", END),
        "response_model": ("str", END),
        "response_id": ("str", END),
    },
}
#: Fields every span-shaped event (not model_usage) also has.
SPAN_FIELDS: dict[str, tuple[str, str]] = {
    "when": ("bool", START),
    "outcome": ("outcome", END),
    "error": ("str", END),
}
USAGE_COMMON: dict[str, tuple[str, str]] = {"when": ("bool", END)}

_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def fields_of(event: str) -> dict[str, tuple[str, str]]:
    """Every field an event's rule may set: name -> (type, start|end)."""
    common = USAGE_COMMON if event == "model_usage" else SPAN_FIELDS
    return {**FIELDS[event], **common}


@dataclass(frozen=True, slots=True)
class Target:
    """An importable callable: ``module`` and the dotted ``qualname`` inside it."""

    module: str
    qualname: str

    @property
    def spec(self) -> str:
        return f"{self.module}:{self.qualname}"

    @classmethod
    def parse(cls, text: Any) -> Target:
        if not isinstance(text, str) or not _TARGET.match(text.strip()):
            raise ValueError(
                f"target must look like 'package.module:Class.method' or 'package.module:function', got {text!r}"
            )
        module, qualname = text.strip().split(":", 1)
        return cls(module, qualname)


@dataclass(slots=True)
class Value:
    """A field's value: a checked expression, or a literal from the TOML file."""

    expr: Expr | None = None
    literal: Any = None

    @property
    def reads_result(self) -> bool:
        return self.expr is not None and "result" in self.expr.names

    @property
    def source(self) -> str:
        return self.expr.source if self.expr is not None else repr(self.literal)


@dataclass(slots=True)
class Rule:
    """One mapping entry: ``target`` is a ``event``; how to read its fields."""

    event: str
    target: Target
    fields: dict[str, Value] = field(default_factory=dict)
    attributes: dict[str, Value] = field(default_factory=dict)
    origin: str = ""

    def describe(self) -> str:
        return f"{self.event} rule for {self.target.spec}" + (f" ({self.origin})" if self.origin else "")


@dataclass(slots=True)
class Mapping:
    """Every rule, from every source; ``problems`` found while reading them."""

    rules: list[Rule] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    enabled: bool = True

    def by_target(self) -> dict[Target, list[Rule]]:
        """Rules grouped by target, outermost event first."""
        out: dict[Target, list[Rule]] = {}
        for rule in self.rules:
            out.setdefault(rule.target, []).append(rule)
        for rules in out.values():
            rules.sort(key=lambda r: EVENTS.index(r.event))
        return out

    def __bool__(self) -> bool:
        return self.enabled and bool(self.rules)


def _value(rule: Rule, name: str, raw: Any, when: str) -> Value | None:
    where = f"{rule.describe()}: field {name!r}"
    if isinstance(raw, str):
        try:
            expr = compile_expr(raw)
        except ExprError as exc:
            problem(f"{where}: expression {raw!r} rejected ({exc}); field ignored")
            return None
        value = Value(expr=expr)
        if when == START and value.reads_result:
            problem(f"{where}: is read when the call starts, so it cannot use 'result' ({raw!r}); field ignored")
            return None
        return value
    if isinstance(raw, (bool, int, float)):
        return Value(literal=raw)
    problem(f"{where}: must be an expression string or a number/boolean, got {raw!r}; field ignored")
    return None


def _rule(event: str, table: Any, origin: str) -> Rule | None:
    if not isinstance(table, dict):
        problem(f"{origin}: each {event} entry must be a table with a 'target', got {table!r}; ignored")
        return None
    try:
        target = Target.parse(table.get("target"))
    except ValueError as exc:
        problem(f"{origin}: {event} entry: {exc}; entry ignored")
        return None
    rule = Rule(event, target, origin=origin)
    known = fields_of(event)
    for key, raw in table.items():
        if key == "target":
            continue
        if key == "attributes":
            if not isinstance(raw, dict):
                problem(f"{rule.describe()}: 'attributes' must be a table of name = expression; ignored")
                continue
            for attr, attr_raw in raw.items():
                value = _value(rule, f"attributes.{attr}", attr_raw, END)
                if value is not None:
                    rule.attributes[str(attr)] = value
            continue
        spec = known.get(key)
        if spec is None:
            problem(f"{rule.describe()}: unknown field {key!r} ignored (known: {', '.join(sorted(known))}, attributes)")
            continue
        value = _value(rule, key, raw, spec[1])
        if value is not None:
            rule.fields[key] = value
    if event == "model_usage" and "model" not in rule.fields:
        problem(f"{rule.describe()}: needs a 'model' field; rule ignored")
        return None
    return rule


def parse_section(section: Any, origin: str) -> tuple[list[Rule], bool]:
    """Rules of one ``instrument`` section, and its ``enabled`` flag."""
    if not isinstance(section, dict):
        problem(f"{origin}: must be a table; ignored")
        return [], True
    rules: list[Rule] = []
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        problem(f"{origin}: 'enabled' must be true or false, got {enabled!r}; using true")
        enabled = True
    for key, entries in section.items():
        if key in ("enabled", "recipes"):
            continue
        if key not in EVENTS:
            problem(f"{origin}: unknown key {key!r} ignored (events: {', '.join(EVENTS)})")
            continue
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list):
            problem(f"{origin}: {key} must be a list of tables ([[...{key}]]); ignored")
            continue
        for i, table in enumerate(entries, start=1):
            rule = _rule(key, table, f"{origin} {key} #{i}")
            if rule is not None:
                rules.append(rule)
    return rules, enabled


def _read_toml(path: Path) -> dict[str, Any] | None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            data: dict[str, Any] = tomllib.load(f)
            return data
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a bad file must not break the executor
        problem(f"cannot read {path} ({exc}); its mapping is ignored")
        return None


def find_pyproject(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` from ``start`` (default: the cwd) upwards."""
    here = Path(start or os.getcwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _tool_section(data: dict[str, Any]) -> Any:
    tool = data.get("tool")
    if isinstance(tool, dict):
        ours = tool.get("otel-agents")
        if isinstance(ours, dict):
            return ours.get("instrument")
    return None


def load_mapping(
    cwd: str | os.PathLike[str] | None = None,
    *,
    environ: dict[str, str] | None = None,
    use_config: bool = True,
) -> Mapping:
    """Read and merge the mapping from every source (see the module docstring)."""
    env = os.environ if environ is None else environ
    mapping = Mapping()
    sections: list[tuple[Any, str]] = []
    explicit = env.get(FILE_ENV)
    if explicit:
        path = Path(explicit)
        data = _read_toml(path)
        if data is None:
            problem(f"{FILE_ENV}={explicit}: file not found or unreadable; no mapping from it")
        else:
            section = data.get("instrument", _tool_section(data))
            if section is None:
                problem(f"{path}: has no [instrument] or [tool.otel-agents.instrument] table")
            else:
                sections.append((section, str(path)))
    if use_config:
        from otel_agents.config import CONFIG_FILE, load_config, resolve_home

        raw = load_config(environ=env).raw
        if "instrument" in raw:
            sections.append((raw["instrument"], str(resolve_home(cwd) / CONFIG_FILE) + " [instrument]"))
    pyproject = find_pyproject(cwd)
    if pyproject is not None:
        data = _read_toml(pyproject)
        section = _tool_section(data or {})
        if section is not None:
            sections.append((section, f"{pyproject} [tool.otel-agents.instrument]"))
    recipes = [n.strip() for n in env.get(RECIPES_ENV, "").split(",") if n.strip()]
    for section, origin in list(sections):
        names = section.get("recipes", []) if isinstance(section, dict) else []
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            problem(f"{origin}: 'recipes' must be a list of recipe names, got {names!r}; ignored")
            continue
        recipes.extend(n for n in names if n not in recipes)
    for name in dict.fromkeys(recipes):
        recipe = load_recipe(name)
        if recipe is not None:
            sections.append(recipe)
    seen: set[tuple[str, Target]] = set()
    for section, origin in sections:
        rules, enabled = parse_section(section, origin)
        mapping.sources.append(origin)
        if not enabled:
            mapping.enabled = False
        for rule in rules:
            key = (rule.event, rule.target)
            if key in seen:
                if origin.startswith("recipe "):
                    continue  # the program's own rule for this target wins, silently
                problem(
                    f"{rule.describe()}: {rule.target.spec} is already mapped to {rule.event}; this entry is ignored"
                )
                continue
            seen.add(key)
            mapping.rules.append(rule)
    return mapping


def recipe_names() -> list[str]:
    """The recipes shipped with otel-agents (``recipes = [...]``, ``otel-agents run --recipe``)."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def load_recipe(name: str) -> tuple[Any, str] | None:
    """A shipped recipe's ``instrument`` section and its origin; None (reported) if it cannot apply.

    A recipe names the package it maps and the version it was tested on: with another
    version installed it is applied all the same, with a warning (a rule that then never
    fires is reported at exit).
    """
    from importlib import metadata

    path = RECIPES_DIR / f"{name}.toml"
    data = _read_toml(path) if name in recipe_names() else None
    if data is None:
        problem(f"no recipe named {name!r} (recipes: {', '.join(recipe_names())}); ignored")
        return None
    meta = data.get("recipe", {})
    package, tested = meta.get("package"), meta.get("tested", [])
    versions = [tested] if isinstance(tested, str) else list(tested)
    try:
        installed = metadata.version(package)
    except metadata.PackageNotFoundError:
        problem(f"recipe {name!r}: {package} is not installed; recipe ignored")
        return None
    if installed not in versions:
        problem(
            f"recipe {name!r} was tested on {package} {', '.join(versions)}; {installed} is installed: "
            "it is applied, and any of its rules that never fires is reported at exit"
        )
    return data["instrument"], f"recipe {name} ({package} {installed})"
