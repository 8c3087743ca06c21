"""The OTLP sink against real loopback receivers: configuration, gRPC and HTTP delivery,
the ledger, and bounded failure (refused, hung, 503/429 Retry-After); secrets stay secret."""

from __future__ import annotations

import logging
import time

import pytest
from _otlp_receiver import GrpcReceiver, HttpReceiver, HungSocket, free_port
from _waiting import wait_until
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_agents.config import load_config
from otel_agents.foundation import state
from otel_agents.sink import SinkProcessor
from otel_agents.sink_contract import DeliveryError
from otel_agents.sinks.ledger import Ledger
from otel_agents.sinks.otlp import OtlpSink
from otel_agents.sinks.spool import SpoolSink
from otel_agents.sinks.transport import parse_retry_after, resolve_target

SECRET = "Bearer s3cr3t-t0ken"


def _spans(n: int):
    exp = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exp))
    tr = tp.get_tracer("t")
    for i in range(n):
        with tr.start_as_current_span(f"s{i}"):
            pass
    return list(exp.get_finished_spans())


def _ids(spans):
    return [f"{s.context.span_id:016x}" for s in spans]


def _cfg(monkeypatch, **env):
    monkeypatch.setenv("OTEL_AGENTS_REPLAY_ON_START", "false")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return load_config()


# --- configuration ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "protocol", "endpoint"),
    [
        ({}, "http/protobuf", "http://localhost:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc", "http://localhost:4317"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "http/protobuf", "http://collector:4318/v1/traces"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector/otlp/"},
            "http/protobuf",
            "https://collector:443/otlp/v1/traces",
        ),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:9999/custom"}, "http/protobuf", "http://c:9999/custom"),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:9999/t", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"},
            "http/protobuf",
            "http://c:9999/t",
        ),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"},
            "grpc",
            "http://collector:4317",
        ),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            "grpc",
            "http://localhost:4317",
        ),
    ],
)
def test_endpoint_resolution(monkeypatch, env, protocol, endpoint):
    t = resolve_target(_cfg(monkeypatch, **env))
    assert (t.protocol, t.endpoint, t.problems) == (protocol, endpoint, [])


def test_timeout_env_is_milliseconds_per_the_spec(monkeypatch):
    t = resolve_target(_cfg(monkeypatch, OTEL_EXPORTER_OTLP_TIMEOUT="2500"))
    assert t.timeout == 2.5
    t = resolve_target(_cfg(monkeypatch, OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="400"))
    assert t.timeout == 0.4


def test_config_toml_and_problems(monkeypatch, tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "config.toml").write_text(
        '[otlp]\nendpoint = "http://127.0.0.1:5555"\nprotocol = "http/json"\ntimeout = 3\n'
        f'headers = "Authorization={SECRET.replace(" ", "%20")},bad-entry"\n'
    )
    cfg = load_config(home)
    t = resolve_target(cfg)
    assert (t.protocol, t.endpoint, t.timeout) == ("http/protobuf", "http://127.0.0.1:5555/v1/traces", 3.0)
    assert t.headers == {"authorization": SECRET}
    assert t.problems == [
        "otlp.protocol 'http/json' is not supported (grpc, http/protobuf); using http/protobuf",
        "otlp.headers: entry 2 is not key=value; ignored",
    ]
    assert SECRET not in t.describe() and SECRET not in repr(t)
    assert "1 header(s) set (values hidden)" in t.describe()


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("100000") == 300.0  # capped
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None


# --- delivery -----------------------------------------------------------------------------
@pytest.mark.parametrize("receiver_cls", [HttpReceiver, GrpcReceiver])
def test_delivers_records_ledger_and_sends_headers(monkeypatch, caplog, receiver_cls):
    caplog.set_level(logging.DEBUG)
    with receiver_cls() as rec:
        proto = "grpc" if receiver_cls is GrpcReceiver else "http/protobuf"
        cfg = _cfg(
            monkeypatch,
            OTEL_EXPORTER_OTLP_PROTOCOL=proto,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=rec.endpoint,
            OTEL_EXPORTER_OTLP_HEADERS=f"authorization={SECRET.replace(' ', '%20')},x-team=agents",
        )
        otlp = OtlpSink(cfg)
        proc = SinkProcessor([SpoolSink(cfg), otlp], config=cfg)
        tp = TracerProvider()
        tp.add_span_processor(proc)
        tr = tp.get_tracer("t")
        for i in range(300):
            with tr.start_as_current_span(f"s{i}"):
                pass
        assert proc.force_flush(10_000)
        proc.shutdown()
        counts = rec.counts()
        assert len(counts) == 300 and set(counts.values()) == {1}
        assert rec.headers[0]["authorization"] == SECRET and rec.headers[0]["x-team"] == "agents"
    assert Ledger(cfg.home).load() == set(counts)
    doc = state.load(cfg.home)["sinks"]["otlp"]
    assert doc["spans"] == 300 and doc["failures"] == 0
    assert otlp.describe().startswith(f"300 spans delivered to {proto} -> ")
    everything = "".join(p.read_text(errors="replace") for p in cfg.home.rglob("*") if p.is_file())
    assert SECRET not in everything and "s3cr3t" not in caplog.text


