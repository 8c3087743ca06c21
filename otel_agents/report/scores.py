"""Per-run scores and anomalies, relative to the runs of the same workflow template.

For each run, against the runs of its template in the report's selection:

- **cost-efficiency score** = ``min(100, round(50 * median_cost / cost))``: a run at its
  template's median cost scores 50, one at half the median 100, one at twice the median 25.
  A cost of 0 scores 100 (50 when the median is 0 too). Unknown when the run's cost is
  unknown or partial (a model call without a price): never guessed. The median is over the
  template's runs with a known cost.
- **performance score**: the same formula on the run's duration (wall-clock seconds).
- **quality score** = ``clamp(base - 10 * retries - 10 * debugging_cycles, 0, 100)``, where
  ``base`` is 100 for a run that succeeded and 0 otherwise, ``retries`` the run's step
  retries (attempts beyond the first of each step), and ``debugging_cycles`` its steps that failed at least once (each such step is
  one cycle of failing and trying again).
- **anomaly**: a run whose cost or duration is far from its template's usual, by the median
  absolute deviation: ``z = (x - median) / (1.4826 * MAD)`` (when MAD is 0, the mean
  absolute deviation times 1.2533 scales instead; when that is 0 too, nothing is flagged).
  Flagged when ``|z| > 3.5`` (Iglewicz and Hoaglin), and only in templates with at least
  :data:`ANOMALY_MIN_RUNS` runs with that value known.
"""

from __future__ import annotations

from typing import Any

from otel_agents.report.stats import rows

#: Runs of a template (with the value known) below which no anomaly is ever flagged.
ANOMALY_MIN_RUNS = 6
#: The robust z-score beyond which a run is an anomaly.
ANOMALY_Z = 3.5
#: Scales that make the median (mean) absolute deviation estimate a standard deviation.
MAD_SCALE, MEAN_AD_SCALE = 1.4826, 1.2533
NONE = "(none)"

_SCORE = (
    "CASE WHEN {x} IS NULL OR m.{m} IS NULL THEN NULL WHEN {x} = 0 THEN (CASE WHEN m.{m} = 0 THEN 50 ELSE 100 END)"
    " ELSE least(100, round(50 * m.{m} / {x}))::INTEGER END"
)
_Z = (
    "CASE WHEN {x} IS NULL OR m.n_{k} < {minimum} THEN NULL"
    " WHEN m.mad_{k} > 0 THEN ({x} - m.med_{k}) / ({mad} * m.mad_{k})"
    " WHEN m.mean_{k} > 0 THEN ({x} - m.med_{k}) / ({mean} * m.mean_{k}) END"
)


#: Columns of the cache's ``run_steps``: each run's step retries and debugging cycles.
RUN_STEPS_COLUMNS = "workflow_id VARCHAR, retries BIGINT, cycles BIGINT"


def run_steps_sql(source: str) -> str:
    """SELECT of each run's step retries (attempts beyond the first of each logical step) and
    debugging cycles (logical steps that failed at least once), from the logical steps in
    ``source`` (the cache keeps it per run, beside ``steps_logical``)."""
    return (
        "SELECT workflow_id, sum(attempts - 1) AS retries, count(*) FILTER (WHERE failures > 0) AS cycles"
        f" FROM {source} GROUP BY workflow_id"
    )


