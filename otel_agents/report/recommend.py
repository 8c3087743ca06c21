"""Actionable recommendations, computed from the report's numbers (never canned).

Each rule reads the sections already computed and emits ``{severity, area, message, value}``;
``value`` is the number the rule compared with its threshold. Rules, in order:

1. a phase whose step attempts fail at least 10% of the time (25%: high), with its dominant
   error category and what usually helps;
2. a workflow template whose runs fail at least 20% of the time;
3. a tool whose calls fail at least 10% of the time;
4. a debugging-cycle resolution rate under 50%;
5. each phase whose p95 stands out (see ``latency.outliers``);
6. a phase taking at least half of all phase time (the bottleneck);
7. at least 5% of tool calls repeating an identical call in the same step;
8. a model at least as successful as the most used one, for less per call (each model
   judged on its own model calls and the step attempts they served);
9. under 30% of input tokens served from the cache;
10. cost up at least 25% over the last 7 days; the step failure rate up at least 5 points.

Nothing is judged on fewer than :data:`MIN_SAMPLE` runs: with fewer runs in the report there
are no recommendations, and each rule also skips any group (phase, template, tool, model,
week, ...) with fewer than :data:`MIN_SAMPLE` attempts, calls or runs of its own.
"""

from __future__ import annotations

from typing import Any

from otel_agents.report.stats import MIN_SAMPLE

__all__ = ["MIN_SAMPLE", "RULES", "recommendations"]
_SEVERITY = {"high": 0, "medium": 1, "low": 2}
LABELS = {
    "timeout": "timeouts",
    "import": "import errors",
    "connection": "connection errors",
    "syntax": "syntax errors",
    "type": "type errors",
    "file": "file errors",
    "test_failure": "test failures",
    "tool_failure": "tool failures",
    "rate_limit": "rate limits",
    "other": "other errors",
}
ADVICE = {
    "timeout": "raise the time limit or split the work",
    "import": "install or pin the missing dependencies before the phase runs",
    "connection": "check the network and retry with backoff",
    "syntax": "lint or compile the code before running it",
    "type": "type-check before running",
    "file": "check that paths exist before using them",
    "test_failure": "run the failing tests earlier, in the build phase",
    "tool_failure": "check the failing tool commands",
    "rate_limit": "throttle or spread the calls, or raise the limit",
    "other": "read the error messages of the failed attempts",
}


def pct(x: float | None) -> str:
    """A fraction as a whole percentage: 0.25 -> ``25%``."""
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _s(x: float) -> str:
    """Seconds for a sentence: ``0.235 s``, ``365 s``."""
    return f"{x:,.0f} s" if x >= 100 else f"{x:.3g} s"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _rec(severity: str, area: str, message: str, value: float | None) -> dict[str, Any]:
    return {"severity": severity, "area": area, "message": message, "value": value}


