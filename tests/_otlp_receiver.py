"""Loopback OTLP receivers for tests and benchmarks: HTTP/protobuf and gRPC, counting span ids
and keeping the metrics requests (``/v1/metrics``, the metrics service) as they arrive.

Not mocks of our code: real servers speaking OTLP on 127.0.0.1, whose behaviour a test can
switch, for the faults no real collector produces on demand:

- ``HttpReceiver``: ``mode`` ``ok``, ``status`` (e.g. 503 + ``retry_after``) or ``hang``;
  ``hold_after=N`` holds request N+1 onwards unanswered (``holding`` is set); ``delay``
  seconds before answering every request (a slow collector: the spans are kept even when the
  client has gone away meanwhile, as a collector that already took the request would);
  ``release`` ends every wait; ``inflight`` / ``wait_idle()`` for requests being handled;
- ``FlappingReceiver``: an ``HttpReceiver`` on a fixed port that is really up (accepting) and
  really down (the port refuses connections) in turns, from its own thread, bounded;
- ``GrpcReceiver``: the same recorder behind OTLP/gRPC;
- ``HungSocket``: a socket that accepts connections and never answers; ``free_port()``: a
  port nobody listens on.

Everything is started and stopped by the tests; every wait is bounded.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from _waiting import wait_until
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.span_ids: list[str] = []
        self.requests = 0
        self.inflight = 0  # requests received and not yet answered (or given up)
        self.headers: list[dict[str, str]] = []
        self.mode = "ok"
        self.status = 503
        self.retry_after: str | None = None
        self.delay = delay
        self.release = threading.Event()
        self.hold_after: int | None = None  # hold (never answer, never record) request N+1
        self.holding = threading.Event()
        self.metric_requests: list[ExportMetricsServiceRequest] = []

    def record_metrics(self, body: bytes) -> None:
        req = ExportMetricsServiceRequest.FromString(body)
        with self.lock:
            self.metric_requests.append(req)

    def metrics(self) -> list[ExportMetricsServiceRequest]:
        with self.lock:
            return list(self.metric_requests)

    def record(self, body: bytes, headers: dict[str, str]) -> None:
        req = ExportTraceServiceRequest.FromString(body)
        ids = [sp.span_id.hex() for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans]
        with self.lock:
            self.requests += 1
            self.span_ids.extend(ids)
            self.headers.append(headers)

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(self.span_ids)

    def _enter(self) -> None:
        with self.lock:
            self.inflight += 1

    def _leave(self) -> None:
        with self.lock:
            self.inflight -= 1

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every request received has been answered (or its client has gone)."""
        wait_until(lambda: self.inflight == 0, timeout, f"{self.inflight} request(s) still being handled")


