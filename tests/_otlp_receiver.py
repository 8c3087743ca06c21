"""Loopback OTLP receivers for tests and benchmarks: HTTP/protobuf and gRPC, counting span ids.

Not mocks of our code: real servers speaking OTLP on 127.0.0.1, whose behaviour a test can
switch (``ok``, ``status`` (e.g. 503 + Retry-After), ``hang``), plus a socket that accepts
connections and never answers, and a port nobody listens on.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.span_ids: list[str] = []
        self.requests = 0
        self.headers: list[dict[str, str]] = []
        self.mode = "ok"
        self.status = 503
        self.retry_after: str | None = None
        self.release = threading.Event()
        self.hold_after: int | None = None  # hold (never answer, never record) request N+1
        self.holding = threading.Event()

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


class HttpReceiver(_Recorder):
    """An OTLP/HTTP protobuf receiver on ``127.0.0.1:<free port>/v1/traces``."""

    def __init__(self) -> None:
        super().__init__()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if rec.hold_after is not None and rec.requests >= rec.hold_after:
                    rec.holding.set()
                    rec.release.wait(60)
                    return
                if rec.mode == "hang":
                    rec.release.wait(60)
                    return
                if rec.mode == "status":
                    self.send_response(rec.status)
                    if rec.retry_after is not None:
                        self.send_header("Retry-After", rec.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                rec.record(body, {k.lower(): v for k, v in self.headers.items()})
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> HttpReceiver:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class GrpcReceiver(_Recorder):
    """An OTLP/gRPC receiver on ``127.0.0.1:<free port>``."""

    def __init__(self) -> None:
        super().__init__()
        import grpc

        rec = self

        def export(body: bytes, context: Any) -> bytes:
            if rec.mode == "hang":
                rec.release.wait(60)
            if rec.mode == "status":
                context.abort(grpc.StatusCode.UNAVAILABLE, "busy")
            md = {k: v for k, v in context.invocation_metadata()}
            rec.record(body, md)
            return ExportTraceServiceResponse().SerializeToString()

        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService",
            {"Export": grpc.unary_unary_rpc_method_handler(export)},
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((handler,))
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
        self._stop = False
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)  # hold it open, never read or write
            except (TimeoutError, OSError):
                continue

    def close(self) -> None:
        self._stop = True
        time.sleep(0.25)
        for c in self.conns:
            c.close()
        self.sock.close()

    def __enter__(self) -> HungSocket:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
