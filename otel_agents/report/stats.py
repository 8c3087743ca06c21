"""Small statistics: the percentile method, moving averages, percent changes, rounding.

**Percentiles use linear interpolation between closest ranks** (Hyndman & Fan type 7; the
default of NumPy and spreadsheets, DuckDB's ``quantile_cont``): for the ``n`` values sorted
ascending, ``h = (n - 1) * q``, and the ``q`` percentile is
``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])`` (0-based). With one value,
every percentile is that value. :func:`percentile` is the reference implementation; the
queries use ``quantile_cont``, which computes the same, and the tests pin both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

#: The fewest runs (and attempts, calls) a judgement is made on: a recommendation, the best model.
MIN_SAMPLE = 3
#: The percentiles the report shows.
QUANTILES = (0.5, 0.95, 0.99)
PERCENTILE_METHOD = "linear interpolation between closest ranks (type 7: h = (n-1)q)"


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation; None when empty."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def secs(x: Any) -> float | None:
    """Seconds, rounded to the microsecond."""
    return None if x is None else round(float(x), 6)


def usd(x: Any) -> float | None:
    """US dollars, rounded to 1e-8."""
    return None if x is None else round(float(x), 8)


def ratio(n: Any, d: Any) -> float | None:
    """``n / d`` rounded to 6 decimals; None when ``d`` is 0 or None."""
    if not d or n is None:
        return None
    return round(float(n) / float(d), 6)


def pct_change(new: float | None, old: float | None) -> float | None:
    """Percent change from ``old`` to ``new``, 2 decimals; None when ``old`` is 0 or None."""
    if new is None or not old:
        return None
    return round(100.0 * (new - old) / old, 2)


def moving_average(values: Sequence[float], window: int = 7) -> list[float]:
    """Trailing mean over ``window`` points (fewer at the start: the points there are)."""
    out = []
    total = 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def stat_columns(col: str) -> str:
    """SQL aggregate columns of a duration column: n, mean, quantiles q (list), min, max, total."""
    qs = ", ".join(str(q) for q in QUANTILES)
    return (
        f"count({col}) AS n, avg({col}) AS mean, quantile_cont({col}, [{qs}]) AS q, "
        f"min({col}) AS min, max({col}) AS max, sum({col}) AS total"
    )


def stat_dict(row: dict[str, Any]) -> dict[str, Any]:
    """The latency statistics of a row made with :func:`stat_columns`."""
    q = row.get("q") or [None, None, None]
    return {
        "count": int(row.get("n") or 0),
        "mean": secs(row.get("mean")),
        "p50": secs(q[0]),
        "p95": secs(q[1]),
        "p99": secs(q[2]),
        "min": secs(row.get("min")),
        "max": secs(row.get("max")),
        "total_seconds": secs(row.get("total")),
    }


def rows(con: Any, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Run a query; rows as dicts."""
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def one(con: Any, sql: str, params: Sequence[Any] = ()) -> dict[str, Any]:
    """The first row of a query as a dict (empty dict when none)."""
    found = rows(con, sql, params)
    return found[0] if found else {}
