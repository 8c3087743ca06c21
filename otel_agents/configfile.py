"""Where the data home is and how ``config.toml`` is read: shared by ``config`` and the hook.

Standard library only, and nothing heavy at import (``tomllib`` is imported when a file is
parsed): the Claude Code hook path uses it. Claude Code strips ``OTEL_*`` from hook
processes, so ``OTEL_AGENTS_HOME`` may not reach a hook: the hook passes its project
directory to ``resolve_home`` and reads its settings from the home's ``config.toml``.
On/off values follow ``otel_agents.flags``.
"""

from __future__ import annotations

import os
import sys

HOME_ENV = "OTEL_AGENTS_HOME"
DEFAULT_HOME = ".otel-agents"
CONFIG_FILE = "config.toml"


def resolve_home(project_dir: str | os.PathLike[str] | None = None) -> str:
    """The data home: ``$OTEL_AGENTS_HOME``, else ``.otel-agents`` under ``project_dir``,
    else under the working directory."""
    env = os.environ.get(HOME_ENV)
    if env:
        return env
    return os.path.join(os.fspath(project_dir) if project_dir else os.getcwd(), DEFAULT_HOME)


def config_path(home: str | os.PathLike[str]) -> str:
    """The home's ``config.toml``."""
    return os.path.join(os.fspath(home), CONFIG_FILE)


def read_toml(path: str | os.PathLike[str]) -> tuple[dict[str, object], str | None]:
    """The parsed file (empty if missing or unreadable) and the problem, if any (never raises)."""
    try:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        with open(path, "rb") as f:
            return tomllib.load(f), None
    except FileNotFoundError:
        return {}, None
    except Exception as exc:  # noqa: BLE001 - bad config must not break anything
        return {}, f"{os.fspath(path)}: cannot read it ({type(exc).__name__}: {exc}); using the defaults for all of it"


def lookup(raw: dict[str, object], name: str) -> object:
    """A dotted setting's value in a parsed file: ``[a] b = ...`` or ``"a.b" = ...``; ``None``
    when it is not set."""
    node: object = raw
    for part in name.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None and "." in name:
        node = raw.get(name)
    return node
