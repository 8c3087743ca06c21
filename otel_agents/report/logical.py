"""Logical steps: the attempts at one step of one run (same workflow, phase and step name),
folded into one row. The same SQL builds the cache's ``steps_logical`` table (every step,
kept up to date at sync) and, when the report is filtered, a temporary table over the
selected attempts, so both give the same numbers.

Columns: the key; ``agent`` and ``task_id`` (largest); ``attempts``, ``successes``,
``failures``; ``final_outcome`` and ``model`` of the last attempt (highest attempt number,
then latest start); ``first_start``, ``last_end`` (ns); ``exec_seconds`` (sum of the
attempts' durations); ``ff_end`` (end of the first failure, ns); ``first_category`` (the
category of the first failed attempt); ``cost`` (NULL when no attempt has a known cost);
``unpriced`` (model calls beneath without a price); ``fix_attempts`` (attempts that started
after the first failure ended).
"""

from __future__ import annotations

COLUMNS = (
    "workflow_id VARCHAR, phase_name VARCHAR, step_name VARCHAR, agent VARCHAR, task_id VARCHAR, attempts BIGINT,"
    " successes BIGINT, failures BIGINT, final_outcome VARCHAR, model VARCHAR, first_start BIGINT, last_end BIGINT,"
    " exec_seconds DOUBLE, ff_end BIGINT, first_category VARCHAR, cost DOUBLE, unpriced BIGINT, fix_attempts BIGINT"
)

_KEY_MATCH = (
    "{a}.workflow_id IS NOT DISTINCT FROM {b}.workflow_id AND {a}.phase_name IS NOT DISTINCT FROM {b}.phase_name"
    " AND {a}.step_name IS NOT DISTINCT FROM {b}.step_name"
)


def key_match(a: str, b: str) -> str:
    """SQL: rows ``a`` and ``b`` are attempts of the same logical step (NULL names match)."""
    return _KEY_MATCH.format(a=a, b=b)


def select_sql(source: str) -> str:
    """SELECT of the logical steps of the attempts in ``source`` (a table, view or subquery)."""
    return f"""
WITH g AS (
    SELECT workflow_id, phase_name, step_name,
           max(agent) AS agent, max(task_id) AS task_id,
           count(*) AS attempts,
           count(*) FILTER (WHERE outcome = 'success') AS successes,
           count(*) FILTER (WHERE outcome = 'failure') AS failures,
           arg_max(outcome, (COALESCE(attempt, 0), start_unix_nano)) AS final_outcome,
           arg_max(model, (COALESCE(attempt, 0), start_unix_nano)) AS model,
           min(start_unix_nano) AS first_start, max(end_unix_nano) AS last_end,
           sum(duration_seconds) AS exec_seconds,
           min(end_unix_nano) FILTER (WHERE outcome = 'failure') AS ff_end,
           arg_min(error_category, (COALESCE(attempt, 0), start_unix_nano)) FILTER (WHERE outcome = 'failure')
               AS first_category,
           sum(cost_usd) AS cost, COALESCE(sum(unpriced_model_calls), 0) AS unpriced
    FROM {source} GROUP BY workflow_id, phase_name, step_name),
fx AS (
    SELECT g.workflow_id, g.phase_name, g.step_name, count(*) FILTER (WHERE s.start_unix_nano >= g.ff_end) AS n
    FROM (SELECT * FROM g WHERE ff_end IS NOT NULL) AS g JOIN {source} AS s ON {key_match("s", "g")}
    GROUP BY g.workflow_id, g.phase_name, g.step_name)
SELECT g.*, COALESCE(fx.n, 0) AS fix_attempts
FROM g LEFT JOIN fx ON {key_match("fx", "g")}
"""


TASK_COLUMNS = (
    "task_id VARCHAR, level VARCHAR, attempts BIGINT, successes BIGINT, failures BIGINT, first_started_at VARCHAR,"
    " exec DOUBLE, wall DOUBLE, cost DOUBLE, unpriced BIGINT"
)


def tasks_sql(workflows: str, steps: str) -> str:
    """SELECT of the tasks (one row per task id and level) of the runs in ``workflows`` and the
    attempts in ``steps``: each run or step carrying a task id is one attempt at it."""
    return f"""
SELECT task_id, 'workflow' AS level, count(*) AS attempts,
       count(*) FILTER (WHERE outcome = 'success') AS successes, count(*) FILTER (WHERE outcome = 'failure') AS failures,
       min(start_time) AS first_started_at, sum(duration_seconds) AS exec,
       (max(end_unix_nano) - min(start_unix_nano)) / 1e9 AS wall, sum(cost_usd) AS cost,
       COALESCE(sum(unpriced_model_calls), 0) AS unpriced
FROM {workflows} WHERE task_id IS NOT NULL GROUP BY task_id
UNION ALL
SELECT task_id, 'step', count(*), count(*) FILTER (WHERE outcome = 'success'), count(*) FILTER (WHERE outcome = 'failure'),
       min(start_time), sum(duration_seconds), (max(end_unix_nano) - min(start_unix_nano)) / 1e9, sum(cost_usd),
       COALESCE(sum(unpriced_model_calls), 0)
FROM {steps} WHERE task_id IS NOT NULL GROUP BY task_id
"""


def wall_sql(source: str) -> str:
    """SELECT of each run's wall-clock time (seconds) of the logical steps in ``source``: the
    elapsed time of the union of their [first start, last end] intervals, so steps that ran in
    parallel count once. Ordered by start, a step adds what it reaches past every earlier one."""
    return f"""
SELECT workflow_id, sum(greatest(0, e - greatest(s, COALESCE(reach, s)))) / 1e9 AS wall FROM (
    SELECT workflow_id, first_start AS s, last_end AS e,
           max(last_end) OVER (PARTITION BY workflow_id ORDER BY first_start, last_end
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM {source} WHERE first_start IS NOT NULL AND last_end IS NOT NULL)
GROUP BY workflow_id
"""


RUN_TOOLS_COLUMNS = "workflow_id VARCHAR, tool_name VARCHAR"
RUN_MODELS_COLUMNS = "workflow_id VARCHAR, model VARCHAR, complexity VARCHAR"


def run_tools_sql(source: str) -> str:
    """SELECT of the (run, tool) pairs of the tool calls in ``source``: how many runs used a tool."""
    return f"SELECT DISTINCT workflow_id, COALESCE(tool_name, '(none)') AS tool_name FROM {source}"


def run_models_sql(source: str) -> str:
    """SELECT of the (run, model, complexity) triples of the model calls in ``source``."""
    return f"SELECT DISTINCT workflow_id, model, complexity FROM {source}"
