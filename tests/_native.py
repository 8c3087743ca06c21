"""The native hook, built once per test session into a temporary directory.

Where no C compiler exists the tests that need it skip, except under ``CI=true``, where
they fail: CI must run them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from otel_agents.claude_code import native


def build_native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, message = native.build(tmp_path_factory.mktemp("native") / "otel-agents-hook")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the native hook must build under CI: {message}")
        pytest.skip(f"the native hook cannot be built here: {message}")
    return path
