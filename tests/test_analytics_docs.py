"""The docs stay true: every JSONL field and every table and view column is documented,
and every example query in docs/analytics.md runs on a real store."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from helpers_sinks import demo_spans, export_once, seed_002_workflow

from otel_agents.config import load_config
from otel_agents.foundation.records import FIELDS
from otel_agents.sinks.analytics import AnalyticsSink

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_jsonl_field_is_documented():
    text = (DOCS / "metrics.md").read_text()
    documented = re.findall(r"^\| `([a-z0-9_]+)` \|", text, flags=re.M)
    assert documented == list(FIELDS)


def _store(make_runtime, exporter, tmp_path) -> sqlite3.Connection:
    home = tmp_path / "home"
    spans = demo_spans(make_runtime, exporter) + seed_002_workflow(make_runtime, exporter)
    export_once(AnalyticsSink(load_config(home)), spans)
    return sqlite3.connect(home / "analytics" / "history.db")


def test_every_table_and_view_column_is_documented(make_runtime, exporter, tmp_path):
    text = (DOCS / "analytics.md").read_text()
    conn = _store(make_runtime, exporter, tmp_path)
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name != 'schema_migrations'"
        )
    ]
    assert len(names) == 12
    for name in names:
        section = text.split(f"### `{name}`", 1)
        assert len(section) == 2, f"no section for {name}"
        body = section[1].split("\n### ", 1)[0]
        for _cid, column, *_rest in conn.execute(f"PRAGMA table_info({name})"):
            assert f"`{column}`" in body, f"{name}.{column} is not documented"


def test_example_queries_run(make_runtime, exporter, tmp_path):
    text = (DOCS / "analytics.md").read_text()
    conn = _store(make_runtime, exporter, tmp_path)
    blocks = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    statements = [s.strip() for block in blocks for s in re.sub(r"--[^\n]*", "", block).split(";") if s.strip()]
    assert len(statements) >= 12
    for sql in statements:
        rows = conn.execute(sql, ("sess",) if "?" in sql else ()).fetchall()
        assert isinstance(rows, list)
    redundant = conn.execute(
        "SELECT step_name, tool_name, COUNT(*) FROM tool_calls WHERE arguments_sha256 IS NOT NULL"
        " GROUP BY parent_id, tool_name, arguments_sha256 HAVING COUNT(*) > 1"
    ).fetchall()
    assert redundant == [("coder", "Read", 2)]  # the demo's coder reads app/cart.py twice