def test_refused_fails_fast_then_backs_off(monkeypatch):
    port = free_port()
    cfg = _cfg(monkeypatch, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{port}/v1/traces")
    sink = OtlpSink(cfg)
    t0 = time.monotonic()
    with pytest.raises(DeliveryError, match="connection refused"):
        sink.export(_spans(3))
    assert time.monotonic() - t0 < 0.5
    t0 = time.monotonic()
    with pytest.raises(DeliveryError, match="next try in"):
        sink.export(_spans(3))  # the breaker is open: no new connection attempt
    assert time.monotonic() - t0 < 0.1
    assert sink.not_delivered == 6 and "replay" in sink.describe()
    sink.close()


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_hung_receiver_never_extends_exit(monkeypatch, protocol):
    with HungSocket() as hung:
        path = "/v1/traces" if protocol == "http/protobuf" else ""
        cfg = _cfg(
            monkeypatch,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
            OTEL_AGENTS_EXIT_DEADLINE="0.5",
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{hung.port}{path}",
        )
        proc = SinkProcessor([SpoolSink(cfg), OtlpSink(cfg)], config=cfg)
        tp = TracerProvider()
        tp.add_span_processor(proc)
        tr = tp.get_tracer("t")
        for i in range(50):
            with tr.start_as_current_span(f"s{i}"):
                pass
        # the first batch is now stuck on the hung receiver
        wait_until(lambda: hung.conns, 30, "the OTLP sink's connection to the hung receiver")
        t0 = time.monotonic()
        proc.shutdown()
        assert time.monotonic() - t0 < 0.9  # deadline 0.5 s; unbounded would be 10 s
    doc = state.load(cfg.home)["sinks"]
    assert doc["spool"]["spans"] == 50
    assert doc["otlp"]["extra"]["left_for_replay"] == 50  # in flight at exit: the spool has them


@pytest.mark.parametrize(("status", "retry_after"), [(503, "7"), (429, "3")])
def test_503_and_429_honour_retry_after_without_delaying_exit(monkeypatch, status, retry_after):
    with HttpReceiver() as rec:
        rec.mode, rec.status, rec.retry_after = "status", status, retry_after
        cfg = _cfg(monkeypatch, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=rec.endpoint)
        sink = OtlpSink(cfg)
        with pytest.raises(DeliveryError, match=f"HTTP {status}"):
            sink.export(_spans(2))
        assert sink._retry_at - time.monotonic() == pytest.approx(float(retry_after), abs=0.5)
        with pytest.raises(DeliveryError, match="next try in"):
            sink.export(_spans(2))
        assert rec.requests == 0 and len(rec.headers) == 0
        proc = SinkProcessor([sink], config=cfg)
        t0 = time.monotonic()
        proc.shutdown()
        assert time.monotonic() - t0 < 0.3  # nothing to wait for: the breaker is open


def test_grpc_unavailable_is_retryable(monkeypatch):
    with GrpcReceiver() as rec:
        rec.mode = "status"
        cfg = _cfg(monkeypatch, OTEL_EXPORTER_OTLP_PROTOCOL="grpc", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=rec.endpoint)
        sink = OtlpSink(cfg)
        with pytest.raises(DeliveryError, match="gRPC UNAVAILABLE"):
            sink.export(_spans(1))
        assert sink._retry_at > time.monotonic()
        sink.close()


def test_live_sink_skips_spans_a_replay_delivered_meanwhile(monkeypatch):
    with HttpReceiver() as rec:
        cfg = _cfg(monkeypatch, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=rec.endpoint)
        sink = OtlpSink(cfg)
        spans = _spans(4)
        other = Ledger(cfg.home)  # another process's replay
        other.append(_ids(spans[:2]))
        other.close()
        sink.export(spans)
        assert sorted(rec.counts()) == sorted(_ids(spans[2:]))
        assert sink.skipped_replayed == 2
        sink.close()


def test_unconfigured_default_endpoint_fails_quietly_configured_one_warns(monkeypatch, caplog):
    import logging as _logging

    caplog.set_level(_logging.DEBUG, logger="otel_agents.sink")
    for env, level in (
        ({}, _logging.DEBUG),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{free_port()}/v1/traces"}, _logging.WARNING),
    ):
        caplog.clear()
        monkeypatch.setenv("OTEL_AGENTS_REPLAY_ON_START", "false")
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        cfg = load_config()
        sink = OtlpSink(cfg)
        if not env:  # the protocol default, moved to a port nothing listens on
            sink.target.port = free_port()
            assert "no endpoint configured" in sink.describe()
        proc = SinkProcessor([sink], config=cfg)
        tp = TracerProvider()
        tp.add_span_processor(proc)
        with tp.get_tracer("t").start_as_current_span("x"):
            pass
        assert proc.force_flush(5000)
        proc.shutdown()
        levels = {r.levelno for r in caplog.records if r.name == "otel_agents.sink"}
        assert levels == {level}
