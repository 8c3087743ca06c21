"""The tables the text and HTML reports both show: each one's title, headers and row function,
defined once. The renderers keep only their own layout (text columns, HTML markup)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from otel_agents.report.fmt import DASH, money, num, pct, plural, sec, usd

Row = list[Any]


@dataclass(frozen=True)
class Table:
    """A titled table: ``row`` turns one item of the report into its cells."""

    title: str
    headers: tuple[str, ...]
    row: Callable[[dict[str, Any]], Row]

    def rows(self, items: Sequence[dict[str, Any]]) -> list[Row]:
        return [self.row(i) for i in items]


def stats_rows(items: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[Row]:
    """Latency rows: the ``keys`` columns, then count, mean, p50, p95, p99 and max."""
    return [
        [*(i[k] for k in keys), num(i["count"]), *(sec(i[s]) for s in ("mean", "p50", "p95", "p99", "max"))]
        for i in items
    ]


def category_rows(categories: Sequence[dict[str, Any]]) -> list[Row]:
    """Error categories that have errors or span failures."""
    return [
        [
            c["category"],
            num(c["count"]),
            pct(c["share"]),
            num(c["failed_step_attempts"]),
            num(c["failed_tool_calls"]),
            ", ".join(c["phases"][:3]),
            c["top_error_type"],
        ]
        for c in categories
        if c["count"] or c["failed_step_attempts"] or c["failed_tool_calls"]
    ]


def model_row(m: dict[str, Any]) -> Row:
    """A model's own calls and the step attempts they served."""
    return [
        m["model"],
        num(m["model_calls"]),
        num(m["failed_calls"]),
        num(m["step_attempts"]),
        pct(m["success_rate"]),
        money(m["cost_usd"], m["unpriced_model_calls"]),
        usd(m["cost_per_call_usd"]),
        sec(m["mean_call_seconds"]),
    ]


def model_complexity_row(m: dict[str, Any]) -> Row:
    return [
        m["complexity"],
        m["model"],
        num(m["model_calls"]),
        num(m["step_attempts"]),
        pct(m["success_rate"]),
        usd(m["cost_per_call_usd"]),
    ]


def tool_row(x: dict[str, Any]) -> Row:
    """A tool's calls, failures and call latency."""
    return [
        x["tool"],
        num(x["calls"]),
        num(x["failures"]),
        pct(x["failure_rate"]),
        *(sec(x[s]) for s in ("mean", "p50", "p95", "p99")),
    ]


def trend_row(d: dict[str, Any]) -> Row:
    """A day of step attempts and their failure rate."""
    return [d["day"], num(d["step_attempts"]), num(d["failed_attempts"]), pct(d["attempt_failure_rate"])]


def agents(*, mean: bool) -> Table:
    """Per agent: attempts, outcomes, retries, time (and its mean per attempt with ``mean``), cost."""
    return Table(
        "Agents",
        ("agent", "attempts", "successes", "failures", "retries", "duration", *(("mean",) if mean else ()), "cost"),
        lambda g: [
            g["agent"],
            *(num(g[k]) for k in ("attempts", "successes", "failures", "retries")),
            sec(g["duration_seconds"]),
            *((sec(g["mean_seconds"]),) if mean else ()),
            money(g["cost_usd"], g["unpriced_model_calls"]),
        ],
    )


def task_levels(*, succeeded: bool) -> Table:
    """Per task level: tasks, attempts, retries, first-try (and final, with ``succeeded``) success, time."""
    return Table(
        "Tasks",
        (
            "level",
            "tasks",
            "attempts",
            "retries",
            "first try",
            *(("succeeded",) if succeeded else ()),
            "execution",
            "wall clock",
            "idle",
        ),
        lambda t: [
            t["level"],
            *(num(t[k]) for k in ("tasks", "attempts", "retries")),
            pct(t["first_try_success_rate"]),
            *((pct(t["success_rate"]),) if succeeded else ()),
            *(sec(t[k]) for k in ("total_execution_seconds", "wall_clock_seconds", "idle_seconds")),
        ],
    )


TOOL_HEADERS = ("tool", "calls", "failed", "rate", "mean", "p50", "p95", "p99")
TREND_HEADERS = ("day", "attempts", "failed", "rate")

