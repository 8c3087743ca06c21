"""The filtered views every report query reads: ``v_wf``, ``v_ph``, ``v_st``, ``v_tc``, ``v_mc``
(workflows, phases, steps, tool calls, model calls) and ``v_step_tools``, ``v_step_tool_counts``,
``v_tool_dups`` (per-step tool summaries). Filter values live in temporary tables filled with
bound parameters; the views only name those tables.
"""

from __future__ import annotations

from typing import Any

from otel_agents.report.filters import Filters

_VALUE_TABLES = (("f_template", "templates"), ("f_model", "models"), ("f_status", "statuses"), ("f_session", "sessions"))


def _time(col: str, f: Filters) -> list[str]:
    out = []
    if f.since is not None:
        out.append(f"{col} >= (SELECT lo FROM f_time)")
    if f.until is not None:
        out.append(f"{col} < (SELECT hi FROM f_time)")
    return out


def _where(conds: list[str]) -> str:
    return (" WHERE " + " AND ".join(conds)) if conds else ""


def create_views(con: Any, f: Filters) -> None:
    """(Re)create the temporary filter tables and the ``v_*`` views for ``f``."""
    con.execute("CREATE OR REPLACE TEMP TABLE f_time AS SELECT $1::BIGINT AS lo, $2::BIGINT AS hi", [f.since, f.until])
    for table, attr in _VALUE_TABLES:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT unnest($1::VARCHAR[]) AS v",  # noqa: S608
                    [list(getattr(f, attr))])
    wf_conds: list[str] = []
    if f.templates:
        wf_conds.append("template IN (SELECT v FROM f_template)")
    if f.statuses:
        wf_conds.append("status IN (SELECT v FROM f_status)")
    if f.sessions:
        wf_conds.append("session_id IN (SELECT v FROM f_session)")
    if f.models:
        wf_conds.append(
            "(model_used IN (SELECT v FROM f_model)"
            " OR workflow_id IN (SELECT workflow_id FROM mc WHERE model IN (SELECT v FROM f_model))"
            " OR workflow_id IN (SELECT workflow_id FROM st WHERE model IN (SELECT v FROM f_model)))"
        )
    in_sel: list[str] = []
    if wf_conds:
        con.execute(f"CREATE OR REPLACE TEMP TABLE sel AS SELECT workflow_id FROM wf{_where(wf_conds)}")  # noqa: S608
        in_sel = ["workflow_id IN (SELECT workflow_id FROM sel)"]
    model_steps = "parent_id IN (SELECT record_id FROM st WHERE model IN (SELECT v FROM f_model))"
    specs = {
        "v_wf": ("wf", in_sel + _time("start_unix_nano", f)),
        "v_ph": ("ph", in_sel + _time("start_unix_nano", f)),
        "v_st": ("st", in_sel + _time("start_unix_nano", f) + (["model IN (SELECT v FROM f_model)"] if f.models else [])),
        "v_tc": ("tc", in_sel + _time("start_unix_nano", f) + ([model_steps] if f.models else [])),
        "v_mc": ("mc", in_sel + _time("start_unix_nano", f) + (["model IN (SELECT v FROM f_model)"] if f.models else [])),
    }
    for derived in ("step_tools", "step_tool_counts", "tool_dups"):
        specs[f"v_{derived}"] = (derived, in_sel + _time("first_start", f) + ([model_steps] if f.models else []))
    for view, (table, conds) in specs.items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {table}{_where(conds)}")  # noqa: S608
