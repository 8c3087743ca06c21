"""Estimates against actuals, and success and merge rates, from the estimates and outcomes
recorded by workflow id (``otel_agents.analytics.outcomes``).

- The latest value of each name recorded for a run counts (earlier ones are history).
- **Estimated against actual**, by template and model: over the runs with both an estimate
  and a known actual value, the sums of each, and ``actual / estimated`` (1.0: on the
  estimate; 2.0: twice it). Cost is actual only when every model call was priced; tokens
  are input + output tokens; duration is the run's wall-clock seconds.
- **Rates** by model, by complexity (the recorded estimate, else the run's own), and by
  both: runs, success rate, and over the runs with ``pr_merged`` recorded, the merge rate;
  means of time to merge, review cycles and CI pass rate over the runs that have them.
- **Named outcomes**: every other outcome name, with its runs, the mean of its numbers
  and the counts of its words.
"""

from __future__ import annotations

from typing import Any

from otel_agents.analytics.outcomes import ESTIMATES, OUTCOMES
from otel_agents.report.stats import ratio, rows

NONE = "(none)"
_NUM = ("estimated_cost_usd", "estimated_tokens", "estimated_duration_seconds", *OUTCOMES)


#: Columns of the cache's ``run_outcomes``: each run's latest estimates and outcomes.
RUN_OUTCOMES_COLUMNS = (
    "workflow_id VARCHAR, " + ", ".join(f"{n} DOUBLE" for n in _NUM) + ", est_complexity VARCHAR, ambiguity VARCHAR"
)


def latest_sql(source: str) -> str:
    """SELECT of each run's latest value of every known estimate and outcome, from the
    ``workflow_outcomes`` rows in ``source`` (the cache keeps it per run: ``run_outcomes``)."""
    picks = ", ".join(f"arg_max_null(value_number, rid) FILTER (WHERE name = '{n}') AS {n}" for n in _NUM)
    return f"""SELECT workflow_id, {picks},
                 arg_max_null(value_text, rid) FILTER (WHERE name = 'complexity') AS est_complexity,
                 arg_max_null(value_text, rid) FILTER (WHERE name = 'ambiguity') AS ambiguity
          FROM {source} GROUP BY workflow_id"""


def per_run_sql(runs: str = "v_wf") -> str:
    """One row per run of ``runs`` (workflow rows): its actuals and its latest estimates and
    outcomes. The cache keeps it for every run (``run_outcome_rows``); a filtered report
    computes it for the selection (``v_outcome_runs``)."""
    return f"""
    SELECT w.workflow_id, w.start_time, COALESCE(w.template, '{NONE}') AS template,
           COALESCE(w.model_used, '{NONE}') AS model, w.outcome,
           CASE WHEN COALESCE(w.unpriced_model_calls, 0) = 0 THEN w.cost_usd END AS cost_usd,
           COALESCE(w.unpriced_model_calls, 0) AS unpriced_model_calls,
           CASE WHEN w.input_tokens IS NOT NULL OR w.output_tokens IS NOT NULL
                THEN COALESCE(w.input_tokens, 0) + COALESCE(w.output_tokens, 0) END AS tokens,
           w.duration_seconds, COALESCE(p.est_complexity, w.complexity, '{NONE}') AS complexity, p.ambiguity,
           {", ".join(f"p.{n}" for n in _NUM)}
    FROM {runs} AS w LEFT JOIN run_outcomes AS p USING (workflow_id)"""


def _pair(est: str, act: str) -> str:
    both = f"{est} IS NOT NULL AND {act} IS NOT NULL"
    return f"count(*) FILTER (WHERE {both}) AS n_{est}, sum({est}) FILTER (WHERE {both}) AS e_{est}, sum({act}) FILTER (WHERE {both}) AS a_{est}"


_RATES = """count(*) AS runs, count(*) FILTER (WHERE outcome = 'success') AS ok,
            count(pr_merged) AS prs, count(*) FILTER (WHERE pr_merged = 1) AS merged,
            avg(time_to_merge_hours) AS ttm, avg(review_cycles) AS rc, avg(ci_pass_rate) AS ci"""


def _r(x: Any, d: int = 6) -> float | None:
    return None if x is None else round(float(x), d)


def _rates(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "runs": int(r["runs"]),
        "successes": int(r["ok"]),
        "success_rate": ratio(r["ok"], r["runs"]),
        "prs": int(r["prs"]),
        "merged": int(r["merged"]),
        "merge_rate": ratio(r["merged"], r["prs"]),
        "mean_time_to_merge_hours": _r(r["ttm"], 4),
        "mean_review_cycles": _r(r["rc"], 4),
        "mean_ci_pass_rate": _r(r["ci"], 6),
    }


