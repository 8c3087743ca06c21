"""The one truth table for on/off values: environment variables and ``config.toml`` alike.

``1``, ``true``, ``yes``, ``on`` are on; ``0``, ``false``, ``no``, ``off`` are off; case and
surrounding blanks do not matter. An empty or unset variable takes the default (as the
OpenTelemetry specification treats an empty variable: as unset); anything else takes the
default too, and ``flag`` says so once in the log.

Standard library only (``os``): the Claude Code hook path imports it.
"""

from __future__ import annotations

import os

# Not typing.TYPE_CHECKING: the hook path does not import typing.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})

_warned: set[tuple[str, str]] = set()


def to_bool(value: object) -> bool | None:
    """``value`` by the truth table: a ``bool`` as it is, a string ``True``/``False``, or
    ``None`` when it is neither (empty included)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in TRUE:
            return True
        if v in FALSE:
            return False
    return None


def parse_bool(value: object, default: bool | None = None) -> bool | None:
    """``value`` by the truth table; ``default`` when it is unset, empty or not an on/off value."""
    b = to_bool(value)
    return default if b is None else b


def flag(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """The on/off environment variable ``name`` (``environ``: a mapping, default ``os.environ``).

    Unset or empty: ``default``. A value outside the truth table: ``default``, and one
    warning per variable and value on the ``otel_agents.config`` logger.
    """
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or not raw.strip():
        return default
    value = to_bool(raw)
    if value is not None:
        return value
    if (name, raw) not in _warned:
        _warned.add((name, raw))
        import logging  # only here: the hook path does not pay for it

        logging.getLogger("otel_agents.config").warning(
            "otel-agents: %s=%r is not an on/off value (1/0, true/false, yes/no, on/off); using %s",
            name,
            raw,
            "on" if default else "off",
        )
    return default
