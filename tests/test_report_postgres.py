"""The report over a PostgreSQL store shared by several machines: DuckDB's postgres scanner into
the columnar cache (incrementally), the same figures as over SQLite, and machine / service
filters and breakdowns."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from helpers_sinks import DEMO_COST, demo_spans

from otel_agents.config import load_config
from otel_agents.report import Filters, ReportEngine
from otel_agents.sinks.analytics import AnalyticsSink


def _write(spans, home: Path, machine: str, url: str | None = None) -> None:
    env = {"OTEL_AGENTS_ANALYTICS_URL": url} if url else {}
    sink = AnalyticsSink(load_config(home, environ=env))
    sink._store.host_name = machine
    sink.export(spans)
    sink.close()


def _report(engine: ReportEngine) -> dict:
    r = engine.report()
    r.pop("meta")
    return r


def test_report_over_postgresql_equals_sqlite_and_syncs_incrementally(make_runtime, exporter, tmp_path, pg_url):
    runs = [demo_spans(make_runtime, exporter, workflow_id=f"wf-{i}") for i in range(3)]
    lite = tmp_path / "lite"
    for i, spans in enumerate(runs[:2]):
        _write(spans, lite, f"m{i}")
        _write(spans, tmp_path / f"home{i}", f"m{i}", pg_url)
    db = lite / "analytics" / "history.db"
    with ReportEngine(pg_url, cache_dir=tmp_path / "cache") as pg, ReportEngine(db) as sq:
        assert pg.sync.rebuilt and pg.sync.copied["wf"] == 2 and pg.sync.copied["mc"] == 12
        assert _report(pg) == _report(sq)
        by_machine = pg.report()["cost"]["by_machine"]
    assert [(m["machine"], m["workflows"], m["model_calls"]) for m in by_machine] == [("m0", 1, 6), ("m1", 1, 6)]
    assert all(abs(m["cost_usd"] - DEMO_COST) < 1e-9 for m in by_machine)
    # a third run arrives: only its rows are copied into the existing cache
    _write(runs[2], lite, "m0")
    _write(runs[2], tmp_path / "home0", "m0", pg_url)
    with ReportEngine(pg_url, cache_dir=tmp_path / "cache") as pg, ReportEngine(db) as sq:
        assert not pg.sync.rebuilt
        assert pg.sync.copied == {"wf": 1, "ph": 4, "st": 5, "tc": 10, "mc": 6, "oc": 0}
        assert _report(pg) == _report(sq)
        pg.apply(Filters.parse(machines=["m0"]))
        r = pg.report()
        assert r["meta"]["filters"]["machine"] == ["m0"]
        assert [(m["machine"], m["workflows"]) for m in r["cost"]["by_machine"]] == [("m0", 2)]
        assert abs(r["cost"]["total_usd"] - 2 * DEMO_COST) < 1e-9
    with ReportEngine(pg_url, cache_dir=tmp_path / "cache") as pg:
        assert pg.sync.copied == {} or not any(pg.sync.copied.values())  # up to date: nothing copied


def test_two_data_homes_on_two_machines_one_report(tmp_path, pg_url):
    """Two machines (two data homes, two host names) run the demo into one PostgreSQL; the
    report, from a third home, shows both, broken down by machine, in every format."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    # exit waits for the sinks up to 10 s (not 0.5): this test is about the report, not exit timing
    base.update(OTEL_AGENTS_STRICT="1", OTEL_AGENTS_OTLP_ENABLED="false", OTEL_AGENTS_EXIT_DEADLINE="10")
    for machine in ("laptop-ana", "ci-runner-7"):
        env = {
            **base,
            "OTEL_AGENTS_HOME": str(tmp_path / machine),
            "OTEL_AGENTS_ANALYTICS_URL": pg_url,
            "OTEL_RESOURCE_ATTRIBUTES": f"host.name={machine}",
        }
        done = subprocess.run(
            [sys.executable, "-m", "otel_agents", "demo", "--quiet", "--pace", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert not (tmp_path / machine / "analytics" / "history.db").exists()
    viewer = {**base, "OTEL_AGENTS_HOME": str(tmp_path / "viewer")}

    def report(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "otel_agents", "report", "--store", pg_url, "-q", *args],
            env=viewer,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        secret = pg_url.split("@")[0].rsplit(":", 1)[1]
        assert secret not in done.stdout + done.stderr
        return done.stdout

    data = json.loads(report("-f", "json"))
    machines = {m["machine"]: m for m in data["cost"]["by_machine"]}
    assert sorted(machines) == ["ci-runner-7", "laptop-ana"]
    assert all(m["workflows"] == 1 and m["model_calls"] == 6 for m in machines.values())
    assert all(abs(m["cost_usd"] - DEMO_COST) < 1e-9 for m in machines.values())
    assert abs(data["cost"]["total_usd"] - 2 * DEMO_COST) < 1e-9
    text = report()
    assert "By machine" in text and "ci-runner-7" in text and "laptop-ana" in text
    rows = list(csv.DictReader(io.StringIO(report("-f", "csv"))))
    assert sorted({r["machine"] for r in rows}) == ["ci-runner-7", "laptop-ana"]
    assert len(rows) == 10
    only = json.loads(report("-f", "json", "--machine", "ci-runner-7"))
    assert [m["machine"] for m in only["cost"]["by_machine"]] == ["ci-runner-7"]
    html = tmp_path / "r.html"
    report("-f", "html", "-o", str(html))
    assert "Cost by machine" in html.read_text()
    # configured instead of --store: the same report
    viewer["OTEL_AGENTS_ANALYTICS_URL"] = pg_url
    done = subprocess.run(
        [sys.executable, "-m", "otel_agents", "report", "-q", "-f", "json"],
        env=viewer,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert json.loads(done.stdout)["cost"]["by_machine"] == data["cost"]["by_machine"]
