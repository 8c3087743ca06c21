"""A plugin installed the way users install one: a distribution (``*.dist-info`` with
``entry_points.txt``) that ``importlib.metadata`` finds on a child process's ``sys.path``."""

from __future__ import annotations

import os
from pathlib import Path


def install_plugin(root: Path, module: str, source: str, entries: dict[str, str], dist: str = "test-plugin") -> str:
    """Write ``<root>/<module>.py`` and a distribution ``dist`` whose ``otel_agents`` entry
    points are ``entries`` (name -> ``module:attribute``); returns ``root``, for PYTHONPATH."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[otel_agents]\n{lines}")
    return str(root)


def pythonpath(path: str) -> str:
    """``path`` first, then the current ``PYTHONPATH``: a child's PYTHONPATH with the plugin."""
    return os.pathsep.join(filter(None, [path, os.environ.get("PYTHONPATH")]))