def _phases(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in report["errors"]["failure_rates"]["by_phase"]:
        rate = p["attempt_failure_rate"]
        if p["step_attempts"] < MIN_SAMPLE or p["runs"] < MIN_SAMPLE or rate is None or rate < 0.10:
            continue
        cat = p["top_category"] or "other"
        share = p["top_category_share"]
        most = "mostly" if share is not None and share >= 0.5 else "most often"
        out.append(
            _rec(
                "high" if rate >= 0.25 else "medium",
                "errors",
                f"{_cap(p['phase'])} phase fails {pct(rate)} of step attempts ({p['failed_attempts']:,} of "
                f"{p['step_attempts']:,}), {most} {LABELS.get(cat, cat)} ({pct(share)} of its failures): "
                f"{ADVICE.get(cat, ADVICE['other'])}.",
                rate,
            )
        )
    return out


def _templates(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for t in report["errors"]["failure_rates"]["by_template"]:
        rate = t["failure_rate"]
        if t["workflows"] >= MIN_SAMPLE and rate is not None and rate >= 0.20:
            out.append(
                _rec(
                    "high" if rate >= 0.5 else "medium",
                    "errors",
                    f"Workflow template {t['template']} fails {pct(rate)} of its runs "
                    f"({t['failures']:,} of {t['workflows']:,}).",
                    rate,
                )
            )
    return out


def _tools(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for t in report["tools"]["by_tool"]:
        rate = t["failure_rate"]
        if t["calls"] >= MIN_SAMPLE and t["workflows"] >= MIN_SAMPLE and rate is not None and rate >= 0.10:
            out.append(
                _rec(
                    "medium",
                    "tools",
                    f"{t['tool']} fails {pct(rate)} of its calls ({t['failures']:,} of "
                    f"{t['calls']:,}): check how the agents call it.",
                    rate,
                )
            )
    return out


def _debugging(report: dict[str, Any]) -> list[dict[str, Any]]:
    d = report["attempts"]["debugging_cycles"]
    rate = d["resolution_rate"]
    if d["cycles"] < MIN_SAMPLE or d["workflows"] < MIN_SAMPLE or rate is None or rate >= 0.5:
        return []
    worst = max(d["by_agent"], key=lambda a: (a["cycles"] - a["resolved"], a["agent"]), default=None)
    where = f"; most unresolved cycles are in {worst['agent']}" if worst else ""
    return [
        _rec(
            "high",
            "attempts",
            f"Only {pct(rate)} of debugging cycles resolve ({d['resolved']:,} of {d['cycles']:,}){where}.",
            rate,
        )
    ]


def _latency(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    lat = report["latency"]
    threshold = lat["outliers"]["threshold_p95_seconds"]
    for p in lat["outliers"]["phases"]:
        if p["runs"] < MIN_SAMPLE:
            continue
        out.append(
            _rec(
                "medium",
                "latency",
                f"Optimize the {p['phase']} phase: {pct(p['share_over_threshold'])} of its runs exceed the "
                f"p95 of all phases ({_s(threshold)}); its own p95 is {_s(p['p95'])}.",
                p["share_over_threshold"],
            )
        )
    b = lat["bottlenecks"]["overall"]
    if b and b["runs"] >= MIN_SAMPLE and b["share_of_phase_time"] is not None and b["share_of_phase_time"] >= 0.5:
        out.append(
            _rec(
                "low",
                "latency",
                f"The {b['phase']} phase takes {pct(b['share_of_phase_time'])} of all "
                "phase time: the first place to speed things up.",
                b["share_of_phase_time"],
            )
        )
    return out


def _redundant(report: dict[str, Any]) -> list[dict[str, Any]]:
    r = report["tools"]["redundant"]
    share = r["share_of_calls"]
    if share is None or share < 0.05 or not r["by_tool"] or report["tools"]["calls"] < MIN_SAMPLE:
        return []
    tool = r["by_tool"][0]["tool"]
    n = r["step_attempts_affected"]
    return [
        _rec(
            "medium",
            "tools",
            f"{pct(share)} of tool calls repeat an identical call in the same step attempt "
            f"({r['redundant_calls']:,} calls in {n:,} step attempt{'' if n == 1 else 's'}, mostly {tool}): "
            "reuse the earlier result.",
            share,
        )
    ]


def _model(report: dict[str, Any]) -> list[dict[str, Any]]:
    models = [
        m
        for m in report["attempts"]["models"]["by_model"]
        if m["step_attempts"] >= MIN_SAMPLE
        and m["workflows"] >= MIN_SAMPLE
        and m["success_rate"] is not None
        and m["cost_per_call_usd"] is not None
        and m["model"] != "(none)"
    ]
    if len(models) < 2:
        return []
    used = max(models, key=lambda m: (m["model_calls"], m["model"]))
    better = [
        m
        for m in models
        if m is not used
        and m["success_rate"] >= used["success_rate"]
        and m["cost_per_call_usd"] < used["cost_per_call_usd"]
    ]
    if not better:
        return []
    m = min(better, key=lambda x: (x["cost_per_call_usd"], x["model"]))
    share = m["cost_per_call_usd"] / used["cost_per_call_usd"] if used["cost_per_call_usd"] else None
    return [
        _rec(
            "low",
            "models",
            f"{m['model']} succeeds at least as often as {used['model']} "
            f"({pct(m['success_rate'])} vs {pct(used['success_rate'])} of the step attempts its calls served) "
            f"at {pct(share)} of its cost per call: route more work to it.",
            share,
        )
    ]


def _cache(report: dict[str, Any]) -> list[dict[str, Any]]:
    c = report["cost"]["cache"]
    if (
        report["cost"]["model_calls"] < MIN_SAMPLE
        or not c["input_tokens"]
        or c["cache_share"] is None
        or c["cache_share"] >= 0.30
    ):
        return []
    return [
        _rec(
            "low",
            "cost",
            f"Only {pct(c['cache_share'])} of input tokens come from the prompt cache: put "
            "the stable part of prompts first.",
            c["cache_share"],
        )
    ]


def _weeks_judged(report: dict[str, Any]) -> bool:
    """Both of the last two 7-day windows have at least :data:`MIN_SAMPLE` runs."""
    days = report["errors"]["trend"]
    return (
        len(days) > 7
        and sum(d["workflows"] for d in days[-7:]) >= MIN_SAMPLE
        and sum(d["workflows"] for d in days[-14:-7]) >= MIN_SAMPLE
    )


def _trends(report: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not _weeks_judged(report):
        return out
    change = report["cost"]["trend"]["percent_change"]
    if change is not None and change >= 25:
        out.append(
            _rec(
                "low",
                "cost",
                f"Cost rose {change:g}% over the last 7 days "
                f"(${report['cost']['trend']['last_7_days_usd']:g} vs "
                f"${report['cost']['trend']['previous_7_days_usd']:g}).",
                change,
            )
        )
    points = report["errors"]["trend_summary"]["change_points"]
    if points is not None and points >= 5:
        out.append(
            _rec("medium", "errors", f"The step failure rate rose {points:g} points over the last 7 days.", points)
        )
    return out


RULES = (_phases, _templates, _tools, _debugging, _latency, _redundant, _model, _cache, _trends)


def recommendations(report: dict[str, Any], *, limit: int = 10) -> list[dict[str, Any]]:
    """The recommendations for a report (most severe first, then the larger value); none on
    fewer than :data:`MIN_SAMPLE` runs."""
    if report["meta"]["rows"]["workflows"] < MIN_SAMPLE:
        return []
    found = [r for rule in RULES for r in rule(report)]
    found.sort(key=lambda r: (_SEVERITY[r["severity"]], -(r["value"] or 0.0), r["message"]))
    return found[:limit]
