"""The report's columnar cache: kept in step with the store incrementally, whatever order the
records arrive in, it gives exactly the report a cache built from scratch gives."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_report import load_records, make_store

from otel_agents.analytics.store import AnalyticsStore
from otel_agents.report import ReportEngine, build_report
from otel_agents.report.cache import cache_path_for


def comparable(report: dict) -> dict:
    """The report minus what says when and how it was computed."""
    meta = {k: v for k, v in report["meta"].items() if k not in ("generated_at", "cache", "cache_sync", "store")}
    return {**report, "meta": meta}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    return comparable(build_report(make_store(tmp_path_factory.mktemp("ref") / "history.db"), use_cache=False))


def _incremental(tmp_path: Path, batches: list[list[dict]]) -> tuple[list, dict]:
    """Write the batches one by one, syncing the persistent cache after each; the last report."""
    path = tmp_path / "history.db"
    store = AnalyticsStore(path)
    syncs = []
    try:
        for batch in batches:
            store.write(batch)
            with ReportEngine(path) as engine:  # opening syncs the cache
                syncs.append(engine.sync)
    finally:
        store.close()
    return syncs, build_report(path)


@pytest.mark.parametrize("size", [5, 17])
def test_cache_synced_batch_by_batch_equals_a_fresh_one(tmp_path, reference, size):
    records = load_records()
    syncs, report = _incremental(tmp_path, [records[i : i + size] for i in range(0, len(records), size)])
    assert syncs[0].rebuilt is True
    assert not any(s.rebuilt for s in syncs[1:])
    assert sum(sum(s.copied.values()) for s in syncs) == len(records)
    assert comparable(report) == reference


def test_workflows_first_then_their_children(tmp_path, reference):
    """Workflow rows arrive first; the store recomputes them when children arrive, and the cache
    fetches them again (and model calls get their phase, step and agent from later steps)."""
    records = load_records()
    order = {"workflow": 0, "phase": 1, "model_call": 2, "step": 3, "tool_call": 4}
    records.sort(key=lambda r: order[r["kind"]])
    syncs, report = _incremental(tmp_path, [records[:4], records[4:15], records[15:29], records[29:43], records[43:]])
    assert syncs[1].copied["ph"] == 11
    assert sum(s.refreshed_workflows for s in syncs) >= 4
    assert comparable(report) == reference


def test_no_new_rows_reads_nothing(tmp_path):
    path = make_store(tmp_path / "history.db")
    build_report(path)
    again = build_report(path)["meta"]["cache_sync"]
    assert again["rebuilt"] is False and sum(again["new_rows"].values()) == 0


def test_a_replaced_store_rebuilds_the_cache(tmp_path, reference):
    path = make_store(tmp_path / "history.db")
    build_report(path)
    other = make_store(tmp_path / "other.db", [r for r in load_records() if r["workflow_id"] == "wf-3"])
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.copy(other, path)
    rebuilt = build_report(path)
    assert rebuilt["meta"]["cache_sync"]["rebuilt"] is True
    assert rebuilt["meta"]["cache_sync"]["reason"] == "a different store file"
    assert rebuilt["cost"]["total_usd"] == 0.04


def test_rebuild_on_request_and_after_a_corrupt_cache(tmp_path, reference):
    path = make_store(tmp_path / "history.db")
    build_report(path)
    assert build_report(path, rebuild_cache=True)["meta"]["cache_sync"]["reason"] == "rebuild requested"
    cache_path_for(path).write_bytes(b"not a duckdb file" * 100)
    report = build_report(path)
    assert report["meta"]["cache_sync"]["rebuilt"] is True
    assert comparable(report) == reference


def _holder(code: str, path: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", code + "\nprint('holding', flush=True)\nimport time\ntime.sleep(60)", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_reports_share_an_up_to_date_cache_read_only(tmp_path, reference):
    path = make_store(tmp_path / "history.db")
    build_report(path)
    holder = _holder("import sys\nfrom otel_agents.report import ReportEngine\ne = ReportEngine(sys.argv[1])", path)
    try:
        with ReportEngine(path, cache_wait_s=0.3) as other:
            assert other.cache_path is not None
            assert comparable(other.report()) == reference
    finally:
        holder.kill()
        holder.wait()


def test_a_cache_being_written_by_another_process_falls_back_to_reading_the_store(tmp_path, reference):
    path = make_store(tmp_path / "history.db")
    build_report(path)
    holder = _holder("import sys, duckdb\ncon = duckdb.connect(sys.argv[1].replace('.db', '.report.duckdb'))", path)
    try:
        messages: list[str] = []
        with ReportEngine(path, cache_wait_s=0.3, progress=messages.append) as other:
            assert other.cache_path is None
            assert comparable(other.report()) == reference
        assert any("report cache unavailable" in m for m in messages)
    finally:
        holder.kill()
        holder.wait()
