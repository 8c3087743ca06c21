"""Tool usage: counts, failure rates and durations by tool; the most common tool sequences
inside a step; redundant operations.

- A step attempt's **tool sequence** is its tool calls' names in start order, joined with
  ``→`` (``Read→Edit→Bash``); sequences are counted over the step attempts that called a tool.
- A **redundant operation** is a repeat, inside one step attempt, of a tool call with the same tool
  and the same arguments (``arguments_sha256``: for ``Read``, the same file read again).
  Each group of n identical calls counts n - 1 redundant calls.
"""

from __future__ import annotations

from typing import Any

from otel_agents.report.latency import tool_stats
from otel_agents.report.stats import one, ratio, rows

NONE = "(none)"


def _sequences(con: Any, top: int) -> dict[str, Any]:
    s = one(con, "SELECT count(*) AS steps, sum(n_tools) AS calls, avg(n_tools) AS mean FROM v_step_tools")
    steps = int(s.get("steps") or 0)
    found = rows(
        con,
        """SELECT seq, count(*) AS n, avg(n_tools) AS len FROM v_step_tools
                         GROUP BY seq ORDER BY n DESC, seq LIMIT ?""",
        [top],
    )
    return {
        "step_attempts_with_tools": steps,
        "mean_tools_per_step": round(float(s["mean"]), 6) if s.get("mean") is not None else None,
        "distinct_sequences": int(one(con, "SELECT count(DISTINCT seq) AS n FROM v_step_tools").get("n") or 0),
        "top": [
            {"sequence": r["seq"], "step_attempts": int(r["n"]), "share": ratio(r["n"], steps), "length": int(r["len"])}
            for r in found
        ],
    }


def _redundant(con: Any, top: int, by_tool: list[dict[str, Any]]) -> dict[str, Any]:
    per_tool_calls = {t["tool"]: t["calls"] for t in by_tool}
    calls = sum(per_tool_calls.values())
    t = one(
        con,
        """SELECT sum(n - 1) AS redundant, count(*) AS groups, count(DISTINCT parent_id) AS steps,
                           count(DISTINCT workflow_id) AS workflows
                    FROM v_tool_dups""",
    )
    by_tool = rows(
        con,
        """SELECT tool_name AS tool, sum(n - 1) AS redundant, count(DISTINCT parent_id) AS steps
                           FROM v_tool_dups GROUP BY tool_name ORDER BY redundant DESC, tool""",
    )
    worst = rows(
        con,
        """
        SELECT d.workflow_id, s.phase_name, s.step_name, d.parent_id AS step_id, d.tool_name AS tool,
               d.arguments_sha256, d.n AS calls
        FROM (SELECT * FROM v_tool_dups ORDER BY n DESC, workflow_id, parent_id, tool_name, arguments_sha256 LIMIT ?) AS d
        LEFT JOIN st AS s ON s.record_id = d.parent_id
        ORDER BY d.n DESC, d.workflow_id, d.parent_id, d.tool_name, d.arguments_sha256""",
        [top],
    )
    redundant = int(t.get("redundant") or 0)
    return {
        "redundant_calls": redundant,
        "share_of_calls": ratio(redundant, calls),
        "step_attempts_affected": int(t.get("steps") or 0),
        "workflows_affected": int(t.get("workflows") or 0),
        "by_tool": [
            {
                "tool": r["tool"],
                "redundant_calls": int(r["redundant"]),
                "step_attempts": int(r["steps"]),
                "share_of_tool_calls": ratio(r["redundant"], per_tool_calls.get(r["tool"])),
            }
            for r in by_tool
        ],
        "top": [
            {
                "workflow_id": r["workflow_id"],
                "phase": r["phase_name"],
                "step": r["step_name"],
                "step_id": r["step_id"],
                "tool": r["tool"],
                "arguments_sha256": r["arguments_sha256"],
                "calls": int(r["calls"]),
            }
            for r in worst
        ],
    }


def tools_section(con: Any, *, top: int, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``tools`` section of the report (``tools``: ``latency.tool_stats``, if already computed)."""
    by_tool = tool_stats(con) if tools is None else tools
    calls = sum(t["calls"] for t in by_tool)
    failures = sum(t["failures"] for t in by_tool)
    return {
        "calls": calls,
        "failures": failures,
        "failure_rate": ratio(failures, calls),
        "by_tool": by_tool,
        "sequences": _sequences(con, top),
        "redundant": _redundant(con, top, by_tool),
    }
