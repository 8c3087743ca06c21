"""Mapping problems (bad expression, missing target, ...): each logged once, clearly, and kept.

A problem in the mapping never stops the executor: the rule or field concerned is skipped
and one WARNING line names the rule, the field and the reason. ``problems()`` lists them
(tests, ``otel-agents run --check``).
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger("otel_agents.instrument")

_lock = threading.Lock()
_seen: set[str] = set()
_problems: list[str] = []


def problem(message: str, key: str | None = None) -> bool:
    """Log ``message`` once per ``key`` (default: the message). True if it was new."""
    key = key or message
    with _lock:
        if key in _seen:
            return False
        _seen.add(key)
        _problems.append(message)
    logger.warning("otel-agents instrument: %s", message)
    return True


def problems() -> list[str]:
    """Every problem reported in this process, in order."""
    with _lock:
        return list(_problems)


def reset() -> None:
    """Forget reported problems (tests)."""
    with _lock:
        _seen.clear()
        _problems.clear()
