"""Failure isolation: count every failure, log it at most once a minute, never raise.

With ``OTEL_SDK_DISABLED=true`` failures are counted but never logged: disabled telemetry
prints nothing. Strict mode re-raises instead, so a test suite sees plugin and sink bugs. It is
on only with ``OTEL_AGENTS_STRICT=1`` (otel-agents' own test suite sets it); running under
pytest alone never turns it on, so an application's tests see the production behaviour.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from otel_agents import forksafe
from otel_agents.config import sdk_disabled
from otel_agents.flags import flag

logger = logging.getLogger("otel_agents")

LOG_INTERVAL_S = 60.0
STRICT_ENV = "OTEL_AGENTS_STRICT"

_lock = forksafe.Lock()
_counts: Counter[str] = Counter()
_last_logged: dict[str, float] = {}
_last_error: dict[str, str] = {}

F = TypeVar("F", bound=Callable[..., Any])


def strict_mode() -> bool:
    """True when failures should re-raise: ``OTEL_AGENTS_STRICT=1``. Off by default."""
    return flag(STRICT_ENV, False)


def report(where: str, exc: BaseException) -> None:
    """Count a failure in ``where`` and log it, rate-limited per ``where``.

    Re-raises ``exc`` in strict mode.
    """
    now = time.monotonic()
    with _lock:
        _counts[where] += 1
        _last_error[where] = f"{type(exc).__name__}: {exc}"[:500]
        last = _last_logged.get(where)
        should_log = last is None or now - last >= LOG_INTERVAL_S
        if should_log:
            _last_logged[where] = now
        count = _counts[where]
    if should_log and not sdk_disabled():
        logger.warning(
            "otel-agents: %s failed (%d so far; further failures logged at most once a minute): %s: %s",
            where,
            count,
            type(exc).__name__,
            exc,
        )
    if strict_mode():
        raise exc


def failure_counts() -> dict[str, int]:
    """How many failures each place has had in this process."""
    with _lock:
        return dict(_counts)


def last_errors() -> dict[str, str]:
    """The last error text of each place that failed."""
    with _lock:
        return dict(_last_error)


def reset() -> None:
    """Forget all counts (tests)."""
    with _lock:
        _counts.clear()
        _last_logged.clear()
        _last_error.clear()


def isolated(where: str, fn: F) -> F:
    """Wrap ``fn`` so an exception is reported instead of raised. Wrap once, call often."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - isolation is the point
            report(where, exc)
            return None

    wrapper.__otel_agents_isolated__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
