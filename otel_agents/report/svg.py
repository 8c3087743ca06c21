"""Inline SVG charts for the HTML report: plain strings, no scripts, nothing fetched."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

PALETTE = ("#3b6fb6", "#e07b39", "#4c9f70", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")
FAILED = "#c44e52"
#: The cost chart spreads its bars over at least this many day slots, each bar at most MAX_BAR px.
MIN_DAY_SLOTS = 14
MAX_BAR = 40
FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:12px"


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" style="{FONT}">' + "".join(body) + "</svg>"
    )


def ticks(value: float, most: int = 5) -> list[float]:
    """Round axis ticks from 0 to at or above ``value``: steps of 1, 2 or 5 times a power of
    ten, at most ``most`` steps (``ticks(1.3) == [0, 0.5, 1.0, 1.5]``)."""
    if value <= 0:
        return [0.0, 1.0]
    raw = value / most
    exp = 10 ** math.floor(math.log10(raw))
    step = next(m * exp for m in (1, 2, 5, 10) if m * exp >= raw - 1e-12 * exp)
    n = math.ceil(value / step - 1e-9)
    return [round(k * step, 12) for k in range(n + 1)]


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def duration(seconds: float) -> str:
    """An axis label for a duration, in a unit that fits: ``250 ms``, ``1.5 s``, ``2 min``."""
    if seconds == 0:
        return "0"
    if abs(seconds) < 1:
        return f"{_trim(f'{seconds * 1000:.3f}')} ms"
    if abs(seconds) < 120:
        return f"{_trim(f'{seconds:.3f}')} s"
    return f"{_trim(f'{seconds / 60:.2f}')} min"


def money(value: float) -> str:
    """An axis or bar label in dollars with the digits the value needs: ``$0.005``, ``$1.5``."""
    if value == 0:
        return "$0"
    if abs(value) >= 100:
        return f"${value:,.0f}"
    digits = max(2, 1 - math.floor(math.log10(abs(value))) + 1)
    return "$" + _trim(f"{value:.{min(digits, 8)}f}")


def hbars(
    items: Sequence[tuple[str, float]],
    fmt: Callable[[float], str],
    *,
    title: str,
    width: int = 560,
    colour: str = PALETTE[0],
    notes: Sequence[str] | None = None,
) -> str:
    """Horizontal bars, one per (label, value), largest scale at the widest bar; ``notes``
    replaces the value printed after each bar (an unknown cost: ``-``, ``$0.02 + 3 unpriced``)."""
    if not items:
        return '<p class="empty">no data</p>'
    label_w, bar_h, gap = 150, 18, 6
    top = max(v for _l, v in items) or 1.0
    texts = list(notes) if notes is not None else [fmt(v) for _l, v in items]
    plot = width - label_w - max(90, 7 * max(len(t) for t in texts) + 10)  # room for the longest value
    height = len(items) * (bar_h + gap) + 8
    body = []
    for i, (label, value) in enumerate(items):
        y = 4 + i * (bar_h + gap)
        w = max(0.0, plot * value / top)
        body.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(label[:24])}</text>')
        body.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}" rx="2"/>')
        body.append(f'<text x="{label_w + w + 5:.1f}" y="{y + 13}">{escape(texts[i])}</text>')
    return _svg(width, height, body, title)


def stacked_hbars(items: Sequence[tuple[str, float, float]], *, title: str, width: int = 560) -> str:
    """Horizontal bars of (label, ok, failed) counts, failed part in red."""
    if not items:
        return '<p class="empty">no data</p>'
    label_w, bar_h, gap = 110, 18, 6
    top = max(ok + bad for _l, ok, bad in items) or 1.0
    plot = width - label_w - 170
    height = len(items) * (bar_h + gap) + 30
    body = []
    for i, (label, ok, bad) in enumerate(items):
        y = 4 + i * (bar_h + gap)
        w_ok, w_bad = plot * ok / top, plot * bad / top
        body.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(label[:18])}</text>')
        body.append(f'<rect x="{label_w}" y="{y}" width="{w_ok:.1f}" height="{bar_h}" fill="{PALETTE[0]}"/>')
        body.append(f'<rect x="{label_w + w_ok:.1f}" y="{y}" width="{w_bad:.1f}" height="{bar_h}" fill="{FAILED}"/>')
        rate = f" ({100 * bad / (ok + bad):.1f}% failed)" if ok + bad else ""
        body.append(f'<text x="{label_w + w_ok + w_bad + 5:.1f}" y="{y + 13}">{int(ok + bad):,}{rate}</text>')
    y = height - 10
    body.append(
        f'<rect x="{label_w}" y="{y - 9}" width="10" height="10" fill="{PALETTE[0]}"/>'
        f'<text x="{label_w + 14}" y="{y}">succeeded</text>'
        f'<rect x="{label_w + 90}" y="{y - 9}" width="10" height="10" fill="{FAILED}"/>'
        f'<text x="{label_w + 104}" y="{y}">failed</text>'
    )
    return _svg(width, height, body, title)


def daily_chart(
    days: Sequence[str],
    values: Sequence[float],
    average: Sequence[float],
    *,
    title: str,
    width: int = 1160,
    height: int = 260,
) -> str:
    """Daily bars with a moving-average line."""
    if not days:
        return '<p class="empty">no data</p>'
    left, right, top_pad, bottom = 70, 20, 14, 40
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    grid = ticks(max(max(values), max(average)), 4)
    top = grid[-1]
    step = plot_w / max(len(days), MIN_DAY_SLOTS)  # a few days do not fill the width with one bar
    bar = max(1.0, min(step * 0.7, MAX_BAR))
    body = []
    for v in grid:  # horizontal grid with labels at round values
        y = top_pad + plot_h - plot_h * v / top
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{money(v)}</text>')
    for i, v in enumerate(values):
        h = plot_h * v / top
        x = left + i * step + (step - bar) / 2
        body.append(
            f'<rect x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[0]}" opacity="0.75"><title>{escape(days[i])}: {money(v)}</title></rect>'
        )
    points = " ".join(
        f"{left + (i + 0.5) * step:.1f},{top_pad + plot_h - plot_h * a / top:.1f}" for i, a in enumerate(average)
    )
    body.append(f'<polyline points="{points}" fill="none" stroke="{PALETTE[1]}" stroke-width="2.5"/>')
    every = max(1, len(days) // 10)
    for i in range(0, len(days), every):
        body.append(
            f'<text x="{left + (i + 0.5) * step:.1f}" y="{height - bottom + 16}" '
            f'text-anchor="middle">{escape(days[i][5:])}</text>'
        )
    body.append(
        f'<rect x="{left}" y="{height - 14}" width="10" height="10" fill="{PALETTE[0]}" opacity="0.75"/>'
        f'<text x="{left + 14}" y="{height - 5}">cost per day</text>'
        f'<line x1="{left + 110}" y1="{height - 9}" x2="{left + 130}" y2="{height - 9}" stroke="{PALETTE[1]}" '
        f'stroke-width="2.5"/><text x="{left + 134}" y="{height - 5}">7-day moving average</text>'
    )
    return _svg(width, height, body, title)


def latency_chart(rows: Sequence[dict[str, Any]], *, title: str, width: int = 1160) -> str:
    """Per group: a line from min to max, a box from p50 to p95, a tick at p99, a dot at the mean."""
    rows = [r for r in rows if r.get("p50") is not None]
    if not rows:
        return '<p class="empty">no data</p>'
    label_w, row_h, right = 150, 30, 30
    plot = width - label_w - right
    grid = ticks(max(r["max"] for r in rows), 5)
    top = grid[-1]
    height = len(rows) * row_h + 50

    def x(v: float) -> float:
        return label_w + plot * v / top

    body = []
    for v in grid:  # vertical grid at round durations, in a unit that fits
        body.append(
            f'<line x1="{x(v):.1f}" y1="4" x2="{x(v):.1f}" y2="{height - 40}" stroke="#eee"/>'
            f'<text x="{x(v):.1f}" y="{height - 26}" text-anchor="middle">{escape(duration(v))}</text>'
        )
    for i, r in enumerate(rows):
        y = 8 + i * row_h
        mid = y + 9
        tip = (
            f"{r['label']}: p50 {duration(r['p50'])}, p95 {duration(r['p95'])}, p99 {duration(r['p99'])}, "
            f"mean {duration(r['mean'])}, max {duration(r['max'])}, n={r['count']}"
        )
        body.append(f"<g><title>{escape(tip)}</title>")
        body.append(f'<text x="{label_w - 8}" y="{mid + 4}" text-anchor="end">{escape(r["label"][:24])}</text>')
        body.append(f'<line x1="{x(r["min"]):.1f}" y1="{mid}" x2="{x(r["max"]):.1f}" y2="{mid}" stroke="#888"/>')
        body.append(
            f'<rect x="{x(r["p50"]):.1f}" y="{y}" width="{max(1.5, x(r["p95"]) - x(r["p50"])):.1f}" '
            f'height="18" fill="{PALETTE[0]}" opacity="0.8"/>'
        )
        body.append(
            f'<line x1="{x(r["p99"]):.1f}" y1="{y}" x2="{x(r["p99"]):.1f}" y2="{y + 18}" stroke="{FAILED}" '
            'stroke-width="2.5"/>'
        )
        body.append(f'<circle cx="{x(r["mean"]):.1f}" cy="{mid}" r="3.5" fill="{PALETTE[1]}"/></g>')
    ly = height - 8
    body.append(
        f'<line x1="{label_w}" y1="{ly - 4}" x2="{label_w + 20}" y2="{ly - 4}" stroke="#888"/>'
        f'<text x="{label_w + 24}" y="{ly}">min to max</text>'
        f'<rect x="{label_w + 110}" y="{ly - 10}" width="14" height="10" fill="{PALETTE[0]}" opacity="0.8"/>'
        f'<text x="{label_w + 128}" y="{ly}">p50 to p95</text>'
        f'<line x1="{label_w + 215}" y1="{ly - 10}" x2="{label_w + 215}" y2="{ly}" stroke="{FAILED}" '
        f'stroke-width="2.5"/><text x="{label_w + 221}" y="{ly}">p99</text>'
        f'<circle cx="{label_w + 265}" cy="{ly - 4}" r="3.5" fill="{PALETTE[1]}"/>'
        f'<text x="{label_w + 272}" y="{ly}">mean</text>'
    )
    return _svg(width, height, body, title)
