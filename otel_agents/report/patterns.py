"""Repeated operational patterns and what automating them would save.

- A **pattern** is a step attempt's tool sequence of at least :data:`MIN_LENGTH` calls that
  recurs in at least :data:`MIN_OCCURRENCES` step attempts, in any steps and workflows, each
  call in its normalised form (the cache's ``step_tools.pseq``): its name and, when known, the
  program a shell call ran (``tool_calls.executable``) and the types of the files it named
  (``tool_calls.file_types``), never the arguments: ``Read(*.py)→Edit(*.py)→Bash(pytest)``.
  Its **id** is the first 12 hex digits of the SHA-256 of the sequence: the same pattern keeps
  its id from one report to the next (``otel-agents patterns mark <id>``).
- **Tokens and cost around it**: the input + output tokens and the cost of the step attempts
  it occurred in (their model calls, which chose and read those tool calls).
- **Projected monthly saving**, if the sequence were automated as one tool::

      monthly occurrences = occurrences * DAYS_PER_MONTH / period days
      saving              = monthly occurrences * (cost / occurrences) * SAVING_SHARE

  ``period days`` is the days the report covers (first to last day with a step attempt, both
  included); :data:`SAVING_SHARE` is the assumption: the share of those steps' model cost a
  tool would save. Both are printed with the section. A pattern whose steps made unpriced
  model calls has no projection (unknown, never a guess). Patterns print most valuable first:
  by projected saving, then occurrences.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from otel_agents.report.stats import one, rows, usd

MIN_LENGTH = 2
MIN_OCCURRENCES = 2
DAYS_PER_MONTH = 30
#: The assumption: a tool doing the sequence saves this share of the model cost of the steps.
SAVING_SHARE = 0.5
#: Workflows and steps listed per pattern (the counts cover all).
LISTED = 5
FORMULA = "saving = occurrences * days_per_month / period_days * (cost_usd / occurrences) * saving_share"


def pattern_id(signature: str) -> str:
    """The stable id of a pattern signature."""
    return hashlib.sha256(signature.encode("utf-8")).hexdigest()[:12]


def _iso(ns: Any) -> str | None:
    if ns is None:
        return None
    s, rest = divmod(int(ns), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{rest // 1000:06d}Z"


#: ``pattern_stats`` in the report cache: the rows of :func:`stats_sql`.
PATTERN_COLUMNS = (
    "seq VARCHAR, n BIGINT, len BIGINT, first BIGINT, last BIGINT, inp HUGEINT, outp HUGEINT, cost DOUBLE,"
    " unpriced HUGEINT, no_step BIGINT, n_wf BIGINT, wf_ids VARCHAR[],"
    " steps STRUCT(phase VARCHAR, step VARCHAR, occurrences BIGINT)[]"
)
#: The aggregates of a pattern; with ``details`` also its workflows and steps.
_AGG = """count(*) AS n, any_value(n_tools) AS len, min(first_start) AS first, max(first_start) AS last,
          sum(inp) AS inp, sum(outp) AS outp, sum(cost_usd) AS cost, sum(unpriced) AS unpriced,
          count(*) FILTER (WHERE no_step) AS no_step"""
#: Most valuable first: the projected saving orders as the cost does (same occurrences-per-month
#: factor for every pattern), unknown last; then occurrences, then the sequence.
ORDER = "CASE WHEN unpriced > 0 OR no_step > 0 THEN NULL ELSE cost END DESC NULLS LAST, n DESC, seq"


def stats_sql(src: str, *, details: bool = True) -> str:
    """The patterns among the step attempts of ``src`` (a table or subquery shaped like
    ``step_tools``), one row each: occurrences, times, tokens, cost and, with ``details``, its
    workflows and steps. The report cache keeps them for the unfiltered report
    (``pattern_stats``); a filtered report computes them over ``v_step_tools``."""
    occ = f"""SELECT t.workflow_id, t.first_start, t.pseq AS seq, t.n_tools, s.phase_name, s.step_name,
                     COALESCE(s.input_tokens, 0) AS inp, COALESCE(s.output_tokens, 0) AS outp, s.cost_usd,
                     COALESCE(s.unpriced_model_calls, 0) AS unpriced, s.record_id IS NULL AS no_step
              FROM {src} AS t LEFT JOIN st AS s ON s.record_id = t.parent_id
              WHERE t.n_tools >= {MIN_LENGTH}"""
    agg = f"SELECT seq, {_AGG} FROM o GROUP BY seq HAVING count(*) >= {MIN_OCCURRENCES}"
    if not details:
        return f"WITH o AS ({occ}) {agg}"
    # the workflows: distinct (sequence, workflow) pairs, then the count and the first ids;
    # the steps: (sequence, phase, step) counts, the most frequent first
    return f"""WITH o AS MATERIALIZED ({occ}), a AS ({agg}),
               w AS (SELECT seq, count(*) AS n_wf, min(workflow_id, {LISTED}) AS wf_ids
                     FROM (SELECT DISTINCT seq, workflow_id FROM o WHERE workflow_id IS NOT NULL) GROUP BY seq),
               d AS (SELECT seq, list(struct_pack(phase := phase_name, step := step_name, occurrences := k)
                                      ORDER BY k DESC, phase_name, step_name)[1:{LISTED}] AS steps
                     FROM (SELECT seq, phase_name, step_name, count(*) AS k FROM o GROUP BY seq, phase_name, step_name)
                     GROUP BY seq)
               SELECT a.*, COALESCE(w.n_wf, 0) AS n_wf, w.wf_ids, d.steps
               FROM a LEFT JOIN w USING (seq) LEFT JOIN d USING (seq)"""


def patterns_section(
    con: Any, *, top: int, decisions: dict[str, dict[str, Any]] | None = None, precomputed: bool = False
) -> dict[str, Any]:
    """The ``patterns`` section (``decisions``: ``otel_agents.analytics.decisions.load``).
    ``precomputed``: the report is unfiltered, so the cache's ``pattern_stats`` are read."""
    decisions = decisions or {}
    days = one(con, "SELECT date_diff('day', min(day)::DATE, max(day)::DATE) + 1 AS d FROM v_st").get("d")
    period_days = int(days) if days is not None else None
    totals = "count(*) OVER () AS total_patterns, sum(n) OVER () AS total_occurrences"
    if precomputed:
        found = rows(con, f"SELECT *, {totals} FROM pattern_stats ORDER BY {ORDER} LIMIT ?", [top])
    else:  # the listed ones first, then their details over their own step attempts only
        found = rows(
            con,
            f"SELECT *, {totals} FROM ({stats_sql('v_step_tools', details=False)}) ORDER BY {ORDER} LIMIT ?",
            [top],
        )
        listed = "(SELECT * FROM v_step_tools WHERE pseq IN (SELECT unnest($1::VARCHAR[])))"
        more = {r["seq"]: r for r in rows(con, stats_sql(listed), [[r["seq"] for r in found]])}
        for r in found:
            r.update(n_wf=more[r["seq"]]["n_wf"], wf_ids=more[r["seq"]]["wf_ids"], steps=more[r["seq"]]["steps"])
    totals_row = found[0] if found else {}
    return {
        "assumptions": {
            "saving_share": SAVING_SHARE,
            "days_per_month": DAYS_PER_MONTH,
            "period_days": period_days,
            "min_occurrences": MIN_OCCURRENCES,
            "min_length": MIN_LENGTH,
            "formula": FORMULA,
        },
        "patterns": int(totals_row.get("total_patterns") or 0),
        "step_attempts_in_patterns": int(totals_row.get("total_occurrences") or 0),
        "top": [_pattern(r, period_days, decisions) for r in found],
    }