def scored_sql(runs: str, steps: str) -> str:
    """One row per run of ``runs`` (workflow rows): its template, values, template medians,
    scores and robust z's; ``steps``: the runs' retries and cycles (:func:`run_steps_sql`).
    The cache keeps it for every run (``run_scores``); a filtered report computes it for the
    selection once (``v_scores``)."""
    z = {"minimum": ANOMALY_MIN_RUNS, "mad": MAD_SCALE, "mean": MEAN_AD_SCALE}
    return f"""
    WITH w AS MATERIALIZED (
        SELECT w.workflow_id, w.workflow_name, COALESCE(w.template, '{NONE}') AS template, w.model_used,
               w.outcome, w.start_time, COALESCE(d.retries, 0) AS retries,
               COALESCE(w.unpriced_model_calls, 0) AS unpriced_model_calls,
               CASE WHEN COALESCE(w.unpriced_model_calls, 0) = 0 THEN w.cost_usd END AS cost,
               w.duration_seconds AS dur, COALESCE(d.cycles, 0) AS cycles
        FROM {runs} AS w
        LEFT JOIN {steps} AS d ON d.workflow_id = w.workflow_id),
    med AS MATERIALIZED (SELECT template, count(*) AS runs, count(cost) AS n_c, count(dur) AS n_d,
                   median(cost) AS med_c, median(dur) AS med_d FROM w GROUP BY template),
    dev AS (SELECT w.template, abs(w.cost - m.med_c) AS dc, abs(w.dur - m.med_d) AS dd
            FROM w JOIN med AS m USING (template)),
    m AS (SELECT med.*, x.mad_c, x.mean_c, x.mad_d, x.mean_d FROM med JOIN (
              SELECT template, median(dc) AS mad_c, avg(dc) AS mean_c, median(dd) AS mad_d, avg(dd) AS mean_d
              FROM dev GROUP BY template) AS x USING (template))
    SELECT w.*, m.runs, m.med_c, m.med_d,
           {_SCORE.format(x="w.cost", m="med_c")} AS cost_efficiency_score,
           {_SCORE.format(x="w.dur", m="med_d")} AS performance_score,
           greatest(0, least(100, (CASE WHEN w.outcome = 'success' THEN 100 ELSE 0 END)
                    - 10 * w.retries - 10 * w.cycles))::INTEGER AS quality_score,
           {_Z.format(x="w.cost", k="c", **z)} AS z_cost,
           {_Z.format(x="w.dur", k="d", **z)} AS z_duration
    FROM w JOIN m USING (template)"""


def csv_sql() -> str:
    """``--rows scores``: one row per run, its scores and its anomaly flags (CSV columns)."""
    flags = " ".join(
        f", CASE WHEN abs({z}) > {ANOMALY_Z} THEN '{metric} ' || CASE WHEN {z} > 0 THEN 'high' ELSE 'low' END END"
        for z, metric in (("z_cost", "cost_usd"), ("z_duration", "duration_seconds"))
    )
    return f"""SELECT workflow_id, workflow_name, template, model_used AS model, outcome, start_time,
                      cost AS cost_usd, unpriced_model_calls, dur AS duration_seconds, retries, cycles AS debugging_cycles,
                      med_c AS template_median_cost_usd, med_d AS template_median_duration_seconds,
                      cost_efficiency_score, performance_score, quality_score,
                      round(z_cost, 3) AS cost_robust_z, round(z_duration, 3) AS duration_robust_z,
                      concat_ws('; '{flags}) AS anomaly
               FROM v_scores ORDER BY start_time, workflow_id"""


def _r(x: Any, digits: int = 6) -> float | None:
    return None if x is None else round(float(x), digits)


def _dist(prefix: str) -> str:
    col = f"{prefix}_score"
    return (
        f"count({col}) AS {prefix}_n, min({col}) AS {prefix}_min, quantile_cont({col}, [0.25, 0.5, 0.75]) AS {prefix}_q,"
        f" max({col}) AS {prefix}_max, avg({col}) AS {prefix}_mean"
    )


_KINDS = ("cost_efficiency", "performance", "quality")


