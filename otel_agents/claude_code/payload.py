"""Fields of a spooled hook payload: the ones the hook adds, and reading any field (it may
hold anything). Standard library only (the hook path imports it)."""

from __future__ import annotations

import math

# Not typing.TYPE_CHECKING: the hook path imports this module, and typing costs ~4 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Fields the hook adds to a spooled payload: a StopFailure's error category, and the
#: executor step a session was started under (``otel_agents.handoff``), at SessionStart.
ERROR_CATEGORY_FIELD = "error_category"
PARENT_FIELD = "otel_agents_parent"

#: How an item (turn, step, tool call) ended.
SUCCESS, FAILURE, ABANDONED = "success", "failure", "abandoned"


def text_field(value: Any) -> str | None:
    """A non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def number_field(value: Any) -> float | None:
    """A finite number >= 0 (a payload may carry anything: NaN, infinity, 10**40)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        v = float(value)
    except OverflowError:
        return None
    return v if math.isfinite(v) and v >= 0 else None


def content_field(value: Any) -> dict[str, Any] | None:
    """A spooled content record ``{"len", "sha256"[, "text"]}``, or ``None``."""
    if isinstance(value, dict) and isinstance(value.get("len"), int) and isinstance(value.get("sha256"), str):
        return value
    return None


def project_name(cwd: str) -> str | None:
    """The project a working directory names: its last path component (either separator)."""
    name = cwd.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name or None
