"""Replay: exactly once by span id (also across a kill), watermarks, the lock, the progress
bar, and the automatic background replay (at start, and when the collector is back)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _otlp_receiver import GrpcReceiver, HttpReceiver, free_port
from _waiting import wait_until
from opentelemetry.sdk.trace import TracerProvider

import otel_agents as oa
from otel_agents import telemetry
from otel_agents.config import load_config
from otel_agents.plugins import new_plugin_manager, set_plugin_manager
from otel_agents.sink import SinkProcessor
from otel_agents.sinks.ledger import Ledger
from otel_agents.sinks.otlp import OtlpSink
from otel_agents.sinks.replay import (
    Progress,
    background_replay,
    count_pending,
    filter_request,
    load_state,
    replay,
    replay_lock,
    to_protobuf,
)
from otel_agents.sinks.spool import SpoolSink, iter_records, iter_spans, spool_files

CLI = str(Path(sys.executable).parent / "otel-agents")


def _env(home: Path, endpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PYTEST_CURRENT_TEST"}
    env.update(
        OTEL_AGENTS_HOME=str(home),
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint,
        OTEL_AGENTS_METRICS_ENABLED="false",
        OTEL_AGENTS_ANALYTICS_ENABLED="false",
        OTEL_AGENTS_REPLAY_ON_START="false",
        **extra,
    )
    return env


def _spool_offline(monkeypatch, n_workflows: int, steps: int = 3) -> tuple[object, list[str]]:
    """Run workflows with the collector down: everything lands in the spool only."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{free_port()}/v1/traces")
    monkeypatch.setenv("OTEL_AGENTS_REPLAY_ON_START", "false")
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    cfg = load_config()
    proc = SinkProcessor([SpoolSink(cfg), OtlpSink(cfg)], config=cfg)
    tp = TracerProvider()
    tp.add_span_processor(proc)
    tr = tp.get_tracer("t")
    for w in range(n_workflows):
        with tr.start_as_current_span(f"wf{w}"):
            for s in range(steps):
                with tr.start_as_current_span(f"wf{w}-step{s}"):
                    pass
    assert proc.force_flush(10_000)
    proc.shutdown()
    ids = [s["spanId"] for p in spool_files(cfg.spans_dir) for _o, _e, d in iter_records(p) for s in iter_spans(d)]
    assert len(ids) == n_workflows * (steps + 1)
    return cfg, ids


def test_filter_and_convert_back_to_protobuf(monkeypatch):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    cfg, ids = _spool_offline(monkeypatch, 1, steps=2)
    (path,) = spool_files(cfg.spans_dir)
    # the three spans may be in one line or in several: the spool thread writes whatever
    # it has when it wakes (under load, often the first span alone), so take every line
    docs = [d for _o, _e, d in iter_records(path)]
    doc = {"resourceSpans": [rs for d in docs for rs in d["resourceSpans"]]}
    rs, kept = filter_request(doc, lambda sp: sp["name"] != "wf0-step0")
    assert len(kept) == 2
    req = ExportTraceServiceRequest.FromString(to_protobuf(rs))
    spans = [sp for r in req.resource_spans for ss in r.scope_spans for sp in ss.spans]
    assert sorted(sp.name for sp in spans) == ["wf0", "wf0-step1"]
    by_name = {sp.name: sp for sp in spans}
    assert by_name["wf0-step1"].parent_span_id == by_name["wf0"].span_id  # hex ids became bytes
    assert by_name["wf0"].span_id.hex() in kept and len(by_name["wf0"].trace_id) == 16
    assert any(kv.key == "service.name" for kv in req.resource_spans[0].resource.attributes)


@pytest.mark.parametrize("receiver_cls", [HttpReceiver, GrpcReceiver])
def test_replay_sends_every_span_once_then_nothing(monkeypatch, receiver_cls):
    cfg, ids = _spool_offline(monkeypatch, 40)
    assert count_pending(cfg) == (160, 0)
    with receiver_cls() as rec:
        proto = "grpc" if receiver_cls is GrpcReceiver else "http/protobuf"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", proto)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rec.endpoint)
        cfg = load_config()
        with replay_lock(cfg.home, wait=False) as got:
            assert got
            result = replay(cfg, batch_spans=50)
            again = replay(cfg, batch_spans=50)
        counts = rec.counts()
    assert (result.pending, result.sent, result.complete, result.batches) == (160, 160, True, 4)
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}
    assert (again.pending, again.sent) == (0, 0)
    assert Ledger(cfg.home).load() == set(ids)
    (path,) = spool_files(cfg.spans_dir)
    assert load_state(cfg.home)["watermarks"] == {path.name: path.stat().st_size}
    assert count_pending(cfg) == (0, 0)


