"""The spool: OTLP-JSON lines identical to the official encoder's, one write per record,
rotation, retention, partial lines, many processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from _waiting import wait_until
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agents.config import load_config
from otel_agents.foundation.files import AppendFile, iter_lines
from otel_agents.sinks.ledger import Ledger
from otel_agents.sinks.spool import SpoolSink, apply_retention, iter_records, iter_spans, spool_files
from otel_agents.sinks.spool_encoder import encode_line_official

PY = sys.executable


def _spans(n: int, attrs: dict | None = None):
    exp = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exp))
    tr = tp.get_tracer("t")
    for i in range(n):
        with tr.start_as_current_span(f"s{i}") as sp:
            sp.set_attribute("i", i)
            for k, v in (attrs or {}).items():
                sp.set_attribute(k, v)
    return list(exp.get_finished_spans())


def _cfg(monkeypatch, **env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return load_config()


def test_line_is_exactly_the_official_encoding(monkeypatch):
    from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans

    cfg = _cfg(monkeypatch)
    spans = _spans(3, {"gen_ai.usage.input_tokens": 3100, "cost": 0.011475, "tags": ("a", "b")})
    sink = SpoolSink(cfg)
    sink.export(spans)
    sink.close()
    (path,) = spool_files(cfg.spans_dir)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 2  # one record, newline-terminated
    assert json.loads(lines[0]) == json.loads(encode_spans(spans).to_json())
    assert path.read_bytes() == encode_line_official(spans)  # byte for byte (tests/test_spool_encoder.py)
    doc = json.loads(lines[0])
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    attrs = {a["key"]: a["value"] for a in span["attributes"]}
    assert attrs["gen_ai.usage.input_tokens"] == {"intValue": "3100"}  # int64 as a string: OTLP/JSON
    assert attrs["cost"] == {"doubleValue": 0.011475}
    assert attrs["tags"] == {"arrayValue": {"values": [{"stringValue": "a"}, {"stringValue": "b"}]}}
    assert span["spanId"] == f"{spans[0].context.span_id:016x}"
    assert span["traceId"] == f"{spans[0].context.trace_id:032x}"
    assert "spans" in sink.describe() or str(cfg.spans_dir) in sink.describe()


def test_rotation_by_size(monkeypatch):
    cfg = _cfg(monkeypatch, OTEL_AGENTS_SPOOL_MAX_FILE_BYTES="8192")
    sink = SpoolSink(cfg)
    spans = _spans(40)
    for s in spans:
        sink.export([s])
    sink.close()
    files = spool_files(cfg.spans_dir)
    assert len(files) >= 3
    day = time.strftime("%Y%m%d", time.gmtime())
    assert [p.name for p in files] == [f"spans-{day}-{i:04d}.jsonl" for i in range(1, len(files) + 1)]
    for p in files[:-1]:
        assert 8192 <= p.stat().st_size < 8192 + 2000  # moved on right after passing the limit
    names = [s["name"] for p in files for _o, _e, d in iter_records(p) for s in iter_spans(d)]
    assert names == [f"s{i}" for i in range(40)]


def test_writers_in_other_processes_follow_rotation(monkeypatch):
    cfg = _cfg(monkeypatch, OTEL_AGENTS_SPOOL_MAX_FILE_BYTES="8192")
    first = SpoolSink(cfg)
    second = SpoolSink(cfg)  # as another process would: its own descriptor and state
    for i, s in enumerate(_spans(30)):
        (first if i % 2 else second).export([s])
    first.close()
    second.close()
    files = spool_files(cfg.spans_dir)
    assert all(p.stat().st_size < 8192 + 2000 for p in files)
    assert sum(1 for p in files for _ in iter_records(p)) == 30


def test_readers_skip_a_trailing_partial_line_and_count_corrupt(tmp_path):
    p = tmp_path / "spans-20250101-0001.jsonl"
    good = b'{"resourceSpans":[]}\n'
    p.write_bytes(good + b"not json\n" + good + b'{"resourceSp')
    recs = list(iter_records(p))
    assert [d for _o, _e, d in recs] == [{"resourceSpans": []}, None, {"resourceSpans": []}]
    assert recs[-1][1] == 2 * len(good) + len(b"not json\n")  # the partial tail is not consumed


def test_after_a_short_write_the_next_record_starts_on_a_new_line(tmp_path):
    p = tmp_path / "f.jsonl"
    f = AppendFile(p)
    f.append(b'{"a":1}\n')
    with open(p, "ab") as raw:  # what a disk-full short write leaves behind
        raw.write(b'{"a":')
    f._broken = True
    f.append(b'{"a":2}\n')
    f.close()
    assert [
        json.loads(line) for _o, _e, line in iter_lines(p) if line.startswith(b'{"a":') and line.rstrip().endswith(b"}")
    ] == [{"a": 1}, {"a": 2}]
    assert p.read_bytes() == b'{"a":1}\n{"a":\n{"a":2}\n'


def test_a_file_left_in_the_middle_of_a_line_gets_a_fresh_line_first(tmp_path):
    """A writer killed mid-write leaves half a line; the next process's first record must not
    be joined to it. A file that ends a line gets no extra newline."""
    torn, whole = tmp_path / "torn.jsonl", tmp_path / "whole.jsonl"
    torn.write_bytes(b'{"a":1}\n{"a":')
    whole.write_bytes(b'{"a":1}\n')
    for p in (torn, whole):
        f = AppendFile(p)
        f.append(b'{"a":2}\n')
        f.append(b'{"a":3}\n')
        f.close()
    assert torn.read_bytes() == b'{"a":1}\n{"a":\n{"a":2}\n{"a":3}\n'
    assert whole.read_bytes() == b'{"a":1}\n{"a":2}\n{"a":3}\n'


def test_readers_skip_blank_lines(tmp_path):
    """A fresh line started after another process's write in progress is an empty line:
    skipped by every reader, never counted as corrupt."""
    from otel_agents.sinks.metrics import ReadStats, iter_records as metrics_records

    mdir = tmp_path / "metrics"
    mdir.mkdir()
    line = b'{"record_id":"aaaaaaaaaaaaaaaa","kind":"workflow"}\n'
    (mdir / "executions_2025-01-01.jsonl").write_bytes(line + b"\n" + line.replace(b"a", b"b", 16))
    st = ReadStats()
    assert [r["record_id"] for r in metrics_records(mdir, stats=st)] == ["a" * 16, "b" * 16]
    assert (st.corrupt, st.partial_tail) == (0, 0)
    spool = tmp_path / "spans-20250101-0001.jsonl"
    spool.write_bytes(b'{"resourceSpans":[]}\n\n{"resourceSpans":[]}\n')
    assert [d for _o, _e, d in iter_records(spool)] == [{"resourceSpans": []}, {"resourceSpans": []}]


def test_retention_keeps_undelivered_and_prunes_ledger(monkeypatch):
    cfg = _cfg(monkeypatch)
    sink = SpoolSink(cfg)
    spans = _spans(4)
    sink.export(spans[:2])
    sink._roll(sink._seq + 1)
    sink.export(spans[2:])
    sink.close()
    # the first export started the hourly retention on its own thread: let it finish, or it
    # may run after the files are made old below and delete one itself
    for t in threading.enumerate():
        if t.name == "otel-agents-retention":
            t.join(10)
    old, new = spool_files(cfg.spans_dir)
    month_ago = time.time() - 30 * 86400
    os.utime(old, (month_ago, month_ago))
    os.utime(new, (month_ago, month_ago))
    ledger = Ledger(cfg.home)
    ledger.append(f"{s.context.span_id:016x}" for s in spans[:2])  # only the first file delivered
    ledger.close()
    stale_ledger = cfg.spans_dir / "delivered-20200101.ids"
    stale_ledger.write_text("0000000000000001\n")
    deleted = apply_retention(cfg.home, cfg.spans_dir, 14, require_delivered=True)
    assert old in deleted and new not in deleted
    assert spool_files(cfg.spans_dir) == [new]
    assert stale_ledger in deleted  # no spool file that old is left
    assert any(p.name.startswith("delivered-") for p in os.scandir(cfg.spans_dir))  # today's stays
    # with OTLP off the spool is only a local archive: age alone decides
    deleted = apply_retention(cfg.home, cfg.spans_dir, 14, require_delivered=False)
    assert deleted[0] == new and spool_files(cfg.spans_dir) == []


def test_retention_runs_at_most_hourly_across_processes(monkeypatch):
    cfg = _cfg(monkeypatch)
    sink = SpoolSink(cfg)
    sink.export(_spans(1))
    stamp = cfg.home / "state" / "retention.stamp"
    wait_until(stamp.exists, 10, f"{stamp} (retention runs on its own thread)")
    assert sink.retention() == []  # throttled by the stamp
    sink.close()


def test_eight_processes_share_files_without_loss_or_corruption(tmp_path):
    home = tmp_path / "h"
    script = textwrap.dedent("""
        import sys
        from opentelemetry.sdk.trace import TracerProvider
        from otel_agents.config import load_config
        from otel_agents.sinks.spool import SpoolSink
        from otel_agents.sink import SinkProcessor
        cfg = load_config()
        proc = SinkProcessor([SpoolSink(cfg)], config=cfg)
        tp = TracerProvider(); tp.add_span_processor(proc)
        tr = tp.get_tracer("w")
        big = "x" * int(sys.argv[2])
        for i in range(300):
            with tr.start_as_current_span(f"{sys.argv[1]}-{i}") as s:
                s.set_attribute("payload", big)
        proc.shutdown()
    """)
    env = dict(
        os.environ,
        OTEL_AGENTS_HOME=str(home),
        OTEL_AGENTS_SPOOL_MAX_FILE_BYTES=str(2 * 1024 * 1024),
        OTEL_AGENTS_EXIT_DEADLINE="30",
    )
    env.pop("PYTEST_CURRENT_TEST", None)
    procs = [subprocess.Popen([PY, "-c", script, f"p{i}", str(200 if i % 2 else 20000)], env=env) for i in range(8)]
    assert [p.wait(120) for p in procs] == [0] * 8
    names = []
    corrupt = 0
    for p in spool_files(Path(home) / "spans"):
        for _o, _e, d in iter_records(p):
            if d is None:
                corrupt += 1
            else:
                names += [s["name"] for s in iter_spans(d)]
    assert corrupt == 0
    assert len(names) == len(set(names)) == 8 * 300
    assert len(spool_files(Path(home) / "spans")) >= 2  # rotated while shared


def test_a_write_cut_short_by_a_full_disk_leaves_no_torn_line(tmp_path):
    """A real short write: the file size limit (RLIMIT_FSIZE, as a full disk) cuts a record;
    the partial bytes are cut off again, and the next record after the limit is lifted is
    the next line."""
    p = tmp_path / "f.jsonl"
    script = textwrap.dedent("""
        import resource, sys
        from otel_agents.foundation.files import AppendFile
        path = sys.argv[1]
        f = AppendFile(path)
        f.append(b'{"a":1}\\n')
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20, hard))  # room for 12 more bytes
        try:
            f.append(b'{"a":2,"pad":"' + b"x" * 100 + b'"}\\n')
        except OSError as exc:
            print("cut:", exc)
        with open(path, "rb") as r:
            print("after:", r.read())
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        f.append(b'{"a":3}\\n')
        f.close()
    """)
    out = subprocess.run([PY, "-c", script, str(p)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "cut: [Errno 28] short write: 12 of 117 bytes" in out.stdout
    assert "after: b'{\"a\":1}\\n'" in out.stdout  # the 12 partial bytes were cut off again
    assert p.read_bytes() == b'{"a":1}\n{"a":3}\n'


def test_a_spool_file_deleted_while_open_is_created_again(monkeypatch):
    cfg = _cfg(monkeypatch)
    sink = SpoolSink(cfg)
    sink.export(_spans(2))
    (path,) = spool_files(cfg.spans_dir)
    path.unlink()  # e.g. someone cleaning up by hand while the process runs
    sink.export(_spans(3))
    sink.close()
    (again,) = spool_files(cfg.spans_dir)
    assert again == path
    assert sum(len(list(iter_spans(d))) for _o, _e, d in iter_records(again)) == 3  # not lost in the unlinked file
