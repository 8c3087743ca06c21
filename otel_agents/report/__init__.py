"""``otel-agents report``: cost, latency, error, retry and tool analytics from the analytics store.

:func:`build_report` returns the report as a JSON-ready dict; :func:`render` turns it into
text, JSON or HTML; ``otel_agents.report.csvout`` writes the CSV export. See docs/report.md.
"""

from __future__ import annotations

from typing import Any

from otel_agents.report.engine import ReportEngine, build_report
from otel_agents.report.filters import FilterError, Filters

FORMATS = ("text", "json", "csv", "html")


def render(report: dict[str, Any], fmt: str = "text") -> str:
    """The report as ``text``, ``json`` or ``html`` (CSV is row data: ``csvout``)."""
    if fmt == "json":
        import json

        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt == "text":
        from otel_agents.report.text import render_text

        return render_text(report)
    if fmt == "html":
        from otel_agents.report.html import render_html

        return render_html(report)
    raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(f for f in FORMATS if f != 'csv')}")


__all__ = ["FORMATS", "FilterError", "Filters", "ReportEngine", "build_report", "render"]