def _pattern(r: dict[str, Any], period_days: int | None, decisions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    pid = pattern_id(r["seq"])
    n = int(r["n"])
    known = not r["unpriced"] and not r["no_step"] and r["cost"] is not None
    cost = usd(r["cost"]) if not r["no_step"] else None
    monthly = round(n * DAYS_PER_MONTH / period_days, 6) if period_days else None
    saving = (
        usd(n * DAYS_PER_MONTH / period_days * (float(r["cost"]) / n) * SAVING_SHARE) if known and period_days else None
    )
    decision = decisions.get(pid, {})
    return {
        "id": pid,
        "sequence": r["seq"],
        "length": int(r["len"]),
        "occurrences": n,
        "first_seen": _iso(r["first"]),
        "last_seen": _iso(r["last"]),
        "workflows": int(r["n_wf"]),
        "workflow_ids": list(r["wf_ids"] or []),
        "steps": [{**s, "occurrences": int(s["occurrences"])} for s in r["steps"] or []],
        "input_tokens": int(r["inp"]),
        "output_tokens": int(r["outp"]),
        "tokens": int(r["inp"]) + int(r["outp"]),
        "cost_usd": cost,
        "unpriced_model_calls": int(r["unpriced"]),
        "cost_per_occurrence_usd": usd(float(r["cost"]) / n) if known else None,
        "monthly_occurrences": monthly,
        "projected_monthly_saving_usd": saving,
        "status": decision.get("status"),
        "note": decision.get("note"),
        "decided_at": decision.get("decided_at"),
    }
