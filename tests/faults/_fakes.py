"""Loopback collectors for faults no real server produces on demand.

Real servers on 127.0.0.1 speaking OTLP/HTTP, counting the span ids they accepted (the same
``_Recorder`` as ``tests/_otlp_receiver.py``):

- ``SlowReceiver``: reads each request, waits ``delay`` seconds, then accepts it (it keeps
  the spans even when the client has gone away meanwhile, as a collector that already took
  the request would);
- ``FlappingReceiver``: a receiver on a fixed port that is really up (accepting) and really
  down (the port refuses connections) in turns, from its own thread, bounded.

Everything is started and stopped by the tests; every loop is bounded.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from _otlp_receiver import _Recorder, free_port
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse


def _handler(rec: _Recorder, delay: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if delay:
                rec.release.wait(delay)
            if rec.mode == "status":
                self.send_response(rec.status)
                if rec.retry_after is not None:
                    self.send_header("Retry-After", rec.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            rec.record(body, {k.lower(): v for k, v in self.headers.items()})
            out = ExportTraceServiceResponse().SerializeToString()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            except OSError:
                pass  # the client gave up waiting: the spans were accepted anyway

    return Handler


class _Server:
    def __init__(self, rec: _Recorder, port: int, delay: float) -> None:
        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(rec, delay))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class SlowReceiver(_Recorder):
    """An OTLP/HTTP receiver that takes ``delay`` seconds to answer every request."""

    def __init__(self, delay: float = 5.0) -> None:
        super().__init__()
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"
        self._srv = _Server(self, self.port, delay)

    def close(self) -> None:
        self.release.set()
        self._srv.close()

    def __enter__(self) -> SlowReceiver:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class FlappingReceiver(_Recorder):
    """An OTLP/HTTP receiver on a fixed port, up ``up_s`` then down ``down_s``, in turns.

    Down means the listening socket is closed: connections are refused, as when a collector
    restarts. ``transitions`` counts the changes; ``stop()`` leaves it up (or ``down``).
    """

    def __init__(self, up_s: float = 0.3, down_s: float = 0.3, max_s: float = 120.0) -> None:
        super().__init__()
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"
        self.up_s, self.down_s, self.max_s = up_s, down_s, max_s
        self.transitions = 0
        self._srv: _Server | None = _Server(self, self.port, 0.0)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._flap, daemon=True)
        self._t.start()

    def _set(self, up: bool) -> None:
        with self._lock:
            if up and self._srv is None:
                for _ in range(50):  # the port may linger for a moment after close
                    try:
                        self._srv = _Server(self, self.port, 0.0)
                        break
                    except OSError:
                        time.sleep(0.02)
                self.transitions += 1
            elif not up and self._srv is not None:
                self._srv.close()
                self._srv = None
                self.transitions += 1

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
        self._set(False)

    def __enter__(self) -> FlappingReceiver:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