def test_replay_stops_at_a_dead_receiver_and_resumes_later(monkeypatch):
    cfg, ids = _spool_offline(monkeypatch, 10)
    result = replay(cfg)  # still down
    assert (result.sent, result.failed, result.complete) == (0, 40, False)
    assert "connection refused" in result.error
    assert load_state(cfg.home)["watermarks"][spool_files(cfg.spans_dir)[0].name] == 0
    with HttpReceiver() as rec:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rec.endpoint)
        result = replay(load_config())
        assert result.sent == 40 and sorted(rec.counts()) == sorted(ids)


def test_killed_midway_and_restarted_delivers_exactly_once(monkeypatch, tmp_path):
    cfg, ids = _spool_offline(monkeypatch, 50)  # 200 spans
    with HttpReceiver() as rec:
        rec.hold_after = 2  # answer two batches, then hold the third
        env = _env(cfg.home, rec.endpoint)
        p = subprocess.Popen(
            [CLI, "replay", "--batch", "30"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert rec.holding.wait(30)
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        assert len(rec.counts()) == 60
        assert len(Ledger(cfg.home).load()) == 60  # recorded right after each acknowledged batch
        rec.hold_after = None
        rec.release.set()
        out = subprocess.run([CLI, "replay", "--batch", "30"], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        counts = rec.counts()
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}
    assert out.stdout.startswith("replayed 140 of 140 undelivered spans to http/protobuf -> http://127.0.0.1:")
    # the progress bar, plain text on stderr (not a terminal: one line per tenth)
    bars = [line for line in out.stderr.splitlines() if line.startswith("replay [")]
    assert bars[0].startswith("replay [..............................] 0/140 spans   0%")
    assert bars[-1].startswith("replay [##############################] 140/140 spans 100%")


def test_one_replay_at_a_time(monkeypatch):
    cfg, _ids = _spool_offline(monkeypatch, 2)
    with HttpReceiver() as rec:
        env = _env(cfg.home, rec.endpoint)
        with replay_lock(cfg.home, wait=False) as got:
            assert got
            out = subprocess.run([CLI, "replay", "--no-wait"], env=env, capture_output=True, text=True, timeout=60)
            assert out.returncode == 3
            assert "another replay is running" in out.stderr
            stop = threading.Event()
            t0 = time.monotonic()
            background_replay(cfg, stop, 0.0)  # returns at once: the lock is taken
            assert time.monotonic() - t0 < 0.5
        assert rec.requests == 0


def test_dry_run_and_corrupt_lines(monkeypatch):
    cfg, _ids = _spool_offline(monkeypatch, 3)
    (path,) = spool_files(cfg.spans_dir)
    with open(path, "ab") as f:
        f.write(b"garbage\n")
    env = _env(cfg.home, f"http://127.0.0.1:{free_port()}/v1/traces")
    out = subprocess.run([CLI, "replay", "--dry-run"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.startswith("12 undelivered spans would be sent to http/protobuf -> http://127.0.0.1:")
    assert out.stdout.rstrip().endswith("; 1 corrupt spool lines skipped")


def test_progress_bar_on_a_terminal_redraws_in_place():
    class Tty:
        def __init__(self):
            self.text = ""

        def isatty(self):
            return True

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    out = Tty()
    bar = Progress(4, stream=out, width=4)
    bar.update(2)
    bar.update(4)
    bar.finish()
    assert out.text.startswith("\rreplay [##..] 2/4 spans  50%")
    assert "\rreplay [####] 4/4 spans 100%" in out.text and out.text.endswith("\n")


def test_background_replay_at_start_does_not_block_the_workflow(monkeypatch):
    cfg, ids = _spool_offline(monkeypatch, 25)
    with HttpReceiver() as rec:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rec.endpoint)
        monkeypatch.setenv("OTEL_AGENTS_REPLAY_ON_START", "true")
        monkeypatch.setenv("OTEL_AGENTS_METRICS_ENABLED", "false")
        monkeypatch.setenv("OTEL_AGENTS_ANALYTICS_ENABLED", "false")
        pm = new_plugin_manager(load_entry_points=False)
        set_plugin_manager(pm)
        t0 = time.monotonic()
        rt = telemetry.setup(provider=TracerProvider(), config=load_config(), plugin_manager=pm, set_global=False)
        with oa.workflow("live", workflow_id="wf-live"):
            pass
        assert time.monotonic() - t0 < 0.9  # the replay (1 s after start) was not waited for
        wait_until(lambda: len(rec.counts()) >= 101, 15, lambda: f"101 spans at the receiver ({len(rec.counts())})")
        for proc in rt.processors:
            proc.shutdown()
        counts = rec.counts()
    assert set(ids) <= set(counts) and len(counts) == 101  # 100 replayed + the live workflow
    assert set(counts.values()) == {1}


def test_collector_back_triggers_replay_of_what_failed(monkeypatch):
    monkeypatch.setenv("OTEL_AGENTS_STRICT", "0")
    monkeypatch.setenv("OTEL_AGENTS_REPLAY_ON_START", "false")
    with HttpReceiver() as rec:
        rec.mode, rec.status, rec.retry_after = "status", 503, "0"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rec.endpoint)
        cfg = load_config()
        proc = SinkProcessor([SpoolSink(cfg), OtlpSink(cfg)], config=cfg)
        tp = TracerProvider()
        tp.add_span_processor(proc)
        tr = tp.get_tracer("t")
        for i in range(5):
            with tr.start_as_current_span(f"early{i}"):
                pass
        assert proc.force_flush(5000)
        assert rec.requests == 0
        rec.mode = "ok"
        with tr.start_as_current_span("late"):
            pass
        wait_until(lambda: len(rec.counts()) >= 6, 10, lambda: f"6 spans at the receiver ({len(rec.counts())})")
        proc.shutdown()
        counts = rec.counts()
    assert len(counts) == 6 and set(counts.values()) == {1}


def test_replay_state_file_is_private(monkeypatch):
    cfg, _ids = _spool_offline(monkeypatch, 1)
    replay(cfg)
    st = cfg.home / "state" / "replay.json"
    assert oct(st.stat().st_mode & 0o777) == "0o600"
    assert json.loads(st.read_text())["last"]["failed"] == 4


def test_fast_conversion_equals_json_format_reference():
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    from otel_agents.sinks.otlp_json import to_request, via_json_format
    from otel_agents.sinks.spool import encode_line

    exp = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exp))
    tr = tp.get_tracer("conv", "1.2.3")
    with tr.start_as_current_span("root", kind=SpanKind.SERVER) as root:
        root.set_attribute("s", 'é\n"x"')
        root.set_attribute("i", -(2**62))
        root.set_attribute("f", 0.1)
        root.set_attribute("b", True)
        root.set_attribute("arr", [1, 2, 3])
        root.add_event("ev", {"k": "v", "n": 7})
        root.set_status(Status(StatusCode.ERROR, "boom"))
    with tr.start_as_current_span("linked", kind=SpanKind.CLIENT, links=[Link(root.get_span_context(), {"l": 1})]):
        pass
    doc = json.loads(encode_line(list(exp.get_finished_spans())))
    assert to_request(doc["resourceSpans"]) == via_json_format(doc["resourceSpans"])
    # what other producers may write: kvlist and bytes values, enums as names
    other = [
        {
            "resource": {
                "attributes": [
                    {"key": "kv", "value": {"kvlistValue": {"values": [{"key": "a", "value": {"bytesValue": "AAE="}}]}}}
                ]
            },
            "scopeSpans": [
                {
                    "scope": {"name": "x"},
                    "spans": [
                        {
                            "traceId": "0123456789abcdef0123456789abcdef",
                            "spanId": "0123456789abcdef",
                            "name": "n",
                            "kind": "SPAN_KIND_CLIENT",
                            "startTimeUnixNano": "1",
                            "endTimeUnixNano": "2",
                            "status": {"code": "STATUS_CODE_ERROR", "message": "m"},
                        }
                    ],
                }
            ],
        }
    ]
    req = to_request(other)
    assert req == via_json_format(other)
    assert req.resource_spans[0].scope_spans[0].spans[0].kind == 3
    assert req.resource_spans[0].resource.attributes[0].value.kvlist_value.values[0].value.bytes_value == b"\x00\x01"
