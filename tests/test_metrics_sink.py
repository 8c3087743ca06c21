"""The metrics JSONL sink: real files, exact records, private modes, UTC-dated files, and
eight real processes appending at once without a corrupt line."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from helpers_sinks import DEMO_COUNTS, DEMO_RECORDS, demo_spans, ns, run_workers

import otel_agents as oa
from otel_agents.config import load_config
from otel_agents.foundation.records import FIELDS, records_from_spans
from otel_agents.sink_contract import DeliveryError
from otel_agents.sinks.metrics import MetricsSink, ReadStats, iter_records


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_demo_records_land_in_todays_file_exactly(make_runtime, exporter, tmp_path):
    spans = demo_spans(make_runtime, exporter)
    cfg = load_config(tmp_path / "home")
    sink = MetricsSink(cfg)
    assert sink.name == "metrics"
    sink.export(spans)
    sink.close()
    files = sorted((tmp_path / "home" / "metrics").iterdir())
    day = records_from_spans(spans)[-1]["end_time"][:10]
    assert [f.name for f in files] == [f"executions_{day}.jsonl"]
    lines = _lines(files[0])
    assert lines == records_from_spans(spans)  # the very records, in span-end order
    assert len(lines) == DEMO_RECORDS
    assert {k: sum(1 for r in lines if r["kind"] == k) for k in DEMO_COUNTS} == DEMO_COUNTS
    assert all(tuple(r) == FIELDS for r in lines)
    assert str(tmp_path / "home" / "metrics") in sink.describe()


def test_files_are_0600_and_directories_0700(make_runtime, exporter, tmp_path):
    spans = demo_spans(make_runtime, exporter)
    home = tmp_path / "fresh" / "home"
    sink = MetricsSink(load_config(home))
    sink.export(spans)
    sink.close()
    for d in (home, home / "metrics"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    (f,) = (home / "metrics").iterdir()
    assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_records_go_to_the_utc_day_they_ended(make_runtime, exporter, tmp_path):
    make_runtime()
    wf = oa.new_workflow("midnight", workflow_id="wf-midnight", start_time=ns("2025-01-31T23:59:00")).start()
    ph = wf.phase("late", start_time=ns("2025-01-31T23:59:10")).start()
    ph.event.end_time = ns("2025-01-31T23:59:50")
    ph.stop()
    wf.event.end_time = ns("2025-02-01T00:00:30")
    wf.stop()
    sink = MetricsSink(load_config(tmp_path / "home"))
    sink.export(exporter.get_finished_spans())
    sink.close()
    mdir = tmp_path / "home" / "metrics"
    assert sorted(p.name for p in mdir.iterdir()) == ["executions_2025-01-31.jsonl", "executions_2025-02-01.jsonl"]
    assert [r["kind"] for r in _lines(mdir / "executions_2025-01-31.jsonl")] == ["phase"]
    (wf_rec,) = _lines(mdir / "executions_2025-02-01.jsonl")
    assert (wf_rec["kind"], wf_rec["start_time"], wf_rec["end_time"], wf_rec["duration_ms"]) == (
        "workflow",
        "2025-01-31T23:59:00.000000Z",
        "2025-02-01T00:00:30.000000Z",
        90_000.0,
    )


def test_disabled_sink_writes_nothing(make_runtime, exporter, tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_METRICS_ENABLED", "false")
    sink = MetricsSink(load_config(tmp_path / "home"))
    sink.export(demo_spans(make_runtime, exporter))
    sink.close()
    assert not (tmp_path / "home" / "metrics").exists()
    assert sink.describe().startswith("off")


def test_unwritable_directory_is_a_delivery_error(make_runtime, exporter, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "metrics").write_text("not a directory")
    sink = MetricsSink(load_config(home))
    with pytest.raises(DeliveryError):
        sink.export(demo_spans(make_runtime, exporter))
    sink.close()


def test_reader_skips_corrupt_lines_and_a_partial_tail(tmp_path):
    mdir = tmp_path / "metrics"
    mdir.mkdir()
    good = {"record_id": "a" * 16, "kind": "step"}
    (mdir / "executions_2025-01-01.jsonl").write_text(
        json.dumps(good) + "\n" + "{not json\n" + '{"no": "id"}\n' + json.dumps(good | {"record_id": "b" * 16}) + "\n"
    )
    (mdir / "executions_2025-01-02.jsonl").write_text(
        json.dumps(good | {"record_id": "c" * 16}) + "\n" + '{"record_id": "d'
    )
    (mdir / "unrelated.jsonl").write_text("ignored\n")
    st = ReadStats()
    ids = [r["record_id"] for r in iter_records(mdir, stats=st)]
    assert ids == ["a" * 16, "b" * 16, "c" * 16]
    assert (st.files, st.lines, st.records, st.corrupt, st.partial_tail) == (2, 6, 3, 2, 1)
    assert [r["record_id"] for r in iter_records(mdir, since="2025-01-02")] == ["c" * 16]
    assert [r["record_id"] for r in iter_records(mdir, until="2025-01-01")] == ["a" * 16, "b" * 16]


def test_eight_processes_append_without_a_corrupt_line(tmp_path):
    """8 real processes, each 12 demo workflows plus hook-event records of ~100 KiB."""
    home = tmp_path / "home"
    n, procs, big = 12, 8, 100_000
    run_workers(home, procs, n, big, "metrics")
    st = ReadStats()
    records = list(iter_records(home / "metrics", stats=st))
    per_process = n * (DEMO_RECORDS + 1 + 2)  # + the hook span's tool_call record and its two events
    assert (st.corrupt, st.partial_tail) == (0, 0)
    assert st.records == len(records) == procs * per_process
    assert len({r["record_id"] for r in records}) == len(records)
    hooks = [r for r in records if r["kind"] == "hook_event"]
    assert len(hooks) == procs * n * 2
    assert all(len(r["event_attributes"]["payload.sample"]) == big for r in hooks)
    workflows = {r["workflow_id"] for r in records if r["kind"] == "workflow"}
    assert workflows == {f"p{i}-{j}" for i in range(procs) for j in range(n)}