TOP_WORKFLOWS = Table(
    "Most expensive workflows",
    ("workflow", "trace", "name", "template", "model", "status", "cost", "duration"),
    lambda w: [
        w["workflow_id"],
        w["trace_id"],
        w["workflow_name"],
        w["template"],
        w["model_used"],
        w["status"],
        money(w["cost_usd"], w["unpriced_model_calls"]),
        sec(w["duration_seconds"]),
    ],
)
TOP_PHASES = Table(
    "Most expensive phase runs",
    ("workflow", "name", "phase", "outcome", "cost", "duration"),
    lambda p: [
        p["workflow_id"],
        p["workflow_name"],
        p["phase_name"],
        p["outcome"],
        money(p["cost_usd"], p["unpriced_model_calls"]),
        sec(p["duration_seconds"]),
    ],
)
SLOWEST_RUNS = Table(
    "Slowest runs",
    ("workflow", "trace", "name", "status", "duration", "bottleneck phase"),
    lambda r: [
        r["workflow_id"],
        r["trace_id"],
        r["workflow_name"],
        r["status"],
        sec(r["duration_seconds"]),
        r["bottleneck_phase"],
    ],
)
FAILED_RUNS = Table(
    "Failed runs (latest first)",
    ("workflow", "trace", "name", "started", "error", "category"),
    lambda f: [
        f["workflow_id"],
        f["trace_id"],
        f["workflow_name"],
        f["start_time"],
        f["error_type"],
        f["error_category"],
    ],
)
FAILURES_BY_TEMPLATE = Table(
    "By workflow template",
    ("template", "runs", "failed", "rate"),
    lambda t: [t["template"], num(t["workflows"]), num(t["failures"]), pct(t["failure_rate"])],
)
FAILURES_BY_MODEL = Table(
    "By model (step attempts)",
    ("model", "attempts", "failed", "rate"),
    lambda m: [m["model"], num(m["step_attempts"]), num(m["failures"]), pct(m["failure_rate"])],
)
TOOL_SEQUENCES = Table(
    "Most common tool sequences in a step attempt",
    ("sequence", "step attempts", "share"),
    lambda x: [x["sequence"], num(x["step_attempts"]), pct(x["share"])],
)
REDUNDANT_BY_TOOL = Table(
    "Redundant calls by tool",
    ("tool", "redundant calls", "step attempts", "share of its calls"),
    lambda x: [x["tool"], num(x["redundant_calls"]), num(x["step_attempts"]), pct(x["share_of_tool_calls"])],
)


def _pattern_steps(x: dict[str, Any]) -> str:
    return ", ".join(f"{s['phase'] or '-'}/{s['step'] or '-'} ({s['occurrences']})" for s in x["steps"])


def _pattern_cost(x: dict[str, Any]) -> str:
    if x["cost_usd"] is None and x["unpriced_model_calls"]:
        return f"unknown ({x['unpriced_model_calls']:,} unpriced)"
    return money(x["cost_usd"], x["unpriced_model_calls"])


def _pattern_saving(x: dict[str, Any]) -> str:
    if x["projected_monthly_saving_usd"] is not None:
        return usd(x["projected_monthly_saving_usd"])
    return "unknown (unpriced)" if x["unpriced_model_calls"] else DASH


PATTERNS = Table(
    "Repeated tool-call patterns, most valuable first",
    (
        "id",
        "sequence",
        "occurrences",
        "workflows",
        "steps",
        "first seen",
        "last seen",
        "tokens",
        "cost",
        "per month",
        "saving / month",
        "decision",
    ),
    lambda x: [
        x["id"],
        x["sequence"],
        num(x["occurrences"]),
        num(x["workflows"]),
        _pattern_steps(x),
        (x["first_seen"] or DASH)[:19],
        (x["last_seen"] or DASH)[:19],
        num(x["tokens"]),
        _pattern_cost(x),
        num(x["monthly_occurrences"]),
        _pattern_saving(x),
        (x["status"] or DASH) + (f": {x['note']}" if x["note"] else ""),
    ],
)


def pattern_assumption(p: dict[str, Any]) -> str:
    """The sentence stating how the projected saving is computed, with the assumption's values."""
    a = p["assumptions"]
    return (
        f"{plural(p['patterns'], 'pattern')} (a tool sequence of {a['min_length']}+ calls in "
        f"{a['min_occurrences']}+ step attempts), {plural(p['step_attempts_in_patterns'], 'step attempt')}. "
        f"Projected saving per month = occurrences x {a['days_per_month']} / {a['period_days'] or '-'} days covered "
        f"x cost per occurrence x {a['saving_share']:g} (assumption: a tool doing the sequence saves "
        f"{100 * a['saving_share']:g}% of the model cost of the steps it occurs in)."
    )
