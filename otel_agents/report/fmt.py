"""Number formatting shared by the report renderers.

:func:`usd`, :func:`pct`, :func:`sec` and :func:`num` return :class:`Num` strings: a column
of them is right-aligned, every other column (names, ids, outcomes) left-aligned, whatever
its text looks like.
"""

from __future__ import annotations

from typing import Any

#: Days of the daily series shown in text (the JSON has all of them).
TEXT_DAYS = 14
DASH = "-"


class Num(str):
    """A formatted number: right-aligned in a table."""


def usd(x: float | None) -> str:
    if x is None:
        return DASH
    return Num(f"${x:,.2f}" if abs(x) >= 100 else f"${x:,.4f}")


def money(x: float | None, unpriced: int = 0, *, label: str = "unpriced") -> str:
    """A cost that may leave calls out: ``$0.0261``, ``$0.0261 + 5 unpriced``, or ``-`` when
    every call beneath is unpriced (never $0)."""
    if not unpriced:
        return usd(x)
    if x is None:
        return DASH
    return Num(f"{usd(x)} + {unpriced:,} {label}")


def total_cost(x: float | None, unpriced: int) -> str:
    """A total for a sentence or card: ``$0.0261``, ``$0.0261 + 5 unpriced calls``, ``unknown
    (5 unpriced calls)``."""
    calls = plural(unpriced, "unpriced call")
    if not unpriced:
        return usd(x)
    return f"unknown ({calls})" if x is None else f"{usd(x)} + {calls}"


def saved(m: dict[str, Any]) -> str:
    """A model's cache savings: ``-`` when it used no cache, ``unpriced`` when it has no price."""
    if not m["cache_read_tokens"] and not m["cache_write_tokens"]:
        return DASH
    return "unpriced" if m["savings_usd"] is None else usd(m["savings_usd"])


def pct(x: float | None) -> str:
    return DASH if x is None else Num(f"{100 * x:.1f}%")


def sec(x: float | None) -> str:
    if x is None:
        return DASH
    return Num(f"{x:,.1f}s" if abs(x) >= 100 else f"{x:.3f}s")


def num(x: Any) -> str:
    if x is None:
        return DASH
    if isinstance(x, float):
        return Num(f"{x:,.2f}")
    return Num(f"{x:,}") if isinstance(x, int) else str(x)


def plural(n: int | None, word: str, words: str | None = None) -> str:
    """``1 workflow``, ``2 workflows``, ``1,000 model calls`` (``words``: an irregular plural)."""
    if n is None:
        return f"- {words or word + 's'}"
    return f"{n:,} {word if n == 1 else (words or word + 's')}"