def outcomes_section(con: Any, *, top: int = 10) -> dict[str, Any]:
    """Estimated against actual, success and merge rates, named outcomes, the latest runs with outcomes."""
    runs = "v_outcome_runs"
    pairs = (
        ("estimated_cost_usd", "cost_usd", "cost_usd", 8),
        ("estimated_tokens", "tokens", "tokens", 0),
        ("estimated_duration_seconds", "duration_seconds", "duration_seconds", 6),
    )
    est = rows(
        con,
        f"""SELECT template, model, {", ".join(_pair(e, a) for e, a, _k, _d in pairs)}
            FROM {runs} GROUP BY template, model
            HAVING count(estimated_cost_usd) + count(estimated_tokens) + count(estimated_duration_seconds) > 0
            ORDER BY template, model""",
    )

    def vs(r: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"template": r["template"], "model": r["model"]}
        for e, _a, key, d in pairs:
            n, ev, av = int(r[f"n_{e}"]), r[f"e_{e}"], r[f"a_{e}"]
            out[key] = {
                "runs": n,
                "estimated": (int(ev) if d == 0 else _r(ev, d)) if n else None,
                "actual": (int(av) if d == 0 else _r(av, d)) if n else None,
                "actual_over_estimated": ratio(av, ev) if n else None,
            }
        return out

    def grouped(cols: str) -> list[dict[str, Any]]:
        found = rows(con, f"SELECT {cols}, {_RATES} FROM {runs} GROUP BY {cols} ORDER BY {cols}")
        keys = [c.strip() for c in cols.split(",")]
        return [{**{k: r[k] for k in keys}, **_rates(r)} for r in found]

    named = rows(
        con,
        f"""SELECT name, count(DISTINCT workflow_id) AS runs,
                   avg(value_number) FILTER (WHERE value_text IS NULL) AS mean,
                   list(value_text ORDER BY value_text) FILTER (WHERE value_text IS NOT NULL) AS words
            FROM (SELECT * FROM v_oc WHERE kind = 'outcome' AND workflow_id IN (SELECT workflow_id FROM v_wf)
                    AND name NOT IN ({", ".join(f"'{n}'" for n in OUTCOMES)})
                  QUALIFY row_number() OVER (PARTITION BY workflow_id, name ORDER BY rid DESC) = 1)
            GROUP BY name ORDER BY runs DESC, name""",
    )
    recent = rows(
        con,
        f"""SELECT * FROM {runs} WHERE {" OR ".join(f"{n} IS NOT NULL" for n in _NUM)} OR ambiguity IS NOT NULL
            ORDER BY start_time DESC, workflow_id LIMIT ?""",
        [top],
    )
    by = {cols: grouped(cols) for cols in ("model", "complexity", "model, complexity")}

    def words(ws: list[str] | None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for w in ws or []:
            counts[w] = counts.get(w, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    return {
        "fields": {"estimates": list(ESTIMATES), "outcomes": list(OUTCOMES)},
        "estimated_vs_actual": [vs(r) for r in est],
        "by_model": by["model"],
        "by_complexity": by["complexity"],
        "by_model_and_complexity": by["model, complexity"],
        "named_outcomes": [
            {"name": r["name"], "runs": int(r["runs"]), "mean": _r(r["mean"]), "values": words(r["words"])}
            for r in named
        ],
        "recent": [run_row(r) for r in recent],
    }


def csv_sql() -> str:
    """``--rows outcomes``: one row per run, its actuals, estimates and outcomes (CSV columns)."""
    cols = [n for n in _NUM if n != "pr_merged"]
    return f"""SELECT workflow_id, start_time, template, model, outcome, complexity, ambiguity,
                      cost_usd, unpriced_model_calls, tokens, duration_seconds,
                      CASE WHEN pr_merged IS NULL THEN NULL ELSE pr_merged = 1 END AS pr_merged, {", ".join(cols)}
               FROM v_outcome_runs ORDER BY start_time, workflow_id"""


def run_row(r: dict[str, Any]) -> dict[str, Any]:
    """A run's actuals, estimates and outcomes as JSON-ready values."""
    merged = r["pr_merged"]
    return {
        "workflow_id": r["workflow_id"],
        "start_time": r["start_time"],
        "template": r["template"],
        "model": r["model"],
        "outcome": r["outcome"],
        "complexity": r["complexity"],
        "ambiguity": r["ambiguity"],
        "cost_usd": _r(r["cost_usd"], 8),
        "estimated_cost_usd": _r(r["estimated_cost_usd"], 8),
        "tokens": None if r["tokens"] is None else int(r["tokens"]),
        "estimated_tokens": None if r["estimated_tokens"] is None else int(r["estimated_tokens"]),
        "duration_seconds": _r(r["duration_seconds"]),
        "estimated_duration_seconds": _r(r["estimated_duration_seconds"]),
        "pr_merged": None if merged is None else bool(merged),
        "time_to_merge_hours": _r(r["time_to_merge_hours"], 4),
        "review_cycles": None if r["review_cycles"] is None else int(r["review_cycles"]),
        "ci_pass_rate": _r(r["ci_pass_rate"]),
    }
