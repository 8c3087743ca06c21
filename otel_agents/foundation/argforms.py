"""The normalised form of a tool call's arguments: the file types it touched (``*.py``).

The report's patterns (``otel_agents.report.patterns``) tell ``Edit(*.py)`` from
``Edit(*.md)`` by it, so that ``Edit a.py`` and ``Edit b.py`` are one pattern. Only the
extensions are kept, never a path or a file name. They are read from the captured arguments
(``gen_ai.tool.call.arguments``, a JSON object: content capture on): the path-like keys of
:data:`FILE_KEYS` (a string or a list of strings), a ``Glob`` tool's ``pattern``, and the files
an ``apply_patch`` patch adds, updates or deletes.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: The argument keys holding a file path (or a list of them, or a glob such as ``**/*.py``).
FILE_KEYS = frozenset(
    {"file_path", "path", "paths", "notebook_path", "absolute_path", "filename", "file", "files", "glob"}
)
#: At most this many file types per call (the first, sorted): a key stays short.
MAX_TYPES = 8
_EXT = re.compile(r"\.([A-Za-z0-9_+-]{1,12})$")
_PATCH_FILE = re.compile(r"^\*\*\* (?:Add|Update|Delete) File: (.+)$", re.M)


def _extension(path: str) -> str | None:
    name = path.rstrip("/").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    found = _EXT.search(name)
    if found is None or found.start() == 0:  # no extension, or a dot file (.env)
        return None
    return "*." + found.group(1).lower()


def _paths(args: dict[str, Any], keys: frozenset[str]) -> list[str]:
    out: list[str] = []
    for key, value in args.items():
        if key in keys:
            values = value if isinstance(value, list) else [value]
            out.extend(v for v in values if isinstance(v, str))
        elif isinstance(value, str) and "*** " in value:  # an apply_patch patch (Codex)
            out.extend(m.strip() for m in _PATCH_FILE.findall(value))
    return out


def file_types(arguments: str | None, tool: str | None = None) -> str | None:
    """The sorted, space-separated file types (``*.md *.py``) that the captured JSON arguments
    of a call to ``tool`` name, or None (no arguments captured, not a JSON object, or no file
    with an extension)."""
    if not arguments or not arguments.lstrip().startswith("{"):
        return None
    try:
        args = json.loads(arguments)
    except (ValueError, RecursionError):
        return None
    if not isinstance(args, dict):
        return None
    keys = FILE_KEYS | {"pattern"} if tool == "Glob" else FILE_KEYS  # Grep's pattern is a regex
    types = sorted({t for t in map(_extension, _paths(args, keys)) if t})
    return " ".join(types[:MAX_TYPES]) or None
