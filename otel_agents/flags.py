"""On/off values: the one truth table for every boolean setting and environment variable.

Standard library only, and nothing imported: the Claude Code hook path uses it.
``1``/``true``/``yes``/``on`` are on, ``0``/``false``/``no``/``off`` (and the empty string)
are off, whatever their case and surrounding spaces.
"""

from __future__ import annotations

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})


def to_bool(value: object) -> bool | None:
    """``value`` as on/off: a ``bool`` as it is, a string by the truth table, else ``None``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in TRUE:
            return True
        if v in FALSE:
            return False
    return None


def parse_bool(value: str | None, default: bool) -> bool:
    """An on/off variable's value: ``default`` when it is unset or not an on/off value."""
    b = to_bool(value)
    return default if b is None else b
