"""The filtered views every report query reads: ``v_wf``, ``v_ph``, ``v_st``, ``v_tc``, ``v_mc``
(workflows, phases, steps, tool calls, model calls), ``v_step_tools``, ``v_step_tool_counts``,
``v_tool_dups`` (per-step tool summaries), ``v_lg`` (logical steps), ``v_tasks`` (tasks) and
``v_wall`` (each run's wall-clock time of its steps), ``v_tool_runs`` and ``v_model_runs``
(the tools and models each run used).

Filter values live in tables filled with bound parameters, in an in-memory database attached
under a name of our own (:class:`Scope`), so every cursor of the connection shares them; each
cursor has its own temporary views (cheap), naming those tables. Unfiltered, the logical steps
and tasks come from the cache's tables; filtered, they are computed once over the selected
attempts, into the shared database.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from otel_agents.report import logical
from otel_agents.report.filters import Filters
from otel_agents.report.outcomes import per_run_sql
from otel_agents.report.scores import run_steps_sql, scored_sql

_VALUE_TABLES = (
    ("f_template", "templates"),
    ("f_model", "models"),
    ("f_status", "statuses"),
    ("f_session", "sessions"),
    ("f_machine", "machines"),
    ("f_service", "services"),
)
_SEQ = itertools.count(1)


def _where(conds: list[str]) -> str:
    return (" WHERE " + " AND ".join(conds)) if conds else ""


class Scope:
    """The filters of one report engine: shared tables under :attr:`alias`, views per cursor."""

    def __init__(self, con: Any) -> None:
        self.alias = f"report_scope_{os.getpid()}_{next(_SEQ)}"  # our own identifier, never user input
        con.execute(f"ATTACH ':memory:' AS {self.alias} (READ_WRITE)")  # works on a read-only cache too
        self.filters = Filters()

    def _time(self, col: str) -> list[str]:
        out = []
        if self.filters.since is not None:
            out.append(f"{col} >= (SELECT lo FROM {self.alias}.f_time)")
        if self.filters.until is not None:
            out.append(f"{col} < (SELECT hi FROM {self.alias}.f_time)")
        return out

    def apply(self, con: Any, f: Filters) -> None:
        """Fill the shared filter tables for ``f`` and create ``con``'s views."""
        a = self.alias
        self.filters = f
        con.execute(
            f"CREATE OR REPLACE TABLE {a}.f_time AS SELECT $1::BIGINT AS lo, $2::BIGINT AS hi", [f.since, f.until]
        )
        for table, attr in _VALUE_TABLES:
            con.execute(
                f"CREATE OR REPLACE TABLE {a}.{table} AS SELECT unnest($1::VARCHAR[]) AS v", [list(getattr(f, attr))]
            )
        wf_conds: list[str] = []
        if f.templates:
            wf_conds.append(f"template IN (SELECT v FROM {a}.f_template)")
        if f.statuses:
            wf_conds.append(f"status IN (SELECT v FROM {a}.f_status)")
        if f.sessions:
            wf_conds.append(f"session_id IN (SELECT v FROM {a}.f_session)")
        if f.machines:
            wf_conds.append(f"host_name IN (SELECT v FROM {a}.f_machine)")
        if f.services:
            wf_conds.append(f"service_name IN (SELECT v FROM {a}.f_service)")
        if f.models:
            wf_conds.append(
                f"(model_used IN (SELECT v FROM {a}.f_model)"
                f" OR workflow_id IN (SELECT workflow_id FROM mc WHERE model IN (SELECT v FROM {a}.f_model))"
                f" OR workflow_id IN (SELECT workflow_id FROM st WHERE model IN (SELECT v FROM {a}.f_model)))"
            )
        if wf_conds:
            con.execute(f"CREATE OR REPLACE TABLE {a}.sel AS SELECT workflow_id FROM wf{_where(wf_conds)}")
        self.views(con, base_only=True)
        if not f.empty:
            con.execute(f"CREATE OR REPLACE TABLE {a}.lg_selected AS {logical.select_sql('v_st')}")
            con.execute(f"CREATE OR REPLACE TABLE {a}.tasks_selected AS {logical.tasks_sql('v_wf', 'v_st')}")
            con.execute(f"CREATE OR REPLACE TABLE {a}.wall_selected AS {logical.wall_sql(f'{a}.lg_selected')}")
            steps = f"({run_steps_sql(f'{a}.lg_selected')})"
            con.execute(f"CREATE OR REPLACE TABLE {a}.scores_selected AS {scored_sql('v_wf', steps)}")
        self.views(con)

    def views(self, con: Any, *, base_only: bool = False) -> None:
        """Create the ``v_*`` temporary views on ``con`` (a connection or a cursor of it)."""
        a, f = self.alias, self.filters
        in_sel = [f"workflow_id IN (SELECT workflow_id FROM {a}.sel)"] if f.selects_workflows else []
        model = f"model IN (SELECT v FROM {a}.f_model)"
        model_steps = f"parent_id IN (SELECT record_id FROM st WHERE {model})"
        specs = {
            "v_wf": ("wf", in_sel + self._time("start_unix_nano")),
            "v_ph": ("ph", in_sel + self._time("start_unix_nano")),
            "v_st": ("st", in_sel + self._time("start_unix_nano") + ([model] if f.models else [])),
            "v_tc": ("tc", in_sel + self._time("start_unix_nano") + ([model_steps] if f.models else [])),
            "v_mc": ("mc", in_sel + self._time("start_unix_nano") + ([model] if f.models else [])),
            "v_oc": ("oc", [f"workflow_id IN (SELECT workflow_id FROM {a}.sel)"] if f.selects_workflows else []),
            "v_step_tools": ("step_tools", in_sel + self._time("first_start") + ([model_steps] if f.models else [])),
        }
        for derived in ("step_tool_counts", "tool_dups"):  # the steps of v_step_tools
            specs[f"v_{derived}"] = (derived, [] if f.empty else ["parent_id IN (SELECT parent_id FROM v_step_tools)"])
        if not base_only:
            specs["v_lg"] = ("steps_logical" if f.empty else f"{a}.lg_selected", [])
            specs["v_tasks"] = ("tasks_all" if f.empty else f"{a}.tasks_selected", [])
            specs["v_wall"] = ("wall_union" if f.empty else f"{a}.wall_selected", [])
            specs["v_scores"] = ("run_scores" if f.empty else f"{a}.scores_selected", [])
            specs["v_outcome_runs"] = ("run_outcome_rows" if f.empty else f"({per_run_sql()})", [])
            specs["v_tool_runs"] = ("tool_runs" if f.empty else f"({logical.run_tools_sql('v_tc')})", [])
            specs["v_model_runs"] = ("model_runs" if f.empty else f"({logical.run_models_sql('v_mc')})", [])
        for view, (table, conds) in specs.items():
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {table}{_where(conds)}")

    def close(self, con: Any) -> None:
        try:
            con.execute(f"DETACH {self.alias}")
        except Exception:  # noqa: BLE001 - closing anyway
            pass