def _handler(rec: _Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            rec._enter()
            try:
                self._post()
            except OSError:
                pass  # the client gave up waiting: what was recorded stays recorded
            finally:
                rec._leave()

        def _post(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if rec.hold_after is not None and rec.requests >= rec.hold_after:
                rec.holding.set()
                rec.release.wait(60)
                return
            if rec.mode == "hang":
                rec.release.wait(60)
                return
            if rec.delay:
                rec.release.wait(rec.delay)
            if rec.mode == "status":
                self._answer(rec.status, b"", {"Retry-After": rec.retry_after})
                return
            if self.path == "/v1/metrics":
                rec.record_metrics(body)
                self._answer(
                    200, ExportMetricsServiceResponse().SerializeToString(), {"Content-Type": "application/x-protobuf"}
                )
                return
            if self.path != "/v1/traces":
                self._answer(404, b"")
                return
            rec.record(body, {k.lower(): v for k, v in self.headers.items()})
            self._answer(
                200, ExportTraceServiceResponse().SerializeToString(), {"Content-Type": "application/x-protobuf"}
            )

        def _answer(self, status: int, body: bytes, headers: dict[str, str | None] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                if v is not None:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class _Server:
    """One listening HTTP server for a recorder, on ``port`` (0: any free port)."""

    def __init__(self, rec: _Recorder, port: int = 0) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(rec))  # SO_REUSEADDR: HTTPServer's
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class HttpReceiver(_Recorder):
    """An OTLP/HTTP protobuf receiver on ``127.0.0.1:<free port>/v1/traces``; ``delay``
    seconds before it answers each request (a slow collector)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(delay)
        self._srv: _Server | None = _Server(self)
        self.port = self._srv.port
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"

    def close(self) -> None:
        self.release.set()
        if self._srv is not None:
            self._srv.close()
            self._srv = None

    def __enter__(self) -> HttpReceiver:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class FlappingReceiver(HttpReceiver):
    """An OTLP/HTTP receiver on a fixed port, up ``up_s`` then down ``down_s``, in turns.

    Down means the listening socket is closed: connections are refused, as when a collector
    restarts. ``transitions`` counts the changes; ``stop()`` leaves it up (or ``down``).
    """

    def __init__(self, up_s: float = 0.3, down_s: float = 0.3, max_s: float = 120.0) -> None:
        super().__init__()
        self.up_s, self.down_s, self.max_s = up_s, down_s, max_s
        self.transitions = 0
        self._stop = threading.Event()
        self._flip = threading.Lock()
        self._t = threading.Thread(target=self._flap, daemon=True)
        self._t.start()

    def _set(self, up: bool) -> None:
        with self._flip:
            if up and self._srv is None:
                self._srv = self._bind()
                self.transitions += 1
            elif not up and self._srv is not None:
                self._srv.close()
                self._srv = None
                self.transitions += 1

    def _bind(self) -> _Server:
        """The port again; it may linger for a moment after close."""
        got: list[_Server] = []

        def bound() -> bool:
            try:
                got.append(_Server(self, self.port))
            except OSError:
                return False
            return True

        wait_until(bound, 5.0, f"port {self.port} could not be bound again", interval=0.02)
        return got[0]

    def _flap(self) -> None:
        t_end = time.monotonic() + self.max_s
        up = True
        while not self._stop.is_set() and time.monotonic() < t_end:
            if self._stop.wait(self.up_s if up else self.down_s):
                break
            up = not up
            self._set(up)

    def stop(self, *, up: bool = True) -> None:
        """Stop flapping and stay up (or down)."""
        self._stop.set()
        self._t.join(5)
        self._set(up)

    def close(self) -> None:
        self._stop.set()
        self._t.join(5)
        self.release.set()
        self._set(False)

    def __enter__(self) -> FlappingReceiver:
        return self


class GrpcReceiver(_Recorder):
    """An OTLP/gRPC receiver on ``127.0.0.1:<free port>``."""

    def __init__(self) -> None:
        super().__init__()
        import grpc

        rec = self

        def export(body: bytes, context: Any) -> bytes:
            rec._enter()
            try:
                if rec.mode == "hang":
                    rec.release.wait(60)
                if rec.mode == "status":
                    context.abort(grpc.StatusCode.UNAVAILABLE, "busy")
                md = {k: v for k, v in context.invocation_metadata()}
                rec.record(body, md)
                return ExportTraceServiceResponse().SerializeToString()
            finally:
                rec._leave()

        def export_metrics(body: bytes, context: Any) -> bytes:
            rec.record_metrics(body)
            return ExportMetricsServiceResponse().SerializeToString()

        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService",
            {"Export": grpc.unary_unary_rpc_method_handler(export)},
        )
        metrics_handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.metrics.v1.MetricsService",
            {"Export": grpc.unary_unary_rpc_method_handler(export_metrics)},
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((handler, metrics_handler))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server.start()

    def close(self) -> None:
        self.release.set()
        self.server.stop(0)

    def __enter__(self) -> GrpcReceiver:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class HungSocket:
    """A loopback socket that accepts connections (kernel backlog) and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)  # hold it open, never read or write
            except (TimeoutError, OSError):
                continue

    def close(self) -> None:
        self._stop.set()
        self._t.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()

    def __enter__(self) -> HungSocket:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