def scores_section(con: Any, *, top: int = 10) -> dict[str, Any]:
    """Score distributions by template, the ``top`` most anomalous runs (all of them are in
    ``--rows scores``), and the ``top`` lowest-quality runs."""
    flag = f"abs(z_cost) > {ANOMALY_Z} OR abs(z_duration) > {ANOMALY_Z}"
    by_template = rows(
        con,
        f"""SELECT template, any_value(runs) AS runs, any_value(med_c) AS med_c, any_value(med_d) AS med_d,
                   {", ".join(_dist(k) for k in _KINDS)},
                   count(*) FILTER (WHERE {flag}) AS anomalies
            FROM v_scores GROUP BY template ORDER BY runs DESC, template""",
    )
    found = rows(
        con,
        f"""SELECT workflow_id, workflow_name, template, model_used, start_time, cost, dur, med_c, med_d,
                   z_cost, z_duration FROM v_scores WHERE {flag}
            ORDER BY greatest(abs(COALESCE(z_cost, 0)), abs(COALESCE(z_duration, 0))) DESC, workflow_id LIMIT ?""",
        [top],
    )
    lowest = rows(
        con,
        """SELECT workflow_id, workflow_name, template, outcome, retries, cycles, quality_score,
                  cost_efficiency_score, performance_score FROM v_scores
           ORDER BY quality_score, workflow_id LIMIT ?""",
        [top],
    )

    def dist(r: dict[str, Any], k: str) -> dict[str, Any]:
        q = r[f"{k}_q"] or [None, None, None]
        return {
            "count": int(r[f"{k}_n"]),
            "min": r[f"{k}_min"],
            "p25": _r(q[0], 2),
            "median": _r(q[1], 2),
            "p75": _r(q[2], 2),
            "max": r[f"{k}_max"],
            "mean": _r(r[f"{k}_mean"], 2),
        }

    anomalies = []
    for a in found:
        for metric, value, median, z in (
            ("cost_usd", a["cost"], a["med_c"], a["z_cost"]),
            ("duration_seconds", a["dur"], a["med_d"], a["z_duration"]),
        ):
            if z is not None and abs(z) > ANOMALY_Z:
                anomalies.append(
                    {
                        "workflow_id": a["workflow_id"],
                        "workflow_name": a["workflow_name"],
                        "template": a["template"],
                        "model": a["model_used"],
                        "start_time": a["start_time"],
                        "metric": metric,
                        "value": _r(value, 8),
                        "template_median": _r(median, 8),
                        "robust_z": _r(z, 3),
                        "direction": "high" if z > 0 else "low",
                    }
                )
    return {
        "workflows": sum(int(r["runs"]) for r in by_template),
        "anomalous_workflows": sum(int(r["anomalies"]) for r in by_template),
        "method": {
            "cost_efficiency": "min(100, round(50 * template median cost / cost)); unknown when the cost is unknown",
            "performance": "min(100, round(50 * template median duration / duration))",
            "quality": "clamp(100 if succeeded else 0, - 10 per retry - 10 per debugging cycle, 0..100)",
            "anomaly": f"|x - median| / (1.4826 * MAD) > {ANOMALY_Z}, templates with >= {ANOMALY_MIN_RUNS} runs",
            "anomaly_min_runs": ANOMALY_MIN_RUNS,
            "anomaly_z": ANOMALY_Z,
        },
        "by_template": [
            {
                "template": r["template"],
                "workflows": int(r["runs"]),
                "median_cost_usd": _r(r["med_c"], 8),
                "median_duration_seconds": _r(r["med_d"]),
                **{k: dist(r, k) for k in _KINDS},
                "anomalous_workflows": int(r["anomalies"]),
            }
            for r in by_template
        ],
        "anomalies": anomalies,
        "lowest_quality": [
            {
                "workflow_id": r["workflow_id"],
                "workflow_name": r["workflow_name"],
                "template": r["template"],
                "outcome": r["outcome"],
                "retries": int(r["retries"]),
                "debugging_cycles": int(r["cycles"]),
                "quality_score": r["quality_score"],
                "cost_efficiency_score": r["cost_efficiency_score"],
                "performance_score": r["performance_score"],
            }
            for r in lowest
        ],
    }
