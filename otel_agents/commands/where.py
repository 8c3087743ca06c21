"""Where a run's telemetry went: its traces (ids to paste into a viewer) and the real files.

``otel-agents demo`` and ``otel-agents run --summary`` end with these lines. They work from
span records (``otel_agents.instrument.spans_file.span_record``) and the configuration only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from otel_agents import attributes as A


def workflows(records: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """``(name, workflow id, trace id)`` of each workflow run in ``records``, in start order."""
    roots = [r for r in records if r["attributes"].get(A.GEN_AI_OPERATION_NAME) == A.OP_INVOKE_WORKFLOW]
    roots.sort(key=lambda r: r["start_time"] or 0)
    return [
        (
            str(r["attributes"].get(A.GEN_AI_WORKFLOW_NAME, r["name"])),
            str(r["attributes"].get(A.WORKFLOW_ID, "")),
            r["trace_id"],
        )
        for r in roots
    ]


def trace_lines(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per workflow: its trace id, for Jaeger, Phoenix or ``otel-agents show``."""
    found = workflows(records)
    lines = [f"workflow {name} ({workflow_id}): trace {trace_id}" for name, workflow_id, trace_id in found]
    if found:
        lines.append(f"  (paste a trace id into Jaeger or Phoenix, or run `otel-agents show {found[-1][2]}`)")
    return lines


def metrics_files(config: Any, records: Iterable[Mapping[str, Any]]) -> list[Path]:
    """The metrics JSONL files ``records`` went to (one per UTC day of a span's end)."""
    from otel_agents.sinks.metrics import file_name

    return [config.metrics_dir / name for name in sorted({file_name(r["end_time"]) for r in records})]


def spool_files_since(config: Any, since_ns: int) -> list[Path]:
    """The spool files written since ``since_ns`` (ns since the epoch)."""
    from otel_agents.sinks.spool import spool_files

    out = []
    for path in spool_files(config.spans_dir):
        try:
            if os.stat(path).st_mtime_ns >= since_ns - 1_000_000_000:
                out.append(path)
        except OSError:
            continue
    return out


def view_lines(config: Any) -> list[str]:
    """How to look at the recorded data."""
    return [
        "view it: `otel-agents report` (terminal), "
        f"`otel-agents report --format html` (writes {config.home / 'report.html'})",
    ]


def summary(config: Any, records: list[Mapping[str, Any]], since_ns: int) -> str:
    """What ``otel-agents run --summary`` prints after the program: traces, files, how to view."""
    spans = len(records)
    runs = len(workflows(records))
    lines = trace_lines(records)
    if config["spool.enabled"]:
        files = spool_files_since(config, since_ns) if spans else []
        lines.append(
            "spool: "
            + (", ".join(map(str, files)) or f"nothing written to {config.spans_dir}")
            + (" (OTLP-JSON lines; `otel-agents replay` sends what the collector did not get)" if files else "")
        )
    if config["otlp.enabled"]:
        from otel_agents.sinks.transport import resolve_target

        target = resolve_target(config)
        default = "" if target.explicit else " (the default: no endpoint configured; set OTEL_EXPORTER_OTLP_ENDPOINT)"
        lines.append(f"otlp: sent to {target.describe()}{default}; `otel-agents doctor` shows what was delivered")
    if config["metrics.enabled"] and records:
        lines.append("metrics: " + ", ".join(map(str, metrics_files(config, records))))
    if config["analytics.enabled"] and records:
        if config.analytics_url:
            from otel_agents.analytics.postgres import redact_url

            lines.append(f"analytics: {redact_url(config.analytics_url)}")
        else:
            lines.append(f"analytics: {config.analytics_db}")
    if records:
        lines += view_lines(config)
    head = f"otel-agents run: where the telemetry went ({spans} span{'s' * (spans != 1)}, {runs} workflow{'s' * (runs != 1)})"
    return "\n  ".join([head, *lines])
