"""Every distribution in the tree declares its licence the SPDX way, so installs print no
setuptools deprecation banner."""

from __future__ import annotations

from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
PYPROJECTS = [ROOT / "pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml"))]


@pytest.mark.parametrize("path", PYPROJECTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_license_is_an_spdx_string_built_by_setuptools_77(path):
    data = tomllib.loads(path.read_text())
    assert data["project"]["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in data["project"].get("classifiers", []))
    assert data["build-system"]["requires"] == ["setuptools>=77"]
    assert data["build-system"]["build-backend"] == "setuptools.build_meta"


def test_every_plugin_is_checked():
    assert {p.parent.name for p in PYPROJECTS[1:]} == {p.name for p in (ROOT / "plugins").iterdir() if p.is_dir()}
